"""S3Storage against moto's real server on loopback: the Storage interface, the
content-addressed store on it, configuration and its errors."""

import hashlib
import os
import subprocess
import sys

import pytest

from metaflow_core.datastore.cas import ContentAddressedStore
from metaflow_core.datastore.flow_datastore import FlowDataStore
from metaflow_core.datastore.storage import get_storage
from metaflow_core.exceptions import MetaflowDataCorrupt, MetaflowS3Error
from metaflow_core.plugins.aws import aws_config
from metaflow_core.plugins.aws.s3_storage import S3Storage, parse_s3_url


@pytest.fixture
def storage(moto_server):
    return get_storage("s3")


def raw_client():
    return aws_config.client("s3")


def test_get_storage_s3_uses_the_sysroot(storage):
    assert isinstance(storage, S3Storage)
    assert storage.root == "s3://metaflow-test/metaflow"
    assert storage.describe() == "s3@s3://metaflow-test/metaflow"


def test_bytes_round_trip_under_the_prefix(storage):
    storage.save_bytes("Flow/latest_run", b"17")

    assert storage.load_bytes("Flow/latest_run") == b"17"
    assert storage.is_file("Flow/latest_run")
    assert not storage.is_file("Flow/other")
    assert storage.load_bytes("Flow/other") is None
    assert storage.open_read("Flow/other") is None
    got = raw_client().get_object(Bucket="metaflow-test", Key="metaflow/Flow/latest_run")
    assert got["Body"].read() == b"17"


def test_chunks_are_stored_as_one_object(storage):
    storage.save_bytes("k", [b"MFBn", b"x" * 1000, memoryview(b"yz")])

    assert storage.load_bytes("k") == b"MFBn" + b"x" * 1000 + b"yz"


def test_a_generator_larger_than_a_part_goes_up_in_parts(storage):
    part = os.urandom(1 << 20)
    total = 40  # MB, above the multipart threshold

    storage.save_bytes("big", (part for _ in range(total)))

    head = raw_client().head_object(Bucket="metaflow-test", Key="metaflow/big")
    assert head["ContentLength"] == total * len(part)
    assert "-" in head["ETag"]  # a multipart upload's ETag
    with storage.open_read("big") as f:
        digest = hashlib.sha1()
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha1(part * total).hexdigest()


def test_overwrite_false_keeps_what_is_there(storage):
    storage.save_bytes("k", b"first")
    storage.save_bytes("k", b"second", overwrite=False)

    assert storage.load_bytes("k") == b"first"


def test_save_file_uploads_then_removes_the_file(storage, tmp_path):
    path = tmp_path / "staged"
    path.write_bytes(b"MFBn" + b"payload")

    storage.save_file("Flow/data/ab/abc", str(path))

    assert not path.exists()
    assert storage.load_bytes("Flow/data/ab/abc") == b"MFBn" + b"payload"


def test_list_dir_names_files_and_folders_directly_under(storage):
    for key in ("F/1/start/1/0.data.json", "F/1/start/1/0.DONE.lock", "F/1/start/2/0.DONE.lock",
                "F/1/_parameters/0/0.DONE.lock", "F/1/run.json"):
        storage.save_bytes(key, b"")

    assert sorted(storage.list_dir("F/1")) == [("_parameters", False), ("run.json", True),
                                               ("start", False)]
    assert sorted(storage.list_dir("F/1/start/1")) == [("0.DONE.lock", True),
                                                       ("0.data.json", True)]
    assert storage.list_dir("F/nothing") == []


def test_open_append_goes_up_on_close_after_what_was_there(storage):
    storage.save_bytes("log", b"one\n")
    handle = storage.open_append("log")
    handle.write(b"two\n")
    handle.write(b"three\n")
    assert storage.load_bytes("log") == b"one\n"

    handle.close()

    assert storage.load_bytes("log") == b"one\ntwo\nthree\n"
    assert not os.path.exists(handle.name)


def test_staging_dir_is_local_and_writable(storage):
    path = storage.staging_dir()

    assert os.path.isdir(path) and os.access(path, os.W_OK)


def test_many_at_once_keep_their_order(storage):
    items = [("many/%03d" % i, b"value %d" % i) for i in range(50)]

    storage.save_many(items)

    assert storage.load_many([k for k, _ in items] + ["many/none"]) == (
        [v for _, v in items] + [None])


def test_the_content_addressed_store_verifies_blobs_from_s3(storage):
    flow_ds = FlowDataStore("S3Flow", storage=storage)
    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    ds.save_object("x", {"a": [1, 2, 3]})
    ds.done()

    back = flow_ds.task("1", "start", "1")
    assert back.load_object("x") == {"a": [1, 2, 3]}
    assert flow_ds.task_ids("1", "start") == ["1"]

    key = flow_ds.ca_store.key(back.sha("x"))
    storage.save_bytes(key, b"MFBn" + b"tampered")
    with pytest.raises(MetaflowDataCorrupt, match="s3://metaflow-test/metaflow/S3Flow/data/"):
        flow_ds.task("1", "start", "1").load_object("x")


