"""The storage layer on real files: root resolution, blobs, task datastores, logs."""

import collections
import gzip
import hashlib
import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import zlib

import pytest
import zstandard

from metaflow_core.datastore import FlowDataStore, LocalStorage, RObject, get_storage
from metaflow_core.datastore.cas import (
    DEFAULT_COMPRESSION,
    ContentAddressedStore,
    parse_compression,
)
from metaflow_core.datastore.serializers import deserialize, serialize
from metaflow_core.exceptions import (
    DatastoreAccessError,
    MetaflowDataCorrupt,
    MetaflowDataMissing,
    MetaflowException,
    UnpicklableArtifactException,
)

FLOW = "StoreFlow"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", raising=False)
    monkeypatch.delenv("METAFLOW_DATASTORE_COMPRESSION", raising=False)


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / ".metaflow")


@pytest.fixture
def flow_ds(root):
    return FlowDataStore(FLOW, storage=LocalStorage(root))


def blob_files(root, flow=FLOW):
    """Every file under the flow's content-addressed area, as paths."""
    found = []
    for dirpath, _, files in os.walk(os.path.join(root, flow, "data")):
        found.extend(os.path.join(dirpath, f) for f in files)
    return sorted(found)


def temp_files(root):
    return [
        os.path.join(dirpath, f)
        for dirpath, _, files in os.walk(root)
        for f in files
        if f.startswith(".tmp.")
    ]


def write_attempt(flow_ds, run_id, step, task_id, attempt, **artifacts):
    ds = flow_ds.task(run_id, step, task_id, attempt=attempt, mode="w")
    for name, value in artifacts.items():
        ds.save_object(name, value)
    ds.done()
    return ds


# root resolution

def test_sysroot_variable_gives_its_dot_metaflow(tmp_path, monkeypatch):
    sysroot = tmp_path / "shared"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".metaflow").mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(sysroot))

    root = LocalStorage.find_root()

    assert root == str(sysroot / ".metaflow" / ".metaflow_core")
    assert os.path.isdir(root)


def test_relative_sysroot_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", "rel")

    assert LocalStorage.find_root() == str(tmp_path / "rel" / ".metaflow" / ".metaflow_core")


def test_sysroot_is_not_created_when_asked_not_to(tmp_path, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "s"))

    root = LocalStorage.find_root(create=False)

    assert root == str(tmp_path / "s" / ".metaflow" / ".metaflow_core")
    assert not os.path.exists(root)


def test_nearest_parent_with_dot_metaflow_wins(tmp_path, monkeypatch):
    (tmp_path / ".metaflow").mkdir()
    project = tmp_path / "project"
    (project / ".metaflow").mkdir(parents=True)
    deep = project / "src" / "flows"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)

    assert LocalStorage.find_root() == str(project / ".metaflow" / ".metaflow_core")


def test_a_file_named_dot_metaflow_is_not_a_root(tmp_path, monkeypatch):
    (tmp_path / ".metaflow").mkdir()
    here = tmp_path / "here"
    here.mkdir()
    (here / ".metaflow").write_text("not a directory")
    monkeypatch.chdir(here)

    assert LocalStorage.find_root() == str(tmp_path / ".metaflow" / ".metaflow_core")


def _has_dot_metaflow_above(path):
    parent = os.path.dirname(path)
    while parent != path:
        if os.path.isdir(os.path.join(path, ".metaflow")):
            return True
        path, parent = parent, os.path.dirname(parent)
    return os.path.isdir(os.path.join(path, ".metaflow"))


def test_new_dot_metaflow_in_current_directory(tmp_path, monkeypatch):
    if _has_dot_metaflow_above(str(tmp_path)):
        pytest.skip("a parent of the temp directory already has a .metaflow")
    monkeypatch.chdir(tmp_path)
    said = []

    root = LocalStorage.find_root(echo=said.append)

    assert root == str(tmp_path / ".metaflow" / ".metaflow_core")
    assert os.path.isdir(root)
    assert said and root in said[0]


