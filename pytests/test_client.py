"""The client API read against real runs on disk (see fake_runs.py)."""

import ast
import hashlib
import os
import pickle
import subprocess
import sys
from datetime import datetime, timezone

import pytest

import fake_runs
import runner
from fake_runs import FAILED, RUNNING, FakeRun, failed_run, foreach_run, hello_run
from metaflow_core import client
from metaflow_core.datastore.storage import sysroot_of
from metaflow_core.client import (
    DataArtifact,
    Flow,
    Metaflow,
    Run,
    Step,
    Task,
    default_metadata,
    default_namespace,
    get_metadata,
    get_namespace,
    metadata,
    namespace,
)
from metaflow_core.datastore import LocalStorage, RObject
from metaflow_core.exceptions import (
    MetaflowDataCorrupt,
    MetaflowException,
    MetaflowInvalidPathspec,
    MetaflowNamespaceMismatch,
    MetaflowNotFound,
    TaggingException,
)
from metaflow_core.metadata import LocalMetadataProvider

PYTHON_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "inst", "python")


@pytest.fixture(autouse=True)
def datastore(tmp_path, monkeypatch):
    """A fresh .metaflow under tmp_path, user alice, client state reset."""
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path))
    monkeypatch.setenv("METAFLOW_USER", "alice")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(client, "_namespace", client._UNSET)
    monkeypatch.setattr(client, "_explicit_root", None)
    return tmp_path


@pytest.fixture
def hello():
    return hello_run()


# namespaces and metadata


def test_namespace_defaults_to_the_user():
    assert get_namespace() == "user:alice"
    assert namespace(None) is None
    assert get_namespace() is None
    assert namespace("team:x") == "team:x"
    assert default_namespace() == "user:alice"
    assert get_namespace() == "user:alice"


def test_namespace_must_be_a_tag_or_none():
    with pytest.raises(MetaflowException, match="namespace is a tag"):
        namespace(3)


def test_metadata_defaults_to_the_datastore_root(datastore):
    assert get_metadata() == "local@%s" % datastore
    assert default_metadata() == "local@%s" % datastore
    assert metadata("local") == "local@%s" % datastore


def test_metadata_accepts_local_at_a_path_or_a_path(datastore, tmp_path_factory, monkeypatch):
    hello_run(flow="HereFlow")
    other = tmp_path_factory.mktemp("other")
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(other))
    hello_run(flow="ThereFlow")
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(datastore))

    assert metadata("local@%s" % other) == "local@%s" % other
    assert [f.id for f in Metaflow()] == ["ThereFlow"]
    assert metadata(str(datastore)) == "local@%s" % datastore
    assert [f.id for f in Metaflow()] == ["HereFlow"]
    assert metadata(os.path.join(str(other), ".metaflow")) == "local@%s" % other
    assert default_metadata() == "local@%s" % datastore
    assert [f.id for f in Metaflow()] == ["HereFlow"]


def test_metadata_rejects_a_directory_without_metaflow(tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(MetaflowNotFound, match="There is no .metaflow directory in"):
        metadata("local@%s" % empty)
    with pytest.raises(MetaflowException, match="Only the local metadata provider"):
        metadata("service@https://mfmd.example.com")


def test_default_root_follows_the_working_directory(tmp_path_factory, monkeypatch):
    """The R client must keep working after setwd()."""
    monkeypatch.delenv("METAFLOW_DATASTORE_SYSROOT_LOCAL")
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    monkeypatch.chdir(first)
    hello_run(flow="FirstFlow")
    assert get_metadata() == "local@%s" % first
    monkeypatch.chdir(second)
    hello_run(flow="SecondFlow")
    assert [f.id for f in Metaflow()] == ["SecondFlow"]
    subdir = first / "analysis" / "deep"
    subdir.mkdir(parents=True)
    monkeypatch.chdir(subdir)
    assert get_metadata() == "local@%s" % first
    assert [f.id for f in Metaflow()] == ["FirstFlow"]


def test_default_root_follows_the_environment(tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("other")
    hello_run(flow="HereFlow")
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(other))
    assert Metaflow().flows == []
    hello_run(flow="ThereFlow")
    assert [f.id for f in Metaflow()] == ["ThereFlow"]


def test_objects_keep_their_root_after_chdir(hello, tmp_path_factory, monkeypatch):
    run = Run(hello.pathspec)
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path_factory.mktemp("x")))
    monkeypatch.chdir(tmp_path_factory.mktemp("y"))
    assert run.data.total == 42
    assert [s.id for s in run] == ["end", "start"]
    assert run.parent.latest_run.id == hello.run_id


# construction and pathspecs


@pytest.mark.parametrize("cls, pathspec, expects", [
    (Flow, "A/1", "Expects Flow('FlowName')"),
    (Run, "HelloFlow", "Expects Run('FlowName/RunID')"),
    (Run, "HelloFlow/1/start", "Expects Run('FlowName/RunID')"),
    (Run, "HelloFlow/", "Expects Run('FlowName/RunID')"),
    (Step, "HelloFlow/1", "Expects Step('FlowName/RunID/StepName')"),
    (Task, "HelloFlow/1/start", "Expects Task('FlowName/RunID/StepName/TaskID')"),
    (DataArtifact, "HelloFlow/1/start/2",
     "Expects DataArtifact('FlowName/RunID/StepName/TaskID/ArtifactName')"),
    (Run, 12, "Expects Run('FlowName/RunID')"),
])
def test_a_pathspec_of_the_wrong_shape_is_invalid(cls, pathspec, expects):
    with pytest.raises(MetaflowInvalidPathspec) as err:
        cls(pathspec)
    assert str(err.value).startswith(expects)


