"""Fault injection: signals, a dead runner, broken output and a full disk, for real.

Each case runs ``faults_signals_flow.py`` (a foreach whose splits finish one
after another), strikes at a point of it, and checks three things: no process
of the run is left (from the process table: the processes whose working
directory is the test's own), every artifact of a task that finished is
correct, and the run can be resumed (resume succeeds, the final artifacts are
right). And the exit status and the reasons recorded. The points are random,
seeded and printed (``-s`` shows them), so a failure can be replayed.
"""

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from runner import (
    describe,
    flow_command,
    flow_env,
    is_alive,
    kill_quietly,
    processes_in,
    run_flow,
    wait_for,
)

FLOW = "FaultsSignalsFlow"
SPLITS = 6
SEED = int(os.environ.get("FAULTS_SEED", "20261202"))
RANDOM = random.Random(SEED)


def _points(count):
    """How many splits must have finished when the fault strikes, ``count`` times."""
    points = [RANDOM.randint(0, SPLITS - 2) for _ in range(count)]
    print("fault points (seed %d): %s" % (SEED, points))
    return points


def _env(root, **extra):
    mark = root / "marks"
    mark.mkdir(exist_ok=True)
    env = {"MARK_DIR": str(mark), "SPLITS": str(SPLITS)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _finished_splits(root):
    meta = root / ".metaflow" / ".metaflow_core" / FLOW
    return sum('"succeeded"' in p.read_text() for p in meta.glob("*/work/*/_meta/0.attempt.json"))


def _start(root, command, env, runner=False, **popen):
    """The flow's runtime, or a runner process that starts it and waits (``runner``)."""
    cmd = flow_command("faults_signals_flow.py", *command)
    if runner:
        cmd = [sys.executable, "-c",
               "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"] + cmd
    kwargs = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    kwargs.update(popen)
    return subprocess.Popen(cmd, cwd=str(root), env=flow_env(root, env),
                            stdin=subprocess.DEVNULL, **kwargs)


def _runtime_pid(root, runner_pid):
    """The runtime a runner started: its child, running in the test's directory."""
    def child():
        for pid in processes_in(root):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == runner_pid:
                        return pid
            except OSError:
                continue
        return None
    return wait_for(child, timeout=30, what="the runtime under the runner")


def _strike_when(root, finished):
    wait_for(lambda: (root / "marks" / ("started-%d" % (SPLITS - 1))).exists()
             and _finished_splits(root) >= finished,
             timeout=90, what="%d splits to finish" % finished)


def _no_process_left(root):
    try:
        wait_for(lambda: processes_in(root) == [], timeout=15,
                 what="every process of the run to end")
    finally:
        for pid in processes_in(root):
            kill_quietly(pid)


def _run_id(root):
    runs = [p.name for p in (root / ".metaflow" / ".metaflow_core" / FLOW).iterdir() if p.name.isdigit()]
    assert len(runs) >= 1
    return max(runs)


def _check_finished_artifacts(client, run_id):
    run = client.Run("%s/%s" % (FLOW, run_id))
    finished = [t for t in run["work"] if t.successful]
    for task in finished:
        assert task["out"].data == task.index ** 2, task.pathspec
    return run


def _check_resume(root, env, origin):
    result = run_flow("faults_signals_flow.py", "resume", "--origin-run-id", origin, cwd=root,
                      env=dict(env, FAST="1"), timeout=180)
    assert result.returncode == 0, describe(result)
    _no_process_left(root)
    return result


def _resumed_outs(client, root, splits=SPLITS):
    run = client.Run("%s/%s" % (FLOW, _run_id(root)))
    assert run.successful
    assert run["join"].task["outs"].data == [i * i for i in range(splits)]


def _signal_cases():
    cases = []
    for name in ("SIGTERM", "SIGHUP", "SIGKILL"):
        for target in ("runtime", "runner"):
            for point in _points(2):
                cases.append((name, target, point))
    return cases


@pytest.mark.parametrize("name,target,point", _signal_cases())
def test_signal_at_a_point_of_a_foreach(tmp_path, open_client, name, target, point):
    signum = getattr(signal, name)
    env = _env(tmp_path)
    proc = _start(tmp_path, ["run"], env, runner=(target == "runner"))
    try:
        _strike_when(tmp_path, point)
        victim = proc.pid
        os.kill(victim, signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout.decode(),
                                         stderr.decode())
    _no_process_left(tmp_path)

    run_id = _run_id(tmp_path)
    client = open_client(tmp_path)
    run = _check_finished_artifacts(client, run_id)
    assert run.status == "failed", describe(result)
    reason = run._record["status"]["reason"]
    stopped = [t for t in run["work"] if not t.successful]
    if name == "SIGKILL" and target == "runtime":
        assert result.returncode == -signum
        assert "ended without finishing the run" in reason
    elif target == "runtime":
        assert result.returncode == 128 + signum, describe(result)
        assert reason == "stopped by %s" % name
        assert "Workflow interrupted: stopped by %s." % name in result.stderr
        assert {t.metadata_dict.get("reason") for t in stopped} <= {reason}
    else:
        # The runner died of it (Python's default for these signals); its runtime
        # saw its parent go and stopped the run.
        assert result.returncode == -signum, describe(result)
        assert re.match(r"stopped because the process that started the run, pid %d "
                        r"\(python[0-9.]*\), exited$" % proc.pid, reason), reason
        assert {t.metadata_dict.get("reason") for t in stopped} <= {reason}
    _check_resume(tmp_path, env, run_id)
    _resumed_outs(open_client(tmp_path), tmp_path)


def test_resume_refuses_while_the_origin_runtime_is_alive(tmp_path, open_client):
    env = _env(tmp_path, SPLITS=3)
    proc = _start(tmp_path, ["run"], dict(env, SPLITS="30"))
    try:
        _strike_when(tmp_path, 0)
        run_id = _run_id(tmp_path)
        refused = run_flow("faults_signals_flow.py", "resume", "--origin-run-id", run_id,
                           cwd=tmp_path, env=env)
        assert refused.returncode != 0
        assert ("Run %s/%s is still running (its runtime is pid %d on "
                % (FLOW, run_id, proc.pid)) in refused.stderr, describe(refused)
        assert "Traceback" not in refused.stderr
        assert len([p for p in (tmp_path / ".metaflow" / ".metaflow_core" / FLOW).iterdir()
                    if p.name.isdigit()]) == 1
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
    _no_process_left(tmp_path)


def test_a_runtime_whose_heartbeat_stopped_reads_as_failed(tmp_path, open_client):
    """A suspended runtime is alive but silent: readers say it stopped, and when;
    resume still refuses, as the runtime could go on."""
    env = _env(tmp_path, METAFLOW_HEARTBEAT_SECONDS="0.2", SPLITS="30")
    proc = _start(tmp_path, ["run"], env)
    try:
        _strike_when(tmp_path, 0)
        run_id = _run_id(tmp_path)
        client = open_client(tmp_path)
        assert client.Run("%s/%s" % (FLOW, run_id)).status == "running"
        os.kill(proc.pid, signal.SIGSTOP)
        stopped_at = time.time()
        run = wait_for(lambda: (lambda r: r if r.status == "failed" else None)(
            client.Run("%s/%s" % (FLOW, run_id))), timeout=30, what="the run to read as failed")
        status = run._record["status"]
        assert status["reason"].startswith("the runtime stopped (pid %d on " % proc.pid)
        assert "its last heartbeat was at 20" in status["reason"]
        assert status["heartbeat_at"] / 1000.0 <= stopped_at + 0.5
        refused = run_flow("faults_signals_flow.py", "resume", "--origin-run-id", run_id,
                           cwd=tmp_path, env=env)
        assert refused.returncode != 0
        assert "is still running (its runtime is pid %d" % proc.pid in refused.stderr
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    _no_process_left(tmp_path)
    assert open_client(tmp_path).Run("%s/%s" % (FLOW, run_id)).status == "failed"


@pytest.mark.parametrize("point", _points(2))
def test_closing_stdout_mid_run(tmp_path, open_client, point):
    """The reader of the runtime's output goes away (``| head -1``): the run goes on,
    succeeds and records so."""
    env = _env(tmp_path)
    read_end, write_end = os.pipe()
    proc = _start(tmp_path, ["run"], env, stdout=write_end, stderr=write_end)
    os.close(write_end)
    try:
        reader = os.fdopen(read_end, "rb")
        reader.readline()
        _strike_when(tmp_path, point)
        reader.close()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    _no_process_left(tmp_path)
    run_id = _run_id(tmp_path)
    client = open_client(tmp_path)
    run = _check_finished_artifacts(client, run_id)
    assert run.status == "succeeded"
    assert run["join"].task["outs"].data == [i * i for i in range(SPLITS)]
    _check_resume(tmp_path, env, run_id)
    _resumed_outs(open_client(tmp_path), tmp_path)


@pytest.mark.parametrize("which", ["stdout", "stderr", "both"])
def test_closed_output_streams(tmp_path, open_client, which):
    env = _env(tmp_path, FAST="1")
    close = {"stdout": [1], "stderr": [2], "both": [1, 2]}[which]
    code = ("import os, subprocess, sys\n"
            "for fd in %r: os.close(fd)\n"
            "sys.exit(subprocess.call(sys.argv[1:], close_fds=False))\n" % close)
    cmd = [sys.executable, "-c", code] + flow_command("faults_signals_flow.py", "run")
    result = subprocess.run(cmd, cwd=str(tmp_path), env=flow_env(tmp_path, env),
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert result.returncode == 0, result
    _no_process_left(tmp_path)
    run = open_client(tmp_path).Run("%s/%s" % (FLOW, _run_id(tmp_path)))
    assert run.status == "succeeded"


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 2 MB tmpfs at ``tmp_path/fs``, unmounted afterwards. Needs root, as the machines
    the suite runs on give; anywhere else the test fails, saying why."""
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    assert done.returncode == 0, "this test mounts a small tmpfs (as root): %s" % done.stderr
    try:
        yield mount_point
    finally:
        for pid in processes_in(mount_point):
            kill_quietly(pid)
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_full_disk_for_logs_never_loses_the_status(small_tmpfs, open_client):
    """Logs fill the datastore's disk: the run fails cleanly, its status written; with
    room made, it resumes."""
    root = small_tmpfs
    env = _env(root, CHATTY=3000, SPLITS=3)
    proc = _start(root, ["run"], env)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = stderr.decode()
    _no_process_left(root)
    status = (root / ".metaflow" / ".metaflow_core" / FLOW / _run_id(root) / "_meta" / "status.json").read_text()
    assert '"status":"failed"' in status, stderr
    assert proc.returncode not in (0, None)
    assert "Internal error" not in stderr
    assert "log can't be written (No space left on device)" in stderr
    run_id = _run_id(root)
    client = open_client(root)
    run = _check_finished_artifacts(client, run_id)
    assert run.status == "failed"

    remount = subprocess.run(["mount", "-o", "remount,size=64m", str(root)],
                             capture_output=True, text=True)
    assert remount.returncode == 0, remount.stderr
    _check_resume(root, dict(env, CHATTY="0"), run_id)
    _resumed_outs(open_client(root), root, splits=3)


def test_a_stale_heartbeat_from_another_host_reads_as_failed(tmp_path, open_client):
    """A runtime on another machine can't be looked up by pid: its heartbeat tells."""
    import json

    env = _env(tmp_path, FAST="1", SPLITS="2")
    assert run_flow("faults_signals_flow.py", "run", cwd=tmp_path, env=env).returncode == 0
    run_id = _run_id(tmp_path)
    meta = tmp_path / ".metaflow" / ".metaflow_core" / FLOW / run_id / "_meta"
    now_ms = int(time.time() * 1000)
    runtime = {"pid": 4242, "host": "another-host.example", "started": 1}
    (meta / "status.json").write_text(json.dumps(
        {"status": "running", "ts_epoch": now_ms - 60000, "runtime": runtime}))
    (meta / "heartbeat.json").write_text(json.dumps({"ts_epoch": now_ms - 1000, "interval": 10}))
    client = open_client(tmp_path)
    assert client.Run("%s/%s" % (FLOW, run_id)).status == "running"
    refused = run_flow("faults_signals_flow.py", "resume", "--origin-run-id", run_id,
                       cwd=tmp_path, env=env)
    assert "is still running (its runtime is pid 4242 on another-host.example)" in refused.stderr

    (meta / "heartbeat.json").write_text(json.dumps({"ts_epoch": now_ms - 31000, "interval": 10}))
    run = client.Run("%s/%s" % (FLOW, run_id))
    assert run.status == "failed"
    assert run.status_reason.startswith(
        "the runtime stopped (pid 4242 on another-host.example): its last heartbeat was at ")
    _check_resume(tmp_path, env, run_id)


def test_a_killed_task_is_noticed_from_its_exit(tmp_path, open_client):
    """SIGKILL of a task whose child escaped its session and holds its output open: the
    runtime sees the task exit, and doesn't wait for the end of that output."""
    env = _env(tmp_path, ESCAPE=1, SPLITS=2)
    proc = _start(tmp_path, ["run"], env)
    escaped = None
    try:
        marks = tmp_path / "marks" / "escaped"
        wait_for(lambda: marks.exists() and len(marks.read_text().split()) == 2, timeout=60,
                 what="the split with an escaped child")
        task, escaped = (int(n) for n in marks.read_text().split())
        os.kill(task, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
        assert is_alive(escaped), "the escaped child was to outlive its task"
    finally:
        if escaped is not None:
            kill_quietly(escaped)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = stderr.decode()
    assert proc.returncode == 1
    assert "Task failed: killed by signal 9." in stderr
    _no_process_left(tmp_path)
    run = open_client(tmp_path).Run("%s/%s" % (FLOW, _run_id(tmp_path)))
    assert run.status == "failed"
    _check_resume(tmp_path, _env(tmp_path, SPLITS=2), _run_id(tmp_path))
    _resumed_outs(open_client(tmp_path), tmp_path, splits=2)
