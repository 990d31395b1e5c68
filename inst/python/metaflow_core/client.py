"""The client: flows, runs, steps, tasks and artifacts, read back from Python.

``Metaflow() -> Flow -> Run -> Step -> Task -> DataArtifact``, as in Netflix
Metaflow. Listing and navigating read only the metadata provider's small
``_meta`` JSON files; a task's datastore index is opened when its data, control
record or artifacts are asked for, and an artifact's blob only when its value is.

Each object remembers the metadata location and namespace in force when it was
made, so it keeps pointing at the same runs after ``namespace()`` or the
working directory changes, and after a pickle round trip. Children are listed
newest first and filtered by that namespace: the one tag every visible run
must carry (``user:alice`` by default; ``None`` is the global namespace).
"""

import json
import os
from collections import namedtuple
from datetime import datetime, timezone

from .datastore.flow_datastore import FlowDataStore
from .datastore.storage import DATASTORE_DIR, ENGINE_DIR, LocalStorage, engine_root, get_storage
from .exceptions import (
    MetaflowDataMissing,
    MetaflowException,
    MetaflowInvalidPathspec,
    MetaflowNamespaceMismatch,
    MetaflowNotFound,
    TaggingException,
)
from .metadata.local import FAILED, SUCCEEDED, LocalMetadataProvider
from .names import LEVELS, check_id
from .util import get_username, parse_json_record

__all__ = [
    "Metaflow", "Flow", "Run", "Step", "Task", "DataArtifact", "MetaflowObject",
    "MetaflowData", "namespace", "get_namespace", "default_namespace",
    "metadata", "get_metadata", "default_metadata", "metadata_root", "restore_context",
    "from_reference",
]

END_STEP = "end"
LOG_STREAMS = ("stdout", "stderr")
# Not-found messages name at most this many of the things that do exist.
MAX_LISTED = 10
MAX_TAG_LENGTH = 500

_UNSET = object()
_namespace = _UNSET
# The .metaflow directory metadata() pointed at; None means "resolve it from
# the environment and working directory at each use", so the client follows
# an R session's setwd().
_explicit_root = None


# namespaces


def namespace(ns):
    """Switch to namespace ``ns`` (a tag such as ``'user:alice'``; None = global)."""
    global _namespace
    if ns is not None and not isinstance(ns, str):
        raise MetaflowException(
            "A namespace is a tag such as 'user:alice', or None for the global "
            "namespace, not %r." % (ns,)
        )
    _namespace = ns
    return ns


def get_namespace():
    """The current namespace; the user's own (``user:<name>``) until one is set."""
    if _namespace is _UNSET:
        return default_namespace()
    return _namespace


def default_namespace():
    """Switch back to the user's own namespace, ``user:<name>``, and return it."""
    return namespace("user:%s" % get_username())


# metadata location


def metadata(ms):
    """Read runs from ``ms``: ``'local'``, ``'local@<dir>'`` or ``<dir>``.

    ``<dir>`` is a directory holding a ``.metaflow`` directory (or that
    ``.metaflow`` directory itself). Returns the new ``get_metadata()``.
    """
    global _explicit_root
    if not isinstance(ms, str):
        raise MetaflowException("metadata() takes a string such as 'local@/path', not %r." % (ms,))
    if ms == "local":
        _explicit_root = None
        return get_metadata()
    if ms.startswith("s3://"):
        _explicit_root = ms.rstrip("/")
        return get_metadata()
    if ms.startswith("local@"):
        location = ms[len("local@"):]
    elif "@" in ms and not os.path.exists(ms):
        raise MetaflowException(
            "Only the local metadata provider is supported, not *%s*. Use 'local', "
            "'local@<dir>' or a directory holding %s." % (ms.split("@", 1)[0], DATASTORE_DIR)
        )
    else:
        location = ms
    _explicit_root = _root_in(location)
    return get_metadata()


def get_metadata():
    """The metadata location in use, as ``local@<directory holding .metaflow>``, or
    the ``s3://`` root of an S3 datastore."""
    root = metadata_root()
    return root if _is_remote(root) else LocalMetadataProvider(root).describe()


def default_metadata():
    """Go back to the default location (see ``LocalStorage.find_root``)."""
    global _explicit_root
    _explicit_root = None
    return get_metadata()


def restore_context(root=None, ns=None, namespace_given=False):
    """Set the metadata root and the namespace together, as another process holds them.

    A front end that keeps both itself (R's client passes them with each request
    to its Python process) restores them here: without ``namespace_given`` the
    namespace is the user's own, as before ``namespace()`` was called, and a
    ``None`` root is found again at each use, as before ``metadata()`` was called.
    """
    global _namespace, _explicit_root
    if namespace_given:
        namespace(ns)
    else:
        _namespace = _UNSET
    _explicit_root = root


def _root_in(location):
    path = os.path.abspath(os.path.expanduser(location))
    if os.path.basename(path) == ENGINE_DIR and os.path.isdir(path):
        return path
    if os.path.basename(path) == DATASTORE_DIR and os.path.isdir(path):
        return engine_root(path, create=False)
    candidate = os.path.join(path, DATASTORE_DIR)
    if os.path.isdir(candidate):
        return engine_root(candidate, create=False)
    raise MetaflowNotFound(
        "There is no %s directory in %s. Give metadata() the directory a flow was run "
        "from." % (DATASTORE_DIR, path)
    )


