"""Output directories of R steps, where R writes the artifacts it assigned.

Each attempt of an R step gets a directory of its own under the datastore's
staging directory (``storage.staging_dir()``, on the store's filesystem), so an
artifact file R wrote moves into the store by a rename. The step removes its
directory whatever ends it; a task process killed outright can't, so each new
directory sweeps away those of task processes that are gone. The directory's
name carries its task process's pid for that.
"""

import os
import shutil
import tempfile

from ..exceptions import MetaflowException

PREFIX = "mf-r-"


def make_output_dir(store):
    """A new output directory under ``store``'s staging directory (the system's
    temporary directory without a store)."""
    try:
        if store is None:
            return tempfile.mkdtemp(prefix=PREFIX)
        parent = store.storage.staging_dir()
        sweep_stale(parent)
        return tempfile.mkdtemp(prefix="%s%d-" % (PREFIX, os.getpid()), dir=parent)
    except OSError as err:
        raise MetaflowException(
            "Can't make a directory for the R step's artifacts in %s: %s."
            % (err.filename or "the datastore's staging directory", err.strerror))


def sweep_stale(parent):
    """Remove the output directories in ``parent`` whose task process has exited."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        pid = _owner(name)
        if pid is not None and not _alive(pid):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _owner(name):
    if not name.startswith(PREFIX):
        return None
    head = name[len(PREFIX):].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
