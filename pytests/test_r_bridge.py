"""The Python half of the R bridge, against real R: previews of R values for dump, and
an Rscript that dies."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from metaflow_core.datastore import FlowDataStore
from metaflow_core.datastore.serializers import RObject
from metaflow_core.exceptions import MetaflowException
from metaflow_core.external import StepTask, StoredArtifact
from metaflow_core.r.bridge import RStep, RStepError, r_previews
from metaflow_core.r.values import to_rds

RSCRIPT = shutil.which("Rscript")


def r_spec(tmp_path, rscript):
    """A spec directory as codegen makes one: its spec names the Rscript and libraries."""
    assert RSCRIPT, "these tests need R: Rscript is not on the PATH"
    libs = subprocess.run([RSCRIPT, "-e", "writeLines(.libPaths())"], capture_output=True,
                          text=True, check=True).stdout.split()
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "flow.json").write_text(json.dumps({"r": {"rscript": rscript, "lib_paths": libs}}))
    return str(spec_dir)


def test_r_values_are_previewed_by_str_in_one_batch(tmp_path):
    values = [RObject(to_rds(42)), RObject(to_rds({"a": [1, 2, 3], "b": "text"})),
              RObject(to_rds(list(range(100))))]

    previews = r_previews(r_spec(tmp_path, RSCRIPT), values)

    assert previews[0] == " int 42"
    assert previews[1] == 'List of 2\n $ a: int [1:3] 1 2 3\n $ b: chr "text"'
    assert previews[2] == " int [1:100] 0 1 2 3 4 5 6 7 ..."


def test_a_value_r_cant_read_says_so_and_the_others_are_shown(tmp_path):
    previews = r_previews(r_spec(tmp_path, RSCRIPT), [RObject(b"not rds"), RObject(to_rds(1.5))])

    assert previews[0].startswith("<an R object R can't read:")
    assert previews[1] == " num 1.5"


def test_without_r_the_values_show_as_before(tmp_path):
    failing = tmp_path / "failing_rscript"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    value = RObject(to_rds(42))

    spec_dir = r_spec(tmp_path, str(failing))
    assert r_previews(spec_dir, [value]) == [repr(value)]
    assert r_previews(spec_dir, []) == []


def test_an_rscript_that_dies_fails_the_step_with_an_r_class_and_the_signal(tmp_path):
    dying = tmp_path / "dying_rscript"
    dying.write_text("#!/bin/sh\nkill -9 $$\n")
    dying.chmod(0o755)
    spec_dir = r_spec(tmp_path, str(dying))
    task = StepTask("start", None, None, {}, [], {}, [], {"pathspec": "F/1/start/1"}, "local")

    with pytest.raises(RStepError) as raised:
        RStep(spec_dir, "start").run(task)

    assert "Rscript was killed by SIGKILL before the step finished" in raised.value.message
    assert raised.value.extra_record["r_class"] == [
        "metaflow_error_rscript", "metaflow_error", "error", "condition"]
    assert raised.value.caught_rds is None


# Artifacts R reads and writes: verified, streamed, nothing left behind


def r_step_spec(tmp_path, steps):
    """A spec directory whose functions.rds has the R step functions ``steps``
    (name -> R source of a function), as the flow script would have saved them."""
    spec_dir = r_spec(tmp_path, RSCRIPT)
    code = "saveRDS(list(steps = list(%s), globals = list(), packages = character(), " \
           "options = list()), %r)" % (
               ", ".join("%s = %s" % (name, src) for name, src in steps.items()),
               os.path.join(spec_dir, "functions.rds"))
    subprocess.run([RSCRIPT, "-e", code], check=True, capture_output=True)
    return spec_dir


def r_values(**values):
    """RObjects of R values (R source each), serialized by R itself."""
    out = {}
    for name, src in values.items():
        raw = subprocess.run([RSCRIPT, "-e", "x <- serialize(%s, NULL); "
                              "writeBin(x, pipe('cat', 'wb'))" % src],
                             check=True, capture_output=True).stdout
        out[name] = RObject(raw)
    return out


def stored_start_task(root, storage=None, **values):
    """Task F/1/start/1 with the R values given, stored and done; read back."""
    flow_ds = FlowDataStore("F", storage=storage, ds_root=None if storage else str(root))
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    for name, value in r_values(**values).items():
        ds.save_object(name, value)
    ds.done()
    return flow_ds, flow_ds.task("1", "start", "1")


def step_task_after(flow_ds, parent):
    artifacts = {name: StoredArtifact(parent, name) for name in parent.keys()}
    return StepTask("b", None, None, artifacts, [], {}, [],
                    {"pathspec": "F/1/b/2", "flow_name": "F", "run_id": "1", "step_name": "b",
                     "task_id": "2"}, flow_ds.ds_type, store=flow_ds.ca_store)


def flip_a_byte(path, at=-3):
    with open(path, "r+b") as f:
        f.seek(at, os.SEEK_END)
        byte = f.read(1)
        f.seek(at, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0x01]))


def staging_entries(flow_ds):
    return os.listdir(flow_ds.storage.staging_dir())


def test_an_r_step_reading_a_flipped_byte_gets_an_error_naming_artifact_task_and_file(tmp_path):
    flow_ds, parent = stored_start_task(tmp_path, total="2100000", alpha="1")
    path = parent.local_path("total")
    flip_a_byte(path)
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) { self$alpha2 <- self$alpha; "
                                            "self$doubled <- self$total * 2 }"})

    with pytest.raises(RStepError) as raised:
        RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))

    err = raised.value
    assert "metaflow_error_data_corrupt" in err.extra_record["r_class"]
    assert "Artifact `total` of task F/1/start/1 is damaged" in err.message
    assert path in err.message
    assert "hashes to" in err.message
    # The intact artifact read fine; the damaged one gave no value.
    assert set(err.partial_outcome.artifacts) == {"alpha2"}
    assert staging_entries(flow_ds) == []


def test_an_intact_artifact_reads_back_and_r_s_artifacts_move_into_the_store(tmp_path):
    flow_ds, parent = stored_start_task(tmp_path, total="2100000")
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) self$doubled <- self$total * 2"})

    outcome = RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))

    doubled = outcome.artifacts["doubled"]
    sha = doubled.stored_in(flow_ds.ca_store)
    flow_ds.ca_store.verify(sha)
    assert doubled.staged_path is None
    # Stored as R wrote it: a blob the store verifies, holding R's value.
    value = subprocess.run([RSCRIPT, "-e", "cat(unserialize(readBin(file('stdin', 'rb'), "
                            "'raw', 1e6)))"], input=flow_ds.ca_store.load_blob(sha),
                           capture_output=True, check=True).stdout
    assert value == b"4200000"
    assert staging_entries(flow_ds) == []


def test_a_failed_step_leaves_nothing_in_the_staging_dir(tmp_path):
    flow_ds, parent = stored_start_task(tmp_path, total="1")
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) { self$big <- runif(1e5); "
                                            "stop('no') }"})

    with pytest.raises(RStepError):
        RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))

    assert staging_entries(flow_ds) == []


KILLED_TASK = """
import sys
from metaflow_core.datastore import FlowDataStore
from metaflow_core.external import StepTask
from metaflow_core.r.bridge import RStep
flow_ds = FlowDataStore("F", ds_root=sys.argv[1])
task = StepTask("b", None, None, {}, [], {}, [], {"pathspec": "F/1/b/3"}, "local",
                store=flow_ds.ca_store)