def metadata_root():
    """The engine's directory in ``.metaflow`` (or the ``s3://`` root) the client reads now: the one
    ``metadata()`` chose, else S3 when ``METAFLOW_DEFAULT_DATASTORE`` is ``s3`` (at
    ``METAFLOW_DATASTORE_SYSROOT_S3``, as on a machine that didn't start the run),
    else the local one."""
    if _explicit_root:
        return _explicit_root
    if os.environ.get("METAFLOW_DEFAULT_DATASTORE") == "s3":
        from .plugins.aws.s3_storage import S3Storage

        return S3Storage.find_root()
    return LocalStorage.find_root(create=False)


def _is_remote(root):
    return root.startswith("s3://")



# helpers


def _datetime(ts_epoch_ms):
    """Metaflow's convention: a naive local datetime."""
    if ts_epoch_ms is None:
        return None
    return datetime.fromtimestamp(ts_epoch_ms / 1000.0)


def _id_order(object_id):
    """Numeric ids compare as numbers, so task 10 is newer than task 9."""
    return (1, int(object_id), "") if object_id.isdigit() else (0, 0, object_id)


def _newest_first(records, id_field):
    return sorted(
        records,
        key=lambda r: (r.get("ts_epoch") or 0, _id_order(str(r[id_field]))),
        reverse=True,
    )


def _listing(names):
    names = list(names)
    shown = ", ".join(names[:MAX_LISTED])
    if len(names) > MAX_LISTED:
        shown += ", ... (%d more)" % (len(names) - MAX_LISTED)
    return shown


def _as_tag_list(tags):
    tags = [tags] if isinstance(tags, str) else list(tags)
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            raise TaggingException(
                "A tag must be a non-empty string of at most %d characters, not %r."
                % (MAX_TAG_LENGTH, tag)
            )
    return tags


def _metadata_value(value):
    """Metadata values are strings, as in Metaflow; JSON for structured ones."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _parse_log_line(line):
    """``<ISO8601>Z <text>`` -> (aware UTC datetime, text); (None, line) otherwise."""
    stamp, sep, text = line.partition(" ")
    if sep and stamp.endswith("Z"):
        try:
            when = datetime.fromisoformat(stamp[:-1])
        except ValueError:
            return None, line
        return when.replace(tzinfo=timezone.utc), text
    return None, line


def _pathspec_of(components):
    return "/".join(components)


def _tags_of(run_record):
    """A run's tags, user and system; steps, tasks and artifacts share them."""
    if run_record is None:
        return frozenset()
    return frozenset(run_record.get("tags", ())) | frozenset(run_record.get("system_tags", ()))


# the metadata location and datastore an object reads


class _Source(object):
    """The provider and storage under one ``.metaflow`` (or ``s3://``) root; cheap
    to make (aws_config keeps one boto3 client per set of AWS settings)."""

    def __init__(self, root):
        self.root = root
        storage = get_storage("s3", root) if _is_remote(root) else LocalStorage(root)
        self.storage = storage
        self.provider = LocalMetadataProvider(root, storage)

    def for_flow(self, flow):
        """Where ``flow``'s runs are: a flow whose runs went to a remote datastore
        from this machine has a local pointer record naming that datastore."""
        if _is_remote(self.root):
            return self
        record = self.provider.flow(flow)
        pointer = (record or {}).get("datastore")
        if isinstance(pointer, dict) and isinstance(pointer.get("root"), str) \
                and _is_remote(pointer["root"]):
            return _Source(pointer["root"])
        return self

    def flow_datastore(self, flow):
        return FlowDataStore(flow, storage=self.storage)

    def not_found(self, components, artifacts=None):
        """MetaflowNotFound naming the first missing level of ``components``.

        For an artifact, ``artifacts`` lists the task's artifacts; None means the
        task has no completed attempt.
        """
        provider = self.provider
        flow = components[0]
        if provider.flow(flow) is None:
            # Named, since a step's client reads its run's datastore, which may
            # not be the one the user had in mind.
            flows = provider.flows()
            if not flows:
                return MetaflowNotFound("Flow '%s' does not exist: there are no flows in %s."
                                        % (flow, provider.describe()))
            return MetaflowNotFound("Flow '%s' does not exist in %s. Flows: %s"
                                    % (flow, provider.describe(), _listing(flows)))
        if len(components) > 1 and provider.run(flow, components[1]) is None:
            runs = [r["run_number"] for r in _newest_first(provider.runs(flow), "run_number")]
            nearby = ("Latest runs of %s: %s" % (flow, _listing(runs))) if runs else (
                "%s has no runs." % flow)
            return MetaflowNotFound(
                "Run '%s' does not exist. %s" % (_pathspec_of(components[:2]), nearby))
        if len(components) > 2 and provider.step(*components[:3]) is None:
            steps = sorted(provider.steps(*components[:2]), key=lambda s: s.get("ts_epoch") or 0)
            return MetaflowNotFound(
                "Step '%s' does not exist in run %s. Steps: %s"
                % (components[2], _pathspec_of(components[:2]),
                   _listing(s["step_name"] for s in steps) or "none yet")
            )
        if len(components) > 3 and provider.task(*components[:4]) is None:
            tasks = sorted((t["task_id"] for t in provider.tasks(*components[:3])), key=_id_order)
            return MetaflowNotFound(
                "Task '%s' does not exist in step %s. Tasks: %s"
                % (components[3], _pathspec_of(components[:3]), _listing(tasks) or "none yet")
            )
        if artifacts is None:
            return MetaflowNotFound(
                "Artifact '%s' does not exist in task %s: the task has no completed attempt."
                % (components[4], _pathspec_of(components[:4]))
            )
        return MetaflowNotFound(
            "Artifact '%s' does not exist in task %s; artifacts: %s"
            % (components[4], _pathspec_of(components[:4]), _listing(sorted(artifacts)) or "none")
        )