def test_get_storage_local_and_unknown(root):
    storage = get_storage("local", root)
    assert isinstance(storage, LocalStorage)
    assert storage.describe() == "local@%s" % root
    with pytest.raises(MetaflowException, match="Supported: local, s3"):
        get_storage("gcs", root)


# content addressing

def test_identical_artifacts_are_stored_once(flow_ds, root):
    value = {"weights": list(range(1000)), "name": "model"}
    write_attempt(flow_ds, "1", "start", "1", 0, model=value, other=7)
    write_attempt(flow_ds, "1", "train", "2", 0, model=value, copy=dict(value))
    write_attempt(flow_ds, "2", "start", "1", 0, model=value)

    assert len(blob_files(root)) == 2
    shas = {flow_ds.task(r, s, t).sha("model")
            for r, s, t in (("1", "start", "1"), ("1", "train", "2"), ("2", "start", "1"))}
    assert len(shas) == 1
    assert flow_ds.task("1", "train", "2").sha("copy") in shas


def test_sha1_is_over_serialized_bytes_and_names_the_blob(flow_ds, root):
    value = [1.5, "two", None]
    ds = write_attempt(flow_ds, "1", "start", "1", 0, x=value)

    expected = hashlib.sha1(pickle.dumps(value, protocol=4)).hexdigest()
    assert ds.sha("x") == expected
    assert blob_files(root) == [os.path.join(root, FLOW, "data", expected[:2], expected)]


def test_sha_does_not_depend_on_codec(tmp_path):
    data = b"the same bytes" * 100
    shas = {
        ContentAddressedStore(LocalStorage(str(tmp_path / c)), "F/data", compression=c)
        .save_blob(data)
        for c in ("none", "zlib:9", "gzip:1")
    }
    assert shas == {hashlib.sha1(data).hexdigest()}


def test_existing_blob_is_not_rewritten(root):
    storage = LocalStorage(root)
    cas = ContentAddressedStore(storage, "F/data")
    sha = cas.save_blob(b"payload")
    path = storage.path(cas.key(sha))
    os.utime(path, (1, 1))

    assert cas.save_blob(b"payload") == sha
    assert os.stat(path).st_mtime == 1


# blob header and codecs

CODECS = [
    ("none", b"n"), ("zlib", b"z"), ("zlib:1", b"z"), ("zlib:6", b"z"), ("zlib:9", b"z"),
    ("gzip", b"g"), ("gzip:1", b"g"), ("gzip:9", b"g"), (" Zlib:3 ", b"z"),
    ("zstd", b"s"), ("zstd:1", b"s"), ("zstd:19", b"s"),
]


@pytest.mark.parametrize("spec,codec", CODECS)
@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 400], ids=["empty", "1B", "100KB"])
def test_codec_round_trip_and_header(root, spec, codec, data):
    storage = LocalStorage(root)
    cas = ContentAddressedStore(storage, "F/data", compression=spec)

    sha = cas.save_blob(data)
    with open(storage.path(cas.key(sha)), "rb") as f:
        raw = f.read()

    assert raw[:4] == b"MFB" + codec
    payload = raw[4:]
    if codec == b"n":
        assert payload == data
    elif codec == b"z":
        assert zlib.decompress(payload) == data
    elif codec == b"s":
        assert zstandard.ZstdDecompressor().decompressobj().decompress(payload) == data
    else:
        assert gzip.decompress(payload) == data
    assert cas.load_blob(sha) == data


@pytest.mark.parametrize("spec,expected", [
    ("none", ("n", 0)), ("zlib", ("z", 1)), ("zlib:7", ("z", 7)), ("gzip:2", ("g", 2)),
    ("zstd", ("s", 1)), ("zstd:22", ("s", 22)),
    ("", parse_compression(DEFAULT_COMPRESSION)), (None, parse_compression(DEFAULT_COMPRESSION)),
])
def test_parse_compression(spec, expected):
    assert parse_compression(spec) == expected


