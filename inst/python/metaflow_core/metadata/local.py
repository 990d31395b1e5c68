"""The metadata provider: what ran, when, by whom, with which tags.

It lives in ``_meta/`` directories inside the datastore's tree (locally, the
engine's directory in ``.metaflow``), beside the artifacts, and goes through
the run's ``Storage``: a run on S3 keeps its metadata in S3, so any machine
that reads the bucket sees the run. Steps and tasks take their tags from their
run, so a tag added to a run later shows on
all of them; nothing is stored twice.

Some guarantees are the local filesystem's own and stay local: durable
(fsynced) writes, the reserve kept for a full disk, the tagging lock. On a
remote store every write is one whole object already, a disk can't fill up
under the run, and tags are read-modified-written without a lock (the last
writer wins). A run id is claimed with a create-only write on both: mkdir
locally, a conditional PUT (``If-None-Match: *``) on S3.
"""

import errno
import json
import os
import socket
import time
from datetime import datetime, timezone

from ..exceptions import DatastoreAccessError, MetaflowException, TaggingException
from ..util import (access_error, atomic_write, corrupt_metadata, make_dirs, now_ms,
                    parse_json_record, read_json, write_json)

META = "_meta"
RUNNING, SUCCEEDED, FAILED, KILLED = "running", "succeeded", "failed", "killed"
HEARTBEAT = "heartbeat.json"
# Seconds between two heartbeats of a runtime; a run whose last one is older than
# STALE_BEATS of them reads as failed, wherever its runtime ran.
HEARTBEAT_ENV = "METAFLOW_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 10.0
STALE_BEATS = 3
# Bytes kept aside in each run's _meta/ so that the run's final status can still be
# written on a full disk: freed, then the status written in the space it held.
RESERVE = ".reserve"
RESERVE_BYTES = 64 * 1024


def heartbeat_seconds():
    """The heartbeat interval: $METAFLOW_HEARTBEAT_SECONDS, or 10 s."""
    try:
        value = float(os.environ.get(HEARTBEAT_ENV, ""))
    except ValueError:
        return DEFAULT_HEARTBEAT_SECONDS
    return value if value > 0 else DEFAULT_HEARTBEAT_SECONDS


