"""S3 transfers through a loopback proxy that fails, throttles, resets or cuts
short the first attempts of chosen requests: every blob still arrives whole
(read back and checked against its hash), and what keeps failing is a headline
error with nothing partial left visible."""

import hashlib
import os

import pytest

from fault_proxy import Fault, FaultProxy
from metaflow_core.datastore.cas import ContentAddressedStore
from metaflow_core.datastore.flow_datastore import FlowDataStore
from metaflow_core.exceptions import MetaflowS3Error
from metaflow_core.plugins.aws.s3_storage import S3Storage


@pytest.fixture(scope="module")
def proxy(moto_process):
    with FaultProxy(moto_process.port) as running:
        yield running


@pytest.fixture
def storage(moto_server, proxy, monkeypatch):
    """An S3Storage that talks to moto through the proxy, with no faults yet."""
    proxy.set_faults([])
    proxy.injected = dict.fromkeys(proxy.injected, 0)
    monkeypatch.setenv("METAFLOW_S3_ENDPOINT_URL", proxy.endpoint)
    monkeypatch.setenv("METAFLOW_S3_RETRY_COUNT", "5")
    return S3Storage("s3://metaflow-test/faults")


def payloads(count, size=2000):
    return [os.urandom(size) + b"%d" % i for i in range(count)]


def test_puts_survive_throttling(storage, proxy):
    cas = ContentAddressedStore(storage, "F/data")
    blobs = payloads(12)
    proxy.set_faults([Fault("503", "PUT", times=2)])

    shas = cas.save_blobs(blobs)

    assert proxy.injected["503"] == 2 * len(blobs)
    proxy.set_faults([])
    assert shas == [hashlib.sha1(b).hexdigest() for b in blobs]
    assert cas.load_blobs(shas) == blobs


def test_reads_survive_resets_and_5xx(storage, proxy):
    cas = ContentAddressedStore(storage, "F/data")
    blobs = payloads(8)
    shas = cas.save_blobs(blobs)
    proxy.set_faults([Fault("reset", "GET", "|".join(shas[:4]), times=2),
                      Fault("500", "GET", "|".join(shas[4:]), times=1)])

    assert cas.load_blobs(shas) == blobs
    assert proxy.injected["reset"] == 2 * 4 and proxy.injected["500"] == 4


def test_a_body_cut_short_is_resumed_where_it_stopped(storage, proxy):
    cas = ContentAddressedStore(storage, "F/data")
    blob = os.urandom(3 * 1024 * 1024)
    sha = cas.save_blob(blob)
    proxy.set_faults([Fault("truncate", "GET", r"/F/data/", times=2)])

    assert cas.load_blob(sha) == blob
    assert proxy.injected["truncate"] == 2


def test_a_multipart_upload_survives_reset_parts(storage, proxy):
    part = os.urandom(1024 * 1024)
    proxy.set_faults([Fault("reset", "PUT", r"partNumber=", times=1),
                      Fault("503", "POST", r"uploads", times=1)])

    storage.save_bytes("big", (part for _ in range(40)))

    assert proxy.injected["reset"] == 3 and proxy.injected["503"] >= 1
    proxy.set_faults([])
    with storage.open_read("big") as f:
        digest = hashlib.sha1()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha1(part * 40).hexdigest()


def test_listing_and_lookups_survive_5xx(storage, proxy):
    storage.save_bytes("d/a", b"1")
    storage.save_bytes("d/e/b", b"2")
    proxy.set_faults([Fault("500", "GET", r"list-type=2", times=2),
                      Fault("503", "HEAD", times=2)])

    assert sorted(storage.list_dir("d")) == [("a", True), ("e", False)]
    assert storage.is_file("d/a")
    assert proxy.injected["500"] == 2 and proxy.injected["503"] == 2


def test_a_task_datastore_round_trip_with_every_request_failing_once(storage, proxy):
    flow_ds = FlowDataStore("FaultFlow", storage=storage)
    values = {"x%d" % i: list(range(i * 100)) for i in range(3)}
    proxy.set_faults([Fault("503", None, times=1)])

    ds = flow_ds.task("1", "start", "1", attempt=0, mode="w")
    for name, value in values.items():
        ds.save_object(name, value)
    ds.done()
    back = flow_ds.task("1", "start", "1")

    assert {name: back.load_object(name) for name in values} == values
    assert proxy.injected["503"] > 2 * len(values)


def test_a_put_that_keeps_failing_is_a_headline_error_and_leaves_nothing(storage, proxy,
                                                                        monkeypatch):
    monkeypatch.setenv("METAFLOW_S3_RETRY_COUNT", "2")
    storage = S3Storage("s3://metaflow-test/faults")
    proxy.set_faults([Fault("503", "PUT", times=100)])

    with pytest.raises(MetaflowS3Error, match="s3://metaflow-test/faults/k") as err:
        storage.save_bytes("k", b"value")

    assert err.value.code == "SlowDown"
    proxy.set_faults([])
    assert not storage.is_file("k")


def test_a_multipart_upload_that_fails_leaves_no_object(storage, proxy):
    part = os.urandom(1024 * 1024)
    proxy.set_faults([Fault("reset", "PUT", r"partNumber=2", times=100)])

    with pytest.raises(MetaflowS3Error, match="big"):
        storage.save_bytes("big", (part for _ in range(40)))

    proxy.set_faults([])
    assert not storage.is_file("big")
    assert storage.list_dir("") == []
    # The parts that did go up were thrown away with the upload.
    uploads = storage.client.list_multipart_uploads(Bucket="metaflow-test")
    assert uploads.get("Uploads", []) == []


def test_a_read_cut_short_every_time_is_a_headline_error(storage, proxy):
    storage.save_bytes("cut", os.urandom(100000))
    proxy.set_faults([Fault("truncate", "GET", r"/cut", times=100)])

    with pytest.raises(MetaflowS3Error, match="part way through"):
        storage.load_bytes("cut")


def test_a_large_read_in_parallel_ranges_survives_cut_and_reset_ranges(storage, proxy):
    data = os.urandom(40 * 1024 * 1024)
    storage.save_bytes("large", data)
    proxy.set_faults([Fault("truncate", "GET", r"/large", times=2)])

    assert storage.load_bytes("large") == data
    assert proxy.injected["truncate"] == 2


def test_a_staged_file_goes_up_through_reset_parts_and_throttling(storage, proxy, tmp_path):
    cas = ContentAddressedStore(storage, "F/data")
    payload = os.urandom(1024 * 1024) * 36
    path = tmp_path / "staged"
    path.write_bytes(b"MFBn" + payload)
    proxy.set_faults([Fault("reset", "PUT", r"partNumber=[13](&|$)", times=1),
                      Fault("503", "PUT", r"partNumber=2(&|$)", times=2)])

    sha = cas.save_file(str(path))

    assert proxy.injected["reset"] == 2 and proxy.injected["503"] == 2
    assert not path.exists()
    proxy.set_faults([])
    cas.verify(sha)
    assert sha == hashlib.sha1(payload).hexdigest()
