"""Fault injection on stored blobs: flipped, truncated and deleted, for real.

Each case runs BlobFaultsFlow in a directory of its own, damages the blob of a
finished artifact (``start``'s ``total``), then reads it through every reader:
the client, ``dump``, ``verify`` and a later step (a resume, and a step of a
running run). Each checks the three things the fault suite promises: no process
of the run is left, every intact artifact still reads correctly, the damaged one
is an error naming the artifact, the task and the file (never a value), and the
run can be resumed to the correct result, which re-runs the damaged task.
"""

import os
import re
import struct

import pytest

from metaflow_core.exceptions import MetaflowDataCorrupt, MetaflowDataMissing
from runner import (
    assert_failed_cleanly,
    assert_succeeded,
    describe,
    engine_lines,
    flow_process,
    processes_in,
    run_flow,
    run_id_of,
    wait_for,
)

FLOW = "blob_faults_flow.py"
TOTAL = 2100000


def first_run(root, *args, env=None):
    result = run_flow(FLOW, "run", *args, cwd=root, env=env)
    assert_succeeded(result, root)
    return run_id_of(result)


def writable(path):
    os.chmod(path, 0o644)
    return path


def flip_value(path):
    """Turn the pickled 2100000 into 4200000: still a valid pickle, a wrong value."""
    with open(path, "rb") as f:
        blob = f.read()
    old, new = struct.pack("<i", TOTAL), struct.pack("<i", 2 * TOTAL)
    assert blob.count(old) == 1, blob
    with open(writable(path), "wb") as f:
        f.write(blob.replace(old, new))


def truncate(path):
    size = os.path.getsize(path)
    with open(writable(path), "r+b") as f:
        f.truncate(size - 3)


def delete(path):
    os.unlink(path)


FAULTS = {"flip": flip_value, "truncate": truncate, "delete": delete}


def total_blob(client, run_id):
    return client.DataArtifact("BlobFaultsFlow/%s/start/1/total" % run_id).local_path()


def assert_names_damage(err, run_id, path):
    text = str(err)
    assert "total" in text and "BlobFaultsFlow/%s/start/1" % run_id in text and path in text, text


def assert_intact_artifacts_read(client, run_id):
    run = client.Run("BlobFaultsFlow/%s" % run_id)
    start = run["start"].task
    assert start.data.label == "intact"
    assert start.data.items == [1, 2]
    assert start.data.alpha == 1
    assert run["middle"].task.data.scaled == TOTAL + 1
    assert run.data.final == TOTAL + 4


def test_a_flipped_byte_reads_as_an_error_not_as_a_wrong_value(tmp_path, open_client):
    """The issue's first bullet: a value-preserving flip read back 4200000, silently."""
    run_id = first_run(tmp_path)
    client = open_client(tmp_path)
    path = total_blob(client, run_id)
    flip_value(path)
    with pytest.raises(MetaflowDataCorrupt) as err:
        client.Run("BlobFaultsFlow/%s" % run_id)["start"].task.data.total
    assert_names_damage(err.value, run_id, path)
    assert err.value.artifact == "total" and err.value.path == path
    # The same blob passed down to later tasks is refused there too.
    with pytest.raises(MetaflowDataCorrupt):
        client.Run("BlobFaultsFlow/%s" % run_id).data.total
    assert_intact_artifacts_read(client, run_id)


