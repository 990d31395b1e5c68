"""The local metadata provider on real files: registration, run ids, attempts, tags."""

import json
import multiprocessing
import os
import shutil

import pytest

from metaflow_core.datastore import FlowDataStore, LocalStorage
import runner
from metaflow_core.exceptions import (
    DatastoreAccessError,
    MetadataCorrupt,
    MetaflowException,
    TaggingException,
)
from metaflow_core.metadata import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    LocalMetadataProvider,
    get_metadata_provider,
)
from metaflow_core.metadata import local as local_module

FLOW = "MetaFlow"


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / ".metaflow")


@pytest.fixture
def md(root):
    return LocalMetadataProvider(root)


def read(root, *parts):
    with open(os.path.join(root, *parts)) as f:
        return json.load(f)


def new_run(md, tags=(), system_tags=("user:ann", "runtime:dev")):
    run_id = md.new_run_id(FLOW)
    md.register_run(FLOW, run_id, "ann", tags=tags, system_tags=system_tags)
    return run_id


# registration

def test_register_flow_once(md, root):
    md.register_flow(FLOW)
    first = md.flow(FLOW)
    md.register_flow(FLOW)

    assert first["flow_id"] == FLOW and isinstance(first["ts_epoch"], int)
    assert md.flow(FLOW) == first
    assert read(root, FLOW, "_meta", "_self.json") == first
    assert md.flows() == [FLOW]


def test_register_run(md, root):
    run_id = new_run(md, tags=["b", "a", "b"])

    record = md.run(FLOW, run_id)
    assert record["flow_id"] == FLOW and record["run_number"] == run_id
    assert record["user_name"] == "ann"
    assert record["tags"] == ["a", "b"]
    assert record["system_tags"] == ["runtime:dev", "user:ann"]
    assert record["status"]["status"] == RUNNING
    assert "finished_at" not in record["status"]
    assert read(root, FLOW, run_id, "_meta", "_self.json")["run_number"] == run_id
    assert md.flows() == [FLOW]


def test_register_run_keeps_extra_fields_that_are_set(md):
    run_id = md.new_run_id(FLOW)
    md.register_run(FLOW, run_id, "ann", origin_run_id="17", code_package=None)

    record = md.run(FLOW, run_id)
    assert record["origin_run_id"] == "17"
    assert "code_package" not in record


def test_register_step_and_task(md, root):
    run_id = new_run(md)
    md.register_step(FLOW, run_id, "start")
    first = md.step(FLOW, run_id, "start")
    md.register_step(FLOW, run_id, "start")
    md.register_step(FLOW, run_id, "end")
    md.register_task(FLOW, run_id, "start", 1, pid=123)
    md.register_task(FLOW, run_id, "start", "2")

    assert md.step(FLOW, run_id, "start") == first
    assert first == {"flow_id": FLOW, "run_number": run_id, "step_name": "start",
                     "ts_epoch": first["ts_epoch"]}
    assert sorted(s["step_name"] for s in md.steps(FLOW, run_id)) == ["end", "start"]
    task = md.task(FLOW, run_id, "start", "1")
    assert task["task_id"] == "1" and task["pid"] == 123 and task["step_name"] == "start"
    assert read(root, FLOW, run_id, "start", "1", "_meta", "_self.json") == task
    assert sorted(t["task_id"] for t in md.tasks(FLOW, run_id, "start")) == ["1", "2"]
    assert md.tasks(FLOW, run_id, "end") == []


def test_missing_objects_read_as_none_or_empty(md):
    assert md.flow("Nope") is None
    assert md.run("Nope", "1") is None
    assert md.step(FLOW, "1", "start") is None
    assert md.task(FLOW, "1", "start", "1") is None
    assert md.flows() == [] and md.runs("Nope") == []
    assert md.steps(FLOW, "1") == [] and md.tasks(FLOW, "1", "s") == []
    assert md.attempts(FLOW, "1", "s", "1") == []


# run ids

def test_new_run_id_is_digits_and_reserved(md, root):
    ids = [md.new_run_id(FLOW) for _ in range(20)]

    assert len(set(ids)) == 20
    assert all(i.isdigit() for i in ids)
    assert all(os.path.isdir(os.path.join(root, FLOW, i)) for i in ids)