# objects


class MetaflowObject(object):
    """What every client object has: a pathspec, tags, a creation time, children."""

    _EXPECTS = None
    _DEPTH = None
    _CHILD_CLASS = None
    _PARENT_CLASS = None
    _CACHES = ()

    def __init__(self, pathspec, _namespace_check=True):
        self._open(pathspec, None, _namespace_check)

    def _open(self, pathspec, attempt, namespace_check):
        ns = get_namespace()
        components = self._parse(pathspec)
        self._setup(_Source(metadata_root()).for_flow(components[0]), components,
                    namespace_check, ns, attempt)
        self._load()
        if namespace_check and not self._is_in_namespace(ns):
            raise self._mismatch(ns)

    @classmethod
    def _at(cls, source, components, namespace_check, ns, attempt=None):
        """The object at ``components`` under ``source``, without a namespace check."""
        obj = cls.__new__(cls)
        obj._setup(source, components, namespace_check, ns, attempt)
        obj._load()
        return obj

    @classmethod
    def _parse(cls, pathspec):
        components = pathspec.split("/") if isinstance(pathspec, str) else []
        if len(components) != cls._DEPTH or not all(components):
            raise MetaflowInvalidPathspec("Expects %s, not %r." % (cls._EXPECTS, pathspec))
        for level, component in zip(LEVELS, components):
            check_id(level, component, pathspec)
        return tuple(components)

    def _setup(self, source, components, namespace_check, ns, attempt=None, parent=None):
        self._source = source
        self._components = tuple(components)
        self._namespace_check = namespace_check
        self._ns = ns
        self._attempt = attempt
        self._parent = parent
        for name in self._CACHES:
            setattr(self, name, None)

    def _load(self):
        """Read this object's metadata; raise MetaflowNotFound if it has none."""
        raise NotImplementedError

    def _child(self, record):
        """The child object for ``record``, one of ``self._child_records()``."""
        child = self._CHILD_CLASS.__new__(self._CHILD_CLASS)
        child._setup(self._source, self._components + (self._child_id(record),),
                     self._namespace_check, self._ns, self._attempt, parent=self)
        child._adopt(self, record)
        return child

    def _adopt(self, parent, record):
        self._record = record
        self._run_record = parent._run_record

    def _child_records(self):
        raise NotImplementedError

    def _child_record(self, child_id):
        raise NotImplementedError

    def _child_id(self, record):
        raise NotImplementedError

    # references: an object as plain data another process can hold
    def reference(self):
        """This object as a JSON-able dict; ``from_reference()`` reads it again.

        The dict keeps the root and the namespace the object was made in, so the
        object it names stays valid there whatever the client's state is later.
        """
        return {"class": type(self).__name__, "pathspec": self.pathspec,
                "root": self._source.root, "ns": self._ns, "check": self._namespace_check}

    def child(self, child_id):
        """``self[child_id]``, but a missing child raises MetaflowNotFound naming what exists."""
        self._check_child_id(child_id)
        if child_id not in self:
            raise self._child_not_found(str(child_id))
        return self[child_id]

    def _child_not_found(self, child_id):
        return self._source.not_found(self._components + (child_id,))

    # namespaces
    def _is_in_namespace(self, ns):
        return ns is None or ns in self.tags

    def is_in_namespace(self):
        """Whether this object is in the current namespace (see ``namespace()``)."""
        return self._is_in_namespace(get_namespace())

    def _mismatch(self, ns):
        owner = (self._run_record or {}).get("user_name")
        hint = " It belongs to user:%s." % owner if owner else ""
        return MetaflowNamespaceMismatch(
            "Object not in namespace '%s': %r.%s Use namespace(None) to see every "
            "user's runs." % (ns, self, hint)
        )

    # children
    def __iter__(self):
        filtered = self._namespace_check and self._ns is not None
        for record in self._child_records():
            child = self._child(record)
            if not filtered or self._ns in child.tags:
                yield child

    def _filtered_children(self, tags):
        return [c for c in self if all(t in c.tags for t in tags)]

    def _check_child_id(self, child_id):
        """A child id that can't name a child (``..``, ``a/b``) is an error, not a lookup:
        read as a path it would reach another object's records."""
        check_id(LEVELS[self._DEPTH], str(child_id) if isinstance(child_id, int) else child_id,
                 "/".join(self._components + (str(child_id),)))

    def __getitem__(self, child_id):
        self._check_child_id(child_id)
        record = self._child_record(str(child_id))
        if record is None:
            raise KeyError(child_id)
        child = self._child(record)
        if self._namespace_check and not child._is_in_namespace(self._ns):
            raise child._mismatch(self._ns)
        return child

    def __contains__(self, child_id):
        try:
            self._check_child_id(child_id)
        except MetaflowInvalidPathspec:
            return False
        return self._child_record(str(child_id)) is not None

    # identity
    @property
    def id(self):
        return self._components[-1]

    @property
    def pathspec(self):
        return _pathspec_of(self._components)

    @property
    def path_components(self):
        return list(self._components)

    @property
    def parent(self):
        """The enclosing object; it keeps this object's namespace without re-checking it."""
        if self._PARENT_CLASS is None:
            return None
        if self._parent is None:
            cls = self._PARENT_CLASS
            self._parent = cls._at(self._source, self._components[:-1], self._namespace_check,
                                   self._ns, self._attempt if cls is Task else None)
        return self._parent

    # tags and time
    @property
    def user_tags(self):
        return frozenset((self._run_record or {}).get("tags", ()))

    @property
    def system_tags(self):
        return frozenset((self._run_record or {}).get("system_tags", ()))

    @property
    def tags(self):
        return _tags_of(self._run_record)

    @property
    def created_at(self):
        return _datetime(self._record.get("ts_epoch"))

    @property
    def origin_pathspec(self):
        """The object this one was cloned from by ``resume``, or None."""
        return None

    def __repr__(self):
        attempt = ", attempt=%d" % self._attempt if self._attempt is not None else ""
        return "%s('%s'%s)" % (type(self).__name__, self.pathspec, attempt)

    __str__ = __repr__

    # pickling: records travel, caches are rebuilt on demand
    def __getstate__(self):
        state = dict(self.__dict__)
        for name in self._CACHES:
            state[name] = None
        return state