def test_compression_comes_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATASTORE_COMPRESSION", "gzip:4")
    flow_ds = FlowDataStore(FLOW, storage=LocalStorage(root))
    write_attempt(flow_ds, "1", "start", "1", 0, x="hello" * 100)

    (path,) = blob_files(root)
    with open(path, "rb") as f:
        assert f.read(4) == b"MFB" + b"g"


def test_default_compression_is_valid_and_used(root):
    storage = LocalStorage(root)
    cas = ContentAddressedStore(storage, "F/data")
    sha = cas.save_blob(b"abc" * 1000)
    with open(storage.path(cas.key(sha)), "rb") as f:
        header = f.read(4)
    assert header == b"MFB" + parse_compression(DEFAULT_COMPRESSION)[0].encode()


def test_blobs_of_every_codec_read_back_through_one_store(root):
    storage = LocalStorage(root)
    shas = {}
    for spec in ("none", "zlib:5", "gzip:5", "zstd:3"):
        data = ("written with %s " % spec).encode() * 50
        shas[ContentAddressedStore(storage, "F/data", compression=spec).save_blob(data)] = data
    reader = ContentAddressedStore(storage, "F/data", compression="none")
    assert {sha: reader.load_blob(sha) for sha in shas} == shas


@pytest.mark.parametrize("value", [
    "lz4", "brotli:3", "zlib:0", "zlib:10", "gzip:x", "zlib:-1", "none:3", "zlib:1.5", "zstd:23",
])
def test_bad_compression_value_is_named(root, monkeypatch, value):
    monkeypatch.setenv("METAFLOW_DATASTORE_COMPRESSION", value)
    with pytest.raises(MetaflowException) as err:
        FlowDataStore(FLOW, storage=LocalStorage(root))
    assert value in str(err.value)
    assert "METAFLOW_DATASTORE_COMPRESSION" in str(err.value)


def blob_path(root, cas, sha):
    return os.path.join(root, *cas.key(sha).split("/"))


def overwrite(path, data):
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)


def test_corrupt_and_unknown_codec_blobs_are_refused(root):
    cas = ContentAddressedStore(LocalStorage(root), "F/data")
    sha = cas.save_blob(b"payload")
    overwrite(blob_path(root, cas, sha), b"\x1f\x8b\x08\x00rest")
    with pytest.raises(MetaflowDataCorrupt, match="no metaflow blob header"):
        cas.load_blob(sha)
    overwrite(blob_path(root, cas, sha), b"MFBqpayload")
    with pytest.raises(MetaflowDataCorrupt, match="codec"):
        cas.load_blob(sha)


@pytest.mark.parametrize("spec", ["none", "zlib:1", "gzip:1"])
def test_a_flipped_byte_is_an_error_naming_the_file_never_a_value(root, spec):
    cas = ContentAddressedStore(LocalStorage(root), "F/data", compression=spec)
    data = b"2100000" * 1000
    sha = cas.save_blob(data)
    path = blob_path(root, cas, sha)
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    blob[-9] ^= 0x01  # inside the payload or deflate data, before any trailer
    overwrite(path, bytes(blob))
    for check in (cas.load_blob, cas.verify):
        with pytest.raises(MetaflowDataCorrupt) as err:
            check(sha)
        assert path in str(err.value)
        assert err.value.sha == sha


def test_a_write_over_a_damaged_blob_replaces_it(root):
    cas = ContentAddressedStore(LocalStorage(root), "F/data")
    data = pickle.dumps(2100000)
    sha = cas.save_blob(data)
    path = blob_path(root, cas, sha)
    overwrite(path, b"MFBn" + pickle.dumps(4200000))
    assert not cas.intact(sha)
    assert cas.save_blob(data) == sha
    assert pickle.loads(cas.load_blob(sha)) == 2100000
    assert temp_files(root) == []


def test_a_staged_file_is_moved_in_by_its_hash(root, tmp_path):
    cas = ContentAddressedStore(LocalStorage(root), "F/data")
    staged = tmp_path / "0.rds"
    staged.write_bytes(b"MFBn" + b"x" * 5000)
    sha = cas.save_file(str(staged))
    assert sha == hashlib.sha1(b"x" * 5000).hexdigest()
    assert not staged.exists()
    assert cas.load_blob(sha) == b"x" * 5000
    # The same bytes again: the intact stored copy is kept, the staged one dropped.
    staged.write_bytes(b"MFBn" + b"x" * 5000)
    assert cas.save_file(str(staged)) == sha
    assert not staged.exists()