def test_missing_flow_names_the_location_and_lists_the_flows(datastore, hello):
    hello_run(flow="OtherFlow")
    with pytest.raises(MetaflowNotFound) as err:
        Flow("NoFlow")
    assert str(err.value) == (
        "Flow 'NoFlow' does not exist in local@%s. Flows: HelloFlow, OtherFlow" % datastore)


def test_missing_flow_with_no_flows_names_the_location(datastore):
    with pytest.raises(MetaflowNotFound) as err:
        Run("NoFlow/1")
    assert str(err.value) == (
        "Flow 'NoFlow' does not exist: there are no flows in local@%s." % datastore)


def test_missing_run_lists_the_latest_runs(hello):
    newer = hello_run()
    with pytest.raises(MetaflowNotFound) as err:
        Run("HelloFlow/99")
    assert str(err.value) == "Run 'HelloFlow/99' does not exist. Latest runs of HelloFlow: %s, %s" % (
        newer.run_id, hello.run_id)


def test_missing_step_lists_the_steps(hello):
    with pytest.raises(MetaflowNotFound) as err:
        Step(hello.pathspec + "/foo")
    assert str(err.value) == (
        "Step 'foo' does not exist in run %s. Steps: start, end" % hello.pathspec)


def test_missing_task_and_artifact_list_what_exists(hello):
    with pytest.raises(MetaflowNotFound) as err:
        Task(hello.pathspec + "/start/99")
    assert str(err.value) == (
        "Task '99' does not exist in step %s/start. Tasks: 2" % hello.pathspec)
    with pytest.raises(MetaflowNotFound) as err:
        DataArtifact(hello.pathspec + "/start/2/y")
    assert str(err.value) == (
        "Artifact 'y' does not exist in task %s/start/2; artifacts: name, x" % hello.pathspec)


def test_missing_levels_above_are_named_first(hello):
    with pytest.raises(MetaflowNotFound, match="Run 'HelloFlow/99' does not exist"):
        Task("HelloFlow/99/start/2")
    with pytest.raises(MetaflowNotFound, match="Step 'nope' does not exist"):
        DataArtifact(hello.pathspec + "/nope/2/x")


def test_not_found_listings_are_capped():
    run = FakeRun("WideFlow")
    for _ in range(12):
        run.task("fan", artifacts={"v": 1})
    with pytest.raises(MetaflowNotFound) as err:
        Task(run.pathspec + "/fan/99")
    assert str(err.value).endswith("Tasks: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... (2 more)")


# common properties


def test_run_properties(hello):
    run = Run(hello.pathspec)
    assert run.id == hello.run_id
    assert isinstance(run.id, str)
    assert run.pathspec == "HelloFlow/%s" % hello.run_id
    assert run.path_components == ["HelloFlow", hello.run_id]
    assert repr(run) == "Run('HelloFlow/%s')" % hello.run_id
    assert str(run) == repr(run)
    assert isinstance(run.parent, Flow) and run.parent.id == "HelloFlow"
    assert run.system_tags == frozenset(fake_runs.system_tags("alice"))
    assert run.user_tags == frozenset()
    assert run.tags == run.system_tags
    assert isinstance(run.tags, frozenset)
    assert isinstance(run.created_at, datetime)
    assert abs((datetime.now() - run.created_at).total_seconds()) < 60
    assert run.origin_pathspec is None
    assert run.is_in_namespace()


def test_every_level_has_a_parent_and_a_pathspec(hello):
    artifact = DataArtifact(hello.pathspec + "/start/2/x")
    task, step = artifact.parent, artifact.parent.parent
    assert (type(task), type(step), type(step.parent), type(step.parent.parent)) == (
        Task, Step, Run, Flow)
    assert step.parent.parent.parent is None
    assert artifact.pathspec == hello.pathspec + "/start/2/x"
    assert artifact.path_components == ["HelloFlow", hello.run_id, "start", "2", "x"]
    assert [artifact.id, task.id, step.id] == ["x", "2", "start"]
    assert repr(task) == "Task('%s/start/2')" % hello.pathspec
    assert repr(Flow("HelloFlow")) == "Flow('HelloFlow')"
    assert repr(Metaflow()) == "Metaflow()"


def test_steps_tasks_and_artifacts_carry_their_runs_tags(hello):
    run = Run(hello.pathspec)
    run.add_tag("reviewed")
    step = Step(hello.pathspec + "/start")
    assert step.tags == run.tags
    assert "reviewed" in step.user_tags
    assert Task(hello.pathspec + "/start/2").tags == run.tags
    assert DataArtifact(hello.pathspec + "/start/2/x").system_tags == run.system_tags
    assert Flow("HelloFlow").tags == frozenset()


def test_created_at_comes_from_ts_epoch(hello):
    step = Step(hello.pathspec + "/start")
    assert step.created_at == datetime.fromtimestamp(step._record["ts_epoch"] / 1000.0)


# iteration, indexing, membership


def test_children_are_listed_newest_first():
    runs = [hello_run() for _ in range(3)]
    flow = Flow("HelloFlow")
    assert [r.id for r in flow] == [r.run_id for r in reversed(runs)]
    assert [s.id for s in Run(runs[0].pathspec)] == ["end", "start"]


