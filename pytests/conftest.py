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
