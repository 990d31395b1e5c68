"""The R client's Python process (r/client_server.py), spoken to as R speaks to it.

Each test starts the real process with the command R uses, writes request
lines to its stdin and reads reply lines from its stdout (inst/PROTOCOL.md,
section 7). The runs it reads are real runs of the engine, made once for the
module: two runs of a foreach flow by alice (one tagged), a failed run by
alice, and a run by bob.
"""

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import runner
from flowfiles import write_flow
from metaflow_core.datastore.cas import MAGIC
from metaflow_core.r.client_server import FIELDS
from metaflow_core.r.values import to_rds
from metaflow_core.r.rds import RVector, dumps

SERVER_COMMAND = [sys.executable, "-c", "from metaflow_core.r.client_server import main; main()"]
REPLY_TIMEOUT = 30

# The variables R's context carries (client_environment_variables in R/client_python.R).
R_CONTEXT_VARIABLES = ("METAFLOW_DATASTORE_SYSROOT_LOCAL", "METAFLOW_DATASTORE_COMPRESSION",
                       "METAFLOW_USER", "SUDO_USER", "USERNAME", "USER")

TYPES_FLOW = '''
import os
import sys

from metaflow_core import FlowSpec, step
from metaflow_core.datastore import RObject
from metaflow_core.front_end import uses_front_end
from metaflow_core.r.bridge import RFrontEnd
from metaflow_core.r.rds import RVector, dumps


class Point(object):
    def __init__(self, x, y):
        self.x, self.y = x, y


# Stores the run's code as an R flow does, so that `code` has something to find.
@uses_front_end(RFrontEnd(os.path.join(os.path.dirname(os.path.abspath(__file__)), "spec")))
class TypesFlow(FlowSpec):

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input ** 2
        print("squaring %d" % self.input)
        print("to stderr %d" % self.input, file=sys.stderr)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [inp.value for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.count = len(self.squares)
        self.info = {"name": "types", "weights": [1.5, 2.5]}
        self.labels = {"x", "y"}
        self.point = Point(1, 2)
        self.r_value = RObject(dumps(RVector("double", [1.5, 2.5])))


if __name__ == "__main__":
    TypesFlow()
'''


# the runs, made once


class Runs(object):
    """The module's runs: where they are, their ids, and when they were made."""

    def __init__(self, root):
        self.root = Path(os.path.realpath(str(root)))
        self.datastore = str(self.root / ".metaflow" / ".metaflow_core")
        spec_dir = self.root / "spec"  # TypesFlow's RFrontEnd
        spec_dir.mkdir()
        (spec_dir / "flow.json").write_text('{"name": "TypesFlow"}')
        flow_file = write_flow(self.root, TYPES_FLOW, "types_flow")
        (spec_dir / "flow.py").write_text(flow_file.read_text())
        self.started = time.time()
        self.tagged = self.run_ok(flow_file, "--tag", "exp:1")
        self.latest = self.run_ok(flow_file)
        failed = self.run("fail_flow.py")
        assert failed.returncode != 0, runner.describe(failed)
        self.failed = runner.run_id_of(failed)
        self.bobs = self.run_ok("linear_flow.py", user="bob")
        self.ended = time.time()

    def run(self, flow_file, *args, user="alice"):
        env = {"METAFLOW_USER": user, "METAFLOW_DATASTORE_COMPRESSION": "none"}
        return runner.run_flow(flow_file, "run", *args, cwd=self.root, env=env)

    def run_ok(self, flow_file, *args, user="alice"):
        result = self.run(flow_file, *args, user=user)
        runner.assert_succeeded(result, self.root)
        return runner.run_id_of(result)

    def ref(self, cls, pathspec, ns="user:alice", check=True):
        return {"class": cls, "pathspec": pathspec, "root": self.datastore, "ns": ns,
                "check": check}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("runs"))


# the process, as R starts it


