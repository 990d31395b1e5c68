"""Small helpers shared by every module: identity, atomic files, JSON."""

import getpass
import itertools
import json
import os
import time

from .exceptions import MetaflowUnknownUser

_tmp_counter = itertools.count()


def get_username():
    """The user a run belongs to, as Metaflow resolves it, but never failing on root.

    Metaflow skips ``root`` and gives up; containers and CI run as root, so we
    fall back to the login name rather than refusing to run.
    """
    for var in ("METAFLOW_USER", "SUDO_USER", "USERNAME", "USER"):
        user = os.environ.get(var)
        if user and user != "root":
            return user
    try:
        return getpass.getuser()
    except Exception:
        raise MetaflowUnknownUser(
            "Metaflow could not determine your user name based on environment "
            "variables ($USERNAME etc.). Set METAFLOW_USER."
        )


def now_ms():
    return int(time.time() * 1000)


def atomic_write(path, data):
    """Write bytes so that readers see either nothing or the whole file.

    ``data`` is bytes or an iterable of bytes-like chunks, written in turn (so a
    header and a large payload are never joined in memory)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    # Not tempfile: it costs every task process several milliseconds of imports.
    tmp = os.path.join(directory, ".tmp.%d.%d.%s" % (os.getpid(), next(_tmp_counter),
                                                    os.path.basename(path)))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                for chunk in data:
                    f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_move(src, path):
    """Put the file ``src`` at ``path`` atomically, consuming ``src``: renamed
    when both are on one filesystem, else copied in pieces next to ``path`` first."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    try:
        os.replace(src, path)
        return
    except OSError as err:
        import errno

        if err.errno != errno.EXDEV:
            raise

    def chunks():
        with open(src, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    return
                yield chunk

    atomic_write(path, chunks())
    os.unlink(src)


def write_json(path, obj):
    atomic_write(path, json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def read_json(path, default=None):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return default