def test_new_run_id_steps_past_taken_ids(md, monkeypatch):
    monkeypatch.setattr(local_module.time, "time", lambda: 1700000000.0)

    ids = [md.new_run_id(FLOW) for _ in range(5)]

    first = int(1700000000.0 * 1e6)
    assert ids == [str(first + k) for k in range(5)]


def _take_run_ids(root, count, barrier, queue):
    md = LocalMetadataProvider(root)
    barrier.wait()
    queue.put([md.new_run_id(FLOW) for _ in range(count)])


def test_new_run_id_unique_across_processes(root):
    ctx = multiprocessing.get_context("spawn")
    processes, count = 6, 25
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_take_run_ids, args=(root, count, barrier, queue))
               for _ in range(processes)]
    for w in workers:
        w.start()
    ids = [i for _ in workers for i in queue.get(timeout=120)]
    for w in workers:
        w.join(60)

    assert [w.exitcode for w in workers] == [0] * processes
    assert len(ids) == processes * count
    assert len(set(ids)) == len(ids)


# attempts

def test_attempts_start_and_finish(md, root):
    run_id = new_run(md)
    md.register_task(FLOW, run_id, "start", "1")
    md.start_attempt(FLOW, run_id, "start", "1", 0, pid=11)
    md.finish_attempt(FLOW, run_id, "start", "1", 0, ok=False, exception="ValueError")
    md.start_attempt(FLOW, run_id, "start", "1", 1)

    first, second = md.attempts(FLOW, run_id, "start", "1")
    assert first["attempt"] == 0 and first["pid"] == 11
    assert first["attempt_ok"] is False and first["exception"] == "ValueError"
    assert first["finished_at"] >= first["started_at"]
    assert second["attempt"] == 1 and "attempt_ok" not in second

    md.finish_attempt(FLOW, run_id, "start", "1", 1, ok=True)
    assert md.attempts(FLOW, run_id, "start", "1")[1]["attempt_ok"] is True
    assert read(root, FLOW, run_id, "start", "1", "_meta", "1.attempt.json")["attempt_ok"]


def test_attempts_are_ordered_as_numbers(md):
    run_id = new_run(md)
    for attempt in (10, 2, 9):
        md.start_attempt(FLOW, run_id, "start", "1", attempt)
    assert [a["attempt"] for a in md.attempts(FLOW, run_id, "start", "1")] == [2, 9, 10]


def test_finish_without_start_still_records(md):
    run_id = new_run(md)
    md.finish_attempt(FLOW, run_id, "start", "1", 0, ok=True)
    (record,) = md.attempts(FLOW, run_id, "start", "1")
    assert record["attempt"] == 0 and record["attempt_ok"] is True


def test_task_meta_dir_is_not_a_task(md):
    run_id = new_run(md)
    md.register_task(FLOW, run_id, "start", "1")
    md.start_attempt(FLOW, run_id, "start", "1", 0)
    assert [t["task_id"] for t in md.tasks(FLOW, run_id, "start")] == ["1"]


# run status

def test_run_status_running_to_succeeded(md, root):
    run_id = new_run(md)
    assert md.run(FLOW, run_id)["status"]["status"] == RUNNING

    md.set_run_status(FLOW, run_id, SUCCEEDED)

    status = md.run(FLOW, run_id)["status"]
    assert status["status"] == SUCCEEDED
    assert status["finished_at"] == status["ts_epoch"]
    assert read(root, FLOW, run_id, "_meta", "status.json") == status


def test_run_status_failed_with_reason(md):
    run_id = new_run(md)
    md.set_run_status(FLOW, run_id, FAILED, reason="step train failed", failed_step="train")

    status = md.run(FLOW, run_id)["status"]
    assert status["status"] == FAILED
    assert status["reason"] == "step train failed"
    assert status["failed_step"] == "train"
    assert "finished_at" in status


# tags