class ClientProcess(object):
    """The client's process, started and spoken to as R/client_python.R does."""

    def __init__(self, cwd, tmpdir, scratch=None):
        env = runner.flow_env(cwd, {"TMPDIR": str(tmpdir), "TEMP": str(tmpdir),
                                    "TMP": str(tmpdir)})
        del env["METAFLOW_DATASTORE_SYSROOT_LOCAL"]  # R's context says where runs are
        self.cwd = str(cwd)
        self.tmpdir = Path(tmpdir)
        self.ids = itertools.count(1)
        # stderr to a file, as R keeps it: read only to say why the process ended.
        self.stderr_path = self.tmpdir / "stderr.log"
        with open(str(self.stderr_path), "wb") as stderr:
            self.process = subprocess.Popen(
                SERVER_COMMAND + ([str(scratch)] if scratch else []), cwd=self.cwd, env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=stderr)
        # Replies are read by a thread, so that a process that stops answering
        # fails the test after REPLY_TIMEOUT instead of hanging it.
        self.replies = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put(None)

    def context(self, cwd=None, user="alice", namespace_set=False, namespace=None, root=None,
                **env):
        """R's context: every variable R sends, unset (None) unless given."""
        variables = dict.fromkeys(R_CONTEXT_VARIABLES)
        variables["METAFLOW_USER"] = user
        variables.update(env)
        return {"cwd": cwd or self.cwd, "env": variables, "namespace_set": namespace_set,
                "namespace": namespace, "root": root}

    def send_line(self, line):
        self.process.stdin.write(line)
        self.process.stdin.flush()

    def reply(self):
        line = self.replies.get(timeout=REPLY_TIMEOUT)
        assert line is not None, "the process ended: %s" % self.stderr_path.read_text()
        return json.loads(line)

    def ask(self, op, args=None, context=None):
        """The reply to one request, checked to answer it."""
        request_id = next(self.ids)
        request = {"id": request_id, "op": op, "context": context or self.context(),
                   "args": args or {}}
        self.send_line(json.dumps(request).encode("utf-8") + b"\n")
        reply = self.reply()
        assert reply["id"] == request_id
        return reply

    def value(self, op, context=None, **args):
        reply = self.ask(op, args, context)
        assert "error" not in reply, reply
        return reply["value"]

    def error(self, op, context=None, **args):
        reply = self.ask(op, args, context)
        assert "value" not in reply, reply
        return reply["error"]

    def scratch_dirs(self):
        return sorted(self.tmpdir.glob("metaflow-r-client-*"))

    def close(self):
        """Close stdin, the end of the session for the process; its exit status."""
        self.process.stdin.close()
        status = self.process.wait(timeout=REPLY_TIMEOUT)
        self.reader.join(timeout=REPLY_TIMEOUT)
        self.process.stdout.close()
        return status


def start_client(runs, tmp_path_factory):
    return ClientProcess(runs.root, tmp_path_factory.mktemp("client_tmp"))


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    """One process for the tests that only read: every request carries its whole context."""
    process = start_client(runs, tmp_path_factory)
    yield process
    assert process.close() == 0


@pytest.fixture
def fresh_server(runs, tmp_path_factory):
    process = start_client(runs, tmp_path_factory)
    yield process
    if process.process.poll() is None:
        process.close()


def in_window(runs, seconds):
    """A time the runs could have had, in epoch seconds (not milliseconds)."""
    return runs.started - 1 <= seconds <= runs.ended + 1


# the process itself


def test_hello_names_the_python_and_the_process(server):
    hello = server.value("hello")
    assert hello["python"] == sys.executable
    assert hello["pid"] == server.process.pid
    assert isinstance(hello["version"], str) and hello["version"]


def test_namespace_ops_follow_the_context(server):
    assert server.value("get_namespace") == "user:alice"
    assert server.value("get_namespace", server.context(user="bob")) == "user:bob"
    assert server.value("get_namespace", server.context(namespace_set=True)) is None
    assert server.value("get_namespace", server.context(
        namespace_set=True, namespace="team:x")) == "team:x"
    assert server.value("default_namespace", server.context(user="bob")) == "user:bob"


def test_flows_honour_the_namespace(server):
    assert server.value("flows") == ["FailFlow", "TypesFlow"]
    assert server.value("flows", server.context(user="bob")) == ["LinearFlow"]
    assert server.value("flows", server.context(namespace_set=True, namespace=None)) == [
        "LinearFlow", "FailFlow", "TypesFlow"]
    assert server.value("flows", server.context(
        namespace_set=True, namespace="user:bob")) == ["LinearFlow"]


# refs


def test_object_gives_a_ref(server, runs):
    run = "TypesFlow/%s" % runs.latest
    assert server.value("object", cls="Run", pathspec=run) == runs.ref("Run", run)
    assert server.value("object", server.context(namespace_set=True), cls="Flow",
                        pathspec="LinearFlow") == runs.ref("Flow", "LinearFlow", ns=None)
    bobs = "LinearFlow/%s" % runs.bobs
    assert server.value("object", cls="Run", pathspec=bobs, check=False) == runs.ref(
        "Run", bobs, check=False)


def test_child_walks_down_to_a_task(server, runs):
    flow = server.value("object", cls="Flow", pathspec="TypesFlow")
    run = server.value("child", ref=flow, id=runs.tagged)
    assert run == runs.ref("Run", "TypesFlow/%s" % runs.tagged)
    step = server.value("child", ref=run, id="square")
    assert step == runs.ref("Step", "TypesFlow/%s/square" % runs.tagged)
    task_id = server.value("children", ref=step)[0]
    task = server.value("child", ref=step, id=task_id)
    assert task == runs.ref("Task", "TypesFlow/%s/square/%s" % (runs.tagged, task_id))
    missing = server.error("child", ref=flow, id="12345")
    assert missing["type"] == "MetaflowNotFound"
    assert missing["message"] == (
        "Run 'TypesFlow/12345' does not exist. Latest runs of TypesFlow: %s, %s"
        % (runs.latest, runs.tagged))