def _verifier(obj):
    from .datastore.verify import Verifier  # only when something is verified

    return Verifier(obj._source.flow_datastore(obj._components[0]))


class Metaflow(object):
    """Every flow in the metadata location, those with a run in the namespace."""

    def __init__(self):
        self._source = _Source(metadata_root())
        self._ns = get_namespace()

    def _flow(self, name):
        try:
            return Flow._at(self._source.for_flow(name), (name,), True, self._ns)
        except MetaflowNotFound:
            return None

    def __iter__(self):
        flows = (self._flow(name) for name in self._source.provider.flows())
        visible = [f for f in flows if f is not None and f._is_in_namespace(self._ns)]
        return iter(sorted(visible, key=lambda f: (f._record.get("ts_epoch") or 0, f.id),
                           reverse=True))

    @property
    def flows(self):
        return list(self)

    def __getitem__(self, name):
        check_id(LEVELS[0], name)
        flow = self._flow(name)
        if flow is None:
            raise KeyError(name)
        if not flow._is_in_namespace(self._ns):
            raise flow._mismatch(self._ns)
        return flow

    def __contains__(self, name):
        try:
            check_id(LEVELS[0], name)
        except MetaflowInvalidPathspec:
            return False
        return self._source.provider.flow(name) is not None

    def __repr__(self):
        return "Metaflow()"


class Flow(MetaflowObject):
    """A flow: its runs, newest first. Flows have no tags of their own."""

    _EXPECTS = "Flow('FlowName')"
    _DEPTH = 1

    _run_record = None

    def _load(self):
        self._record = self._source.provider.flow(self.id)
        if self._record is None:
            raise self._source.not_found(self._components)

    def _is_in_namespace(self, ns):
        """A flow is in a namespace when one of its runs is; stops at the first found."""
        if ns is None:
            return True
        provider = self._source.provider
        for name, is_file in self._source.storage.list_dir(self.id):
            if not is_file and not name.startswith(("_", ".")):
                if ns in _tags_of(provider.run(self.id, name)):
                    return True
        return False

    def _mismatch(self, ns):
        return MetaflowNamespaceMismatch(
            "Object not in namespace '%s': %r has no run in it. Use namespace(None) to "
            "see every user's runs." % (ns, self)
        )

    def _child_records(self):
        return _newest_first(self._source.provider.runs(self.id), "run_number")

    def _child_record(self, run_id):
        return self._source.provider.run(self.id, run_id)

    def _child_id(self, record):
        return str(record["run_number"])

    @property
    def latest_run(self):
        """The newest run in the namespace, or None."""
        return next(iter(self), None)

    @property
    def latest_successful_run(self):
        """The newest successful run in the namespace, or None."""
        return next((run for run in self if run.successful), None)

    def runs(self, *tags):
        """Runs in the namespace carrying all of ``tags``, newest first."""
        return self._filtered_children(tags)

    def verify(self):
        """Check every blob of every run of the flow, and every blob file no run
        refers to, against its hash; the damaged items, as a VerifyReport (empty
        when all is intact). Never raises for damage: it reports it."""
        verifier = _verifier(self)
        verifier.flow()
        return verifier.report("flow %s" % self.id)