def test_getitem_and_contains(hello):
    flow = Flow("HelloFlow")
    run = flow[hello.run_id]
    assert isinstance(run, Run) and run.id == hello.run_id
    assert hello.run_id in flow
    assert "12" not in flow
    with pytest.raises(KeyError):
        flow["12"]
    assert "start" in run and "nope" not in run
    assert isinstance(run["start"], Step)
    assert isinstance(run["start"]["2"], Task)
    assert run["start"]["2"]["x"].data == 1
    assert "x" in run["start"]["2"]
    with pytest.raises(KeyError):
        run["start"]["2"]["nope"]
    assert isinstance(Metaflow()["HelloFlow"], Flow)
    assert "HelloFlow" in Metaflow() and "Nope" not in Metaflow()
    with pytest.raises(KeyError):
        Metaflow()["Nope"]


def test_run_iteration_hides_the_parameters_step(hello):
    run = Run(hello.pathspec)
    assert [s.id for s in run.steps()] == ["end", "start"]
    assert "_parameters" in run
    assert run["_parameters"].task.data.alpha == 0.5


def test_metaflow_lists_flows_with_runs_in_the_namespace():
    hello_run(flow="AliceFlow")
    hello_run(flow="BobFlow", user="bob")
    assert [f.id for f in Metaflow().flows] == ["AliceFlow"]
    namespace(None)
    assert [f.id for f in Metaflow()] == ["BobFlow", "AliceFlow"]


# namespaces on objects


def test_another_users_run_is_hidden_until_the_global_namespace():
    mine = hello_run()
    theirs = hello_run(user="bob")
    flow = Flow("HelloFlow")
    assert [r.id for r in flow] == [mine.run_id]
    assert flow.latest_run.id == mine.run_id
    assert theirs.run_id in flow
    with pytest.raises(MetaflowNamespaceMismatch) as err:
        flow[theirs.run_id]
    assert str(err.value).startswith("Object not in namespace 'user:alice'")
    with pytest.raises(MetaflowNamespaceMismatch, match="It belongs to user:bob"):
        Run(theirs.pathspec)
    with pytest.raises(MetaflowNamespaceMismatch):
        Task(theirs.pathspec + "/start/2")
    assert not Run(theirs.pathspec, _namespace_check=False).is_in_namespace()

    namespace(None)
    assert [r.id for r in Flow("HelloFlow")] == [theirs.run_id, mine.run_id]
    assert Run(theirs.pathspec).data.total == 42
    assert Run(theirs.pathspec).is_in_namespace()
    namespace("user:bob")
    assert [r.id for r in Flow("HelloFlow")] == [theirs.run_id]


def test_a_flow_without_runs_in_the_namespace_is_a_mismatch():
    hello_run(flow="BobFlow", user="bob")
    with pytest.raises(MetaflowNamespaceMismatch, match="Object not in namespace 'user:alice'"):
        Flow("BobFlow")
    assert Flow("BobFlow", _namespace_check=False).latest_run.id
    namespace(None)
    assert Flow("BobFlow").id == "BobFlow"


def test_objects_keep_the_namespace_they_were_made_in():
    hello_run()
    theirs = hello_run(user="bob")
    namespace(None)
    flow = Flow("HelloFlow")
    default_namespace()
    assert flow.latest_run.id == theirs.run_id
    assert not flow.latest_run.is_in_namespace()


def test_a_user_tag_can_be_a_namespace():
    hello_run(tags=["exp:1"])
    other = hello_run(user="bob", tags=["exp:1"])
    hello_run(user="bob")
    namespace("exp:1")
    assert [r.id for r in Flow("HelloFlow")][0] == other.run_id
    assert len(list(Flow("HelloFlow"))) == 2


# Flow


def test_latest_run_and_latest_successful_run():
    good = hello_run()
    failed_run()
    FakeRun("HelloFlow").task("start", artifacts={"x": 1})  # still running
    flow = Flow("HelloFlow")
    assert flow.latest_run.status == RUNNING
    assert flow.latest_successful_run.id == good.run_id


def test_latest_runs_are_none_without_runs():
    failed_run(flow="BadFlow")
    assert Flow("BadFlow").latest_successful_run is None
    LocalMetadataProvider(LocalStorage.find_root()).register_flow("EmptyFlow")
    namespace(None)
    assert Flow("EmptyFlow").latest_run is None


def test_runs_filters_by_all_tags():
    a = hello_run(tags=["a"])
    ab = hello_run(tags=["a", "b"])
    hello_run(tags=["b"])
    flow = Flow("HelloFlow")
    assert [r.id for r in flow.runs("a")] == [ab.run_id, a.run_id]
    assert [r.id for r in flow.runs("a", "b")] == [ab.run_id]
    assert [r.id for r in flow.runs("runtime:dev", "b", "a")] == [ab.run_id]
    assert flow.runs("c") == []
    assert len(flow.runs()) == 3


def test_listing_a_thousand_runs():
    """Metadata only, as Flow listing reads nothing else."""
    provider = LocalMetadataProvider(LocalStorage.find_root())
    for _ in range(999):
        run_id = provider.new_run_id("BigFlow")
        provider.register_run("BigFlow", run_id, "alice",
                              system_tags=fake_runs.system_tags("alice"))
        provider.set_run_status("BigFlow", run_id, fake_runs.SUCCEEDED)
    ids = [r.id for r in Flow("BigFlow")]
    assert len(ids) == 999
    assert ids == sorted(ids, key=int, reverse=True)
    assert Flow("BigFlow").latest_successful_run.id == ids[0]
    assert len(Flow("BigFlow").runs("user:alice")) == 999