def test_latest_runs_and_end_task(server, runs):
    types = server.value("object", cls="Flow", pathspec="TypesFlow")
    latest = runs.ref("Run", "TypesFlow/%s" % runs.latest)
    assert server.value("latest", ref=types, which="latest_run") == latest
    assert server.value("latest", ref=types, which="latest_successful_run") == latest
    fail = server.value("object", cls="Flow", pathspec="FailFlow")
    assert server.value("latest", ref=fail, which="latest_run") == runs.ref(
        "Run", "FailFlow/%s" % runs.failed)
    assert server.value("latest", ref=fail, which="latest_successful_run") is None
    unknown = server.error("latest", ref=types, which="oldest_run")
    assert (unknown["type"], unknown["message"]) == (
        "MetaflowException", "No such run as 'oldest_run'.")

    end = server.value("end_task", ref=latest)
    assert end["class"] == "Task"
    assert end["pathspec"].startswith("TypesFlow/%s/end/" % runs.latest)
    assert server.value("end_task", ref=runs.ref("Run", "FailFlow/%s" % runs.failed)) is None


def test_refs_read_the_same_object_under_any_later_context(server, runs, tmp_path):
    run = server.value("object", cls="Run", pathspec="TypesFlow/%s" % runs.tagged)
    flow = server.value("object", cls="Flow", pathspec="TypesFlow")
    everyone = server.value("object", server.context(namespace_set=True), cls="Flow",
                            pathspec="LinearFlow")
    elsewhere = server.context(
        cwd=str(tmp_path), user="carol", namespace_set=True, namespace="user:carol",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path))
    assert server.value("flows", elsewhere) == []

    assert server.value("fields", elsewhere, ref=run, names=["status", "user_tags"]) == {
        "status": "succeeded", "user_tags": ["exp:1"]}
    assert server.value("children", elsewhere, ref=run) == ["end", "join", "square", "start"]
    assert server.value("children", elsewhere, ref=flow) == [runs.latest, runs.tagged]
    assert server.value("latest", elsewhere, ref=flow, which="latest_run")["pathspec"] == (
        "TypesFlow/%s" % runs.latest)
    assert server.value("children", elsewhere, ref=everyone) == [runs.bobs]
    assert server.value("children", ref=everyone) == [runs.bobs]

    # A ref made where set_metadata() pointed keeps its root once R points elsewhere.
    chosen = server.context(cwd=str(tmp_path), root=runs.datastore)
    failed = server.value("object", chosen, cls="Run", pathspec="FailFlow/%s" % runs.failed)
    assert failed["root"] == runs.datastore
    assert server.value("fields", elsewhere, ref=failed, names=["status"]) == {
        "status": "failed"}


# fields


def test_fields_of_a_flow(server, runs):
    flow = server.value("object", cls="Flow", pathspec="TypesFlow")
    fields = server.value("fields", ref=flow, names=[
        "id", "pathspec", "created_at", "tags", "user_tags", "system_tags", "latest_run",
        "latest_successful_run", "origin_pathspec"])
    assert in_window(runs, fields.pop("created_at"))
    assert fields == {
        "id": "TypesFlow", "pathspec": "TypesFlow", "tags": [], "user_tags": [],
        "system_tags": [], "latest_run": runs.latest, "latest_successful_run": runs.latest,
        "origin_pathspec": None}


def test_fields_of_a_run(server, runs):
    run = server.value("object", cls="Run", pathspec="TypesFlow/%s" % runs.tagged)
    fields = server.value("fields", ref=run, names=[
        "id", "pathspec", "status", "successful", "finished", "created_at", "finished_at",
        "tags", "user_tags", "system_tags", "end_task", "code", "origin_pathspec"])
    assert in_window(runs, fields["created_at"]) and in_window(runs, fields["finished_at"])
    assert fields.pop("created_at") <= fields.pop("finished_at")
    system_tags = fields.pop("system_tags")
    assert "user:alice" in system_tags and system_tags == sorted(system_tags)
    assert fields.pop("tags") == sorted(system_tags + ["exp:1"])
    end_task = server.value("end_task", ref=run)["pathspec"].rsplit("/", 1)[1]
    assert fields == {
        "id": runs.tagged, "pathspec": "TypesFlow/%s" % runs.tagged, "status": "succeeded",
        "successful": True, "finished": True, "user_tags": ["exp:1"], "end_task": end_task,
        "code": os.path.join(runs.datastore, "TypesFlow", runs.tagged, "_meta", "spec"),
        "origin_pathspec": None}

    failed = server.value("object", cls="Run", pathspec="FailFlow/%s" % runs.failed)
    fields = server.value("fields", ref=failed, names=["status", "successful", "finished",
                                                       "finished_at", "end_task",
                                                       "status_reason"])
    assert fields.pop("status_reason").startswith("Step *boom* (task-id ")
    assert fields == {
        "status": "failed", "successful": False, "finished": False, "finished_at": None,
        "end_task": None}