class MetaflowCode(object):
    """The code a run stored: an R flow's generated module and JSON spec."""

    script_name = "flow.py"

    def __init__(self, path):
        self.path = path

    def _read(self, name):
        with open(os.path.join(self.path, name), encoding="utf-8") as f:
            return f.read()

    @property
    def flowspec(self):
        """The text of the flow's module."""
        return self._read(self.script_name)

    @property
    def spec(self):
        """The R front end's flow spec (``flow.json``), parsed."""
        path = os.path.join(self.path, "flow.json")
        return parse_json_record(self._read("flow.json").encode("utf-8"), path,
                                 "the code of a run")

    def __repr__(self):
        return "<MetaflowCode %s>" % self.path


class Run(MetaflowObject):
    """One execution of a flow."""

    _EXPECTS = "Run('FlowName/RunID')"
    _DEPTH = 2

    def _load(self):
        self._record = self._source.provider.run(*self._components)
        if self._record is None:
            raise self._source.not_found(self._components)
        self._run_record = self._record

    def _adopt(self, parent, record):
        self._record = record
        self._run_record = record

    def _child_records(self):
        steps = self._source.provider.steps(*self._components)
        return _newest_first(
            [s for s in steps if not s["step_name"].startswith("_")], "step_name")

    def _child_record(self, step_name):
        return self._source.provider.step(*(self._components + (step_name,)))

    def _child_id(self, record):
        return record["step_name"]

    def steps(self, *tags):
        """Steps carrying all of ``tags`` (a step has its run's tags), newest first."""
        return self._filtered_children(tags)

    def verify(self):
        """Check every blob that any attempt of the run refers to (the parameters
        included) against its hash; the damaged items, as a VerifyReport."""
        verifier = _verifier(self)
        verifier.run(self._components[1])
        return verifier.report("run %s" % self.pathspec)

    @property
    def origin_pathspec(self):
        origin = self._record.get("origin_run_id")
        return "%s/%s" % (self._components[0], origin) if origin else None

    @property
    def status(self):
        """``'running'``, ``'succeeded'`` or ``'failed'``, as the runtime last recorded."""
        return self._record["status"]["status"]

    @property
    def status_reason(self):
        """Why a run that did not succeed ended, as recorded or as read: "stopped by
        SIGTERM", "the runtime stopped (...): its last heartbeat was at ...", or None."""
        status = self._record["status"]
        return None if status.get("status") == SUCCEEDED else status.get("reason")

    @property
    def end_task(self):
        """The task of the ``end`` step, or None before it exists."""
        record = self._child_record(END_STEP)
        return None if record is None else self._child(record).task

    @property
    def successful(self):
        """Whether the run succeeded; a run still marked running asks its end task."""
        status = self.status
        if status in (SUCCEEDED, FAILED):
            return status == SUCCEEDED
        end = self.end_task
        return end is not None and end.successful

    @property
    def finished(self):
        if self.status == SUCCEEDED:
            return True
        end = self.end_task
        return end is not None and end.finished

    @property
    def finished_at(self):
        """When the end task finished, or None."""
        status = self._record["status"]
        if status["status"] == "succeeded" and status.get("finished_at"):
            # Recorded by the runtime just after the end task: no task files to read.
            return _datetime(status["finished_at"])
        end = self.end_task
        return None if end is None else end.finished_at

    @property
    def data(self):
        """The artifacts of the end task, or None before it finished."""
        end = self.end_task
        return None if end is None else end.data

    @property
    def code(self):
        """The code the run stored (an R flow's module and spec), or None."""
        path = self._source.provider.code_dir(*self._components)
        return None if path is None else MetaflowCode(path)

    # tags
    def add_tag(self, tag):
        self.add_tags([tag])

    def add_tags(self, tags):
        self._mutate_tags(add=_as_tag_list(tags))

    def remove_tag(self, tag):
        self.remove_tags([tag])

    def remove_tags(self, tags):
        self._mutate_tags(remove=_as_tag_list(tags))

    def replace_tag(self, tag_to_remove, tag_to_add):
        self.replace_tags([tag_to_remove], [tag_to_add])

    def replace_tags(self, tags_to_remove, tags_to_add):
        """Remove and add user tags in one update."""
        self._mutate_tags(add=_as_tag_list(tags_to_add), remove=_as_tag_list(tags_to_remove))

    def _mutate_tags(self, add=(), remove=()):
        record = self._source.provider.mutate_tags(
            self._components[0], self._components[1], add=add, remove=remove)
        record["status"] = self._record["status"]
        self._record = self._run_record = record


class Step(MetaflowObject):
    """A step of a run: its tasks (several for a foreach), newest first."""

    _EXPECTS = "Step('FlowName/RunID/StepName')"
    _DEPTH = 3

    def _load(self):
        provider = self._source.provider
        self._record = provider.step(*self._components)
        self._run_record = provider.run(*self._components[:2])
        if self._record is None or self._run_record is None:
            raise self._source.not_found(self._components)

    def _child_records(self):
        return _newest_first(self._source.provider.tasks(*self._components), "task_id")

    def _child_record(self, task_id):
        return self._source.provider.task(*(self._components + (task_id,)))

    def _child_id(self, record):
        return str(record["task_id"])

    @property
    def task(self):
        """The newest task (for a foreach, the last split), or None."""
        return next(iter(self), None)

    def tasks(self, *tags):
        return self._filtered_children(tags)

    def verify(self):
        """Check every blob that any attempt of the step's tasks refers to; a VerifyReport."""
        verifier = _verifier(self)
        verifier.step(*self._components[1:3])
        return verifier.report("step %s" % self.pathspec)

    @property
    def finished_at(self):
        """When the last of its tasks finished; None while any is unfinished."""
        times = [task.finished_at for task in self]
        if not times or None in times:
            return None
        return max(times)


