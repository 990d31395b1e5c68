"""Metadata: flows, runs, steps, tasks, attempts and tags."""

from .local import FAILED, RUNNING, SUCCEEDED, LocalMetadataProvider


def get_metadata_provider(md_type="local", root=None, storage=None):
    """The provider keeping its records in ``storage`` (a ``Storage``), or in the
    local datastore at ``root`` (found as Metaflow does when None)."""
    from ..exceptions import MetaflowException

    if md_type != "local":
        raise MetaflowException("Unknown metadata provider *%s*. Supported: local." % md_type)
    if storage is None and root is None:
        from ..datastore.storage import LocalStorage

        root = LocalStorage.find_root()
    return LocalMetadataProvider(root, storage)
