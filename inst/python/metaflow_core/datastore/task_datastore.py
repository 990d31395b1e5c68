"""One task's artifacts, control record and logs.

An attempt writes ``<attempt>.data.json`` (the artifact index: name -> sha1,
plus per-artifact info and the control record the runtime schedules from) and
then ``<attempt>.DONE.lock``. Readers take the latest attempt that has its
lock, so a half-finished attempt is never seen.
"""

import json
import shutil
import time

from ..exceptions import MetaflowDataCorrupt, MetaflowDataMissing, MetaflowException
from ..util import corrupt_metadata, parse_json_record
from .serializers import RDS, RObject, deserialize, serialize

DATA_VERSION = 1


class TaskDataStore(object):
    def __init__(self, flow_datastore, run_id, step_name, task_id, attempt=None,
                 mode="r"):
        self.flow_datastore = flow_datastore
        self.storage = flow_datastore.storage
        self.ca_store = flow_datastore.ca_store
        self.run_id = str(run_id)
        self.step_name = step_name
        self.task_id = str(task_id)
        self.prefix = "/".join(
            (flow_datastore.flow_name, self.run_id, step_name, self.task_id)
        )
        self.mode = mode
        self._objects = {}
        self._info = {}
        self._control = {}
        self._cache = {}
        if mode == "w":
            if attempt is None:
                raise MetaflowException("A task datastore opened for writing needs an attempt.")
            self.attempt = int(attempt)
        else:
            self.attempt = self._latest_done_attempt() if attempt is None else int(attempt)
            self._load_index()

    @property
    def pathspec(self):
        return "%s/%s/%s" % (self.run_id, self.step_name, self.task_id)

    def done_attempts(self):
        found = []
        for name, is_file in self.storage.list_dir(self.prefix):
            if is_file and name.endswith(".DONE.lock"):
                head = name.split(".", 1)[0]
                if head.isdigit():
                    found.append(int(head))
        return sorted(found)

    def _latest_done_attempt(self):
        attempts = self.done_attempts()
        if not attempts:
            raise MetaflowDataMissing(
                "No completed attempts of the task was found for task '%s'." % self.pathspec
            )
        return attempts[-1]

    def _key(self, suffix):
        return "%s/%d.%s" % (self.prefix, self.attempt, suffix)

    def _load_index(self):
        raw = self.storage.load_bytes(self._key("data.json"))
        if raw is None or not self.storage.is_file(self._key("DONE.lock")):
            raise MetaflowDataMissing(
                "Attempt %d of task '%s' did not complete." % (self.attempt, self.pathspec)
            )
        index = self._parse_index(raw)
        self._objects = index["objects"]
        self._info = index["info"]
        self._control = index.get("control", {})

    def _parse_index(self, raw):
        """The artifact index, checked: a damaged one is an error naming its file and
        task, never a KeyError or a JSONDecodeError."""
        path = self._index_file()
        owner = "attempt %d of task %s/%s" % (self.attempt, self.flow_datastore.flow_name,
                                              self.pathspec)
        index = parse_json_record(raw, path, owner)
        for name in ("objects", "info"):
            if not isinstance(index.get(name), dict):
                raise corrupt_metadata(path, owner, "it has no %s" % name)
        return index

    def _index_file(self):
        """Where the index is, as the user can look for it: a local path, else its key."""
        path = getattr(self.storage, "path", None)
        key = self._key("data.json")
        return key if path is None else path(key)

    # reading
    @property
    def control(self):
        return self._control

    @property
    def objects(self):
        return self._objects

    @property
    def info(self):
        return self._info

    def __contains__(self, name):
        return name in self._objects

    def keys(self):
        return list(self._objects)

    def sha(self, name):
        return self._objects[name]

    def load_bytes(self, name):
        self._check_has(name)
        with self._naming(name):
            return self.ca_store.load_blob(self._objects[name])

    def verify(self, name):
        """Raise unless artifact ``name``'s blob is present and intact."""
        self._check_has(name)
        with self._naming(name):
            self.ca_store.verify(self._objects[name])

    def _check_has(self, name):
        if name not in self._objects:
            raise MetaflowDataMissing(
                "Artifact *%s* does not exist in task %s." % (name, self.pathspec)
            )

    def _naming(self, name):
        return _NamingArtifact(self, name)

    def local_path(self, name):
        """The local file holding artifact ``name``'s stored blob (header and all),
        or None where the storage keeps no local files (S3)."""
        path = getattr(self.storage, "path", None)
        return None if path is None else path(self.ca_store.key(self._objects[name]))

    def copy_blob_to(self, name, path):
        """Stream artifact ``name``'s stored blob file, as stored, into ``path``."""
        f, _ = self.ca_store._open(self._objects[name])
        with f, open(path, "wb") as out:
            shutil.copyfileobj(f, out, 1024 * 1024)

    def load_object(self, name):
        if name not in self._cache:
            self._cache[name] = deserialize(
                self.load_bytes(name), self._info[name]["encoding"]
            )
        return self._cache[name]

    def encoding(self, name):
        return self._info[name]["encoding"]

    # writing
    def save_bytes(self, name, data, encoding, type_name):
        sha = self.ca_store.save_blob(data)
        self._objects[name] = sha
        self._info[name] = {"size": len(data), "type": type_name, "encoding": encoding}
        return sha

    def save_object(self, name, obj):
        if isinstance(obj, RObject) and (obj.staged_path is not None
                                         or obj.stored_in(self.ca_store) is not None):
            if obj.staged_path is not None:
                # An R value still in the file R wrote: moved in, never read into memory.
                obj.move_into(self.ca_store)
            # Otherwise the R bridge already moved it into this store: nothing to write.
            self._objects[name] = obj.stored_in(self.ca_store)
            self._info[name] = {"size": obj.size, "type": "R object", "encoding": RDS}
            return self._objects[name]
        data, encoding, type_name = serialize(name, obj)
        return self.save_bytes(name, data, encoding, type_name)

    def passdown(self, other, names=None):
        """Carry artifacts of ``other`` by reference: their sha moves, no bytes do."""
        for name in other.keys() if names is None else names:
            if name not in self._objects:
                self._objects[name] = other._objects[name]
                self._info[name] = other._info[name]

    def set_control(self, **fields):
        self._control.update(fields)

    def done(self):
        index = {
            "version": DATA_VERSION,
            "attempt": self.attempt,
            "time": time.time(),
            "objects": self._objects,
            "info": self._info,
            "control": self._control,
        }
        self.storage.save_bytes(
            self._key("data.json"), json.dumps(index, separators=(",", ":")).encode()
        )
        self.storage.save_bytes(self._key("DONE.lock"), b"")

    # logs
    def log_key(self, stream, attempt=None):
        attempt = self.attempt if attempt is None else attempt
        return "%s/%d.%s.log" % (self.prefix, attempt, stream)

    def open_log(self, stream):
        return self.storage.open_append(self.log_key(stream))

    def load_log(self, stream, attempt=None):
        return self.storage.load_bytes(self.log_key(stream, attempt)) or b""


class _NamingArtifact(object):
    """Adds the artifact and the task to a damaged or missing blob's error."""

    def __init__(self, datastore, name):
        self.datastore = datastore
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, MetaflowDataCorrupt) and err.artifact is None:
            err.artifact = self.name
            err.pathspec = "%s/%s" % (self.datastore.flow_datastore.flow_name,
                                      self.datastore.pathspec)
            err.message = "Artifact *%s* of task %s can't be trusted. %s" % (
                self.name, err.pathspec, err.message)
            err.args = (err.message,)
        elif isinstance(err, MetaflowDataMissing):
            err.message = "Artifact *%s* of task %s/%s: %s" % (
                self.name, self.datastore.flow_datastore.flow_name, self.datastore.pathspec,
                err.message)
            err.args = (err.message,)
        return False