class ExceptionInfo(object):
    """The exception that failed a task, as the task recorded it.

    ``type``, ``message`` and ``traceback`` are what every task records;
    ``record`` is the whole record, with what a language adds (an R error's
    ``language``, ``call`` and ``r_traceback``).
    """

    def __init__(self, record):
        self.record = dict(record)
        self.type = record.get("type")
        self.message = record.get("message")
        self.traceback = record.get("traceback")

    def __str__(self):
        return self.traceback or "%s: %s" % (self.type, self.message)

    def __repr__(self):
        return "<ExceptionInfo %s: %s>" % (self.type, self.message)


# One metadata field of a task; ``created_at`` is in epoch milliseconds.
Metadata = namedtuple("Metadata", ["name", "value", "created_at", "type", "task"])


class MetaflowData(object):
    """A task's artifacts as attributes: ``task.data.x`` reads and unpickles ``x``."""

    def __init__(self, task):
        self._task = task
        ds = task._datastore()
        self._names = [] if ds is None else sorted(n for n in ds.keys() if not n.startswith("_"))

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_task", "_names"):
            raise AttributeError(name)
        ds = self._task._datastore()
        if ds is None or name not in ds:
            raise AttributeError(
                "Task %s has no artifact '%s'. Artifacts: %s"
                % (self._task.pathspec, name, _listing(self._names) or "none"))
        return ds.load_object(name)

    def __contains__(self, name):
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def __dir__(self):
        return list(self._names)

    def __repr__(self):
        return "<MetaflowData: %s>" % ", ".join(self._names)


class MetaflowArtifacts(object):
    """A task's DataArtifacts by name: ``task.artifacts.x``, iteration, ``len``."""

    def __init__(self, artifacts):
        self._by_name = {a.id: a for a in artifacts}

    def __getattr__(self, name):
        if name.startswith("__") or name == "_by_name":
            raise AttributeError(name)
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(name)

    def __getitem__(self, name):
        return self._by_name[name]

    def __iter__(self):
        return iter(self._by_name.values())

    def __len__(self):
        return len(self._by_name)

    @property
    def _fields(self):
        return tuple(self._by_name)

    def __dir__(self):
        return list(self._by_name)

    def __repr__(self):
        return "MetaflowArtifacts(%s)" % ", ".join(self._by_name)