def test_fields_of_a_step_and_its_tasks(server, runs):
    step = server.value("object", cls="Step", pathspec="TypesFlow/%s/square" % runs.tagged)
    fields = server.value("fields", ref=step, names=["id", "task", "created_at", "finished_at"])
    assert fields["id"] == "square"
    assert fields["task"] == server.value("children", ref=step)[0]
    assert in_window(runs, fields["created_at"]) and in_window(runs, fields["finished_at"])

    by_index = {}
    for task_id in server.value("children", ref=step):
        task = server.value("child", ref=step, id=task_id)
        read = server.value("fields", ref=task, names=[
            "index", "foreach_stack", "metadata_dict", "stdout", "stderr", "exception",
            "successful", "finished", "finished_at", "current_attempt", "resources"])
        by_index[read["index"]] = read
    assert sorted(by_index) == [0, 1, 2]
    second = by_index[1]
    assert second["stdout"] == "squaring 2\n" and second["stderr"] == "to stderr 2\n"
    assert second["exception"] is None
    assert second["current_attempt"] == 0 and second["resources"] is None
    assert second["successful"] is True and second["finished"] is True
    assert in_window(runs, second["finished_at"])
    assert [(frame["step"], frame["index"], frame["num_splits"])
            for frame in second["foreach_stack"]] == [("start", 1, 3)]
    assert second["metadata_dict"]["attempt_ok"] == "True"
    assert all(isinstance(value, str) for value in second["metadata_dict"].values())


def test_fields_of_a_failed_task(server, runs):
    step = server.value("object", cls="Step", pathspec="FailFlow/%s/boom" % runs.failed)
    (task_id,) = server.value("children", ref=step)
    boom = server.value("child", ref=step, id=task_id)
    fields = server.value("fields", ref=boom, names=["successful", "finished", "exception",
                                                     "index", "foreach_stack"])
    exception = fields.pop("exception")
    assert (exception["type"], exception["message"]) == ("ValueError", "boom in the boom step")
    assert "boom in the boom step" in exception["traceback"]
    assert fields == {"successful": False, "finished": True, "index": None, "foreach_stack": []}


def test_the_field_tests_read_every_field():
    """When FIELDS grows, the tests above must read the new field too."""
    read = {
        "id", "pathspec", "status", "successful", "finished", "created_at", "finished_at",
        "tags", "user_tags", "system_tags", "end_task", "task", "latest_run",
        "latest_successful_run", "exception", "index", "foreach_stack", "metadata_dict",
        "stdout", "stderr", "code", "origin_pathspec", "current_attempt", "resources",
        "status_reason"}
    assert read == set(FIELDS)


def test_an_unknown_field_is_an_error_naming_it(server, runs):
    run = server.value("object", cls="Run", pathspec="TypesFlow/%s" % runs.tagged)
    unknown = server.error("fields", ref=run, names=["status", "colour"])
    assert unknown == {"type": "MetaflowException", "metaflow": True,
                       "message": "A Run has no field 'colour' for R."}
    wrong_class = server.error("fields", ref=run, names=["index"])
    assert wrong_class["message"] == "A Run has no field 'index' for R."


# listings and tables


def test_children_are_newest_first_and_artifacts_sorted(server, runs):
    flow = server.value("object", cls="Flow", pathspec="TypesFlow")
    assert server.value("children", ref=flow) == [runs.latest, runs.tagged]
    assert server.value("children", ref=flow, tags=["exp:1"]) == [runs.tagged]
    run = server.value("child", ref=flow, id=runs.tagged)
    assert server.value("children", ref=run) == ["end", "join", "square", "start"]
    step = server.value("child", ref=run, id="square")
    table = server.value("tasks_table", ref=step)
    assert server.value("children", ref=step) == list(reversed(table["id"]))
    assert table["created_at"] == sorted(table["created_at"])
    end = server.value("end_task", ref=run)
    assert server.value("children", ref=end) == [
        "count", "info", "labels", "point", "r_value", "squares"]


def test_runs_with_tags(server, runs):
    flow = server.value("object", cls="Flow", pathspec="TypesFlow")
    assert server.value("runs", ref=flow) == [
        runs.ref("Run", "TypesFlow/%s" % runs.latest),
        runs.ref("Run", "TypesFlow/%s" % runs.tagged)]
    assert server.value("runs", ref=flow, tags=["exp:1"]) == [
        runs.ref("Run", "TypesFlow/%s" % runs.tagged)]
    assert server.value("runs", ref=flow, tags=["exp:1", "exp:2"]) == []