def test_a_fresh_run_replaces_the_damaged_file_it_would_have_reused(tmp_path, open_client):
    """The rest of the bullet: a new run writing the same value printed TOTAL 4200000."""
    run_id = first_run(tmp_path)
    client = open_client(tmp_path)
    path = total_blob(client, run_id)
    flip_value(path)
    fresh = run_flow(FLOW, "run", cwd=tmp_path)
    assert_succeeded(fresh, tmp_path)
    assert "TOTAL %d" % TOTAL in fresh.stdout + fresh.stderr, describe(fresh)
    assert "TOTAL %d" % (2 * TOTAL) not in fresh.stdout + fresh.stderr
    new_id = run_id_of(fresh)
    assert client.Run("BlobFaultsFlow/%s" % new_id).data.total == TOTAL
    # One file per sha: the replaced file repairs the old run's reference too.
    assert total_blob(client, new_id) == path
    assert client.Run("BlobFaultsFlow/%s" % run_id)["start"].task.data.total == TOTAL
    assert processes_in(tmp_path) == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_reader_refuses_a_damaged_blob_and_resume_repairs_it(tmp_path, open_client, fault):
    run_id = first_run(tmp_path)
    client = open_client(tmp_path)
    path = total_blob(client, run_id)
    FAULTS[fault](path)
    assert processes_in(tmp_path) == []

    # the client
    expected = MetaflowDataMissing if fault == "delete" else MetaflowDataCorrupt
    artifact = client.DataArtifact("BlobFaultsFlow/%s/start/1/total" % run_id)
    with pytest.raises(expected) as err:
        artifact.data
    assert_names_damage(err.value, run_id, path)
    assert_intact_artifacts_read(client, run_id)

    # the client's verify(): a report, not an error
    report = client.Run("BlobFaultsFlow/%s" % run_id).verify()
    damaged = {(item.pathspec.split("/")[2], item.artifact) for item in report}
    assert damaged == {("start", "total"), ("middle", "total"), ("end", "total")}, report
    assert {item.file for item in report} == {path}
    assert all(item.reason for item in report)
    assert [i.artifact for i in artifact.verify()] == ["total"]
    assert artifact.parent.verify() and client.Step(
        "BlobFaultsFlow/%s/start" % run_id).verify()
    assert client.DataArtifact("BlobFaultsFlow/%s/start/1/label" % run_id).verify() == []

    # dump: a headline naming the artifact, task and file, no traceback, exit 1
    dumped = run_flow(FLOW, "dump", "%s/start/1" % run_id, cwd=tmp_path)
    assert dumped.returncode == 1, describe(dumped)
    assert path in dumped.stderr and "total" in dumped.stderr, describe(dumped)
    assert ("Damaged artifact" if fault != "delete" else "Data missing") in dumped.stderr
    assert engine_lines(dumped.stderr) == [] and "Traceback" not in dumped.stderr
    assert "%d" % (2 * TOTAL) not in dumped.stdout
    # what is intact still dumps
    label = run_flow(FLOW, "dump", "%s/start/1" % run_id, "--include", "label", cwd=tmp_path)
    assert label.returncode == 0 and "'intact'" in label.stdout, describe(label)

    # verify: every damaged reference printed, exit 1
    checked = run_flow(FLOW, "verify", run_id, cwd=tmp_path)
    assert checked.returncode == 1, describe(checked)
    lines = [line for line in checked.stdout.splitlines() if line.startswith("Artifact ")]
    assert len(lines) == 3 and all(path in line for line in lines), describe(checked)
    assert "Damaged artifact" in checked.stderr and "Traceback" not in checked.stderr

    # a later step, via resume: the damaged task runs again, nothing damaged is cloned
    resumed = run_flow(FLOW, "resume", "--origin-run-id", run_id, cwd=tmp_path)
    assert_succeeded(resumed, tmp_path)
    assert re.search(r"Not cloning %s/start/1: artifact total is damaged" % run_id,
                     resumed.stderr), describe(resumed)
    assert re.search(r"/start/1 \(pid \d+\)\] Task is starting", resumed.stderr)
    new_id = run_id_of(resumed)
    new_run = client.Run("BlobFaultsFlow/%s" % new_id)
    assert new_run.data.total == TOTAL and new_run.data.final == TOTAL + 4
    assert new_run["start"].task.origin_pathspec is None
    assert client.DataArtifact("BlobFaultsFlow/%s/start/1/total" % run_id).data == TOTAL
    assert new_run.verify() == []
    after = run_flow(FLOW, "verify", new_id, cwd=tmp_path)
    assert after.returncode == 0 and "are intact" in after.stdout, describe(after)
    assert processes_in(tmp_path) == []


