"""``python -m metaflow_core status`` and ``python flow.py status``: what is in use, found
without creating anything or importing optional parts."""

import json
import subprocess
import sys

from runner import ENGINE_DIR, flow_env, run_flow


def engine_status(cwd, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "metaflow_core", "status"] + list(args), cwd=str(cwd),
        env=flow_env(cwd, env), capture_output=True, encoding="utf-8", timeout=60,
    )


def test_json_status_names_the_python_engine_datastore_and_namespace(tmp_path):
    result = engine_status(tmp_path, "--json", env={"METAFLOW_USER": "alice"})
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["engine"]["name"] == "metaflow_core"
    assert status["engine"]["path"] == str(ENGINE_DIR / "metaflow_core")
    assert status["python"]["executable"] == sys.executable
    assert set(status["python"]["packages"]) == {"click", "cloudpickle"}
    assert all(status["python"]["packages"].values())
    assert status["datastore"]["root"] == str(tmp_path / ".metaflow" / ".metaflow_core")
    assert status["datastore"]["found_by"] == "METAFLOW_DATASTORE_SYSROOT_LOCAL"
    assert status["datastore"]["metadata"] == "local@%s" % tmp_path
    assert status["namespace"] == "user:alice"
    # The engine has the S3 datastore; it is usable where boto3 is installed.
    assert status["optional"]["s3"]["usable"] is (status["optional"]["s3"]["boto3"] is not None)
    assert status["optional"]["batch"]["usable"] is (status["optional"]["s3"]["boto3"] is not None)
    assert not (tmp_path / ".metaflow").exists()


def test_without_a_sysroot_the_datastore_is_the_nearest_one_above(tmp_path):
    (tmp_path / ".metaflow" / ".metaflow_core").mkdir(parents=True)
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    env = flow_env(inner)
    del env["METAFLOW_DATASTORE_SYSROOT_LOCAL"]
    result = subprocess.run(
        [sys.executable, "-m", "metaflow_core", "status", "--json"], cwd=str(inner), env=env,
        capture_output=True, encoding="utf-8", timeout=60,
    )
    status = json.loads(result.stdout)
    assert status["datastore"]["root"] == str(tmp_path / ".metaflow" / ".metaflow_core")
    assert status["datastore"]["exists"] is True
    assert not (inner / ".metaflow").exists()


def test_text_status_has_one_line_per_fact(tmp_path):
    result = engine_status(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("metaflow_core ")
    assert [line.split()[0] for line in lines[1:5]] == ["Python", "Datastore", "Metadata",
                                                        "Namespace"]
    assert "S3 datastore" in result.stdout and "AWS Batch" in result.stdout


def test_a_flow_has_the_status_command_too(tmp_path):
    result = run_flow("linear_flow.py", "status", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["engine"]["name"] == "metaflow_core"
    assert "status" in run_flow("linear_flow.py", "--help", cwd=tmp_path).stdout


def test_status_imports_no_optional_part(tmp_path):
    code = ("import sys; from metaflow_core.status import collect; collect(); "
            "print(sorted(m for m in ('boto3', 'botocore', 'click') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                            env=flow_env(tmp_path), capture_output=True, encoding="utf-8")
    assert result.stdout.strip() == "[]", result.stderr


def test_the_package_command_without_a_command_prints_its_help(tmp_path):
    result = subprocess.run([sys.executable, "-m", "metaflow_core"], cwd=str(tmp_path),
                            env=flow_env(tmp_path), capture_output=True, encoding="utf-8")
    assert result.returncode == 0
    assert "status" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "metaflow_core", "bogus"], cwd=str(tmp_path),
                         env=flow_env(tmp_path), capture_output=True, encoding="utf-8")
    assert bad.returncode == 2
    assert "No such command 'bogus'" in bad.stderr