def test_runs_table(server, runs):
    flow = server.value("object", cls="Flow", pathspec="TypesFlow")
    table = server.value("runs_table", ref=flow)
    assert set(table) == {"id", "created_at", "finished_at", "status", "successful", "tags",
                          "user_tags"}
    assert table["id"] == [runs.latest, runs.tagged]
    assert table["status"] == ["succeeded", "succeeded"]
    assert table["successful"] == [True, True]
    assert table["user_tags"] == [[], ["exp:1"]]
    assert all("user:alice" in tags for tags in table["tags"])
    assert all(in_window(runs, t) for t in table["created_at"] + table["finished_at"])
    tagged = server.value("runs_table", ref=flow, tags=["exp:1"])
    assert tagged["id"] == [runs.tagged]
    assert server.value("runs_table", ref=flow, tags=["exp:2"]) == {name: [] for name in table}


def test_tasks_table(server, runs):
    step = server.value("object", cls="Step", pathspec="TypesFlow/%s/square" % runs.tagged)
    table = server.value("tasks_table", ref=step)
    assert set(table) == {"step", "id", "index", "finished", "successful", "created_at",
                          "finished_at", "origin_pathspec"}
    assert table["step"] == ["square"] * 3
    assert table["origin_pathspec"] == [None] * 3
    assert len(table["id"]) == 3
    assert sorted(table["index"]) == [0, 1, 2]
    assert table["finished"] == [True] * 3 and table["successful"] == [True] * 3
    assert all(in_window(runs, t) for t in table["created_at"] + table["finished_at"])


def test_tasks_table_of_a_run_has_every_task_of_every_step(server, runs):
    run = runs.ref("Run", "TypesFlow/%s" % runs.tagged)
    table = server.value("tasks_table", ref=run)
    assert table["step"] == ["start", "square", "square", "square", "join", "end"]
    assert table["created_at"] == sorted(table["created_at"])
    square = server.value("tasks_table", ref=server.value("child", ref=run, id="square"))
    assert table["id"][1:4] == square["id"]


def test_artifacts_table(server, runs):
    end = server.value("end_task", ref=runs.ref("Run", "TypesFlow/%s" % runs.tagged))
    table = server.value("artifacts_table", ref=end)
    assert set(table) == {"name", "type", "size", "encoding"}
    rows = {name: (kind, encoding) for name, kind, encoding in zip(
        table["name"], table["type"], table["encoding"])}
    assert rows == {
        "count": ("int", "pickle"), "info": ("dict", "pickle"), "labels": ("set", "pickle"),
        "point": ("__main__.Point", "pickle"), "r_value": ("R object", "rds"),
        "squares": ("list", "pickle")}
    assert all(isinstance(size, int) and size > 0 for size in table["size"])


def test_steps_table(server, runs):
    run = runs.ref("Run", "TypesFlow/%s" % runs.tagged)
    rows = server.value("steps_table", ref=run)
    assert [(r["step"], r["tasks"], r["finished"], r["failed"]) for r in rows] == [
        ("start", 1, True, 0), ("square", 3, True, 0), ("join", 1, True, 0),
        ("end", 1, True, 0)]
    assert all(in_window(runs, r["created_at"]) and in_window(runs, r["finished_at"])
               for r in rows)
    failed = server.value("steps_table", ref=runs.ref("Run", "FailFlow/%s" % runs.failed))
    assert [(r["step"], r["tasks"], r["finished"], r["failed"]) for r in failed] == [
        ("start", 1, True, 0), ("boom", 1, True, 1)]


def test_failed_task(server, runs):
    failed = server.value("failed_task", ref=runs.ref("Run", "FailFlow/%s" % runs.failed))
    boom = server.value("children", ref=runs.ref("Step", "FailFlow/%s/boom" % runs.failed))
    assert failed == {"pathspec": "boom/%s" % boom[0], "message": "boom in the boom step"}
    assert server.value("failed_task", ref=runs.ref("Run", "TypesFlow/%s" % runs.tagged)) is None


def test_code_of_any_object_of_a_run(server, runs):
    stored = os.path.join(runs.datastore, "TypesFlow", runs.tagged, "_meta", "spec")
    run = runs.ref("Run", "TypesFlow/%s" % runs.tagged)
    assert server.value("code", ref=run) == stored
    assert server.value("code", ref=server.value("end_task", ref=run)) == stored
    assert sorted(os.listdir(stored)) == ["flow.json", "flow.py"]
    assert server.value("code", ref=runs.ref("Flow", "TypesFlow")) is None
    bobs = runs.ref("Run", "LinearFlow/%s" % runs.bobs, check=False)
    assert server.value("code", ref=bobs) is None