# Run


def test_run_outcome(hello):
    run = Run(hello.pathspec)
    assert run.status == "succeeded"
    assert run.successful and run.finished
    assert isinstance(run.finished_at, datetime)
    assert run.finished_at >= run.created_at.replace(microsecond=0)
    assert run.end_task.pathspec == hello.pathspec + "/end/3"
    assert run.data.total == 42
    assert run.data.name == "hello"


def test_failed_run():
    failed = failed_run()
    run = Run(failed.pathspec)
    assert run.status == FAILED
    assert not run.successful and not run.finished
    assert run.end_task is None and run.data is None and run.finished_at is None
    task = run["train"].task
    assert task.finished and not task.successful
    assert task.exception.type == "ValueError"
    assert task.exception.message == "boom"
    assert task.exception.traceback.endswith("ValueError: boom\n")
    assert str(task.exception) == task.exception.traceback
    assert run["start"].task.exception is None


def test_an_r_error_keeps_its_call_and_r_traceback():
    run = FakeRun("RFlow")
    record = {"type": "RStepError", "message": "object 'x' not found",
              "traceback": "RStepError: object 'x' not found\n", "language": "R",
              "call": "f(x)", "r_traceback": ["g()", "f(x)"]}
    task = Task(run.task("start", ok=False, exception=record))
    assert task.exception.message == "object 'x' not found"
    assert task.exception.record["call"] == "f(x)"
    assert task.exception.record["r_traceback"] == ["g()", "f(x)"]
    assert str(task.exception) == "RStepError: object 'x' not found\n"
    assert repr(task.exception) == "<ExceptionInfo RStepError: object 'x' not found>"


def test_a_run_marked_running_asks_its_end_task():
    """A runtime that died after the end task leaves status 'running'."""
    orphan = FakeRun("HelloFlow")
    orphan.task("start")
    orphan.task("end", artifacts={"total": 1})
    run = Run(orphan.pathspec)
    assert run.status == RUNNING
    assert run.successful and run.finished
    busy = FakeRun("HelloFlow")
    busy.task("start", done=False)
    assert not Run(busy.pathspec).successful
    assert not Run(busy.pathspec).finished


def test_run_code_is_the_stored_spec(hello):
    run = Run(hello.pathspec)
    assert run.code is None
    hello.provider.save_code("HelloFlow", hello.run_id, {
        "flow.py": b"class HelloFlow(FlowSpec): pass\n",
        "flow.json": b'{"flow_name": "HelloFlow", "steps": []}',
    })
    code = run.code
    assert code.path == hello.provider.code_dir("HelloFlow", hello.run_id)
    assert code.script_name == "flow.py"
    assert code.flowspec == "class HelloFlow(FlowSpec): pass\n"
    assert code.spec == {"flow_name": "HelloFlow", "steps": []}


def test_resumed_run_and_cloned_task_have_an_origin(hello):
    resumed = FakeRun("HelloFlow", origin_run_id=hello.run_id)
    resumed.task("start", artifacts={"x": 1}, task_fields={"origin_task_id": "2"})
    resumed.task("end", artifacts={"total": 43},
                 task_fields={"origin-task-pathspec": "%s/end/3" % hello.run_id})
    resumed.finish()
    run = Run(resumed.pathspec)
    assert run.origin_pathspec == hello.pathspec
    start = run["start"].task
    assert start.origin_pathspec == hello.pathspec + "/start/2"
    assert run.end_task.origin_pathspec == hello.pathspec + "/end/3"
    assert Run(hello.pathspec)["start"].task.origin_pathspec is None


def test_a_cloned_task_shows_its_origins_logs(hello, datastore):
    resumed = FakeRun("HelloFlow", origin_run_id=hello.run_id)
    pathspec = resumed.task("start", artifacts={"x": 1}, task_fields={"origin_task_id": "2"})
    for log in (datastore / ".metaflow").glob(".metaflow_core/HelloFlow/%s/start/1/*.log" % resumed.run_id):
        log.unlink()
    assert Task(pathspec).stdout == "attempt 0: hello\nattempt 0: world\n"


# tags


def test_tag_mutation(hello):
    run = Run(hello.pathspec)
    run.add_tag("a")
    run.add_tags(["b", "c"])
    assert run.user_tags == {"a", "b", "c"}
    run.remove_tag("a")
    run.remove_tags(["b"])
    assert run.user_tags == {"c"}
    run.replace_tag("c", "d")
    assert run.user_tags == {"d"}
    run.replace_tags(["d"], ["e", "f"])
    assert run.user_tags == {"e", "f"}
    run.add_tags("single")
    assert Run(hello.pathspec).user_tags == {"e", "f", "single"}
    assert "user:alice" in run.tags
    assert [r.id for r in Flow("HelloFlow").runs("single", "e")] == [hello.run_id]


def test_tags_are_checked(hello):
    run = Run(hello.pathspec)
    with pytest.raises(TaggingException, match="Cannot remove system tags: user:alice"):
        run.remove_tag("user:alice")
    with pytest.raises(TaggingException, match="non-empty string"):
        run.add_tag("")
    with pytest.raises(TaggingException, match="non-empty string"):
        run.add_tags(["ok", 3])
    with pytest.raises(TaggingException):
        run.add_tag("x" * 501)
    assert run.user_tags == frozenset()


# Step


