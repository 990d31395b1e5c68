"""Moving the layout of earlier versions of the engine into ``ENGINE_DIR``.

Up to version 0.1 the engine kept its flows in ``.metaflow/<Flow>/`` itself, where
Netflix's Metaflow keeps its own. The first time a ``.metaflow`` directory without
``ENGINE_DIR`` is used, what the engine wrote there moves in: its runs (a run
directory whose ``_meta`` has ``status.json``, which Netflix's Metaflow never
writes) and its blobs (files that start with the blob header). Netflix's runs and
blobs stay where they are. Everything is renamed within one filesystem, so nothing
is copied and a reader sees each file in one place or the other.
"""

import os
import shutil

from ..exceptions import DatastoreAccessError
from .cas import MAGIC

META = "_meta"
LATEST_RUN = "latest_run"


def _is_our_run(path):
    return os.path.isfile(os.path.join(path, META, "status.json"))


def _is_our_blob(path):
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _our_blobs(flow_dir):
    data = os.path.join(flow_dir, "data")
    if not os.path.isdir(data):
        return []
    return [os.path.join("data", shard, name)
            for shard in sorted(os.listdir(data)) if os.path.isdir(os.path.join(data, shard))
            for name in sorted(os.listdir(os.path.join(data, shard)))
            if _is_our_blob(os.path.join(data, shard, name))]


def _our_entries(flow_dir):
    """What of ``flow_dir`` this engine wrote, as paths relative to it."""
    runs = [name for name in sorted(os.listdir(flow_dir))
            if name.isdigit() and _is_our_run(os.path.join(flow_dir, name))]
    return runs, _our_blobs(flow_dir)


def _move(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.rename(src, dst)


def _adopt_flow(flow_dir, target):
    runs, blobs = _our_entries(flow_dir)
    if not runs and not blobs:
        return False
    for rel in runs + blobs:
        _move(os.path.join(flow_dir, rel), os.path.join(target, rel))
    meta = os.path.join(flow_dir, META)
    if os.path.isdir(meta):
        shutil.copytree(meta, os.path.join(target, META))
    latest = os.path.join(flow_dir, LATEST_RUN)
    named = None
    if os.path.isfile(latest):
        with open(latest) as f:
            named = f.read().strip()
    if runs:
        # The file is shared with Netflix's Metaflow, which may have written it last.
        with open(os.path.join(target, LATEST_RUN), "w") as f:
            f.write(named if named in runs else max(runs, key=int))
    return True


def _merge(src, dst):
    """Move the files of ``src`` into ``dst``, which another process made meanwhile."""
    for dirpath, _, filenames in os.walk(src):
        for name in filenames:
            path = os.path.join(dirpath, name)
            target = os.path.join(dst, os.path.relpath(path, src))
            if not os.path.exists(target):
                _move(path, target)
    shutil.rmtree(src, ignore_errors=True)


def adopt_legacy_layout(dot_dir, root):
    """Move this engine's earlier files in ``dot_dir`` into ``root`` (``ENGINE_DIR``)."""
    staging = "%s.adopting-%d" % (root, os.getpid())
    try:
        flows = [name for name in sorted(os.listdir(dot_dir))
                 if not name.startswith(".") and os.path.isdir(os.path.join(dot_dir, name))]
        adopted = [name for name in flows
                   if _adopt_flow(os.path.join(dot_dir, name), os.path.join(staging, name))]
        if not adopted:
            return
        try:
            os.rename(staging, root)
        except OSError:
            if not os.path.isdir(root):
                raise
            _merge(staging, root)
    except OSError as err:
        raise DatastoreAccessError(
            "Could not move the runs an earlier version of metaflow kept in %s into %s: %s. "
            "Make the directory writable, or move them there yourself."
            % (dot_dir, root, err.strerror or err)
        ) from None
