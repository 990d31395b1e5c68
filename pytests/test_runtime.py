"""The runtime under failure: exceptions, signals, killed tasks and concurrent runs."""

import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime

import pytest

from flowfiles import write_flow
from metaflow_core.exceptions import EXIT_DISALLOW_RETRY
from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    describe,
    is_alive,
    kill_quietly,
    processes_in,
    run_flow,
    run_id_of,
    start_flow,
    wait_for,
)


def test_step_exception_fails_the_run(tmp_path, open_client):
    result = run_flow("fail_flow.py", "run", cwd=tmp_path)

    assert result.returncode == 1, describe(result)
    assert_failed_cleanly(result, tmp_path, "<flow FailFlow step boom> failed:",
                          "ValueError: boom in the boom step", "Step failure",
                          "Step boom (task-id 2) failed:", "Workflow failed.")
    # The user's own frame is shown, so the error can be found.
    assert 'fail_flow.py", line' in result.stderr
    assert "Task is starting." in result.stderr
    assert "end/" not in result.stderr

    run = open_client(tmp_path).Run("FailFlow/%s" % run_id_of(result))
    assert run.status == "failed"
    assert run.successful is False
    assert run.finished is False
    assert "end" not in run
    boom = run["boom"].task
    assert boom.finished
    assert boom.successful is False
    assert boom.exception.type == "ValueError"
    assert boom.exception.message == "boom in the boom step"
    assert "fail_flow.py" in boom.exception.traceback
    assert "metaflow_core" not in boom.exception.traceback
    assert "boom in the boom step" in boom.stderr
    assert run["start"].task.successful
    assert run["start"].task.data.before == "ok"


def _pids(pid_dir, count):
    files = sorted(pid_dir.glob("*.pid"))
    if len(files) < count:
        return None
    return [int(f.read_text()) for f in files]


def _start_sleepers(tmp_path, num):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    proc = start_flow("sleep_foreach_flow.py", "run", "--num", str(num), "--seconds", "60",
                      cwd=tmp_path, env={"PID_DIR": str(pid_dir)})
    try:
        pids = wait_for(lambda: _pids(pid_dir, num), timeout=60,
                        what="%d tasks to write their pids" % num)
    except AssertionError:
        proc.kill()
        proc.communicate()
        raise
    return proc, pids


def _finish(proc, pids, tmp_path, timeout=60, stderr_before=""):
    """Wait for the runtime: (CompletedProcess-like result, processes left). Kills leftovers."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        survivors = sorted(set(pid for pid in pids if is_alive(pid))
                           | set(processes_in(tmp_path)))
        for pid in survivors:
            kill_quietly(pid)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout,
                                         stderr_before + stderr)
    return result, survivors


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_task(tmp_path, open_client, signum):
    proc, pids = _start_sleepers(tmp_path, 3)
    proc.send_signal(signum)
    started = time.time()
    result, survivors = _finish(proc, pids, tmp_path)

    assert survivors == [], "task processes outlived the runtime:\n" + describe(result)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert time.time() - started < 30
    assert_failed_cleanly(result, tmp_path, "Workflow interrupted", "[KILLED BY ORCHESTRATOR]")
    assert result.stderr.count("[KILLED BY ORCHESTRATOR]") == 3

    run = open_client(tmp_path).Run("SleepForeachFlow/%s" % run_id_of(result))
    assert run.status == "failed"
    assert not run.successful
    assert "join" not in run
    work = list(run["work"])
    assert len(work) == 3
    assert not any(task.successful for task in work)
    assert all(task.finished for task in work)
    name = signal.Signals(signum).name
    assert [(t.metadata_dict["status"], t.metadata_dict["reason"]) for t in work] == [
        ("killed", "stopped by %s" % name)] * 3
    assert run._record["status"]["reason"] == "stopped by %s" % name
    assert result.returncode == 128 + signum


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05])
def test_interrupt_while_tasks_are_starting(tmp_path, open_client, delay):
    """Ctrl-C while the runtime launches a foreach's tasks leaves none of them running."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    proc = start_flow("sleep_foreach_flow.py", "run", "--num", "20", "--seconds", "60",
                      cwd=tmp_path, env={"PID_DIR": str(pid_dir)})
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if re.search(r"/work/\d+ \(pid \d+\)\] Task is starting", line):
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            break
    result, survivors = _finish(proc, [], tmp_path, stderr_before="".join(seen))
    # A task that was started just as the runtime exited writes its pid a little later.
    time.sleep(1)
    survivors += [pid for pid in (_pids(pid_dir, 0) or []) if is_alive(pid)]
    for pid in survivors:
        kill_quietly(pid)

    assert survivors == [], "task processes outlived the runtime:\n" + describe(result)
    assert_failed_cleanly(result, tmp_path, "Workflow interrupted")
    started = len(re.findall(r"/work/\d+ \(pid \d+\)\] Task is starting", result.stderr))
    assert result.stderr.count("[KILLED BY ORCHESTRATOR]") == started, describe(result)
    run = open_client(tmp_path).Run("SleepForeachFlow/%s" % run_id_of(result))
    assert run.status == "failed"


