"""remote_task: its one argument, the task argument kept in the datastore when too long,
and errors said without a traceback. (test_batch.py runs it for real, from Batch jobs.)"""

import json
import signal
import subprocess
import sys

import pytest

from metaflow_core.datastore import FlowDataStore
from metaflow_core.package import CodePackage
from metaflow_core.remote_task import (
    ARGUMENT_FILE_CHARS,
    RemoteTaskError,
    command_argument,
    parse_argument,
    prepare,
)
from metaflow_core.task_types import TASK_COMMAND


@pytest.fixture
def saved(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").write_text("print('hi')\n")
    fds = FlowDataStore("F", ds_type="local", ds_root=str(tmp_path / "ds"))
    return fds, CodePackage.build("F", str(project), "flow.py").save(fds)


def test_a_short_argument_holds_the_task_and_runs_the_unpacked_module(saved, tmp_path):
    fds, record = saved
    task = {"step": "start", "run_id": "1", "graph": []}
    text = command_argument("F", record, task, fds, max_chars=6000)
    argument = parse_argument(text)

    assert argument["task"] == task and set(argument["package"]) == {"sha", "ds_type", "ds_root"}
    work = tmp_path / "work"
    work.mkdir()
    cmd = prepare(argument, str(work))
    assert cmd[:3] == [sys.executable, str(work / "flow.py"), TASK_COMMAND]
    assert json.loads(cmd[3]) == task


def test_a_long_task_argument_goes_through_the_datastore_and_a_file(saved, tmp_path):
    fds, record = saved
    task = {"step": "start", "graph": ["x" * ARGUMENT_FILE_CHARS]}
    argument = parse_argument(command_argument("F", record, task, fds, max_chars=6000))

    assert "task" not in argument and len(argument["task_blob"]) == 40
    work = tmp_path / "work"
    work.mkdir()
    cmd = prepare(argument, str(work))
    assert cmd[3] == "@" + str(work / ".task-argument.json")
    assert json.loads((work / ".task-argument.json").read_text()) == task


def test_a_bad_argument_is_a_headline_error(tmp_path):
    with pytest.raises(RemoteTaskError, match="version 2"):
        parse_argument('{"version": 9}')
    done = subprocess.run([sys.executable, "-m", "metaflow_core.remote_task", "not json"],
                          capture_output=True, text=True, cwd=str(tmp_path))

    assert done.returncode == 1
    assert "Remote task" in done.stderr and "not JSON" in done.stderr
    assert "Traceback" not in done.stderr


STOPPABLE = """import signal, sys, time
def stop(signum, frame):
    print("stopped by %d" % signum, flush=True)
    sys.exit(7)
signal.signal(signal.SIGTERM, stop)
print("ready", sys.argv[1], flush=True)
time.sleep(60)
"""


def test_sigterm_to_the_command_reaches_the_task_and_its_status_is_the_exit(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").write_text(STOPPABLE)
    fds = FlowDataStore("F", ds_type="local", ds_root=str(tmp_path / "ds"))
    record = CodePackage.build("F", str(project), "flow.py").save(fds)
    text = command_argument("F", record, {"step": "start"}, fds, max_chars=6000)
    proc = subprocess.Popen([sys.executable, "-m", "metaflow_core.remote_task", text],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(tmp_path))
    try:
        assert proc.stdout.readline() == "ready %s\n" % TASK_COMMAND
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert out == "stopped by %d\n" % signal.SIGTERM, err
    assert proc.returncode == 7