def test_step_tasks_newest_first():
    run = Run(foreach_run().pathspec)
    step = run["square"]
    assert [t.id for t in step] == ["5", "4", "3"]
    assert step.task.id == "5"
    assert step.task.index == 2
    assert [t.id for t in step.tasks("user:alice")] == ["5", "4", "3"]
    assert step.tasks("nope") == []
    assert step.finished_at == max(t.finished_at for t in step)


def test_step_of_unfinished_tasks_has_no_finished_at():
    run = FakeRun("HelloFlow")
    run.task("fan")
    run.task("fan", done=False)
    assert Step(run.pathspec + "/fan").finished_at is None


# Task


def test_task_data_and_artifacts(hello):
    task = Task(hello.pathspec + "/start/2")
    assert task.data.x == 1 and task.data.name == "hello"
    assert "x" in task.data and "_private" not in task.data and "nope" not in task.data
    assert list(task.data) == ["name", "x"]
    with pytest.raises(AttributeError, match="has no artifact 'nope'. Artifacts: name, x"):
        task.data.nope
    assert task.data._private == "internal"
    assert [a.id for a in task] == ["name", "x"]
    artifacts = task.artifacts
    assert artifacts.x.data == 1 and artifacts["name"].data == "hello"
    assert [a.id for a in artifacts] == ["name", "x"]
    assert len(artifacts) == 2 and artifacts._fields == ("name", "x")
    with pytest.raises(AttributeError):
        artifacts.nope
    assert task["_private"].data == "internal"
    assert "_private" in task


def test_task_data_reads_no_blob_until_asked(hello, datastore):
    task = Task(hello.pathspec + "/end/3")
    data = task.data
    for blob in (datastore / ".metaflow" / ".metaflow_core" / "HelloFlow" / "data").rglob("*"):
        if blob.is_file():
            blob.write_bytes(b"garbage")
    assert "total" in data and list(data) == ["name", "total", "x"]
    assert task["total"].size > 0
    with pytest.raises(MetaflowException, match="damaged"):
        data.total


def test_a_task_of_a_run_that_recorded_no_inputs_has_no_parent_pathspecs():
    assert Task(hello_run().pathspec + "/start/2").parent_task_pathspecs is None


def test_task_outcome_and_foreach_position():
    run = Run(foreach_run().pathspec)
    task = run["square"]["4"]
    assert task.finished and task.successful and task.exception is None
    assert task.index == 1
    assert task.foreach_stack == [{"step": "start", "var": "items", "num_splits": 3,
                                   "index": 1, "value": "2"}]
    assert task.data.value == 4
    assert isinstance(task.finished_at, datetime)
    assert task.finished_at >= task.created_at.replace(microsecond=0)
    assert run["join"].task.index is None and run["join"].task.foreach_stack == []


def test_unfinished_task():
    run = FakeRun("HelloFlow")
    pathspec = run.task("start", stdout=["working"], done=False)
    task = Task(pathspec)
    assert not task.finished and not task.successful
    assert task.finished_at is None and task.exception is None and task.index is None
    assert list(task.data) == [] and list(task) == []
    assert task.stdout == "attempt 0: working\n"
    assert not Run(run.pathspec).finished


def test_logs_strip_timestamps(hello):
    task = Task(hello.pathspec + "/start/2")
    assert task.stdout == "attempt 0: hello\nattempt 0: world\n"
    assert task.stderr == "attempt 0: a warning\n"
    lines = list(task.loglines("stdout"))
    assert [line for _, line in lines] == ["attempt 0: hello", "attempt 0: world"]
    for when, _ in lines:
        assert when.tzinfo == timezone.utc
        assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 60
    with pytest.raises(MetaflowException, match="'stdout' or 'stderr'"):
        list(task.loglines("both"))


def test_log_lines_without_a_timestamp_are_kept(hello, datastore):
    log = datastore / ".metaflow" / ".metaflow_core" / "HelloFlow" / hello.run_id / "end" / "3" / "0.stdout.log"
    log.write_bytes(b"2024-05-01T12:00:00.123456Z  indented\nplain line\n2024-05-01T12:00:01Z \n")
    task = Task(hello.pathspec + "/end/3")
    assert task.stdout == " indented\nplain line\n\n"
    assert list(task.loglines("stdout")) == [
        (datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc), " indented"),
        (None, "plain line"),
        (datetime(2024, 5, 1, 12, 0, 1, tzinfo=timezone.utc), ""),
    ]
    assert Task(hello.pathspec + "/start/2").stderr == "attempt 0: a warning\n"


def test_retried_task_reads_the_latest_attempt():
    run = FakeRun("RetryFlow")
    pathspec = run.task("flaky", artifacts={"v": 1}, attempts=3, stdout=["try"])
    task = Task(pathspec)
    assert task.current_attempt == 2
    assert task.successful and task.exception is None
    assert task.stdout == "attempt 2: try\n"
    assert task.metadata_dict["attempt"] == "2"
    assert task.metadata_dict["attempt_ok"] == "True"

    first = Task(pathspec, attempt=0)
    assert repr(first) == "Task('%s', attempt=0)" % pathspec
    assert first.current_attempt == 0
    assert first.finished and not first.successful
    assert first.exception.message == "attempt 0 failed"
    assert str(first.exception) == "RuntimeError: attempt 0 failed"
    assert first.stdout == "attempt 0: try\n"
    assert first.metadata_dict["attempt_ok"] == "False"
    assert first["v"].data == 1
    assert Task(pathspec, attempt=1.0).current_attempt == 1