def test_debug_task_of_a_python_flow_says_so(server, runs, tmp_path):
    start = server.value("children", ref=runs.ref("Step", "FailFlow/%s/start" % runs.failed))
    pathspec = "FailFlow/%s/start/%s" % (runs.failed, start[0])
    assert server.value("debug_task", ref=runs.ref("Task", pathspec),
                        output_dir=str(tmp_path)) == {"language": "Python", "pathspec": pathspec}
    assert os.listdir(str(tmp_path)) == []


def test_debug_task_of_a_run_is_its_failed_task(server, runs, tmp_path):
    boom = server.value("children", ref=runs.ref("Step", "FailFlow/%s/boom" % runs.failed))
    failed = server.value("debug_task", ref=runs.ref("Run", "FailFlow/%s" % runs.failed),
                          output_dir=str(tmp_path))
    assert failed == {"language": "Python",
                      "pathspec": "FailFlow/%s/boom/%s" % (runs.failed, boom[0])}
    succeeded = server.value("debug_task", ref=runs.ref("Run", "TypesFlow/%s" % runs.tagged),
                             output_dir=str(tmp_path))
    assert succeeded == {"failed_tasks": []}


def test_debug_task_needs_a_task(server, runs, tmp_path):
    error = server.error("debug_task", ref=runs.ref("Flow", "FailFlow", ns=None),
                         output_dir=str(tmp_path))
    assert error["message"] == "debug_task needs a task, not a Flow."


def test_is_in_namespace_asks_the_current_namespace(server, runs):
    bobs = server.value("object", cls="Run", pathspec="LinearFlow/%s" % runs.bobs, check=False)
    assert server.value("is_in_namespace", ref=bobs) is False
    assert server.value("is_in_namespace", server.context(user="bob"), ref=bobs) is True
    assert server.value("is_in_namespace", server.context(namespace_set=True), ref=bobs) is True
    mine = server.value("object", cls="Run", pathspec="TypesFlow/%s" % runs.tagged)
    assert server.value("is_in_namespace", ref=mine) is True
    assert server.value("is_in_namespace", server.context(
        namespace_set=True, namespace="exp:1"), ref=mine) is True


# metadata location


def test_set_metadata(server, runs, tmp_path):
    described = "local@%s" % runs.root
    assert server.value("set_metadata", ms=str(runs.root)) == {
        "root": runs.datastore, "metadata": described}
    assert server.value("set_metadata", ms="local@%s" % runs.root) == {
        "root": runs.datastore, "metadata": described}
    assert server.value("set_metadata", ms=runs.datastore) == {
        "root": runs.datastore, "metadata": described}
    assert server.value("set_metadata", server.context(cwd=str(tmp_path)), ms="local") == {
        "root": None, "metadata": "local@%s" % tmp_path}

    empty = server.error("set_metadata", ms=str(tmp_path))
    assert empty["type"] == "MetaflowNotFound"
    assert empty["message"].startswith("There is no .metaflow directory in %s." % tmp_path)
    service = server.error("set_metadata", ms="service@https://mfmd.example.com")
    assert service["type"] == "MetaflowException"
    assert service["message"].startswith("Only the local metadata provider is supported")


def test_get_metadata_follows_the_context(server, runs, tmp_path):
    deep = runs.root / "analysis" / "deep"
    deep.mkdir(parents=True, exist_ok=True)
    described = "local@%s" % runs.root
    assert server.value("get_metadata") == described
    assert server.value("get_metadata", server.context(cwd=str(deep))) == described
    assert server.value("get_metadata", server.context(cwd=str(tmp_path))) == (
        "local@%s" % tmp_path)
    assert server.value("get_metadata", server.context(
        cwd=str(deep), METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path))) == "local@%s" % tmp_path
    assert server.value("get_metadata", server.context(
        cwd=str(tmp_path), root=runs.datastore)) == described
    # What set_metadata() chose travels as the context's root.
    chosen = server.context(cwd=str(tmp_path), root=runs.datastore)
    assert server.value("flows", chosen) == ["FailFlow", "TypesFlow"]
    assert server.value("object", chosen, cls="Flow", pathspec="FailFlow") == runs.ref(
        "Flow", "FailFlow")


# artifacts


def end_task_of(server, runs):
    return server.value("end_task", ref=runs.ref("Run", "TypesFlow/%s" % runs.tagged))


def test_a_python_artifact_is_written_as_rds_to_the_scratch_directory(server, runs):
    reply = server.value("artifact", ref=end_task_of(server, runs), name="info")
    assert reply["temporary"] is True
    (scratch,) = server.scratch_dirs()
    assert Path(reply["path"]).parent == scratch
    data = Path(reply["path"]).read_bytes()
    assert data == MAGIC + b"n" + to_rds({"name": "types", "weights": [1.5, 2.5]})
    os.remove(reply["path"])  # as R does once it has read it


def test_an_r_artifact_is_read_from_the_datastore(server, runs):
    reply = server.value("artifact", ref=end_task_of(server, runs), name="r_value")
    assert reply["temporary"] is False
    assert reply["path"].startswith(runs.datastore + os.sep)
    assert Path(reply["path"]).read_bytes() == MAGIC + b"n" + dumps(
        RVector("double", [1.5, 2.5]))


