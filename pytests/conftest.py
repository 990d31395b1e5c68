"""Fixtures shared by the test files under pytests/."""

import pytest


@pytest.fixture
def open_client(monkeypatch):
    """``open_client(root)``: the client, reading the runs whose datastore is under root.

    Points ``METAFLOW_DATASTORE_SYSROOT_LOCAL`` at root for this test only and
    puts the client back in its default namespace and location afterwards.
    """
    from metaflow_core import client

    def _open(root):
        monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(root))
        client.default_metadata()
        client.default_namespace()
        return client

    yield _open
    client.default_metadata()
    client.default_namespace()


# AWS variables a developer's shell may have that would point the tests elsewhere.
_AWS_VARIABLES = ("AWS_PROFILE", "METAFLOW_AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
                  "METAFLOW_AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                  "METAFLOW_S3_RETRY_COUNT", "METAFLOW_S3_WORKERS", "AWS_RETRY_MODE",
                  "AWS_MAX_ATTEMPTS")


@pytest.fixture(scope="module")
def moto_process(request):
    """One moto server for the test module that asks for it; always stopped. A module
    with ``MOTO_COMPUTE = True`` gets one whose Batch jobs run (moto_compute.py)."""
    from moto_server import MotoServer

    with MotoServer(compute=getattr(request.module, "MOTO_COMPUTE", False)) as server:
        yield server


@pytest.fixture
def moto_server(moto_process, monkeypatch):
    """The module's moto server, emptied, with bucket ``metaflow-test`` made and the
    environment (for this process and its subprocesses) pointing at it."""
    moto_process.reset()
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_process.env().items():
        monkeypatch.setenv(name, value)
    moto_process.make_bucket()
    yield moto_process