def test_a_retry_in_progress_keeps_the_failed_attempts_data():
    run = FakeRun("RetryFlow")
    pathspec = run.task("flaky", artifacts={"v": 1}, attempts=2, done=False, stdout=["try"])
    task = Task(pathspec)
    assert task.current_attempt == 1
    assert task.finished and not task.successful
    assert task.exception.message == "attempt 0 failed"
    assert task.stdout == "attempt 1: try\n"
    assert not Task(pathspec, attempt=1).finished


def test_attempts_are_checked(hello):
    pathspec = hello.pathspec + "/start/2"
    with pytest.raises(MetaflowNotFound, match="Attempt 5 of task .* does not exist. Attempts: 0"):
        Task(pathspec, attempt=5)
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(MetaflowException, match="non-negative integer"):
            Task(pathspec, attempt=bad)


def test_task_metadata(hello):
    task = Task(hello.pathspec + "/start/2")
    meta = task.metadata_dict
    assert meta["task_id"] == "2" and meta["step_name"] == "start"
    assert meta["run_number"] == hello.run_id and meta["flow_id"] == "HelloFlow"
    assert all(isinstance(v, str) for v in meta.values())
    names = [m.name for m in task.metadata]
    assert {"task_id", "attempt", "attempt_ok", "started_at"} <= set(names)
    field = next(m for m in task.metadata if m.name == "attempt_ok")
    assert field.value == "True" and field.task is task and isinstance(field.created_at, int)


# DataArtifact


def test_data_artifact_properties(hello):
    artifact = DataArtifact(hello.pathspec + "/end/3/total")
    raw = artifact.raw_bytes()
    assert pickle.loads(raw) == 42
    assert artifact.data == 42
    assert artifact.sha == hashlib.sha1(raw).hexdigest()
    assert artifact.size == len(raw)
    assert artifact.type == "int"
    assert artifact.encoding == "pickle"
    assert artifact.created_at == artifact.finished_at == artifact.parent.finished_at
    assert repr(artifact) == "DataArtifact('%s/end/3/total')" % hello.pathspec
    assert repr(DataArtifact(artifact.pathspec, attempt=0)) == (
        "DataArtifact('%s/end/3/total', attempt=0)" % hello.pathspec)


def test_r_artifacts_come_back_as_rds_bytes():
    rds = b"X\n\x00\x00\x00\x03\x00\x04\x02\x00"
    run = FakeRun("RFlow")
    pathspec = run.task("start", artifacts={"df": RObject(rds), "n": 3})
    artifact = Task(pathspec)["df"]
    assert artifact.encoding == "rds" and artifact.type == "R object"
    assert isinstance(artifact.data, RObject) and artifact.data.rds_bytes == rds
    assert artifact.raw_bytes() == rds
    assert Task(pathspec).data.n == 3


# pickling


def test_objects_survive_pickling(hello, tmp_path_factory, monkeypatch):
    run = Run(hello.pathspec)
    task = run["start"].task
    artifact = task["x"]
    data = task.data
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    run2, task2, artifact2, data2 = pickle.loads(pickle.dumps((run, task, artifact, data)))
    assert repr(run2) == repr(run) and run2.tags == run.tags
    assert run2.data.total == 42
    assert task2.stdout == task.stdout
    assert artifact2.data == 1 and artifact2.parent.pathspec == task.pathspec
    assert data2.x == 1
    assert pickle.loads(pickle.dumps(Flow("HelloFlow"))).latest_run.id == hello.run_id


# the module