class Task(MetaflowObject):
    """One task of a step; ``attempt=None`` means its latest attempt."""

    _EXPECTS = "Task('FlowName/RunID/StepName/TaskID')"
    _DEPTH = 4
    _CACHES = ("_ds",)

    def __init__(self, pathspec, attempt=None, _namespace_check=True):
        self._open(pathspec, _check_attempt(attempt), _namespace_check)

    def _load(self):
        provider = self._source.provider
        self._record = provider.task(*self._components)
        self._run_record = provider.run(*self._components[:2])
        if self._record is None or self._run_record is None:
            raise self._source.not_found(self._components)
        if (self._attempt is not None and self._attempt not in self._known_attempts()
                and self._datastore() is None):
            raise MetaflowNotFound(
                "Attempt %d of task %s does not exist. Attempts: %s"
                % (self._attempt, self.pathspec,
                   _listing(str(a) for a in self._known_attempts()) or "none yet"))

    # the datastore, opened on first need
    def _datastore(self):
        """The done attempt's TaskDataStore (the latest, or ``attempt``), or None."""
        if self._ds is None:
            flow, run_id, step, task_id = self._components
            try:
                self._ds = self._source.flow_datastore(flow).task(
                    run_id, step, task_id, attempt=self._attempt)
            except MetaflowDataMissing:
                return None
        return self._ds

    def _control(self):
        ds = self._datastore()
        return {} if ds is None else ds.control

    def _attempt_records(self):
        return self._source.provider.attempts(*self._components)

    def _known_attempts(self):
        """The attempts that started, as the metadata recorded them."""
        return [r["attempt"] for r in self._attempt_records()]

    def _attempt_record(self, attempt):
        return next((r for r in self._attempt_records() if r["attempt"] == attempt), {})

    # children: artifacts
    def _child_records(self):
        ds = self._datastore()
        if ds is None:
            return []
        return sorted(n for n in ds.keys() if not n.startswith("_"))

    def _child_record(self, name):
        ds = self._datastore()
        return name if ds is not None and name in ds else None

    def _child_id(self, name):
        return name

    def _child_not_found(self, name):
        ds = self._datastore()
        visible = None if ds is None else [n for n in ds.keys() if not n.startswith("_")]
        return self._source.not_found(self._components + (name,), visible)

    def _child(self, name):
        """Artifacts are pinned to the attempt they were read from."""
        artifact = super()._child(name)
        artifact._ds = self._datastore()
        artifact._data_attempt = artifact._ds.attempt
        return artifact

    @property
    def data(self):
        """The artifacts as attributes (``task.data.x``); blobs are read on access."""
        return MetaflowData(self)

    @property
    def artifacts(self):
        return MetaflowArtifacts(self)

    # attempts and outcome
    @property
    def current_attempt(self):
        if self._attempt is not None:
            return self._attempt
        started = self._known_attempts()
        if started:
            return started[-1]
        ds = self._datastore()
        return 0 if ds is None else ds.attempt

    def _ended_attempt(self):
        """The record of an attempt that ended without completing (killed, crashed), or None."""
        if self._datastore() is not None:
            return None
        record = self._attempt_record(self.current_attempt)
        if record.get("finished_at"):
            return record
        run_status = (self._run_record or {}).get("status") or {}
        if record and run_status.get("runtime_gone"):
            # Its runtime was killed while it ran: the task died with it (parent_watch.py).
            return dict(record, status="killed", attempt_ok=False,
                        reason="stopped because " + run_status["reason"],
                        finished_at=None)
        return None

    @property
    def finished(self):
        """Whether an attempt (the latest done one, or ``attempt``) completed or was stopped."""
        return self._datastore() is not None or self._ended_attempt() is not None

    @property
    def successful(self):
        return self._control().get("task_ok") is True

    @property
    def finished_at(self):
        ds = self._datastore()
        if ds is None:
            ended = self._ended_attempt()
            return None if ended is None else _datetime(ended["finished_at"])
        return _datetime(self._attempt_record(ds.attempt).get("finished_at"))

    @property
    def resources(self):
        """What the task's step asked for with ``@resources`` (``cpu``, ``memory`` in MB,
        ``gpu``), as its attempt recorded it; None without ``@resources``."""
        return self._attempt_record(self.current_attempt).get("resources")

    @property
    def exception(self):
        """The exception that failed the task (``.type``, ``.message``, ``.traceback``)."""
        recorded = self._control().get("exception")
        return None if recorded is None else ExceptionInfo(recorded)

    @property
    def cards(self):
        """The cards ``@card`` rendered for the task's attempt (``Card``: ``type``, ``id``,
        ``html``); an empty list when its step had none."""
        return self.card_list()

    def card_list(self, card_id=None):
        """The task's cards, those with id ``card_id`` when given (an id it has no card
        of is a ``CardError``)."""
        from .plugins.cards.card_client import task_cards

        return task_cards(self._datastore(), self.pathspec, card_id)

    @property
    def foreach_stack(self):
        """The foreach frames enclosing the task, outermost first, as dicts."""
        return [dict(frame) for frame in self._control().get("foreach_stack") or ()]

    @property
    def parent_task_pathspecs(self):
        """The pathspecs of the tasks this one started from, in the order the step got
        them (a join's inputs); the start task's is the run's parameters task. None
        for a task of a run that didn't record them."""
        paths = self._record.get("input_paths")
        if paths is None:
            return None
        return ["%s/%s" % (self._components[0], path) for path in paths]

    @property
    def index(self):
        """The index of the task in its innermost foreach, or None."""
        stack = self._control().get("foreach_stack")
        if stack:
            return stack[-1].get("index")
        # A task that never completed: the indices the runtime started it with.
        indices = self._record.get("foreach_indices")
        return indices[-1] if indices else None

    @property
    def origin_pathspec(self):
        """The task this one was cloned from by ``resume``, or None."""
        pathspec = self._record.get("origin-task-pathspec")
        if pathspec:
            return pathspec if pathspec.count("/") == 3 else "%s/%s" % (
                self._components[0], pathspec)
        task_id = self._record.get("origin_task_id")
        run_id = self._run_record.get("origin_run_id")
        if not (task_id and run_id):
            return None
        return "/".join((self._components[0], str(run_id), self._components[2], str(task_id)))

    # metadata
    @property
    def metadata(self):
        """The task's metadata fields and those of its attempts, oldest first."""
        fields = [
            Metadata(name, _metadata_value(value), self._record.get("ts_epoch"), name, self)
            for name, value in self._record.items()
        ]
        for record in self._attempt_records():
            when = record.get("started_at")
            fields.extend(
                Metadata(name, _metadata_value(value), when, name, self)
                for name, value in record.items()
            )
        return fields

    @property
    def metadata_dict(self):
        """Task fields and the current attempt's fields, as strings."""
        merged = dict(self._record)
        merged.update(self._attempt_record(self.current_attempt))
        return {name: _metadata_value(value) for name, value in merged.items()}

    # logs
    def _log_bytes(self, stream, attempt):
        if stream not in LOG_STREAMS:
            raise MetaflowException(
                "A log stream is 'stdout' or 'stderr', not %r." % (stream,))
        # <attempt>.<stream>.log in the task's directory (see the README's layout).
        key = "%s/%d.%s.log" % (self.pathspec, attempt, stream)
        data = self._source.storage.load_bytes(key)
        origin = self.origin_pathspec
        if data is None and origin and origin != self.pathspec:
            # Tasks cloned by resume have no logs of their own.
            try:
                task = Task._at(self._source, tuple(origin.split("/")), False, None)
            except MetaflowNotFound:
                return b""
            return task._log_bytes(stream, task.current_attempt)
        return data or b""

    def loglines(self, stream):
        """(UTC datetime, line) for each line the attempt printed to ``stream``."""
        text = self._log_bytes(stream, self.current_attempt).decode("utf-8", errors="replace")
        for line in text.splitlines():
            yield _parse_log_line(line)

    def _log_text(self, stream):
        return "".join(line + "\n" for _, line in self.loglines(stream))

    @property
    def stdout(self):
        return self._log_text("stdout")

    @property
    def stderr(self):
        return self._log_text("stderr")

    def verify(self):
        """Check the blobs of every attempt of the task that recorded its artifacts
        (only ``attempt``'s when the task was opened at one); a VerifyReport."""
        verifier = _verifier(self)
        verifier.task(*self._components[1:4],
                      attempts=None if self._attempt is None else [self._attempt])
        return verifier.report("task %s" % self.pathspec)