def test_blobs_in_parallel_through_the_store(storage):
    cas = ContentAddressedStore(storage, "P/data")
    payloads = [os.urandom(100 + i) for i in range(40)]

    shas = cas.save_blobs(payloads)

    assert shas == [hashlib.sha1(p).hexdigest() for p in payloads]
    assert cas.load_blobs(shas) == payloads


def test_a_staged_file_moves_into_the_store(storage, tmp_path):
    cas = ContentAddressedStore(storage, "P/data")
    path = tmp_path / "staged"
    path.write_bytes(b"MFBn" + b"R bytes")

    sha = cas.save_file(str(path))

    assert sha == hashlib.sha1(b"R bytes").hexdigest()
    assert cas.load_blob(sha) == b"R bytes"
    assert not path.exists()


def test_a_compressed_store_on_s3(storage):
    cas = ContentAddressedStore(storage, "Z/data", compression="zlib:1")
    sha = cas.save_blob(b"abc" * 10000)

    assert cas.load_blob(sha) == b"abc" * 10000
    assert len(storage.load_bytes(cas.key(sha))) < 1000


# configuration and its errors

def test_the_sysroot_is_required(monkeypatch):
    monkeypatch.delenv("METAFLOW_DATASTORE_SYSROOT_S3", raising=False)

    with pytest.raises(MetaflowS3Error, match="METAFLOW_DATASTORE_SYSROOT_S3"):
        get_storage("s3")


@pytest.mark.parametrize("url", ["bucket/prefix", "s3://", "/local/path"])
def test_a_root_must_be_an_s3_url(url):
    with pytest.raises(MetaflowS3Error, match="s3://"):
        parse_s3_url(url)


def test_parse_s3_url():
    assert parse_s3_url("s3://b/p/q/") == ("b", "p/q")
    assert parse_s3_url("s3://b") == ("b", "")


def test_a_missing_bucket_says_so(moto_server):
    storage = S3Storage("s3://no-such-bucket/x")

    with pytest.raises(MetaflowS3Error, match="no-such-bucket") as err:
        storage.save_bytes("k", b"v")
    assert err.value.code == "NoSuchBucket"
    assert err.value.retry_helps is False


def test_endpoints_follow_metaflow_then_boto3(monkeypatch):
    for name in ("METAFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_BATCH"):
        monkeypatch.delenv(name, raising=False)
    assert aws_config.endpoint_url("s3") is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://all")
    assert aws_config.endpoint_url("s3") == "http://all"
    assert aws_config.endpoint_url("batch") == "http://all"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3only")
    assert aws_config.endpoint_url("s3") == "http://s3only"
    monkeypatch.setenv("METAFLOW_S3_ENDPOINT_URL", "http://metaflow")
    assert aws_config.endpoint_url("s3") == "http://metaflow"
    monkeypatch.setenv("AWS_ENDPOINT_URL_BATCH", "http://batch")
    assert aws_config.endpoint_url("batch") == "http://batch"


def test_regions_and_retries_come_from_the_environment(monkeypatch):
    for name in ("METAFLOW_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_RETRY_MODE",
                 "AWS_MAX_ATTEMPTS", "METAFLOW_S3_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert aws_config.region() == "eu-west-1"
    monkeypatch.setenv("METAFLOW_S3_RETRY_COUNT", "3")
    assert aws_config.retry_config() == {"mode": "standard", "total_max_attempts": 3}
    monkeypatch.setenv("METAFLOW_S3_RETRY_COUNT", "zero")
    with pytest.raises(MetaflowS3Error, match="METAFLOW_S3_RETRY_COUNT"):
        aws_config.retry_config()


def test_an_unknown_profile_is_a_headline_error(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-here")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

    with pytest.raises(MetaflowS3Error, match="no-such-profile-here"):
        aws_config.session()


def test_missing_credentials_are_a_headline_error(moto_server, tmp_path):
    code = ("from metaflow_core.datastore.storage import get_storage\n"
            "from metaflow_core.exceptions import MetaflowS3Error\n"
            "try:\n    get_storage('s3').save_bytes('k', b'v')\n"
            "except MetaflowS3Error as err:\n    print(err)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    # No file or instance role either: the metadata service is switched off.
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(
        tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")

    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)

    assert "no AWS credentials were found" in done.stdout, done.stderr


def test_a_local_run_never_imports_boto3():
    code = ("import sys\nfrom metaflow_core.datastore.storage import get_storage, STORAGE_TYPES\n"
            "import metaflow_core.cli, metaflow_core.runtime, metaflow_core.task\n"
            "assert 's3' in STORAGE_TYPES\n"
            "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))")

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)

    assert done.stdout.strip() == "[]"