def test_killed_task_fails_the_run(tmp_path, open_client):
    proc, pids = _start_sleepers(tmp_path, 3)
    victim = pids[0]
    kill_quietly(victim, signal.SIGKILL)
    result, survivors = _finish(proc, pids, tmp_path)

    assert survivors == [], "task processes outlived the runtime:\n" + describe(result)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert result.returncode == 1, describe(result)
    killed = re.search(r"\[\d+/work/(\d+) \(pid %d\)\] Task failed" % victim, result.stderr)
    assert killed, describe(result)
    assert_failed_cleanly(result, tmp_path, "Workflow failed.", "Step failure",
                          "Step work (task-id %s) failed: killed by signal 9." % killed.group(1))
    assert result.stderr.count("[KILLED BY ORCHESTRATOR]") == 2

    run = open_client(tmp_path).Run("SleepForeachFlow/%s" % run_id_of(result))
    assert run.status == "failed"
    assert not run.successful
    assert "join" not in run


def test_a_task_killed_because_a_sibling_failed_ends_recorded(tmp_path, open_client):
    result = run_flow("sibling_fails_flow.py", "run", "--max-workers", "2", cwd=tmp_path,
                      timeout=60)

    assert result.returncode == 1, describe(result)
    assert_failed_cleanly(result, tmp_path, "Workflow failed.", "[KILLED BY ORCHESTRATOR]")
    run = open_client(tmp_path).Run("SiblingFailsFlow/%s" % run_id_of(result))
    assert run.status == "failed" and not run.successful
    work = run["work"]
    # Splits 2 and 3 never started: no task of the run was left without an end.
    tasks = {task.index: task for task in work}
    assert sorted(tasks) == [0, 1], describe(result)
    for task in run["start"].tasks():
        assert task.finished and task.successful
    failed, killed = tasks[0], tasks[1]
    assert failed.finished and not failed.successful
    assert failed.metadata_dict["status"] == "failed"
    assert killed.finished and not killed.successful
    assert isinstance(killed.finished_at, datetime)
    record = killed.metadata_dict
    assert record["status"] == "killed"
    assert record["reason"] == "stopped because task %s failed" % failed.pathspec
    assert int(record["finished_at"]) >= int(record["started_at"])
    assert killed.exception is None
    assert work.finished_at == max(failed.finished_at, killed.finished_at)
    # The sleeping task's process is gone (its pid is recorded with its attempt).
    assert not is_alive(int(record["pid"]))
    assert processes_in(tmp_path) == []


def test_two_runs_at_once_in_one_datastore(tmp_path, open_client):
    procs = [start_flow("foreach_flow.py", "run", "--num", str(num), cwd=tmp_path)
             for num in (3, 4)]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    for result in results:
        assert_succeeded(result, tmp_path)

    run_ids = [run_id_of(result) for result in results]
    assert run_ids[0] != run_ids[1]
    client = open_client(tmp_path)
    for run_id, num in zip(run_ids, (3, 4)):
        run = client.Run("ForeachFlow/%s" % run_id)
        assert run.successful
        assert run.data.num == num
        assert run.data.values == [i * i for i in range(num)]
        assert len(list(run["square"])) == num
    assert sorted(r.id for r in client.Flow("ForeachFlow")) == sorted(run_ids)


NOT_RETRIED = '''
    from metaflow_core import FlowSpec, current, retry, step


    class NotRetriedFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.bad)

        @retry(times=2)
        @step
        def bad(self):
            print("attempt %d" % current.retry_count)
            self.go_on()
            self.next(self.end)

        def go_on(self):
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        NotRetriedFlow()
'''


def test_an_error_a_retry_cannot_fix_is_not_retried(tmp_path):
    flow = write_flow(tmp_path, NOT_RETRIED)
    summary_path = tmp_path / "failure.json"
    result = run_flow(flow, "--failure-file", summary_path, "run", cwd=tmp_path)

    assert result.returncode == 1
    assert "Not retried: running the task again would fail the same way." in result.stderr
    assert "(retry)" not in result.stderr
    [task] = json.loads(summary_path.read_text())["failed_tasks"]
    assert task["attempt"] == 0
    assert task["exit_code"] == EXIT_DISALLOW_RETRY
    assert task["error"]["type"] == "InvalidNextException"
