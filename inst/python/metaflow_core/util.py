"""Small helpers shared by every module: identity, atomic files, JSON."""

import getpass
import itertools
import json
import os
import time

from .exceptions import DatastoreAccessError, MetadataCorrupt, MetaflowUnknownUser

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


def access_error(err, action, path):
    """An OSError of reading or writing ``path`` as the headline error a user reads:
    what could not be done, where, and why (read-only, full, not permitted)."""
    reason = err.strerror or str(err)
    if action in ("create", "list"):
        what = "%s the directory %s" % (action, path)
    else:
        what = "%s %s in the directory %s" % (action, os.path.basename(path),
                                                os.path.dirname(path))
    return DatastoreAccessError("Could not %s: %s." % (what, reason), path=path, action=action,
                                errno=err.errno)


def make_dirs(path):
    """``os.makedirs``, failing with a headline error that names the directory."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise access_error(err, "create", path) from None


def atomic_write(path, data, durable=False):
    """Write bytes so that readers see either nothing or the whole file.

    ``data`` is bytes or an iterable of bytes-like chunks, written in turn (so a
    header and a large payload are never joined in memory). ``durable`` also
    syncs the file to disk before it takes its name, so that a crash of the
    machine can't leave a named but empty file. A failure (read-only, full disk)
    leaves the old file as it was and is a headline error naming the file."""
    directory = os.path.dirname(path)
    make_dirs(directory)
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
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise access_error(err, "write", path) from None
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
    atomic_write(path, json.dumps(obj, separators=(",", ":")).encode("utf-8"), durable=True)


def read_json(path, default=None, owner=None):
    """The JSON object in the file ``path``, or ``default`` when there is no file.

    A file that isn't a JSON object (truncated, overwritten, empty) is a
    MetadataCorrupt naming the file and ``owner`` (what it belongs to, e.g.
    "run HelloFlow/12"); a file that can't be read, a DatastoreAccessError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return default
    except OSError as err:
        raise access_error(err, "read", path) from None
    return parse_json_record(raw, path, owner)


def parse_json_record(raw, path, owner=None):
    """``raw`` (the bytes of the file ``path``) as a JSON object, else MetadataCorrupt."""
    try:
        record = json.loads(raw)
    except ValueError as err:
        problem = "it is empty" if not raw.strip() else "it is not valid JSON (%s)" % err
        record = None
    else:
        problem = None if isinstance(record, dict) else (
            "it holds a JSON %s, not an object" % type(record).__name__)
    if problem:
        raise corrupt_metadata(path, owner, problem)
    return record


def corrupt_metadata(path, owner, problem):
    of = " of %s" % owner if owner else ""
    return MetadataCorrupt(
        "The metadata file %s%s is damaged: %s. Delete the run or restore the file "
        "from a backup; nothing reads it as it is." % (path, of, problem),
        path=path, owner=owner,
    )