def test_a_staged_file_is_compressed_into_place(root, tmp_path):
    cas = ContentAddressedStore(LocalStorage(root), "F/data", compression="gzip:1")
    staged = tmp_path / "0.rds"
    staged.write_bytes(b"MFBn" + b"y" * 100000)
    sha = cas.save_file(str(staged))
    with open(blob_path(root, cas, sha), "rb") as f:
        assert f.read(4) == b"MFBg"
    assert cas.load_blob(sha) == b"y" * 100000


def test_missing_blob_is_an_error(root):
    cas = ContentAddressedStore(LocalStorage(root), "F/data")
    with pytest.raises(MetaflowException, match="0" * 40):
        cas.load_blob("0" * 40)


# atomic writes

def test_no_temp_files_left_behind(flow_ds, root):
    for task in range(3):
        ds = write_attempt(flow_ds, "1", "start", str(task), 0, a=task, b="x" * 10000)
        with ds.open_log("stdout") as log:
            log.write(b"hello\n")
    flow_ds.set_latest_run("1")

    assert temp_files(root) == []


def test_failed_write_leaves_old_value_and_no_temp_file(root, monkeypatch):
    storage = LocalStorage(root)
    storage.save_bytes("F/key", b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(DatastoreAccessError, match="Could not write key in the directory"):
        storage.save_bytes("F/key", b"new")
    monkeypatch.undo()

    assert storage.load_bytes("F/key") == b"old"
    assert temp_files(root) == []


def test_overwrite_false_keeps_existing(root):
    storage = LocalStorage(root)
    storage.save_bytes("F/k", b"first")
    storage.save_bytes("F/k", b"second", overwrite=False)
    assert storage.load_bytes("F/k") == b"first"


def test_readers_see_whole_old_or_whole_new_value(root):
    storage = LocalStorage(root)
    values = [bytes([i]) * 2_000_000 for i in (1, 2)]
    storage.save_bytes("F/big", values[0])
    stop = threading.Event()

    def rewrite():
        i = 0
        while not stop.is_set():
            i += 1
            storage.save_bytes("F/big", values[i % 2])

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        seen = [storage.load_bytes("F/big") for _ in range(200)]
    finally:
        stop.set()
        writer.join()

    assert all(v in values for v in seen)


def test_data_json_is_written_before_done_lock(flow_ds):
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    ds.save_object("x", 42)
    order = []
    save_bytes = flow_ds.storage.save_bytes

    def recording(key, data, overwrite=True):
        if key.endswith("DONE.lock"):
            # data.json is already complete on disk, yet nobody may read it
            with pytest.raises(MetaflowDataMissing):
                flow_ds.task("1", "start", "1")
            with pytest.raises(MetaflowDataMissing):
                flow_ds.task("1", "start", "1", attempt=0)
        save_bytes(key, data, overwrite)
        order.append(key.rsplit("/", 1)[1])

    flow_ds.storage.save_bytes = recording
    ds.done()

    assert order == ["0.data.json", "0.DONE.lock"]
    assert flow_ds.task("1", "start", "1").load_object("x") == 42


def test_data_json_without_done_lock_is_not_readable(flow_ds, root):
    write_attempt(flow_ds, "1", "start", "1", 0, x=1)
    os.remove(os.path.join(root, FLOW, "1", "start", "1", "0.DONE.lock"))

    with pytest.raises(MetaflowDataMissing):
        flow_ds.task("1", "start", "1")
    with pytest.raises(MetaflowDataMissing, match="did not complete"):
        flow_ds.task("1", "start", "1", attempt=0)


def test_half_written_index_of_unfinished_attempt_is_ignored(flow_ds, root):
    write_attempt(flow_ds, "1", "start", "1", 0, x="from attempt 0")
    with open(os.path.join(root, FLOW, "1", "start", "1", "1.data.json"), "w") as f:
        f.write('{"version": 1, "objects": {"x": "ab')

    assert flow_ds.task("1", "start", "1").load_object("x") == "from attempt 0"


def test_index_format(flow_ds, root):
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    ds.save_object("x", 12)
    ds.set_control(task_ok=True, transition=[["a"], None])
    ds.done()

    with open(os.path.join(root, FLOW, "1", "start", "1", "0.data.json")) as f:
        index = json.load(f)
    assert index["version"] == 1 and index["attempt"] == 0
    assert index["objects"] == {"x": ds.sha("x")}
    assert index["info"]["x"] == {"size": len(pickle.dumps(12, protocol=4)), "type": "int",
                                  "encoding": "pickle"}
    assert index["control"] == {"task_ok": True, "transition": [["a"], None]}
    assert os.path.getsize(os.path.join(root, FLOW, "1", "start", "1", "0.DONE.lock")) == 0


def test_writing_needs_an_attempt(flow_ds):
    with pytest.raises(MetaflowException, match="attempt"):
        flow_ds.task("1", "start", "1", mode="w")


# encodings

def test_rds_bytes_are_stored_verbatim(flow_ds):
    # R's saveRDS output is gzip: it must come back as the same gzip bytes under any codec
    rds = gzip.compress(b"X\n\x00\x00\x00\x03\x00\x04\x03\x00" + bytes(range(256)))
    for spec in ("none", "gzip:6", "zlib:1"):
        flow_ds.ca_store = ContentAddressedStore(flow_ds.storage, FLOW + "/data", spec)
        ds = flow_ds.task("r" + spec, "start", "1", attempt=0, mode="w")
        ds.save_bytes("df", rds, "rds", "data.frame")
        ds.done()

        back = flow_ds.task("r" + spec, "start", "1")
        assert back.load_bytes("df") == rds
        assert back.encoding("df") == "rds"
        assert back.info["df"] == {"size": len(rds), "type": "data.frame", "encoding": "rds"}
        obj = back.load_object("df")
        assert isinstance(obj, RObject) and obj.rds_bytes == rds
        assert "%d bytes" % len(rds) in repr(obj)


def test_robject_round_trips_as_rds(flow_ds):
    write_attempt(flow_ds, "1", "start", "1", 0, r=RObject(b"raw R bytes"))
    back = flow_ds.task("1", "start", "1")
    assert back.encoding("r") == "rds"
    assert back.load_bytes("r") == b"raw R bytes"


def test_unknown_encoding_is_refused():
    with pytest.raises(MetaflowException, match="feather"):
        deserialize(b"", "feather")


def square_plus_one(x):
    return x * x + 1


def test_lambda_falls_back_to_cloudpickle(flow_ds):
    offset = 10

    def local_function(x):
        return x + offset

    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(lambda x: x, protocol=4)
    write_attempt(flow_ds, "1", "start", "1", 0, f=lambda x: x * 3, g=local_function,
                  h=square_plus_one)

    back = flow_ds.task("1", "start", "1")
    assert back.load_object("f")(2) == 6
    assert back.load_object("g")(1) == 11
    assert back.load_object("h")(3) == 10
    assert {back.encoding(n) for n in "fgh"} == {"pickle"}
    assert pickle.loads(back.load_bytes("f"))(5) == 15


@pytest.mark.parametrize("value", [threading.Lock(), (i for i in range(3))],
                         ids=["lock", "generator"])
def test_unpicklable_artifact_is_named(flow_ds, value):
    import cloudpickle

    with pytest.raises(Exception):
        cloudpickle.dumps(value)
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    with pytest.raises(UnpicklableArtifactException, match="my_handle"):
        ds.save_object("my_handle", value)
    assert "my_handle" not in ds


def test_serialize_reports_type_names():
    assert serialize("x", 1)[1:] == ("pickle", "int")
    assert serialize("x", collections.OrderedDict())[2] == "collections.OrderedDict"


# passdown

def test_passdown_copies_shas_without_writing_blobs(flow_ds, root, monkeypatch):
    write_attempt(flow_ds, "1", "a", "1", 0, x=[1, 2, 3], y="why", z=0)
    parent = flow_ds.task("1", "a", "1")
    before = blob_files(root)

    def no_writes(*args, **kwargs):
        raise AssertionError("passdown wrote a blob")

    monkeypatch.setattr(flow_ds.ca_store, "save_blob", no_writes)
    monkeypatch.setattr(flow_ds.storage, "open_append", no_writes)
    child = flow_ds.task("1", "b", "2", attempt=0, mode="w")
    child.passdown(parent)
    monkeypatch.undo()
    child.done()

    assert blob_files(root) == before
    back = flow_ds.task("1", "b", "2")
    assert back.objects == parent.objects
    assert back.info == parent.info
    assert back.load_object("x") == [1, 2, 3]


def test_passdown_keeps_own_artifacts_and_honours_names(flow_ds):
    write_attempt(flow_ds, "1", "a", "1", 0, x=1, y=2, z=3)
    parent = flow_ds.task("1", "a", "1")

    child = flow_ds.task("1", "b", "2", attempt=0, mode="w")
    child.save_object("x", "mine")
    child.passdown(parent, names=["x", "y"])
    child.done()

    back = flow_ds.task("1", "b", "2")
    assert sorted(back.keys()) == ["x", "y"]
    assert back.load_object("x") == "mine"
    assert back.sha("y") == parent.sha("y")


# attempts

def test_latest_done_attempt_is_read(flow_ds):
    write_attempt(flow_ds, "1", "start", "1", 0, x="zero")
    write_attempt(flow_ds, "1", "start", "1", 1, x="one")
    unfinished = flow_ds.task("1", "start", "1", attempt=2, mode="w")
    unfinished.save_object("x", "two")
    flow_ds.storage.save_bytes(unfinished._key("data.json"), b"{}")

    latest = flow_ds.task("1", "start", "1")
    assert latest.attempt == 1
    assert latest.load_object("x") == "one"
    assert latest.done_attempts() == [0, 1]
    assert flow_ds.task("1", "start", "1", attempt=0).load_object("x") == "zero"
    with pytest.raises(MetaflowDataMissing):
        flow_ds.task("1", "start", "1", attempt=2)


def test_attempts_are_ordered_as_numbers(flow_ds):
    for attempt in (2, 9, 10):
        write_attempt(flow_ds, "1", "start", "1", attempt, x=attempt)
    assert flow_ds.task("1", "start", "1").load_object("x") == 10


def test_task_without_attempts_is_missing(flow_ds):
    with pytest.raises(MetaflowDataMissing, match="1/start/7"):
        flow_ds.task("1", "start", "7")


def test_missing_artifact(flow_ds):
    write_attempt(flow_ds, "1", "start", "1", 0, x=1)
    ds = flow_ds.task("1", "start", "1")
    assert "x" in ds and "nope" not in ds
    with pytest.raises(MetaflowDataMissing, match="nope"):
        ds.load_bytes("nope")


def test_task_ids_skip_meta(flow_ds, root):
    for task in ("3", "4"):
        write_attempt(flow_ds, "1", "start", task, 0, x=1)
    os.makedirs(os.path.join(root, FLOW, "1", "start", "_meta"))
    assert sorted(flow_ds.task_ids("1", "start")) == ["3", "4"]
    assert flow_ds.task_ids("1", "nostep") == []


# logs

def test_logs_append_and_load(flow_ds, root):
    ds = flow_ds.task("1", "start", "1", attempt=1, mode="w")
    with ds.open_log("stdout") as log:
        log.write(b"line one\n")
    with ds.open_log("stdout") as log:
        log.write(b"line two\n")
    with ds.open_log("stderr") as log:
        log.write("warning: é\n".encode())

    assert os.path.isfile(os.path.join(root, FLOW, "1", "start", "1", "1.stdout.log"))
    assert ds.load_log("stdout") == b"line one\nline two\n"
    assert ds.load_log("stderr").decode() == "warning: é\n"
    assert ds.load_log("stdout", attempt=0) == b""
    write_attempt(flow_ds, "1", "start", "1", 1)
    assert flow_ds.task("1", "start", "1").load_log("stdout") == b"line one\nline two\n"


def test_log_is_readable_while_being_written(flow_ds):
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    with ds.open_log("stdout") as log:
        log.write(b"partial")
        assert ds.load_log("stdout") == b"partial"


# latest_run

def test_latest_run(flow_ds, root):
    assert flow_ds.get_latest_run() is None
    flow_ds.set_latest_run(1700000000123456)
    assert flow_ds.get_latest_run() == "1700000000123456"
    flow_ds.set_latest_run("42")
    assert flow_ds.get_latest_run() == "42"
    with open(os.path.join(root, FLOW, "latest_run")) as f:
        assert f.read().strip() == "42"


def test_flow_datastore_describes_its_root(flow_ds, root):
    assert flow_ds.ds_type == "local"
    assert flow_ds.ds_root == root


# concurrency across processes

def _blob(i):
    return hashlib.sha256(str(i).encode()).digest() * 40000


def _save_same_blobs(root, count, barrier):
    cas = ContentAddressedStore(LocalStorage(root), FLOW + "/data", compression="none")
    barrier.wait()
    shas = [cas.save_blob(_blob(i)) for i in range(count)]
    # and again with overwrite, so that several os.replace calls race on one key
    for sha in shas:
        key = cas.key(sha)
        cas.storage.save_bytes(key, cas.storage.load_bytes(key))


def test_concurrent_writers_of_same_blobs_leave_one_valid_blob(root):
    ctx = multiprocessing.get_context("spawn")
    processes, count = 4, 6
    barrier = ctx.Barrier(processes)
    workers = [ctx.Process(target=_save_same_blobs, args=(root, count, barrier))
               for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * processes

    cas = ContentAddressedStore(LocalStorage(root), FLOW + "/data")
    expected = {hashlib.sha1(_blob(i)).hexdigest(): _blob(i) for i in range(count)}
    assert [os.path.basename(p) for p in blob_files(root)] == sorted(expected)
    assert {sha: cas.load_blob(sha) for sha in expected} == expected
    assert temp_files(root) == []


def test_a_zstd_blob_cut_short_is_damaged(root):
    storage = LocalStorage(root)
    cas = ContentAddressedStore(storage, "F/data", compression="zstd")
    sha = cas.save_blob(os.urandom(1000) * 50)
    path = blob_path(root, cas, sha)
    with open(path, "rb") as f:
        raw = f.read()
    overwrite(path, raw[:-10])

    with pytest.raises(MetaflowDataCorrupt, match="cut short"):
        cas.load_blob(sha)


def test_zstd_without_zstandard_says_what_to_install(root, tmp_path):
    # A Python where zstandard can't be imported: a module of that name that fails.
    (tmp_path / "zstandard.py").write_text("raise ImportError('not here')\n")
    code = ("from metaflow_core.datastore.cas import parse_compression\n"
            "from metaflow_core.exceptions import MetaflowException\n"
            "try:\n    parse_compression('zstd:1')\n"
            "except MetaflowException as err:\n    print(err)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)

    assert "pip install zstandard" in done.stdout, done.stderr


def test_local_save_new_creates_once(tmp_path):
    storage = LocalStorage(str(tmp_path / ".metaflow"))
    assert storage.save_new("F/1/_meta/claim", b"first") is True
    assert storage.save_new("F/1/_meta/claim", b"second") is False
    assert storage.load_bytes("F/1/_meta/claim") == b"first"


def test_copy_blob_to_streams_the_stored_blob_as_stored(tmp_path):
    flow_ds = FlowDataStore("F", ds_root=str(tmp_path / ".metaflow"))
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    ds.save_object("x", list(range(1000)))
    ds.done()
    ds = flow_ds.task("1", "start", "1")
    ds.copy_blob_to("x", str(tmp_path / "copy"))
    with open(ds.local_path("x"), "rb") as stored:
        assert (tmp_path / "copy").read_bytes() == stored.read()