def test_a_set_has_no_r_equivalent(server, runs):
    end = end_task_of(server, runs)
    (scratch,) = server.scratch_dirs()
    before = sorted(scratch.iterdir())
    error = server.error("artifact", ref=end, name="labels")
    assert error["type"] == "RValueError" and error["metaflow"] is True
    assert (error["python_type"], error["inner_type"]) == ("set", "set")
    assert sorted(scratch.iterdir()) == before  # nothing half-written for R to find


def test_an_instance_of_a_flow_script_class_is_unreadable(server, runs):
    error = server.error("artifact", ref=end_task_of(server, runs), name="point")
    assert error["type"] == "ArtifactUnreadable" and error["metaflow"] is True
    assert error["python_type"] == "__main__.Point"
    assert error["message"].startswith("AttributeError: ")
    assert "Point" in error["message"]


def test_an_unknown_artifact_lists_the_artifacts(server, runs):
    end = end_task_of(server, runs)
    error = server.error("artifact", ref=end, name="nope")
    assert error["type"] == "MetaflowNotFound"
    assert error["message"] == (
        "Artifact 'nope' does not exist in task %s; artifacts: count, info, labels, point, "
        "r_value, squares" % end["pathspec"])


# errors, and the loop going on after them


def test_every_error_is_answered_and_the_loop_goes_on(fresh_server, runs):
    pid = fresh_server.value("hello")["pid"]

    unknown = fresh_server.error("frobnicate")
    assert unknown == {"type": "MetaflowException", "metaflow": True,
                       "message": "Unknown request 'frobnicate'."}
    assert fresh_server.value("hello")["pid"] == pid

    fresh_server.send_line(b"{not json\n")
    malformed = fresh_server.reply()
    assert malformed["id"] is None
    assert malformed["error"]["type"] == "JSONDecodeError"
    assert malformed["error"]["metaflow"] is False
    fresh_server.send_line(b"\n")  # blank lines are skipped, not answered
    assert fresh_server.value("hello")["pid"] == pid

    no_pathspec = fresh_server.error("object", cls="Run")
    assert no_pathspec["type"] == "TypeError" and no_pathspec["metaflow"] is False
    assert "pathspec" in no_pathspec["message"]
    assert fresh_server.value("hello")["pid"] == pid

    bobs = "LinearFlow/%s" % runs.bobs
    mismatch = fresh_server.error("object", cls="Run", pathspec=bobs)
    assert mismatch["type"] == "MetaflowNamespaceMismatch" and mismatch["metaflow"] is True
    assert mismatch["message"].startswith("Object not in namespace 'user:alice': Run('%s')."
                                          % bobs)
    assert "It belongs to user:bob." in mismatch["message"]
    assert fresh_server.value("hello")["pid"] == pid

    bad_class = fresh_server.error("object", cls="Artifact", pathspec="A/1/s/2/x")
    assert bad_class["message"] == "Unknown client class 'Artifact'."
    invalid = fresh_server.error("object", cls="Run", pathspec="TypesFlow")
    assert invalid["type"] == "MetaflowInvalidPathspec"
    assert fresh_server.value("hello")["pid"] == pid
    assert fresh_server.close() == 0


def test_a_line_that_is_not_an_object_is_answered_and_the_loop_goes_on(fresh_server):
    pid = fresh_server.value("hello")["pid"]
    for line in (b"[1]\n", b'"x"\n', b"3\n"):
        fresh_server.send_line(line)
        reply = fresh_server.reply()
        assert reply["id"] is None
        assert reply["error"]["message"].startswith("A request is a JSON object, not ")
    assert fresh_server.value("hello")["pid"] == pid


