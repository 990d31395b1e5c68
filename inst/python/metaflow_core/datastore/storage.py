"""Storage backends: where bytes live, addressed by '/'-separated keys.

Everything above this layer (the content-addressed store, task datastores, the
client) talks to a ``Storage``; the local filesystem is one implementation and
S3 is another. A backend must make every single-key write atomic: a reader
sees the old value, nothing, or the whole new value.
"""

import os

from ..exceptions import MetaflowException
from ..util import access_error, atomic_move, atomic_write, make_dirs

DATASTORE_DIR = ".metaflow"
# This engine's tree inside ``.metaflow``. Netflix's Metaflow keeps its flows in
# ``.metaflow/<Flow>/`` with the same run ids, file names and blob keys as ours but
# other bytes (gzip pickles), so sharing that tree breaks both; a hidden directory
# is never a flow to it (a flow's name is a Python class name), and
# ``.metaflow`` stays the one directory a user finds, ignores in git or deletes.
ENGINE_DIR = ".metaflow_core"


def engine_root(dot_dir, create=True):
    """This engine's root inside the ``.metaflow`` directory ``dot_dir``, with the
    runs an earlier version of the engine kept in ``dot_dir`` itself moved in."""
    root = os.path.join(dot_dir, ENGINE_DIR)
    if not os.path.isdir(root) and os.path.isdir(dot_dir):
        from .legacy import adopt_legacy_layout

        adopt_legacy_layout(dot_dir, root)
    if create:
        make_dirs(root)
    return root


def sysroot_of(root):
    """The directory holding the ``.metaflow`` directory of the engine root ``root``
    (what ``METAFLOW_DATASTORE_SYSROOT_LOCAL`` names)."""
    parent = os.path.dirname(root)
    return os.path.dirname(parent) if os.path.basename(root) == ENGINE_DIR else parent


class Storage(object):
    TYPE = None
    # Blobs smaller than this are written again rather than first looked for and
    # checked: where each request costs a round trip (S3), sending a small blob
    # costs what looking for it does, and the same bytes replace a copy that
    # may be damaged. Locally, an intact copy is kept.
    REWRITE_BELOW = 0

    def __init__(self, root):
        self.root = root

    def is_file(self, key):
        raise NotImplementedError

    def save_bytes(self, key, data, overwrite=True):
        """Store ``data`` (bytes, or an iterable of chunks) at ``key``; with
        ``overwrite=False`` an existing key is kept."""
        raise NotImplementedError

    def save_file(self, key, path):
        """Store the local file ``path`` at ``key``, consuming the file."""
        raise NotImplementedError

    def save_new(self, key, data):
        """Store ``data`` at ``key`` only if nothing is there, in one step that two
        writers can't both win; whether this call did."""
        raise NotImplementedError

    def load_bytes(self, key):
        """The bytes at ``key``, or None when there is nothing there."""
        raise NotImplementedError

    def open_read(self, key):
        """A readable binary file object for ``key``, or None when there is nothing there."""
        raise NotImplementedError

    def staging_dir(self):
        """A local directory for files on their way into the store, on the same
        filesystem where that makes moving them in free."""
        raise NotImplementedError

    def list_dir(self, prefix):
        """Names directly under ``prefix`` as (name, is_file) pairs."""
        raise NotImplementedError

    def open_append(self, key):
        """A writable binary file object whose content ends up at ``key``."""
        raise NotImplementedError

    def describe(self):
        return "%s@%s" % (self.TYPE, self.root)

    # Many keys at once. A backend where each transfer waits on the network (S3)
    # runs them in parallel; here they run one after the other.
    def parallel_map(self, fn, items):
        """``[fn(item) for item in items]``, in order; the first error is raised."""
        return [fn(item) for item in items]

    def save_many(self, items, overwrite=True):
        """``save_bytes`` of each (key, data) pair."""
        self.parallel_map(lambda item: self.save_bytes(item[0], item[1], overwrite), items)

    def load_many(self, keys):
        """``load_bytes`` of each key, in order (None for a missing key)."""
        return self.parallel_map(self.load_bytes, keys)


class LocalStorage(Storage):
    TYPE = "local"

    @classmethod
    def find_root(cls, create=True, echo=None):
        """The local datastore root: the ``.metaflow`` directory found the way
        Metaflow finds it, and in it this engine's own directory (``ENGINE_DIR``)."""
        sysroot = os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL")
        if sysroot:
            return engine_root(os.path.join(os.path.abspath(sysroot), DATASTORE_DIR), create)
        here = os.getcwd()
        while True:
            candidate = os.path.join(here, DATASTORE_DIR)
            if os.path.isdir(candidate):
                return engine_root(candidate, create)
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
        dot_dir = os.path.join(os.getcwd(), DATASTORE_DIR)
        root = engine_root(dot_dir, create)
        if create and echo:
            echo("Creating local datastore in current directory (%s)" % root)
        return root

    def path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def is_file(self, key):
        return os.path.isfile(self.path(key))

    def save_bytes(self, key, data, overwrite=True):
        path = self.path(key)
        if not overwrite and os.path.exists(path):
            return
        atomic_write(path, data)

    def save_file(self, key, path):
        atomic_move(path, self.path(key))

    def save_new(self, key, data):
        path = self.path(key)
        make_dirs(os.path.dirname(path))
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        except OSError as err:
            raise access_error(err, "write", path) from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def load_bytes(self, key):
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise access_error(err, "read", self.path(key)) from None

    def open_read(self, key):
        try:
            return open(self.path(key), "rb")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def staging_dir(self):
        path = os.path.join(self.root, ".staging")
        make_dirs(path)
        return path

    def list_dir(self, prefix):
        try:
            with os.scandir(self.path(prefix)) as entries:
                return [(e.name, e.is_file()) for e in entries]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            raise access_error(err, "list", self.path(prefix)) from None

    def open_append(self, key):
        path = self.path(key)
        make_dirs(os.path.dirname(path))
        try:
            return open(path, "ab", buffering=0)
        except OSError as err:
            raise access_error(err, "write", path) from None


# The backends this engine has; ``metaflow_core status`` reports them.
STORAGE_TYPES = ("local", "s3")


def get_storage(ds_type="local", root=None):
    """The backend named ``ds_type``; heavy backends are imported only here."""
    if ds_type == "local":
        return LocalStorage(root or LocalStorage.find_root())
    if ds_type == "s3":
        # boto3 comes with this import: only a run that asks for S3 pays for it.
        from ..plugins.aws.s3_storage import S3Storage

        return S3Storage(root or S3Storage.find_root())
    raise MetaflowException(
        "Unknown datastore type *%s*. Supported: %s." % (ds_type, ", ".join(STORAGE_TYPES))
    )