def _check_attempt(attempt):
    """None, or the attempt as an int; R hands whole numbers over as floats."""
    if attempt is None:
        return None
    whole = (isinstance(attempt, int) and not isinstance(attempt, bool)) or (
        isinstance(attempt, float) and attempt.is_integer())
    if not whole or attempt < 0:
        raise MetaflowException("An attempt is a non-negative integer, not %r." % (attempt,))
    return int(attempt)


class DataArtifact(MetaflowObject):
    """One artifact of a task: its value, size, sha and encoding."""

    _EXPECTS = "DataArtifact('FlowName/RunID/StepName/TaskID/ArtifactName')"
    _DEPTH = 5
    _CACHES = ("_ds",)

    def __init__(self, pathspec, attempt=None, _namespace_check=True):
        self._open(pathspec, _check_attempt(attempt), _namespace_check)

    def _load(self):
        task = Task._at(self._source, self._components[:4], self._namespace_check, self._ns,
                        self._attempt)
        ds = task._datastore()
        if ds is None or self.id not in ds:
            visible = None if ds is None else [n for n in ds.keys() if not n.startswith("_")]
            raise self._source.not_found(self._components, visible)
        self._parent = task
        self._record = self.id
        self._run_record = task._run_record
        self._data_attempt = ds.attempt
        self._ds = ds

    def _task_datastore(self):
        """The datastore of the attempt the artifact belongs to (shared with its task)."""
        if self._ds is None:
            ds = self.parent._datastore()
            if ds is None or ds.attempt != self._data_attempt:
                ds = self._source.flow_datastore(self._components[0]).task(
                    *self._components[1:4], attempt=self._data_attempt)
            self._ds = ds
        return self._ds

    @property
    def data(self):
        """The value: unpickled, or a ``RObject`` holding RDS bytes for an R value."""
        return self._task_datastore().load_object(self.id)

    def raw_bytes(self):
        """The serialized bytes as stored (pickle or RDS), uncompressed."""
        return self._task_datastore().load_bytes(self.id)

    def local_path(self):
        """The local file holding the stored blob, or None where storage has no files."""
        return self._task_datastore().local_path(self.id)

    def copy_blob_to(self, path):
        """Stream the stored blob, as stored and unverified, into the local file ``path``."""
        self._task_datastore().copy_blob_to(self.id, path)

    def stored_at(self):
        """Where the blob is stored, as a user can look for it (a path or a URL)."""
        return self._task_datastore().ca_store.describe(self.sha)

    def verify(self):
        """Check the artifact's blob against its hash; a VerifyReport (empty when intact)."""
        verifier = _verifier(self)
        verifier.attempt(self._task_datastore(), [self.id])
        return verifier.report("artifact %s" % self.pathspec)

    def _info(self):
        return self._task_datastore().info[self.id]

    @property
    def sha(self):
        return self._task_datastore().sha(self.id)

    @property
    def size(self):
        return self._info()["size"]

    @property
    def type(self):
        return self._info()["type"]

    @property
    def encoding(self):
        return self._info()["encoding"]

    @property
    def created_at(self):
        """When the attempt that stored it finished."""
        return _datetime(self.parent._attempt_record(self._data_attempt).get("finished_at"))

    finished_at = created_at


Flow._CHILD_CLASS, Run._PARENT_CLASS = Run, Flow
Run._CHILD_CLASS, Step._PARENT_CLASS = Step, Run
Step._CHILD_CLASS, Task._PARENT_CLASS = Task, Step
Task._CHILD_CLASS, DataArtifact._PARENT_CLASS = DataArtifact, Task
_CLASSES = {cls.__name__: cls for cls in (Flow, Run, Step, Task, DataArtifact)}


def from_reference(ref):
    """The client object that ``reference()`` returned ``ref`` for, read again.

    No new namespace check: an object stays valid in the namespace it was made
    in, as the client's own objects do.
    """
    cls = _CLASSES.get(ref.get("class")) if isinstance(ref, dict) else None
    if cls is None:
        raise MetaflowException("Unknown client class %r." % (
            ref.get("class") if isinstance(ref, dict) else ref,))
    return cls._at(_Source(ref["root"]), cls._parse(ref.get("pathspec")),
                   bool(ref.get("check")), ref.get("ns"))