def test_a_working_directory_that_is_gone_is_an_error_not_the_last_one(fresh_server, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    assert fresh_server.value("get_metadata", context=fresh_server.context(cwd=str(gone)))
    gone.rmdir()
    error = fresh_server.error("get_metadata", context=fresh_server.context(cwd=str(gone)))
    assert error["message"] == "The working directory %s doesn't exist any more." % gone


def test_a_task_has_no_child_objects(server, runs):
    error = server.error("child", ref=end_task_of(server, runs), id="count")
    assert error["type"] == "MetaflowException"
    assert "artifact request" in error["message"]


NOISY_MODULE = """
import os


class Noisy(object):
    def __init__(self):
        self.n = 1  # an empty __dict__ would not be passed to __setstate__

    def __setstate__(self, state):
        print("unpickled a Noisy")
        os.write(1, b"written to fd 1\\n")
        self.__dict__.update(state)
"""

NOISY_FLOW = """
from metaflow_core import FlowSpec, step
from noisy import Noisy


class NoisyFlow(FlowSpec):
    @step
    def start(self):
        self.thing = Noisy()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NoisyFlow()
"""


def test_output_during_a_request_goes_to_stderr_not_between_replies(tmp_path, tmp_path_factory):
    # Unpickling runs the artifact class's code, here a module in R's working
    # directory that prints, from Python and straight to file descriptor 1.
    root = Path(os.path.realpath(str(tmp_path)))
    (root / "noisy.py").write_text(NOISY_MODULE)
    result = runner.run_flow(write_flow(root, NOISY_FLOW, "noisy_flow"), "run", cwd=root,
                             env={"METAFLOW_USER": "alice"})
    runner.assert_succeeded(result, root)
    run = {"class": "Run", "pathspec": "NoisyFlow/%s" % runner.run_id_of(result),
           "root": str(root / ".metaflow" / ".metaflow_core"), "ns": "user:alice", "check": True}
    process = ClientProcess(root, tmp_path_factory.mktemp("noisy_tmp"))
    end = process.value("end_task", ref=run)
    error = process.error("artifact", ref=end, name="thing")  # the reply, not the chatter
    assert error["type"] == "RValueError" and error["python_type"] == "noisy.Noisy"
    assert process.value("hello")["pid"] == process.process.pid
    assert process.close() == 0
    printed = process.stderr_path.read_text()
    assert "unpickled a Noisy" in printed and "written to fd 1" in printed


def test_a_scratch_directory_given_by_r_is_the_one_used(runs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("given_tmp")
    scratch = tmp / "r-session" / "metaflow-client-1"
    process = ClientProcess(runs.root, tmp, scratch=scratch)
    reply = process.value("artifact", ref=end_task_of(process, runs), name="squares")
    assert Path(reply["path"]).parent == scratch
    assert process.scratch_dirs() == []  # no directory of its own
    assert process.close() == 0
    assert not scratch.exists()


def test_closing_stdin_ends_the_process_and_removes_its_scratch(fresh_server, runs):
    reply = fresh_server.value("artifact", ref=end_task_of(fresh_server, runs), name="squares")
    (scratch,) = fresh_server.scratch_dirs()
    assert Path(reply["path"]).parent == scratch and Path(reply["path"]).is_file()
    assert fresh_server.close() == 0
    assert fresh_server.scratch_dirs() == []
    assert not scratch.exists()


# malformed ids: a headline error for R, never a KeyError


@pytest.mark.parametrize("bad", ["..", ".", "", "a/b", "z" * 300])
def test_a_malformed_id_is_an_invalid_pathspec(server, runs, bad):
    run = server.value("object", cls="Run", pathspec="TypesFlow/%s" % runs.latest)
    step = server.value("child", ref=run, id="start")
    task = server.value("child", ref=step, id=server.value("children", ref=step)[0])
    for ref, level in ((run, "step name"), (step, "task id")):
        error = server.error("child", ref=ref, id=bad)
        assert error["type"] == "MetaflowInvalidPathspec", error
        assert error["message"].startswith("The %s " % level), error
        assert error["metaflow"] is True
    error = server.error("artifact", ref=task, name=bad)
    assert error["type"] == "MetaflowInvalidPathspec", error
    error = server.error("object", cls="Task",
                         pathspec="TypesFlow/%s/start/%s" % (runs.latest, bad or "x/"))
    assert error["type"] == "MetaflowInvalidPathspec", error


# a run on S3 (the moto server)


def test_an_r_artifact_on_s3_comes_as_a_streamed_copy_r_verifies(moto_server, tmp_path):
    flow_file = write_flow(tmp_path, TYPES_FLOW, "types_flow")
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "flow.json").write_text('{"name": "TypesFlow"}')
    (tmp_path / "spec" / "flow.py").write_text(flow_file.read_text())
    result = runner.run_flow(flow_file, "--datastore", "s3", "run", cwd=tmp_path,
                             env={"METAFLOW_USER": "alice"})
    runner.assert_succeeded(result, tmp_path)
    run_id = runner.run_id_of(result)
    (tmp_path / "tmp").mkdir()
    client = ClientProcess(tmp_path, tmp_path / "tmp")
    try:
        end = client.value("object", cls="Task", pathspec="TypesFlow/%s/end/6" % run_id)
        reply = client.value("artifact", ref=end, name="r_value")
        assert reply["temporary"] is True
        assert reply["stored_at"] == "s3://metaflow-test/metaflow/TypesFlow/data/%s/%s" % (
            reply["sha"][:2], reply["sha"])
        with open(reply["path"], "rb") as f:
            assert f.read(3) == MAGIC
        assert client.value("verify_blob", sha=reply["sha"], path=reply["path"]) == "ok"
        assert client.value("artifact", ref=end, name="count")["path"] != reply["path"]
    finally:
        client.close()
    assert os.listdir(str(tmp_path / ".metaflow" / ".metaflow_core")) == ["TypesFlow"]