class LocalMetadataProvider(object):
    TYPE = "local"

    def __init__(self, root, storage=None):
        if storage is None:
            from ..datastore.storage import LocalStorage

            storage = LocalStorage(root)
        self.storage = storage
        self.root = storage.root
        self.local = storage.TYPE == "local"

    def describe(self):
        if self.local:
            from ..datastore.storage import sysroot_of

            return "local@%s" % sysroot_of(self.root)
        return self.root

    def _path(self, *parts):
        """The key of a record; on a local store, also its file's path."""
        key = "/".join(str(p) for p in parts)
        return self.storage.path(key) if self.local else key

    def _self(self, *parts):
        return self._path(*(parts + (META, "_self.json")))

    # the few ways a record is stored, on a local disk or through the storage
    def _exists(self, path):
        return os.path.exists(path) if self.local else self.storage.is_file(path)

    def _write(self, path, record):
        if self.local:
            write_json(path, record)
        else:
            self.storage.save_bytes(path, json.dumps(record, separators=(",", ":"))
                                    .encode("utf-8"))

    def _remove(self, path):
        """Local only: what a finished run no longer needs (on S3 it is harmless)."""
        if self.local:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _names(self, path, dirs):
        """The names of the directories (``dirs``) or files directly under ``path``."""
        if not self.local:
            return [n for n, is_file in self.storage.list_dir(path) if is_file != dirs]
        try:
            with os.scandir(path) as entries:
                return [e.name for e in entries if e.is_dir() == dirs]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            raise access_error(err, "list", path) from None

    # writing
    def register_flow(self, flow):
        path = self._self(flow)
        # A pointer to a remote datastore (point_to) gives way: the flow's runs
        # are read where its latest run went.
        if not self._exists(path) or (self.local and "datastore" in (
                self._read(path, "flow %s" % flow) or {})):
            self._write(path, {"flow_id": flow, "ts_epoch": now_ms()})

    def point_to(self, flow, storage):
        """Record here that ``flow``'s runs live in the remote ``storage``: a small
        flow record the clients on this machine follow (PROTOCOL.md)."""
        self._write(self._self(flow), {"flow_id": flow, "ts_epoch": now_ms(),
                                       "datastore": {"type": storage.TYPE,
                                                     "root": storage.root}})

    def new_run_id(self, flow):
        """A fresh run id, claimed with a create-only write so concurrent runs (on
        any machine, for a remote store) never share one."""
        if not self.local:
            candidate = int(time.time() * 1e6)
            while not self.storage.save_new(self._path(flow, candidate, META, "claim"),
                                            json.dumps(this_process()).encode("utf-8")):
                candidate += 1
            return str(candidate)
        make_dirs(self._path(flow))
        candidate = int(time.time() * 1e6)
        while True:
            try:
                os.mkdir(self._path(flow, candidate))
                return str(candidate)
            except FileExistsError:
                candidate += 1
            except OSError as err:
                raise access_error(err, "create", self._path(flow, candidate)) from None

    def register_run(self, flow, run_id, user, tags=(), system_tags=(), runtime=None, **fields):
        """``runtime``: what runs the run when it isn't this process (a Step Functions
        execution), which then has no heartbeat here."""
        self.register_flow(flow)
        record = {
            "flow_id": flow,
            "run_number": str(run_id),
            "user_name": user,
            "tags": sorted(set(tags)),
            "system_tags": sorted(set(system_tags)),
            "ts_epoch": now_ms(),
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        self._write(self._self(flow, run_id), record)
        self._reserve(flow, run_id)
        if runtime is not None:
            self.set_run_status(flow, run_id, RUNNING, runtime=runtime)
            return
        # The runtime is the process registering the run: a reader on this host
        # can then tell a run still going from one whose runtime was killed.
        self.set_run_status(flow, run_id, RUNNING, runtime=this_process())
        self.heartbeat(flow, run_id)

    def _reserve(self, flow, run_id):
        if not self.local:
            return
        path = self._path(flow, run_id, META, RESERVE)
        try:
            with open(path, "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)
        except OSError:
            # No room for it: a part of it would only take the status's room.
            try:
                os.unlink(path)
            except OSError:
                pass

    def heartbeat(self, flow, run_id):
        """Say the run's runtime is alive, now; a reader on any host can tell when it stopped."""
        interval = heartbeat_seconds()
        self._write(self._path(flow, run_id, META, HEARTBEAT),
                    {"ts_epoch": now_ms(), "interval": interval})

    def save_code(self, flow, run_id, files):
        """Keep the files that define a run (an R flow's spec and generated module)."""
        for name, data in files.items():
            if self.local:
                atomic_write(self._path(flow, run_id, META, "spec", name), data)
            else:
                self.storage.save_bytes(self._path(flow, run_id, META, "spec", name), data)

    def code_dir(self, flow, run_id):
        """A local directory holding the run's code files, or None; a remote run's
        are copied into the storage's staging directory first, one copy per run
        (the files of a run never change)."""
        path = self._path(flow, run_id, META, "spec")
        if self.local:
            return path if os.path.isdir(path) else None
        names = self._names(path, dirs=False)
        if not names:
            return None
        copy = os.path.join(self.storage.staging_dir(), "code", flow, str(run_id))
        for name in names:
            atomic_write(os.path.join(copy, name),
                         self.storage.load_bytes(path + "/" + name) or b"")
        return copy

    def set_run_status(self, flow, run_id, status, reason=None, **fields):
        record = {"status": status, "ts_epoch": now_ms()}
        if status != RUNNING:
            record["finished_at"] = record["ts_epoch"]
        if reason:
            record["reason"] = reason
        record.update(fields)
        path = self._path(flow, run_id, META, "status.json")
        try:
            self._write(path, record)
        except (OSError, DatastoreAccessError) as err:
            # A full disk (the logs filled it): the space kept aside at the start
            # of the run takes the status, which must not be lost.
            reserve = self._path(flow, run_id, META, RESERVE)
            if (not self.local or err.errno not in (errno.ENOSPC, errno.EDQUOT)
                    or not os.path.exists(reserve)):
                raise
            os.unlink(reserve)
            write_json(path, record)
        if status != RUNNING:
            for name in (RESERVE, HEARTBEAT):
                self._remove(self._path(flow, run_id, META, name))

    def register_step(self, flow, run_id, step):
        path = self._self(flow, run_id, step)
        if not self._exists(path):
            self._write(
                path,
                {"flow_id": flow, "run_number": str(run_id), "step_name": step,
                 "ts_epoch": now_ms()},
            )

    def register_task(self, flow, run_id, step, task_id, **fields):
        record = {"flow_id": flow, "run_number": str(run_id), "step_name": step,
                  "task_id": str(task_id), "ts_epoch": now_ms()}
        record.update(fields)
        self._write(self._self(flow, run_id, step, task_id), record)

    def _attempt_path(self, flow, run_id, step, task_id, attempt):
        return self._path(flow, run_id, step, task_id, META, "%d.attempt.json" % attempt)

    def start_attempt(self, flow, run_id, step, task_id, attempt, **fields):
        record = {"attempt": attempt, "started_at": now_ms()}
        record.update(fields)
        self._write(self._attempt_path(flow, run_id, step, task_id, attempt), record)

    def finish_attempt(self, flow, run_id, step, task_id, attempt, ok, killed=False, **fields):
        """End an attempt: ``status`` says how (``killed``: stopped by the runtime)."""
        path = self._attempt_path(flow, run_id, step, task_id, attempt)
        record = self._read(path, _task_owner(flow, run_id, step, task_id),
                            default={"attempt": attempt})
        record.update(fields)
        record["attempt_ok"] = bool(ok)
        record["status"] = KILLED if killed else SUCCEEDED if ok else FAILED
        record["finished_at"] = now_ms()
        self._write(path, record)

    def mutate_tags(self, flow, run_id, add=(), remove=()):
        """Add and remove user tags of a run; system tags can't be removed."""
        path = self._self(flow, run_id)
        if not self.local:
            return self._retag(path, flow, run_id, add, remove)
        lock = path + ".lock"
        for _ in range(50):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                _break_stale_lock(lock)
                time.sleep(0.02)
                continue
            try:
                return self._retag(path, flow, run_id, add, remove)
            finally:
                os.close(fd)
                os.unlink(lock)
        raise TaggingException(
            "Tagging failed due to too many conflicting updates from other processes"
        )

    def _retag(self, path, flow, run_id, add, remove):
        record = self._read(path, "run %s/%s" % (flow, run_id), RUN_FIELDS)
        if record is None:
            raise MetaflowException("Run *%s/%s* does not exist." % (flow, run_id))
        system = set(record["system_tags"])
        bad = [t for t in remove if t in system]
        if bad:
            raise TaggingException("Cannot remove system tags: %s." % ", ".join(sorted(bad)))
        tags = (set(record["tags"]) | (set(add) - system)) - set(remove)
        record["tags"] = sorted(tags)
        self._write(path, record)
        return record

    # reading
    def _children(self, *parts):
        return [n for n in self._names(self._path(*parts), dirs=True)
                if not n.startswith(("_", "."))]

    def _read(self, path, owner, required=(), default=None):
        """The record in ``path`` (``default`` if there is none), checked to be a JSON
        object with the ``required`` fields: a damaged file is an error naming it
        and ``owner``, never a record that fails later with a KeyError."""
        if self.local:
            record = read_json(path, default, owner)
        else:
            raw = self.storage.load_bytes(path)
            record = default if raw is None else parse_json_record(
                raw, self.storage.url(path), owner)
        missing = [name for name in required if record is not None and name not in record]
        if missing:
            raise corrupt_metadata(path, owner, "it has no field %s" % ", ".join(missing))
        return record

    def flows(self):
        return sorted(
            n for n in self._children() if self._exists(self._self(n))
        )

    def flow(self, flow):
        return self._read(self._self(flow), "flow %s" % flow, FLOW_FIELDS)

    def run(self, flow, run_id):
        owner = "run %s/%s" % (flow, run_id)
        record = self._read(self._self(flow, run_id), owner, RUN_FIELDS)
        if record is not None:
            status = self._read(self._path(flow, run_id, META, "status.json"), owner,
                                ("status",), default={"status": RUNNING})
            heartbeat = self._read(self._path(flow, run_id, META, HEARTBEAT), owner, (),
                                   default=None) if status.get("status") == RUNNING else None
            record["status"] = _without_dead_runtime(status, heartbeat)
        return record

    def runs(self, flow):
        records = (self.run(flow, r) for r in self._children(flow) if r != "data")
        return [r for r in records if r is not None]

    def step(self, flow, run_id, step):
        return self._read(self._self(flow, run_id, step), "step %s/%s/%s" % (flow, run_id, step),
                          STEP_FIELDS)

    def steps(self, flow, run_id):
        records = (self.step(flow, run_id, s) for s in self._children(flow, run_id))
        return [s for s in records if s is not None]

    def task(self, flow, run_id, step, task_id):
        return self._read(self._self(flow, run_id, step, task_id),
                          _task_owner(flow, run_id, step, task_id), TASK_FIELDS)

    def tasks(self, flow, run_id, step):
        records = (self.task(flow, run_id, step, t) for t in self._children(flow, run_id, step))
        return [t for t in records if t is not None]

    def attempts(self, flow, run_id, step, task_id):
        found = []
        meta = self._path(flow, run_id, step, task_id, META)
        for name in self._names(meta, dirs=False):
            if name.endswith(".attempt.json"):
                record = self._read(self._path(flow, run_id, step, task_id, META, name),
                                    _task_owner(flow, run_id, step, task_id), ("attempt",))
                if record is not None:
                    found.append(record)
        return sorted(found, key=lambda r: r["attempt"])


# The fields readers of each record rely on.
FLOW_FIELDS = ("flow_id",)
RUN_FIELDS = ("flow_id", "run_number", "tags", "system_tags")
STEP_FIELDS = ("step_name",)
TASK_FIELDS = ("step_name", "task_id")


def _task_owner(flow, run_id, step, task_id):
    return "task %s/%s/%s/%s" % (flow, run_id, step, task_id)


def this_process():
    """What identifies the running process later, even once its pid is reused."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "started": _process_start(pid)}


def _process_start(pid):
    """The process's start time in clock ticks (Linux), or None where unknown."""
    stat = _proc_stat(pid)
    return None if stat is None else int(stat[19])


def _proc_stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_gone(process):
    """Whether the process ``this_process()`` described has ended (False if unknowable)."""
    if not process or process.get("host") != socket.gethostname() or os.name != "posix":
        return False
    pid = process["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return False
    # A zombie (killed, not yet reaped) has ended; a new start time is another process.
    return stat[0] == "Z" or (process.get("started") is not None
                              and int(stat[19]) != process["started"])


def _without_dead_runtime(status, heartbeat=None):
    """A run its runtime left "running" when it died reads as failed, with why: its
    runtime is gone (this host), or its heartbeat stopped (any host)."""
    if status.get("status") != RUNNING:
        return status
    runtime = status.get("runtime")
    if process_gone(runtime):
        ended = dict(status, status=FAILED, runtime_gone=True)
        ended["reason"] = ("its runtime (pid %d on %s) ended without finishing the run"
                           % (runtime["pid"], runtime["host"]))
        return ended
    last = heartbeat_stopped(heartbeat)
    if last is None:
        return status
    ended = dict(status, status=FAILED, runtime_gone=True, heartbeat_at=heartbeat["ts_epoch"])
    where = (" (pid %s on %s)" % (runtime.get("pid"), runtime.get("host"))) if runtime else ""
    ended["reason"] = ("the runtime stopped%s: its last heartbeat was at %s"
                       % (where, _iso(heartbeat["ts_epoch"])))
    return ended


def heartbeat_stopped(heartbeat, now=None):
    """Whether a heartbeat record is older than STALE_BEATS of its intervals."""
    if not heartbeat or not isinstance(heartbeat.get("ts_epoch"), (int, float)):
        return None
    interval = heartbeat.get("interval") or DEFAULT_HEARTBEAT_SECONDS
    now = now_ms() if now is None else now
    if now - heartbeat["ts_epoch"] > STALE_BEATS * interval * 1000:
        return heartbeat["ts_epoch"]
    return None


def runtime_alive(status, heartbeat):
    """Whether the runtime of a run recorded as running is still going, as far as can be told."""
    return _without_dead_runtime(status, heartbeat).get("status") == RUNNING


def _iso(ms):
    return datetime.fromtimestamp(ms / 1000.0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


STALE_LOCK_SECONDS = 30


def _break_stale_lock(lock):
    """A lock left by a killed process would block tagging that run forever."""
    try:
        if time.time() - os.path.getmtime(lock) > STALE_LOCK_SECONDS:
            os.unlink(lock)
    except OSError:
        pass
