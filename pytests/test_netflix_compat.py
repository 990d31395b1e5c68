"""Our engine and Netflix's Metaflow (from PyPI, in .venv-netflix) in one directory.

Both find the same ``.metaflow`` directory and use the same run ids, file names
and blob keys, but different blob bytes; our engine keeps its tree in
``.metaflow/.metaflow_core`` so that neither breaks the other's runs. Each test
runs the real engines and reads each run back with that engine's own client.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runner import FLOWS_DIR, assert_succeeded, describe, run_flow, run_id_of

REPO = Path(__file__).resolve().parent.parent
NETFLIX_PYTHON = REPO / ".venv-netflix" / "bin" / "python"
FLOW_FILE = "netflix_shared_flow.py"
FLOW = "SharedFlow"
TOTAL = 14


@pytest.fixture(scope="module")
def netflix_python():
    if not NETFLIX_PYTHON.exists():
        pytest.fail("Netflix's metaflow is not installed in %s: run `make setup` (its "
                    "venv-netflix stage installs it from PyPI)." % NETFLIX_PYTHON.parent.parent)
    return str(NETFLIX_PYTHON)


def _netflix_env(root):
    # Nothing of ours on the path (the flow would import our engine), and no
    # configuration of the user's (~/.metaflowconfig) changing where it writes.
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(root), "USERNAME": "tester",
            "METAFLOW_HOME": str(root / ".metaflowconfig"),
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(root), "PYTHONDONTWRITEBYTECODE": "1"}


def _netflix(python, root, *args):
    return subprocess.run([python, *args], cwd=str(root), env=_netflix_env(root),
                          stdin=subprocess.DEVNULL, capture_output=True, encoding="utf-8",
                          errors="replace", timeout=120)


def netflix_run(python, root):
    result = _netflix(python, root, str(FLOWS_DIR / FLOW_FILE), "--no-pylint", "run")
    assert result.returncode == 0, describe(result)
    return result


NETFLIX_READ = """
import json
from metaflow import Flow, namespace
namespace(None)
runs = list(Flow(%r).runs())
print(json.dumps({"runs": [r.id for r in runs], "latest": Flow(%r).latest_run.id,
                  "totals": [r.data.total for r in runs]}))
""" % (FLOW, FLOW)


def netflix_read(python, root):
    result = _netflix(python, root, "-c", NETFLIX_READ)
    assert result.returncode == 0, describe(result)
    return json.loads(result.stdout)


def ours_run(root, *args):
    result = run_flow(FLOW_FILE, "run", *args, cwd=root, env={"USERNAME": "tester"})
    assert_succeeded(result, root)
    return run_id_of(result)


def ours_read(open_client):
    client = open_client
    flow = client.Flow(FLOW)
    runs = list(flow.runs())
    return {"runs": [r.id for r in runs], "latest": flow.latest_run.id,
            "totals": [r.data.total for r in runs]}


def _client(open_client, root):
    client = open_client(root)
    client.namespace(None)
    return client


def test_ours_then_netflix_each_reads_only_its_own_runs(tmp_path, netflix_python, open_client):
    ours = ours_run(tmp_path)
    netflix_run(netflix_python, tmp_path)
    ours_again = ours_run(tmp_path)

    seen = netflix_read(netflix_python, tmp_path)
    assert len(seen["runs"]) == 1 and seen["totals"] == [TOTAL]
    assert not {ours, ours_again} & set(seen["runs"])
    assert ours_read(_client(open_client, tmp_path)) == {
        "runs": [ours_again, ours], "latest": ours_again, "totals": [TOTAL, TOTAL]}


def test_netflix_then_ours_each_reads_only_its_own_runs(tmp_path, netflix_python, open_client):
    netflix_run(netflix_python, tmp_path)
    ours = ours_run(tmp_path)
    netflix_run(netflix_python, tmp_path)

    seen = netflix_read(netflix_python, tmp_path)
    assert len(seen["runs"]) == 2 and seen["totals"] == [TOTAL, TOTAL]
    assert ours not in seen["runs"]
    assert ours_read(_client(open_client, tmp_path)) == {
        "runs": [ours], "latest": ours, "totals": [TOTAL]}
    assert sorted(os.listdir(tmp_path / ".metaflow")) == [".metaflow_core", FLOW]


def _flatten_to_legacy_layout(root):
    """The layout our engine wrote up to 0.1: its flows in .metaflow/<Flow>/ itself."""
    dot = root / ".metaflow"
    engine = dot / ".metaflow_core"
    for entry in engine.iterdir():
        shutil.move(str(entry), str(dot / entry.name))
    engine.rmdir()


def test_runs_of_the_earlier_layout_move_in_and_netflix_then_runs_there(
        tmp_path, netflix_python, open_client):
    old = ours_run(tmp_path)
    _flatten_to_legacy_layout(tmp_path)

    # The first use (here the client) moves the old run in, blobs and all.
    assert ours_read(_client(open_client, tmp_path)) == {
        "runs": [old], "latest": old, "totals": [TOTAL]}
    assert sorted(os.listdir(tmp_path / ".metaflow")) == [".metaflow_core", FLOW]
    assert sorted(os.listdir(tmp_path / ".metaflow" / FLOW)) == ["_meta", "data", "latest_run"]
    assert list((tmp_path / ".metaflow" / FLOW / "data").rglob("*")) == \
        [p for p in (tmp_path / ".metaflow" / FLOW / "data").rglob("*") if p.is_dir()]

    netflix_run(netflix_python, tmp_path)
    assert netflix_read(netflix_python, tmp_path)["totals"] == [TOTAL]
    new = ours_run(tmp_path)
    assert ours_read(_client(open_client, tmp_path))["runs"] == [new, old]


def test_netflix_runs_left_beside_the_earlier_layout_stay_where_they_are(
        tmp_path, netflix_python, open_client):
    netflix_run(netflix_python, tmp_path)
    netflix_blobs = sorted(p.name for p in (tmp_path / ".metaflow" / FLOW / "data").rglob("*")
                           if p.is_file())
    # An earlier version's run made elsewhere, moved in beside Netflix's: other
    # numbers (offset 10), so that no blob of the two has the same bytes.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    old = ours_run(elsewhere, "--offset", "10")
    _flatten_to_legacy_layout(elsewhere)
    for entry in (elsewhere / ".metaflow" / FLOW).rglob("*"):
        relative = entry.relative_to(elsewhere / ".metaflow" / FLOW)
        if entry.is_file() and (relative.parts[0] in ("data", old)):
            target = tmp_path / ".metaflow" / FLOW / relative
            assert not target.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(entry), str(target))

    assert ours_read(_client(open_client, tmp_path)) == {
        "runs": [old], "latest": old, "totals": [13 * 13 + 12 * 12 + 11 * 11]}
    assert sorted(p.name for p in (tmp_path / ".metaflow" / FLOW / "data").rglob("*")
                  if p.is_file()) == netflix_blobs
    assert len(netflix_read(netflix_python, tmp_path)["runs"]) == 1