def test_add_and_remove_tags(md):
    run_id = new_run(md, tags=["keep", "old"])

    record = md.mutate_tags(FLOW, run_id, add=["new", "keep"], remove=["old", "absent"])

    assert record["tags"] == ["keep", "new"]
    assert md.run(FLOW, run_id)["tags"] == ["keep", "new"]
    assert md.run(FLOW, run_id)["system_tags"] == ["runtime:dev", "user:ann"]


def test_system_tags_cannot_be_removed(md, root):
    run_id = new_run(md, tags=["mine"])
    before = md.run(FLOW, run_id)

    with pytest.raises(TaggingException, match="user:ann"):
        md.mutate_tags(FLOW, run_id, add=["other"], remove=["user:ann", "mine"])

    assert md.run(FLOW, run_id)["tags"] == before["tags"]
    assert md.run(FLOW, run_id)["system_tags"] == before["system_tags"]
    assert not os.path.exists(os.path.join(root, FLOW, run_id, "_meta", "_self.json.lock"))


def test_system_tag_added_as_user_tag_still_cannot_be_removed(md):
    run_id = new_run(md)

    md.mutate_tags(FLOW, run_id, add=["runtime:dev"])
    with pytest.raises(TaggingException, match="runtime:dev"):
        md.mutate_tags(FLOW, run_id, remove=["runtime:dev"])

    record = md.run(FLOW, run_id)
    assert "runtime:dev" in record["system_tags"]
    assert "runtime:dev" not in record["tags"]


def test_tagging_a_missing_run_fails_and_releases_the_lock(md, root):
    os.makedirs(os.path.join(root, FLOW, "404", "_meta"))
    with pytest.raises(MetaflowException, match="404"):
        md.mutate_tags(FLOW, "404", add=["x"])
    assert os.listdir(os.path.join(root, FLOW, "404", "_meta")) == []


def test_steps_and_tasks_keep_no_copy_of_tags(md):
    run_id = new_run(md, tags=["t"])
    md.register_step(FLOW, run_id, "start")
    md.register_task(FLOW, run_id, "start", "1")
    md.mutate_tags(FLOW, run_id, add=["later"])

    assert "tags" not in md.step(FLOW, run_id, "start")
    assert "tags" not in md.task(FLOW, run_id, "start", "1")
    assert md.run(FLOW, run_id)["tags"] == ["later", "t"]


def _add_tags(root, run_id, worker, count, barrier):
    md = LocalMetadataProvider(root)
    barrier.wait()
    for k in range(count):
        md.mutate_tags(FLOW, run_id, add=["w%d-%d" % (worker, k)], remove=["seed%d" % worker])


def test_concurrent_tag_mutations_all_land(md, root):
    processes, count = 6, 15
    run_id = new_run(md, tags=["seed%d" % w for w in range(processes)] + ["stays"])
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    workers = [ctx.Process(target=_add_tags, args=(root, run_id, w, count, barrier))
               for w in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)

    assert [w.exitcode for w in workers] == [0] * processes
    expected = {"w%d-%d" % (w, k) for w in range(processes) for k in range(count)}
    assert set(md.run(FLOW, run_id)["tags"]) == expected | {"stays"}


# listing and description

def test_runs_lists_registered_runs_only(md, root):
    ids = [new_run(md) for _ in range(3)]
    md.new_run_id(FLOW)
    flow_ds = FlowDataStore(FLOW, storage=LocalStorage(root))
    flow_ds.ca_store.save_blob(b"an artifact")
    flow_ds.set_latest_run(ids[-1])

    runs = md.runs(FLOW)

    assert sorted(r["run_number"] for r in runs) == sorted(ids)
    assert all(r["status"]["status"] == RUNNING for r in runs)
    assert md.flows() == [FLOW]


def test_runs_of_several_flows_are_separate(md):
    run_a = new_run(md)
    other = md.new_run_id("OtherFlow")
    md.register_run("OtherFlow", other, "bob")

    assert [r["run_number"] for r in md.runs(FLOW)] == [run_a]
    assert [r["run_number"] for r in md.runs("OtherFlow")] == [other]
    assert md.flows() == ["MetaFlow", "OtherFlow"]


def test_describe(md, tmp_path):
    assert md.describe() == "local@%s" % tmp_path
    assert md.TYPE == "local"


