"""datastore/verify.py: reports of damaged blobs, on a real datastore on disk.

Runs of real flows, damaged and verified through every reader, are in
test_faults_blobs.py; here the Verifier's own rules: each blob hashed once,
an unreadable index is an item of its own, stray files are checked.
"""

import os
import pickle

import pytest

from metaflow_core.datastore import FlowDataStore, LocalStorage
from metaflow_core.datastore.verify import (
    Verifier,
    item_line,
    report_record,
    verify_flow,
    verify_run,
)

FLOW = "VerifyFlow"


@pytest.fixture
def flow_ds(tmp_path):
    return FlowDataStore(FLOW, storage=LocalStorage(str(tmp_path / ".metaflow")))


def write_task(flow_ds, run_id, step, task_id, attempt=0, **artifacts):
    ds = flow_ds.task(run_id, step, task_id, attempt=attempt, mode="w")
    for name, value in artifacts.items():
        ds.save_object(name, value)
    ds.set_control(task_ok=True)
    ds.done()
    return ds


def damage(flow_ds, sha):
    path = flow_ds.ca_store.describe(sha)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(5)
        byte = f.read(1)
        f.seek(5)
        f.write(bytes([byte[0] ^ 0xFF]))
    return path


def test_an_intact_run_is_an_empty_report_that_counts_its_blobs(flow_ds):
    write_task(flow_ds, "1", "start", "1", x=1, y="two")
    write_task(flow_ds, "1", "end", "2", x=1, z=[3])
    report = verify_run(flow_ds, "1")
    assert report == [] and report.intact
    assert report.blobs == 3  # x is one blob, shared by both tasks
    assert report.summary() == "All 3 blobs of run VerifyFlow/1 are intact."


def test_a_shared_damaged_blob_is_hashed_once_and_named_in_each_task(flow_ds):
    start = write_task(flow_ds, "1", "start", "1", x=list(range(100)))
    write_task(flow_ds, "1", "end", "2", x=list(range(100)), w=5)
    path = damage(flow_ds, start.sha("x"))
    verifier = Verifier(flow_ds)
    verifier.run("1")
    report = verifier.report("run VerifyFlow/1")
    assert [(i.pathspec, i.artifact, i.file) for i in report] == [
        ("VerifyFlow/1/start/1", "x", path), ("VerifyFlow/1/end/2", "x", path)]
    assert report.blobs == 2
    # Found damaged once, the blob is not hashed again for the next task...
    assert verifier.blob_problem(start.sha("x")) == report[0].reason
    # ...unless asked, as resume does after a re-run task may have replaced it.
    assert flow_ds.ca_store.save_blob(pickle.dumps(list(range(100)), protocol=4)) == start.sha("x")
    assert verifier.blob_problem(start.sha("x")) is not None
    assert verifier.blob_problem(start.sha("x"), again=True) is None
    assert "hashes to" in report[0].reason
    assert item_line(report[0]).startswith("Artifact x of task VerifyFlow/1/start/1 (attempt 0), file ")
    record = report_record(report)
    assert record["damaged"][0]["artifact"] == "x" and "2 damaged items" in record["summary"]


def test_every_attempt_of_a_task_is_checked(flow_ds):
    first = write_task(flow_ds, "1", "start", "1", attempt=0, x="first try")
    write_task(flow_ds, "1", "start", "1", attempt=1, x="second try")
    damage(flow_ds, first.sha("x"))
    report = verify_run(flow_ds, "1")
    assert [(i.attempt, i.artifact) for i in report] == [(0, "x")]


def test_an_unreadable_artifact_index_is_reported_with_its_file(flow_ds):
    ds = write_task(flow_ds, "1", "start", "1", x=1)
    index = flow_ds.storage.path(ds._key("data.json"))
    with open(index, "w") as f:
        f.write("{not json")
    report = verify_run(flow_ds, "1")
    assert len(report) == 1
    assert report[0].artifact is None and report[0].file == index
    assert "index can't be read" in report[0].reason


def test_the_whole_flow_includes_stray_and_misnamed_blob_files(flow_ds):
    write_task(flow_ds, "1", "start", "1", x=1)
    stray_sha = flow_ds.ca_store.save_blob(b"nobody refers to me")
    path = damage(flow_ds, stray_sha)
    junk = os.path.join(os.path.dirname(path), "junk")
    open(junk, "wb").close()
    # A write in progress is not a blob yet.
    open(os.path.join(os.path.dirname(path), ".tmp.123.x"), "wb").close()
    report = verify_flow(flow_ds)
    assert sorted(i.file for i in report) == sorted([path, junk])
    assert all(i.pathspec is None for i in report)
    assert item_line(report[0]).startswith("Blob file ")
