"""A task's whole process tree ends with it: timeouts, killed tasks, interrupts."""

import signal
import time

from flowfiles import write_flow
from runner import (
    assert_failed_cleanly,
    describe,
    flow_process,
    is_alive,
    kill_quietly,
    run_flow,
    run_id_of,
    wait_for,
)

# A step that starts `sleep 300` the way R's system2(wait = FALSE) does (a shell
# that exits at once, so the sleep is re-parented to init), in a process group
# of its own when GROUP is set, as an R step's Rscript is.
TREE_FLOW = '''
    import os
    import signal
    import subprocess
    import time

    from metaflow_core import FlowSpec, catch, current, retry, step, timeout


    def start_sleeper(name):
        pid_file = os.path.join(os.environ["PID_DIR"], "%s-%d.pid" % (name, current.retry_count))
        subprocess.Popen(["sh", "-c", "sleep 300 & echo $! > %s.tmp && mv %s.tmp %s"
                          % (pid_file, pid_file, pid_file)],
                         process_group=0 if os.environ.get("GROUP") else None).wait()


    class TreeFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.slow, self.doomed)

        @catch(var="err")
        @retry(times=1, minutes_between_retries=0)
        @timeout(seconds=2)
        @step
        def slow(self):
            start_sleeper("slow")
            time.sleep(60)
            self.next(self.join)

        @step
        def doomed(self):
            time.sleep(float(os.environ.get("DOOMED_AFTER", "0")))
            if os.environ.get("DOOMED_FAILS"):
                raise RuntimeError("doomed fails")
            self.next(self.join)

        @step
        def join(self, inputs):
            self.err = inputs.slow.err
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        TreeFlow()
'''


def _sleepers(pid_dir, count):
    files = sorted(pid_dir.glob("*.pid"))
    return [int(f.read_text()) for f in files] if len(files) >= count else None


def _tree_flow(tmp_path, replacements=()):
    source = TREE_FLOW
    for old, new in replacements:
        assert old in source
        source = source.replace(old, new)
    flow = write_flow(tmp_path, source)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    return flow, pid_dir, {"PID_DIR": str(pid_dir), "GROUP": "1"}


def test_a_timeout_kills_what_the_step_started_and_retry_and_catch_handle_it(tmp_path,
                                                                          open_client):
    flow, pid_dir, env = _tree_flow(tmp_path)
    result = run_flow(flow, "run", cwd=tmp_path, env=env, timeout=90)

    assert result.returncode == 0, describe(result)
    assert "Task is starting (retry)." in result.stderr
    pids = _sleepers(pid_dir, 2)
    assert pids and not any(is_alive(pid) for pid in pids), "a sleeper outlived its attempt"
    run = open_client(tmp_path).Run("TreeFlow/%s" % run_id_of(result))
    slow = run["slow"].task
    assert slow.current_attempt == 1
    assert "Step slow timed out after 0 hours, 0 minutes, 2 seconds" in str(slow.data.err)
    assert run.data.err is not None
    for attempt in (0, 1):
        record = slow._attempt_record(attempt)
        # Within a second or two of the limit, though a shell and a sleep had to die.
        assert record["finished_at"] - record["started_at"] < 5000, record


def test_a_timeout_with_retry_false_is_not_retried(tmp_path, open_client):
    flow, pid_dir, env = _tree_flow(tmp_path, [
        ("@timeout(seconds=2)", "@timeout(seconds=2, retry=False)"),
        ('@catch(var="err")\n        ', ""), ("self.err = inputs.slow.err", "pass")])
    result = run_flow(flow, "run", cwd=tmp_path, env=env, timeout=90)

    assert_failed_cleanly(result, tmp_path, "Step slow timed out after 0 hours, 0 minutes, 2 "
                          "seconds", "Not retried")
    assert "(retry)" not in result.stderr
    pids = _sleepers(pid_dir, 1)
    assert len(pids) == 1 and not is_alive(pids[0])
    slow = open_client(tmp_path).Run("TreeFlow/%s" % run_id_of(result))["slow"].task
    assert slow.current_attempt == 0


def test_a_task_the_runtime_kills_takes_its_tree_even_if_it_ignores_sigterm(tmp_path,
                                                                           open_client):
    # slow ignores SIGTERM (so the runtime SIGKILLs it after its grace), and its
    # sleeper is in a group of its own, out of reach of a kill of the task's group.
    flow, pid_dir, env = _tree_flow(tmp_path, [
        ("@timeout(seconds=2)", "@timeout(seconds=600)"),
        ('start_sleeper("slow")',
         'signal.signal(signal.SIGTERM, signal.SIG_IGN); start_sleeper("slow")')])
    env.update(DOOMED_AFTER="3", DOOMED_FAILS="1")
    result = run_flow(flow, "run", cwd=tmp_path, env=env, timeout=90)

    assert_failed_cleanly(result, tmp_path, "doomed fails", "[KILLED BY ORCHESTRATOR]",
                          "Killing 1 remaining tasks")
    pids = _sleepers(pid_dir, 1)
    assert pids and not any(is_alive(pid) for pid in pids), "the sleeper outlived the run"
    slow = open_client(tmp_path).Run("TreeFlow/%s" % run_id_of(result))["slow"].task
    assert slow.metadata_dict["status"] == "killed"


def test_an_interrupt_stops_every_tree(tmp_path, open_client):
    flow, pid_dir, env = _tree_flow(tmp_path, [("@timeout(seconds=2)", "@timeout(seconds=600)")])
    env["DOOMED_AFTER"] = "600"
    with flow_process(flow, "run", cwd=tmp_path, env=env) as proc:
        pids = wait_for(lambda: _sleepers(pid_dir, 1), timeout=60, what="the sleeper")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Workflow interrupted" in stderr, stderr
    wait_for(lambda: not is_alive(pids[0]), timeout=5, what="the sleeper to die")


def test_a_task_process_killed_from_outside_leaves_nothing_behind(tmp_path):
    flow, pid_dir, env = _tree_flow(tmp_path, [
        ("@timeout(seconds=2)", "@timeout(seconds=600)"),
        ('@catch(var="err")\n        @retry(times=1, minutes_between_retries=0)\n        ', ""),
        ("self.err = inputs.slow.err", "pass"),
        ('start_sleeper("slow")',
         'start_sleeper("slow"); open(os.path.join(os.environ["PID_DIR"], "task"), "w")'
         '.write(str(os.getpid()))')])
    with flow_process(flow, "run", cwd=tmp_path, env=env) as proc:
        task_pid = int(wait_for(lambda: (pid_dir / "task").exists() and (pid_dir / "task")
                                .read_text(), timeout=60, what="the task's pid"))
        sleeper = _sleepers(pid_dir, 1)[0]
        kill_quietly(task_pid)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Task failed: killed by signal 9." in stderr, stderr
    wait_for(lambda: not is_alive(sleeper), timeout=5, what="the sleeper to die")