def test_get_metadata_provider(tmp_path, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "sys"))

    provider = get_metadata_provider()

    assert provider.root == str(tmp_path / "sys" / ".metaflow" / ".metaflow_core")
    assert provider.describe() == "local@%s" % (tmp_path / "sys")
    assert get_metadata_provider("local", root="/x/.metaflow").root == "/x/.metaflow"
    with pytest.raises(MetaflowException, match="service"):
        get_metadata_provider("service")


# damaged files: an error naming the file and what it belongs to


def damage(path, how):
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write({"truncated": raw[: len(raw) // 2], "empty": b"", "list": b"[1, 2]",
                 "fieldless": b"{}"}[how])


@pytest.mark.parametrize("how, problem", [
    ("truncated", "not valid JSON"), ("empty", "it is empty"),
    ("list", "holds a JSON list"), ("fieldless", "has no field"),
])
def test_a_damaged_record_names_its_file_and_owner(md, root, how, problem):
    run_id = new_run(md)
    md.register_step(FLOW, run_id, "start")
    md.register_task(FLOW, run_id, "start", "1")
    md.start_attempt(FLOW, run_id, "start", "1", 0)
    run = "%s/%s" % (FLOW, run_id)
    cases = [
        (lambda: md.flow(FLOW), (FLOW, "_meta", "_self.json"), "flow %s" % FLOW),
        (lambda: md.run(FLOW, run_id), (FLOW, run_id, "_meta", "_self.json"), "run " + run),
        (lambda: md.run(FLOW, run_id), (FLOW, run_id, "_meta", "status.json"), "run " + run),
        (lambda: md.steps(FLOW, run_id), (FLOW, run_id, "start", "_meta", "_self.json"),
         "step %s/start" % run),
        (lambda: md.tasks(FLOW, run_id, "start"),
         (FLOW, run_id, "start", "1", "_meta", "_self.json"), "task %s/start/1" % run),
        (lambda: md.attempts(FLOW, run_id, "start", "1"),
         (FLOW, run_id, "start", "1", "_meta", "0.attempt.json"), "task %s/start/1" % run),
    ]
    for read_it, parts, owner in cases:
        path = os.path.join(root, *parts)
        with open(path, "rb") as f:
            good = f.read()
        damage(path, how)
        with pytest.raises(MetadataCorrupt) as err:
            read_it()
        assert err.value.path == path
        assert path in str(err.value) and owner in str(err.value)
        assert problem in str(err.value)
        with open(path, "wb") as f:
            f.write(good)


def test_a_damaged_run_record_stops_tagging_with_its_name(md, root):
    run_id = new_run(md)
    path = os.path.join(root, FLOW, run_id, "_meta", "_self.json")
    damage(path, "truncated")
    with pytest.raises(MetadataCorrupt, match="run %s/%s" % (FLOW, run_id)):
        md.mutate_tags(FLOW, run_id, add=["x"])
    assert not os.path.exists(path + ".lock")


def test_an_unreadable_record_is_a_datastore_error_naming_it(md, root):
    run_id = new_run(md)
    path = os.path.join(root, FLOW, run_id, "_meta", "_self.json")
    os.unlink(path)
    os.mkdir(path)  # a directory where the file should be: reading it fails with EISDIR
    with pytest.raises(DatastoreAccessError, match="Could not read _self.json in the directory"):
        md.run(FLOW, run_id)


def test_a_write_to_a_full_disk_keeps_the_old_record_and_no_temp_file(tmp_path):
    with runner.small_tmpfs(tmp_path / "small", size="256k") as small:
        md = LocalMetadataProvider(os.path.join(small, ".metaflow"))
        run_id = new_run(md)
        path = os.path.join(small, ".metaflow", FLOW, run_id, "_meta", "_self.json")
        with open(path, "rb") as f:
            before = f.read()
        with pytest.raises(DatastoreAccessError) as err:
            md.register_run(FLOW, run_id, "ann", tags=["t%06d" % i for i in range(20000)])
        assert "Could not write _self.json" in str(err.value)
        assert "No space left on device" in str(err.value)
        with open(path, "rb") as f:
            assert f.read() == before
        assert [name for _, _, names in os.walk(small) for name in names
                if name.startswith(".tmp.")] == []


def test_a_read_only_datastore_names_what_could_not_be_created(md, root):
    os.makedirs(root)
    with runner.read_only(root):
        with pytest.raises(DatastoreAccessError) as err:
            md.new_run_id(FLOW)
    assert str(err.value) == ("Could not create the directory %s: Read-only file system."
                              % os.path.join(root, FLOW))
    assert not os.path.exists(os.path.join(root, FLOW))


# the same records through a remote storage (S3 on the moto server)


@pytest.fixture
def s3_md(moto_server):
    from metaflow_core.datastore.storage import get_storage

    return get_metadata_provider(storage=get_storage("s3"))


def test_s3_metadata_reads_back_what_it_wrote(s3_md):
    run_id = new_run(s3_md, tags=("x",))
    s3_md.register_step(FLOW, run_id, "start")
    s3_md.register_task(FLOW, run_id, "start", "1", foreach_indices=[])
    s3_md.start_attempt(FLOW, run_id, "start", "1", 0)
    s3_md.finish_attempt(FLOW, run_id, "start", "1", 0, True)
    s3_md.set_run_status(FLOW, run_id, SUCCEEDED)
    assert s3_md.describe() == "s3://metaflow-test/metaflow"
    assert s3_md.flows() == [FLOW]
    assert [r["run_number"] for r in s3_md.runs(FLOW)] == [run_id]
    assert s3_md.run(FLOW, run_id)["status"]["status"] == SUCCEEDED
    assert [s["step_name"] for s in s3_md.steps(FLOW, run_id)] == ["start"]
    assert [t["task_id"] for t in s3_md.tasks(FLOW, run_id, "start")] == ["1"]
    assert [a["status"] for a in s3_md.attempts(FLOW, run_id, "start", "1")] == [SUCCEEDED]
    assert s3_md.mutate_tags(FLOW, run_id, add=["y"], remove=["x"])["tags"] == ["y"]
    with pytest.raises(TaggingException):
        s3_md.mutate_tags(FLOW, run_id, remove=["user:ann"])


def test_s3_run_ids_are_claimed_with_a_conditional_put(s3_md, monkeypatch):
    # Two runtimes asking in the same microsecond: the second claim is refused
    # by S3 (412) and the next id is taken.
    monkeypatch.setattr(local_module.time, "time", lambda: 1700000000.0)
    first, second = s3_md.new_run_id(FLOW), s3_md.new_run_id(FLOW)
    assert (first, second) == ("1700000000000000", "1700000000000001")
    assert s3_md.storage.save_new("%s/%s/_meta/claim" % (FLOW, first), b"{}") is False


def test_s3_code_files_come_back_as_a_local_copy(s3_md):
    run_id = new_run(s3_md)
    s3_md.save_code(FLOW, run_id, {"flow.json": b"{}", "module.py": b"pass\n"})
    copy = s3_md.code_dir(FLOW, run_id)
    assert sorted(os.listdir(copy)) == ["flow.json", "module.py"]
    with open(os.path.join(copy, "module.py"), "rb") as f:
        assert f.read() == b"pass\n"
    shutil.rmtree(copy)
    assert s3_md.code_dir(FLOW, new_run(s3_md)) is None


def test_s3_damaged_record_names_its_object(s3_md):
    run_id = new_run(s3_md)
    s3_md.storage.save_bytes("%s/%s/_meta/_self.json" % (FLOW, run_id), b"{trunc")
    with pytest.raises(MetadataCorrupt) as err:
        s3_md.run(FLOW, run_id)
    assert "s3://metaflow-test/metaflow/%s/%s/_meta/_self.json" % (FLOW, run_id) in str(err.value)


def test_a_pointer_record_names_the_remote_datastore(md, s3_md):
    md.point_to(FLOW, s3_md.storage)
    assert md.flow(FLOW)["datastore"] == {"type": "s3", "root": "s3://metaflow-test/metaflow"}
    assert md.flows() == [FLOW]


def test_a_local_run_after_an_s3_one_takes_the_pointer_back(md, s3_md):
    md.point_to(FLOW, s3_md.storage)
    new_run(md)
    assert "datastore" not in md.flow(FLOW)