def test_importing_the_client_is_cheap():
    """The client needs the datastore and metadata layers, nothing heavy."""
    code = ("import sys, metaflow_core; before = set(sys.modules); "
            "import metaflow_core.client; "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith("
            "('boto', 'click', 'metaflow_core.'))))")
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    loaded = ast.literal_eval(out.stdout)
    assert "metaflow_core.client" in loaded
    assert [m for m in loaded if not m.startswith((
        "metaflow_core.client", "metaflow_core.datastore", "metaflow_core.metadata",
        "metaflow_core.util", "metaflow_core.exceptions"))] == []


# real runs of the engine, read back with the client


def run_ok(flow_file, *args, cwd, env=None):
    result = runner.run_flow(flow_file, *args, cwd=cwd, env=env)
    assert result.returncode == 0, runner.describe(result)
    return runner.run_id_of(result)


def test_a_real_foreach_run(datastore):
    run_id = run_ok("foreach_flow.py", "run", "--num", "4", cwd=datastore)
    flow = Flow("ForeachFlow")
    run = flow.latest_successful_run
    assert run.id == run_id and flow.latest_run.id == run_id
    assert run.status == "succeeded" and run.successful and run.finished
    assert "user:alice" in run.system_tags
    assert [s.id for s in run] == ["end", "join", "square", "start"]
    assert run.data.total == 0 + 1 + 4 + 9
    assert run["_parameters"].task.data.num == 4
    squares = sorted(run["square"], key=lambda t: t.index)
    assert [(t.index, t.data.value) for t in squares] == [(0, 0), (1, 1), (2, 4), (3, 9)]
    assert squares[2].foreach_stack[-1]["num_splits"] == 4
    assert run["join"].task.data.positions == [0, 1, 2, 3]
    parameters = run["_parameters"].task.pathspec
    assert run["start"].task.parent_task_pathspecs == [parameters]
    assert all(t.parent_task_pathspecs == [run["start"].task.pathspec] for t in squares)
    assert run["join"].task.parent_task_pathspecs == [t.pathspec for t in squares]
    assert run.finished_at >= run.created_at.replace(microsecond=0)
    assert run["square"].finished_at <= run.finished_at


def test_a_real_run_with_tags_and_logs(datastore):
    run_id = run_ok("linear_flow.py", "run", "--tag", "exp:1", cwd=datastore)
    run = Run("LinearFlow/%s" % run_id)
    assert run.user_tags == {"exp:1"}
    assert [r.id for r in Flow("LinearFlow").runs("exp:1")] == [run_id]
    start = run["start"].task
    assert start.stdout == "hello from stdout\n"
    assert start.stderr == "hello from stderr\n"
    (when, line), = list(start.loglines("stdout"))
    assert line == "hello from stdout" and when.tzinfo == timezone.utc
    assert start.data.a == 1 and run.data.b == 20
    assert start.data.start_current["pathspec"] == start.pathspec
    assert start.metadata_dict["attempt_ok"] == "True"


def test_a_real_failed_run(datastore):
    result = runner.run_flow("fail_flow.py", "run", cwd=datastore)
    assert result.returncode != 0
    run = Flow("FailFlow").latest_run
    assert run.id == runner.run_id_of(result)
    assert run.status == "failed" and not run.successful and not run.finished
    assert run.data is None and Flow("FailFlow").latest_successful_run is None
    boom = run["boom"].task
    assert boom.finished and not boom.successful
    assert boom.exception.type == "ValueError"
    assert boom.exception.message == "boom in the boom step"
    assert "boom in the boom step" in boom.exception.traceback
    assert "ValueError" in boom.stderr
    assert run["start"].task.successful


def test_a_real_retry(datastore):
    run_id = run_ok("retry_flow.py", "run", cwd=datastore)
    flaky = Run("RetryFlow/%s" % run_id)["flaky"].task
    assert flaky.current_attempt == 1 and flaky.successful
    assert flaky.stdout == "attempt 1\n"
    assert flaky.data.succeeded_on == 1
    first = Task(flaky.pathspec, attempt=0)
    assert first.stdout == "attempt 0\n"
    assert not first.successful
    assert first.exception.message == "first attempt fails"


def test_a_real_resume(datastore):
    failed = runner.run_flow("resume_flow.py", "run", cwd=datastore, env={"RESUME_FAIL": "1"})
    assert failed.returncode != 0
    origin_id = runner.run_id_of(failed)
    resumed_id = run_ok("resume_flow.py", "resume", cwd=datastore)
    resumed = Run("ResumeFlow/%s" % resumed_id)
    assert resumed.origin_pathspec == "ResumeFlow/%s" % origin_id
    assert resumed.successful and resumed.data.outs == [0, 10, 20]
    cloned = resumed["start"].task
    origin_start = Run("ResumeFlow/%s" % origin_id)["start"].task
    assert cloned.origin_pathspec == origin_start.pathspec
    assert cloned.data.start_stamp == origin_start.data.start_stamp
    assert Run("ResumeFlow/%s" % origin_id).origin_pathspec is None
    assert Flow("ResumeFlow").latest_successful_run.id == resumed_id


# the public API another process (R's client) uses

def test_a_reference_reads_the_same_object_again_in_its_namespace(hello, tmp_path_factory,
                                                                  monkeypatch):
    task = Task(hello.pathspec + "/start/2")
    ref = task.reference()
    assert ref == {"class": "Task", "pathspec": task.pathspec, "root": client.metadata_root(),
                   "ns": "user:alice", "check": True}
    # Elsewhere, in another namespace and location, the object is the same.
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    namespace("user:bob")

    again = client.from_reference(ref)

    assert type(again) is Task and again.pathspec == task.pathspec
    assert again.data.x == task.data.x
    with pytest.raises(MetaflowException, match="Unknown client class 'Nope'"):
        client.from_reference(dict(ref, **{"class": "Nope"}))


def test_child_names_what_exists_when_a_child_is_missing(hello):
    run = Run(hello.pathspec)
    assert run.child("start").pathspec == run["start"].pathspec
    with pytest.raises(MetaflowNotFound, match="Step 'nope' does not exist .* Steps: start, end"):
        run.child("nope")
    task = run["start"].task
    assert task.child("x").data == task["x"].data
    with pytest.raises(MetaflowNotFound, match="artifacts: name, x"):
        task.child("y")


def test_restore_context_sets_root_and_namespace_together(hello, datastore, tmp_path_factory,
                                                          monkeypatch):
    root = client.metadata_root()
    assert sysroot_of(root) == str(datastore)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    monkeypatch.delenv("METAFLOW_DATASTORE_SYSROOT_LOCAL")

    client.restore_context(root, None, namespace_given=True)
    assert (client.metadata_root(), get_namespace()) == (root, None)
    assert Run(hello.pathspec).id == hello.run_id

    client.restore_context(None)
    assert get_namespace() == "user:alice"
    assert client.metadata_root() != root


def test_an_artifacts_local_path_is_its_stored_blob(hello):
    artifact = DataArtifact(hello.pathspec + "/start/2/x")
    with open(artifact.local_path(), "rb") as f:
        blob = f.read()
    assert artifact.sha in artifact.local_path()
    assert blob.startswith(b"MFB")


# malformed ids and damaged metadata: headline errors naming the bad part


BAD_IDS = [("..", "can't be '.' or '..'"), (".", "can't be '.' or '..'"),
           ("", "can't be empty"), ("a/b", "can't contain '/'"),
           ("a\0b", "can't contain a NUL character"), ("x" * 300, "characters long")]


@pytest.mark.parametrize("bad, problem", BAD_IDS)
def test_a_malformed_child_id_is_an_invalid_pathspec_not_a_key_error(hello, bad, problem):
    namespace(None)
    run = Run(hello.pathspec)
    step = run["start"]
    task = step.task
    for parent, level in ((run, "step name"), (step, "task id"), (task, "artifact name")):
        with pytest.raises(MetaflowInvalidPathspec, match="The %s .* is not valid: .*%s"
                           % (level, problem)):
            parent[bad]
        if not isinstance(parent, Task):
            with pytest.raises(MetaflowInvalidPathspec):
                parent.child(bad)
        assert bad not in parent
    with pytest.raises(MetaflowInvalidPathspec, match="The run id"):
        Flow("HelloFlow")[bad]
    with pytest.raises(MetaflowInvalidPathspec, match="The flow name"):
        Metaflow()[bad]
    assert bad not in Metaflow()


@pytest.mark.parametrize("cls, pathspec, level", [
    (Flow, "..", "flow name"),
    (Run, "HelloFlow/..", "run id"),
    (Step, "HelloFlow/{run}/..", "step name"),
    (Task, "HelloFlow/{run}/start/..", "task id"),
    (Task, "HelloFlow/{run}/./1", "step name"),
    (DataArtifact, "HelloFlow/{run}/start/1/..", "artifact name"),
    (DataArtifact, "HelloFlow/{run}/start/1/" + "y" * 300, "artifact name"),
])
def test_a_malformed_pathspec_names_the_bad_part(hello, cls, pathspec, level):
    namespace(None)
    with pytest.raises(MetaflowInvalidPathspec, match="The %s '" % level):
        cls(pathspec.format(run=hello.run_id))


def test_a_damaged_record_is_named_by_the_client(hello, datastore):
    namespace(None)
    run_dir = datastore / ".metaflow" / ".metaflow_core" / "HelloFlow" / hello.run_id
    record = run_dir / "start" / "2" / "_meta" / "_self.json"
    record.write_bytes(record.read_bytes()[:10])

    with pytest.raises(MetaflowException) as err:
        list(Run(hello.pathspec)["start"])
    assert type(err.value).__name__ == "MetadataCorrupt"
    assert str(record) in str(err.value)
    assert "task HelloFlow/%s/start/2" % hello.run_id in str(err.value)


def test_a_damaged_artifact_index_is_named_by_the_client(hello, datastore):
    namespace(None)
    index = datastore / ".metaflow" / ".metaflow_core" / "HelloFlow" / hello.run_id / "end" / "3" / "0.data.json"
    index.write_bytes(b'{"objects": {"x": "ab')

    with pytest.raises(MetaflowException) as err:
        Task(hello.pathspec + "/end/3").data.total
    assert type(err.value).__name__ == "MetadataCorrupt"
    assert str(index) in str(err.value)
    assert "attempt 0 of task HelloFlow/%s/end/3" % hello.run_id in str(err.value)


def test_a_read_only_datastore_reads_as_usual(hello, datastore):
    namespace(None)
    with runner.read_only(datastore):
        run = Run(hello.pathspec)
        assert run["end"].task.data.total == 42
        assert [r.id for r in Flow("HelloFlow")] == [hello.run_id]


# runs on S3 (the moto server)


@pytest.fixture
def s3_run(moto_server, tmp_path):
    """A ForeachFlow run with --datastore s3 from tmp_path: (root, run id)."""
    result = runner.run_flow("foreach_flow.py", "--datastore", "s3", "run", cwd=tmp_path)
    runner.assert_succeeded(result, tmp_path)
    return tmp_path, runner.run_id_of(result)


def test_the_pointer_record_leads_the_client_to_the_run_on_s3(s3_run, open_client):
    root, run_id = s3_run
    c = open_client(root)
    c.namespace(None)
    run = c.Flow("ForeachFlow")[run_id]
    assert run.data.total == 5
    assert [f.id for f in c.Metaflow()] == ["ForeachFlow"]
    assert c.from_reference(run.reference()).data.total == 5
    assert c.get_metadata() == "local@%s" % root


def test_metadata_can_name_an_s3_root(s3_run, open_client, tmp_path_factory):
    _, run_id = s3_run
    c = open_client(tmp_path_factory.mktemp("elsewhere"))
    assert c.metadata("s3://metaflow-test/metaflow/") == "s3://metaflow-test/metaflow"
    c.namespace(None)
    assert c.Flow("ForeachFlow").latest_run.id == run_id


def test_a_damaged_blob_on_s3_is_data_corrupt_naming_its_object(s3_run, open_client):
    from metaflow_core.datastore.storage import get_storage

    root, run_id = s3_run
    c = open_client(root)
    c.namespace(None)
    artifact = c.Flow("ForeachFlow")[run_id]["join"].task["total"]
    storage = get_storage("s3")
    key = "ForeachFlow/data/%s/%s" % (artifact.sha[:2], artifact.sha)
    damaged = bytearray(storage.load_bytes(key))
    damaged[-1] ^= 0xFF
    storage.save_bytes(key, bytes(damaged))
    with pytest.raises(MetaflowDataCorrupt) as err:
        c.Flow("ForeachFlow")[run_id]["join"].task["total"].data
    assert "s3://metaflow-test/metaflow/" + key in str(err.value)