RStep(sys.argv[2], "b").run(task)
"""


def test_the_staging_dir_of_a_killed_task_process_is_swept_by_the_next_step(tmp_path):
    flow_ds, parent = stored_start_task(tmp_path, total="1")
    marker = tmp_path / "r_pid"
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) { self$big <- runif(10); "
                                            "metaflow:::write_blob(1, file.path(dirname("
                                            "commandArgs(TRUE)[1]), 'x.blob')); "
                                            "writeLines(as.character(Sys.getpid()), %r); "
                                            "Sys.sleep(600) }" % str(marker)})
    task_process = subprocess.Popen([sys.executable, "-c", KILLED_TASK, str(tmp_path), spec_dir])
    try:
        while not marker.exists() or not marker.read_text().strip():
            assert task_process.poll() is None, "the task process ended before its step ran"
            time.sleep(0.05)
        r_pid = int(marker.read_text())
        os.kill(task_process.pid, signal.SIGKILL)
        task_process.wait()
    finally:
        if task_process.poll() is None:
            task_process.kill()
    try:
        os.killpg(r_pid, signal.SIGKILL)  # the step's R, if nothing killed it with its parent
    except ProcessLookupError:
        pass
    left = staging_entries(flow_ds)
    assert len(left) == 1 and left[0].startswith("mf-r-%d@" % task_process.pid)
    # Another machine's directory in a shared datastore is not this one's to sweep.
    other_host = os.path.join(flow_ds.storage.staging_dir(), "mf-r-%d@elsewhere-x1" % task_process.pid)
    os.mkdir(other_host)

    (tmp_path / "again").mkdir()
    spec_dir = r_step_spec(tmp_path / "again", {"b": "function(self) self$y <- self$total"})
    RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))

    assert staging_entries(flow_ds) == [os.path.basename(other_host)]


def test_a_datastore_without_room_for_the_step_s_artifacts_is_an_error_naming_the_directory(tmp_path):
    flow_ds, parent = stored_start_task(tmp_path, total="1")
    staging = flow_ds.storage.staging_dir()
    os.chmod(staging, 0o500)
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) self$y <- 1"})
    try:
        if os.access(staging, os.W_OK):
            # root writes anywhere: a file where the directory should be stands in.
            os.chmod(staging, 0o700)
            shutil.rmtree(staging)
            open(staging, "w").close()
        with pytest.raises(MetaflowException) as raised:
            RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))
    finally:
        if os.path.isdir(staging):
            os.chmod(staging, 0o700)
    # The staging directory itself can't be made: the datastore's access error names it.
    assert "Could not create the directory %s" % staging in raised.value.message


# Inputs in S3 (the moto server): R reads verified local copies, removed after the step.


@pytest.fixture
def s3_storage(moto_server, tmp_path, monkeypatch):
    from metaflow_core.datastore.storage import get_storage

    # S3's staging directory is in the system's temporary directory, shared by
    # every run of this user; a temporary directory of the test's own keeps the
    # runs of other suites going at the same time out of what it counts.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    return get_storage("s3")


def test_an_r_step_reads_its_inputs_from_s3_and_its_outputs_go_there(tmp_path, s3_storage):
    flow_ds, parent = stored_start_task(tmp_path, s3_storage, total="2100000")
    assert parent.local_path("total") is None
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) self$doubled <- self$total * 2"})
    staged_before = set(staging_entries(flow_ds))

    outcome = RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))

    sha = outcome.artifacts["doubled"].stored_in(flow_ds.ca_store)
    flow_ds.ca_store.verify(sha)
    assert s3_storage.is_file(flow_ds.ca_store.key(sha))
    value = subprocess.run([RSCRIPT, "-e", "cat(unserialize(readBin(file('stdin', 'rb'), "
                            "'raw', 1e6)))"], input=flow_ds.ca_store.load_blob(sha),
                           capture_output=True, check=True).stdout
    assert value == b"4200000"
    assert set(staging_entries(flow_ds)) == staged_before


def test_a_damaged_blob_in_s3_is_a_data_corrupt_error_for_the_r_step(tmp_path, s3_storage):
    flow_ds, parent = stored_start_task(tmp_path, s3_storage, total="2100000", alpha="1")
    key = flow_ds.ca_store.key(parent.sha("total"))
    damaged = bytearray(s3_storage.load_bytes(key))
    damaged[-3] ^= 0x01
    s3_storage.save_bytes(key, bytes(damaged))
    spec_dir = r_step_spec(tmp_path, {"b": "function(self) { self$alpha2 <- self$alpha; "
                                            "self$doubled <- self$total * 2 }"})
    staged_before = set(staging_entries(flow_ds))

    with pytest.raises(RStepError) as raised:
        RStep(spec_dir, "b").run(step_task_after(flow_ds, parent))

    err = raised.value
    assert "metaflow_error_data_corrupt" in err.extra_record["r_class"]
    assert "Artifact `total` of task F/1/start/1 is damaged" in err.message
    assert "hashes to" in err.message
    assert set(err.partial_outcome.artifacts) == {"alpha2"}
    assert set(staging_entries(flow_ds)) == staged_before