def test_a_step_reading_a_damaged_input_fails_at_once_without_retry(tmp_path, open_client):
    gate = tmp_path / "go"
    env = {"BLOB_FAULTS_GATE": str(gate)}
    with flow_process(FLOW, "run", cwd=tmp_path, env=env) as proc:
        wait_for(lambda: (tmp_path / "middle.waiting").exists(), what="middle to wait")
        client = open_client(tmp_path)
        run_id = client.Flow("BlobFaultsFlow").latest_run.id
        path = total_blob(client, run_id)
        flip_value(path)
        gate.touch()
        stdout, stderr = proc.communicate(timeout=120)
    result = type("Result", (), {"returncode": proc.returncode, "stdout": stdout,
                                 "stderr": stderr})()
    assert_failed_cleanly(result, tmp_path, "Damaged artifact", path)
    assert "TOTAL" not in stdout + stderr
    middle = client.Run("BlobFaultsFlow/%s" % run_id)["middle"].task
    assert middle.current_attempt == 0, "a damaged input is not retried"
    assert middle.exception.type == "MetaflowDataCorrupt"
    assert "total" in middle.exception.message and path in middle.exception.message
    assert client.Run("BlobFaultsFlow/%s" % run_id).status == "failed"
    assert processes_in(tmp_path) == []

    resumed = run_flow(FLOW, "resume", "--origin-run-id", run_id, cwd=tmp_path)
    assert_succeeded(resumed, tmp_path)
    assert "Not cloning %s/start/1" % run_id in resumed.stderr, describe(resumed)
    assert client.Run("BlobFaultsFlow/%s" % run_id_of(resumed)).data.final == TOTAL + 4


def test_a_damaged_parameter_stops_a_resume_naming_it(tmp_path, open_client):
    run_id = first_run(tmp_path)
    client = open_client(tmp_path)
    path = client.DataArtifact("BlobFaultsFlow/%s/_parameters/0/alpha" % run_id).local_path()
    truncate(path)
    resumed = run_flow(FLOW, "resume", "--origin-run-id", run_id, cwd=tmp_path)
    assert_failed_cleanly(resumed, tmp_path, "Damaged artifact", "alpha", path)
    assert processes_in(tmp_path) == []


def test_verify_without_a_run_checks_every_run_and_stray_blob_files(tmp_path, open_client):
    first = first_run(tmp_path)
    second = first_run(tmp_path, "--alpha", "3")
    intact = run_flow(FLOW, "verify", cwd=tmp_path)
    assert intact.returncode == 0, describe(intact)
    assert re.match(r"All \d+ blobs of flow BlobFaultsFlow \(2 runs\) are intact\.",
                    intact.stdout), describe(intact)

    client = open_client(tmp_path)
    scaled = client.DataArtifact("BlobFaultsFlow/%s/middle/2/scaled" % second).local_path()
    truncate(scaled)
    stray_dir = os.path.dirname(scaled)
    stray = os.path.join(stray_dir, stray_dir[-2:] + "0" * 38)
    with open(stray, "wb") as f:
        f.write(b"MFBnnot what the name says")
    checked = run_flow(FLOW, "verify", cwd=tmp_path)
    assert checked.returncode == 1, describe(checked)
    assert "Blob file %s (no task refers to it)" % stray in checked.stdout, describe(checked)
    assert "Artifact scaled of task BlobFaultsFlow/%s/middle/2" % second in checked.stdout
    assert "BlobFaultsFlow/%s/" % first not in checked.stdout
    report = client.Flow("BlobFaultsFlow").verify()
    assert {item.file for item in report} == {scaled, stray}
    assert client.Run("BlobFaultsFlow/%s" % first).verify() == []

    missing = run_flow(FLOW, "verify", "12345", cwd=tmp_path)
    assert missing.returncode != 0 and "BlobFaultsFlow/12345" in missing.stderr
    assert engine_lines(missing.stderr) == []
