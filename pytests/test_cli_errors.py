"""How the CLI reports an error: the printed text, and the failure summary as data."""

import json

from metaflow_core.cli_errors import format_error
from metaflow_core.exceptions import LintWarn
from runner import run_flow


def test_format_error():
    err = LintWarn("Step *a* is bad.\nSecond line.", lineno=7, source_file="/x/f.py", step="a")
    assert format_error(err) == (
        "    Validity checker found an issue in file /x/f.py on line 7:\n"
        "    Step a is bad.\n"
        "    Second line.\n"
    )
    assert format_error(LintWarn("No *start*.", source_file="/x/f.py")) == (
        "    Validity checker found an issue in file /x/f.py:\n    No start.\n"
    )


def read_summary(path):
    return json.loads(path.read_text())


def test_a_failed_run_writes_its_failed_tasks_with_their_error_records(tmp_path):
    summary_path = tmp_path / "failure.json"
    result = run_flow("fail_flow.py", "--failure-file", summary_path, "run",
                      "--run-id-file", tmp_path / "run_id", cwd=tmp_path)

    assert result.returncode == 1
    run_id = (tmp_path / "run_id").read_text()
    summary = read_summary(summary_path)
    assert summary["version"] == 1
    assert summary["kind"] == "run"
    assert summary["headline"] == "Step failure"
    assert summary["step"] == "boom"
    assert summary["run"] == "FailFlow/%s" % run_id
    assert summary["exit_code"] == 1
    [task] = summary["failed_tasks"]
    assert task["step"] == "boom"
    assert task["pathspec"].startswith("FailFlow/%s/boom/" % run_id)
    assert task["attempt"] == 0
    assert task["exit_code"] == 1
    error = task["error"]
    assert error["type"] == "ValueError"
    assert error["message"] == "boom in the boom step"
    assert 'raise ValueError("boom in the boom step")' in error["traceback"]
    assert "language" not in error
    # The run's own record holds the same tasks.
    status = json.loads((tmp_path / ".metaflow" / ".metaflow_core" / "FailFlow" / run_id / "_meta"
                         / "status.json").read_text())
    assert status["status"] == "failed"
    assert status["failed_tasks"] == summary["failed_tasks"]


def test_a_usage_error_is_written_as_data(tmp_path):
    summary_path = tmp_path / "failure.json"
    result = run_flow("params_flow.py", "--failure-file=%s" % summary_path, "run",
                      "--no-such-option", cwd=tmp_path)

    assert result.returncode == 2
    summary = read_summary(summary_path)
    assert summary["kind"] == "usage"
    assert summary["exit_code"] == 2
    assert "--no-such-option" in summary["message"]
    assert summary["failed_tasks"] == []
    assert summary["run"] is None


def test_a_run_that_succeeds_writes_no_summary(tmp_path):
    summary_path = tmp_path / "failure.json"
    result = run_flow("linear_flow.py", "--failure-file", summary_path, "run", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert not summary_path.exists()


def test_a_front_end_that_reports_the_error_itself_gets_it_only_as_data(tmp_path):
    summary_path = tmp_path / "failure.json"
    printed = run_flow("fail_flow.py", "--failure-file", summary_path, "run", cwd=tmp_path)
    reported = run_flow("fail_flow.py", "--failure-file", summary_path, "run", cwd=tmp_path,
                        env={"METAFLOW_FRONT_END_REPORTS_ERRORS": "1"})

    assert printed.returncode == reported.returncode == 1
    assert "Step failure:" in printed.stderr
    assert "Step failure:" not in reported.stderr
    # The task's own log still shows the error where it happened.
    assert "boom in the boom step" in reported.stderr
    assert read_summary(summary_path)["headline"] == "Step failure"
