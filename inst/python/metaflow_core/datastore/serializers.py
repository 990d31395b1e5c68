"""Turning Python values into artifact bytes and back.

Every artifact records its ``encoding``. Python values are ``pickle`` (plain
pickle protocol 4, or cloudpickle for what plain pickle refuses, such as
lambdas; both load with ``pickle.loads``). R values are ``rds``: the bytes R's
``serialize()`` produced, stored verbatim and only ever decoded by R.
"""

import pickle

from ..exceptions import MetaflowException, UnpicklableArtifactException

PICKLE = "pickle"
RDS = "rds"


class RObject(object):
    """An R value seen from Python: its RDS bytes, which only R can read.

    A value an R step just wrote stays in its file (``staged_path``, a blob file
    as the datastore keeps them) until the datastore moves it in; its bytes are
    read only if something asks for ``rds_bytes``, so a large value never passes
    through this process's memory on its way to the store."""

    def __init__(self, data=None, staged_path=None):
        self._bytes = data
        self.staged_path = staged_path
        self._stored = None
        self._size = None

    @property
    def size(self):
        if self._size is None:
            if self._bytes is not None:
                self._size = len(self._bytes)
            else:
                import os

                self._size = os.path.getsize(self.staged_path) - 4
        return self._size

    @property
    def rds_bytes(self):
        if self._bytes is None:
            if self._stored is not None:
                store, sha = self._stored
                self._bytes = store.load_blob(sha)
            else:
                with open(self.staged_path, "rb") as f:
                    f.seek(4)
                    self._bytes = f.read()
        return self._bytes

    def stored(self, store, sha):
        """The staged file was moved into ``store`` as blob ``sha``."""
        self._size = self.size
        self.staged_path = None
        self._stored = (store, sha)

    def move_into(self, store, sha=None):
        """Move the staged file into ``store`` now (a rename where it can be);
        ``sha``, when given, is its payload's sha1, known without reading it."""
        size = self.size  # read from the file before it moves
        self.stored(store, store.save_file(self.staged_path, sha))
        self._size = size

    def stored_in(self, store):
        """The sha of this value's blob in ``store`` (the same storage and prefix),
        or None if it isn't stored there."""
        if self._stored is None:
            return None
        other, sha = self._stored
        same = (other is store or (other.prefix == store.prefix
                                   and other.storage.root == store.storage.root))
        return sha if same else None

    def __repr__(self):
        return "<R object: %d bytes of RDS, read it from R>" % self.size


def type_name(obj):
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__name__
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def serialize(name, obj):
    """(bytes, encoding, type) for a Python value."""
    if isinstance(obj, RObject):
        return obj.rds_bytes, RDS, "R object"
    try:
        data = pickle.dumps(obj, protocol=4)
    except (pickle.PicklingError, AttributeError, TypeError):
        import cloudpickle

        try:
            data = cloudpickle.dumps(obj, protocol=4)
        except Exception as err:
            raise UnpicklableArtifactException(
                'Cannot pickle dump artifact named "%s": %s' % (name, err)
            )
    return data, PICKLE, type_name(obj)


def deserialize(data, encoding):
    if encoding == PICKLE:
        return pickle.loads(data)
    if encoding == RDS:
        return RObject(data)
    raise MetaflowException("Unknown artifact encoding *%s*." % encoding)
