"""Step decorators end to end: @retry, @catch, @timeout and @environment."""

import json
import re

import pytest

from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    describe,
    engine_lines,
    run_flow,
    run_id_of,
)


def test_retry_succeeds_on_the_second_attempt(tmp_path, open_client):
    result = run_flow("retry_flow.py", "run", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    assert "RuntimeError: first attempt fails" in result.stderr
    assert "Task is starting (retry)." in result.stderr
    client = open_client(tmp_path)
    run = client.Run("RetryFlow/%s" % run_id_of(result))
    flaky = run["flaky"].task
    assert flaky.successful
    assert flaky.data.succeeded_on == 1
    assert flaky.current_attempt == 1
    assert len(list(run["flaky"])) == 1, "a retry is a new attempt of the same task"

    first = client.Task(flaky.pathspec, attempt=0)
    assert first.stdout == "attempt 0\n"
    assert "RuntimeError: first attempt fails" in first.stderr
    assert first.successful is False
    assert first.exception.message == "first attempt fails"
    assert flaky.stdout == "attempt 1\n"
    assert flaky.stderr == ""

    logs = run_flow("retry_flow.py", "logs", "--attempt", "0", flaky.pathspec.split("/", 1)[1],
                    cwd=tmp_path)
    assert "attempt 0" in logs.stdout.splitlines(), describe(logs)
    latest = run_flow("retry_flow.py", "logs", flaky.pathspec.split("/", 1)[1], cwd=tmp_path)
    assert "attempt 1" in latest.stdout.splitlines(), describe(latest)
    assert "attempt 0" not in latest.stdout.splitlines()


@pytest.fixture(scope="module")
def caught(tmp_path_factory):
    """A CatchFlow run: (root, result)."""
    root = tmp_path_factory.mktemp("catch")
    return root, run_flow("catch_flow.py", "run", cwd=root)


def test_catch_stores_the_exception(caught, open_client):
    tmp_path, result = caught
    assert_succeeded(result, tmp_path)
    assert "@catch caught an exception from" in result.stderr
    run = open_client(tmp_path).Run("CatchFlow/%s" % run_id_of(result))
    assert run.successful
    risky = run["risky"].task
    assert risky.successful
    assert "ValueError" in str(risky.data.err)
    assert "caught me" in str(risky.data.err)
    assert "caught me" in risky.data.err.traceback
    assert "caught me" in run.data.err_text


def test_catch_sets_the_variable_to_none_when_the_step_succeeds(tmp_path, open_client):
    result = run_flow("catch_success_flow.py", "run", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    assert "@catch caught" not in result.stderr
    run = open_client(tmp_path).Run("CatchSuccessFlow/%s" % run_id_of(result))
    safe = run["safe"].task
    assert safe.data.err is None
    assert run.data.err_was_none is True


def test_timeout_stops_a_sleeping_step(tmp_path, open_client):
    result = run_flow("timeout_flow.py", "run", cwd=tmp_path, timeout=60)

    assert_failed_cleanly(result, tmp_path, "@timeout",
                          "Step sleepy timed out after 0 hours, 0 minutes, 1 seconds",
                          "Step sleepy (task-id 2) failed:")
    run = open_client(tmp_path).Run("TimeoutFlow/%s" % run_id_of(result))
    assert not run.successful
    sleepy = run["sleepy"].task
    assert not sleepy.successful
    assert "timed out" in sleepy.exception.message
    attempt = sleepy.metadata_dict
    assert int(attempt["finished_at"]) - int(attempt["started_at"]) < 20000


def test_environment_reaches_the_step_only(tmp_path, open_client):
    result = run_flow("environment_flow.py", "run", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    run = open_client(tmp_path).Run("EnvironmentFlow/%s" % run_id_of(result))
    assert run["start"].task.data.greeting == "hello world"
    assert run["start"].task.data.number == "7"
    assert run.data.greeting_in_end is None


def test_catch_shows_only_user_frames(caught, open_client):
    """What @catch prints and stores is the user's error: no frames of the engine."""
    tmp_path, result = caught
    assert 'catch_flow.py", line' in result.stderr
    assert engine_lines(result.stderr) == [], describe(result)
    run = open_client(tmp_path).Run("CatchFlow/%s" % run_id_of(result))
    assert "metaflow_core" not in run["risky"].task.data.err.traceback


def test_a_multi_line_error_is_reported_whole(tmp_path, open_client):
    """The run's last lines, its failure file and the client keep every line of the error."""
    failure_file = tmp_path / "failure.json"
    result = run_flow("multiline_error_flow.py", "--failure-file", str(failure_file), "run",
                      cwd=tmp_path)

    whole = "the first line\nthe second line names clash\nthe third line"
    assert_failed_cleanly(result, tmp_path)
    summary = result.stderr.split("Step failure:", 1)[1]
    assert re.search(r"failed: ValueError: the first line\n\s+the second line names clash\n"
                     r"\s+the third line", summary), describe(result)
    recorded = json.loads(failure_file.read_text())
    assert recorded["failed_tasks"][0]["error"]["message"] == whole
    assert "the third line" in recorded["message"]
    task = open_client(tmp_path).Run("MultiLineErrorFlow/%s" % run_id_of(result))["start"].task
    assert task.exception.message == whole
    assert "the third line" in str(task.exception)
