"""Resume after the runtime itself was SIGKILLed in the middle of a run.

The runtime's tasks must die with it (parent_watch.py), the run must read as
failed rather than running, and resume must clone only the tasks that
succeeded.
"""

import os
import re
import signal

import pytest

from runner import (
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


def executions(pid_dir, index):
    path = pid_dir / ("ran-%d" % index)
    return len(path.read_text().split()) if path.exists() else 0


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """The run whose runtime was SIGKILLed once splits 0 and 1 succeeded and 2, 3 hung."""
    root = tmp_path_factory.mktemp("killed")
    pid_dir = root / "pids"
    pid_dir.mkdir()
    env = {"HANG": "1", "PID_DIR": str(pid_dir)}
    runtime = start_flow("killed_runtime_flow.py", "run", "--max-workers", "4", cwd=root,
                         env=env)
    try:
        meta = root / ".metaflow" / ".metaflow_core" / "KilledRuntimeFlow"
        wait_for(lambda: all((pid_dir / ("%d.pids" % i)).exists() for i in (2, 3)),
                 timeout=60, what="the hanging splits")
        wait_for(lambda: len(list(meta.glob("*/work/*/_meta/0.attempt.json"))) == 4 and
                 sum('"succeeded"' in p.read_text()
                     for p in meta.glob("*/work/*/_meta/0.attempt.json")) == 2,
                 timeout=60, what="splits 0 and 1 to succeed")
        task_pids = [int(n) for i in (2, 3) for n in (pid_dir / ("%d.pids" % i)).read_text().split()]
        os.kill(runtime.pid, signal.SIGKILL)
        runtime.wait(timeout=10)
        stderr = runtime.stderr.read()
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait()
    run_id = re.findall(r"Workflow starting \(run-id (\S+?)\):", stderr)[-1]
    try:
        wait_for(lambda: [p for p in processes_in(root) + task_pids if is_alive(p)] == [],
                 timeout=10, what="the origin run's processes to end")
    finally:
        for pid in task_pids + processes_in(root):
            kill_quietly(pid)
    return {"root": root, "pid_dir": pid_dir, "run_id": run_id, "task_pids": task_pids,
            "env": {"PID_DIR": str(pid_dir)}}


def test_tasks_die_with_their_runtime(killed):
    assert [p for p in killed["task_pids"] if is_alive(p)] == []
    assert processes_in(killed["root"]) == []


def test_killed_run_reads_as_failed(killed, open_client):
    client = open_client(killed["root"])
    run = client.Run("KilledRuntimeFlow/%s" % killed["run_id"])
    assert run.status == "failed"
    assert not run.successful
    status = run._record["status"]
    assert "its runtime (pid" in status["reason"]
    by_index = {task.index: task for task in run["work"]}
    assert [by_index[i].successful for i in range(4)] == [True, True, False, False]
    assert by_index[2].finished and by_index[3].finished


def test_resume_clones_only_what_succeeded(killed, open_client):
    resumed = run_flow("killed_runtime_flow.py", "resume", "--origin-run-id", killed["run_id"],
                       cwd=killed["root"], env=killed["env"])
    assert_succeeded(resumed, killed["root"])
    cloned = re.findall(r"\[\d+/(\w+)/\d+\] Cloning previously run task", resumed.stderr)
    assert sorted(cloned) == ["start", "work", "work"], describe(resumed)
    assert [executions(killed["pid_dir"], i) for i in range(4)] == [1, 1, 2, 2]

    client = open_client(killed["root"])
    run = client.Run("KilledRuntimeFlow/%s" % run_id_of(resumed))
    assert run.data.outs == [0, 10, 20, 30]
    assert run.origin_pathspec == "KilledRuntimeFlow/%s" % killed["run_id"]
    origins = {t.index: t.origin_pathspec for t in run["work"]}
    assert origins[2] is None and origins[3] is None
    assert origins[0].startswith("KilledRuntimeFlow/%s/work/" % killed["run_id"])
