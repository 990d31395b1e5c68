"""Output directories of R steps, where R writes the artifacts it assigned.

Each attempt of an R step gets a directory of its own under the datastore's
staging directory (``storage.staging_dir()``, on the store's filesystem), so an
artifact file R wrote moves into the store by a rename. The step removes its
directory whatever ends it; a task process killed outright can't, so each new
directory sweeps away those of task processes that are gone. The directory's
name carries its task process's pid and host for that (a datastore on a shared
filesystem may have other machines' steps in it, which are left alone).
"""

import os
import shutil
import socket
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
        return tempfile.mkdtemp(prefix="%s%d@%s-" % (PREFIX, os.getpid(), _host()), dir=parent)
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


def _host():
    return socket.gethostname().replace("/", "_")


def _owner(name):
    """The pid of the task process of this host that made directory ``name``, or None."""
    if not name.startswith(PREFIX):
        return None
    pid, _, rest = name[len(PREFIX):].partition("@")
    if not pid.isdigit() or rest.rsplit("-", 1)[0] != _host():
        return None
    return int(pid)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
