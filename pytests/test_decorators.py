"""Step decorators end to end: @retry, @catch, @timeout, @resources and @environment."""

import json
import re
import signal
import subprocess
import time

import pytest

from flowfiles import write_flow
from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    describe,
    engine_lines,
    flow_process,
    run_flow,
    run_id_of,
    wait_for,
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


RETRY_LATER = '''
    import os
    import time

    from metaflow_core import FlowSpec, current, retry, step


    class RetryLaterFlow(FlowSpec):
        @step
        def start(self):
            self.items = [0, 1]
            self.next(self.work, foreach="items")

        @retry(times=1, minutes_between_retries=0.05)
        @step
        def work(self):
            self.started = time.time()
            if self.input == 0 and current.retry_count == 0:
                raise RuntimeError("first attempt fails")
            self.next(self.join)

        @step
        def join(self, inputs):
            self.started = {i.input: i.started for i in inputs}
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        RetryLaterFlow()
'''


def test_a_retry_waits_minutes_between_retries_without_holding_up_other_tasks(tmp_path,
                                                                            open_client):
    flow = write_flow(tmp_path, RETRY_LATER)
    result = run_flow(flow, "run", "--max-workers", "1", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    assert "Sleeping 0.05 minutes before the next attempt." in result.stderr
    run = open_client(tmp_path).Run("RetryLaterFlow/%s" % run_id_of(result))
    first = next(t for t in run["work"] if t.index == 0)
    assert first.current_attempt == 1
    failed_at = first._attempt_record(0)["finished_at"] / 1000.0
    retried_at = first._attempt_record(1)["started_at"] / 1000.0
    assert retried_at - failed_at >= 3
    # The one worker ran the other split while the retry waited.
    assert run.data.started[1] < retried_at


RESOURCES = '''
    import time

    from metaflow_core import FlowSpec, resources, step


    class ResourcesFlow(FlowSpec):
        @step
        def start(self):
            self.items = [0, 1, 2]
            self.next(self.work, foreach="items")

        @resources(cpu=CPU, memory=MEMORY)
        @step
        def work(self):
            self.span = (time.time(), time.time() + 1.5)
            time.sleep(1.5)
            self.next(self.join)

        @step
        def join(self, inputs):
            self.spans = sorted(i.span for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        ResourcesFlow()
'''


def _overlaps(spans):
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


def test_resources_are_recorded_and_bound_the_default_concurrency(tmp_path, open_client):
    from metaflow_core.machine import cpu_count

    cores = cpu_count()
    flow = write_flow(tmp_path, RESOURCES.replace("CPU", str(cores)).replace("MEMORY", "1000"))
    result = run_flow(flow, "run", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    assert "asks for" not in result.stderr
    run = open_client(tmp_path).Run("ResourcesFlow/%s" % run_id_of(result))
    task = next(iter(run["work"]))
    assert task.resources == {"cpu": cores, "memory": 1000, "gpu": None}
    assert json.loads(task.metadata_dict["resources"]) == task.resources
    assert run["start"].task.resources is None
    # Each task asks for every core: one at a time.
    assert not _overlaps(run.data.spans)

    explicit = run_flow(flow, "run", "--max-workers", "3", cwd=tmp_path)
    assert_succeeded(explicit, tmp_path)
    spans = open_client(tmp_path).Run("ResourcesFlow/%s" % run_id_of(explicit)).data.spans
    assert _overlaps(spans), "--max-workers given: the cores asked for don't limit it"


def test_a_step_asking_for_more_than_the_machine_has_gets_a_one_line_warning(tmp_path):
    flow = write_flow(tmp_path, RESOURCES.replace("CPU", "1000").replace("MEMORY", "10**9")
                      .replace("time.sleep(1.5)", "pass"))
    result = run_flow(flow, "run", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    warnings = [line for line in result.stderr.splitlines() if "asks for" in line]
    assert len(warnings) == 1, result.stderr
    assert re.search(r"Warning: step work asks for more than this machine has: 1000 CPUs "
                     r"\(the machine has \d+\) and 1000000000 MB of memory \(the machine has "
                     r"\d+ MB\)", warnings[0]), warnings[0]


@pytest.mark.parametrize("cls, attributes, message", [
    ("RetryDecorator", {"minutes_between_retries": -1},
     "minutes_between_retries must be a number of minutes, 0 or more, not -1"),
    ("RetryDecorator", {"minutes_between_retries": "soon"},
     "minutes_between_retries must be a number of minutes, 0 or more, not 'soon'"),
    ("TimeoutDecorator", {"seconds": 5, "retry": "no"},
     "attribute retry must be True or False, not 'no'"),
    ("ResourcesDecorator", {"cpu": 0}, "attribute cpu must be a number above 0, not 0"),
    ("ResourcesDecorator", {"memory": "lots"},
     "attribute memory must be a number above 0, not 'lots'"),
])
def test_bad_decorator_attributes_are_errors_naming_them(cls, attributes, message):
    from metaflow_core import decorators
    from metaflow_core.exceptions import DecoratorError

    with pytest.raises(DecoratorError) as err:
        getattr(decorators, cls)(attributes).step_init(None, "train")
    assert message in err.value.message


def test_retry_waits_the_minutes_it_is_given():
    from metaflow_core.decorators import RetryDecorator, retry_delay

    assert retry_delay([]) == 0
    assert retry_delay([RetryDecorator()]) == 120
    assert retry_delay([RetryDecorator({"minutes_between_retries": 0})]) == 0
    assert retry_delay([RetryDecorator({"minutes_between_retries": "0.5"})]) == 30


def test_an_interrupt_while_a_retry_waits_ends_the_run_at_once(tmp_path, open_client):
    flow = write_flow(tmp_path, RETRY_LATER.replace("minutes_between_retries=0.05",
                                                    "minutes_between_retries=1")
                      .replace('raise RuntimeError("first attempt fails")',
                               'open("failed", "w").close(); raise RuntimeError("fails")'))
    with flow_process(flow, "run", "--max-workers", "1", cwd=tmp_path) as proc:
        wait_for(lambda: (tmp_path / "failed").exists(), timeout=60, what="the first attempt")
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        started = time.time()
        stdout, stderr = proc.communicate(timeout=30)
    assert time.time() - started < 15
    assert proc.returncode != 0
    assert "Sleeping 1 minutes before the next attempt." in stderr, stderr
    assert "Workflow interrupted" in stderr
    run = open_client(tmp_path).Run("RetryLaterFlow/%s" % run_id_of(subprocess.CompletedProcess(
        proc.args, proc.returncode, stdout, stderr)))
    assert run.status == "failed"
