"""The R client's Python end: one long-lived process per R session.

R's client objects (``run_client`` and the rest, R/client_*.R) read runs through
this process instead of running Python inside R: loading reticulate alone costs
R seconds, this process starts in a tenth of one. It answers one request per
line of stdin with one response per line of stdout, both JSON objects (the
contract is inst/PROTOCOL.md, section 7)::

    {"id": 3, "op": "fields", "context": {...}, "args": {"ref": {...}, "names": ["status"]}}
    {"id": 3, "value": {"status": "succeeded"}}
    {"id": 4, "error": {"type": "MetaflowNotFound", "message": "...", "metaflow": true}}

The process keeps no state R depends on: every request carries R's context
(working directory, environment, namespace, metadata location), and every
object is named by a *ref*, the pathspec and the metadata root and namespace
it was made under. So a restarted process answers exactly as the old one would
have, and R's objects keep reading where they were made.

R values are never sent as JSON. An R artifact is answered with the path of
its blob, which R reads itself; a Python artifact is converted to RDS bytes
(r/values.py) written to a file R reads and deletes.
"""

import json
import os
import shutil
import sys
import tempfile

from .. import __version__, client
from ..datastore.cas import MAGIC
from ..exceptions import ArtifactUnreadable, MetaflowDataCorrupt, MetaflowException, RValueError
from .verifier import verdict

CLASSES = {
    "Flow": client.Flow,
    "Run": client.Run,
    "Step": client.Step,
    "Task": client.Task,
}


# refs: the objects R holds


def ref_of(obj):
    """What R keeps of a client object to name it in later requests."""
    return obj.reference()


def object_at(ref):
    """The client object a ref names, read again, without a new namespace check."""
    return client.from_reference(ref)


# values as JSON


def _timestamp(when):
    return None if when is None else when.timestamp()


def _id_or_none(obj):
    return None if obj is None else obj.id


def _exception_record(info):
    return None if info is None else info.record


def _code_path(code):
    return None if code is None else code.path


def _sorted(tags):
    return sorted(tags)


# The fields R reads, by name, each with its conversion to JSON.
FIELDS = {
    "id": str,
    "pathspec": str,
    "status": str,
    "status_reason": lambda reason: reason,
    "successful": bool,
    "finished": bool,
    "created_at": _timestamp,
    "finished_at": _timestamp,
    "tags": _sorted,
    "user_tags": _sorted,
    "system_tags": _sorted,
    "end_task": _id_or_none,
    "task": _id_or_none,
    "latest_run": _id_or_none,
    "latest_successful_run": _id_or_none,
    "exception": _exception_record,
    "index": lambda index: index,
    "foreach_stack": list,
    "metadata_dict": dict,
    "stdout": str,
    "stderr": str,
    "code": _code_path,
    "origin_pathspec": lambda pathspec: pathspec,
    "resources": lambda resources: resources,
    "current_attempt": int,
}


def _fields(obj, names):
    values = {}
    for name in names:
        convert = FIELDS.get(name)
        if convert is None or not hasattr(type(obj), name):
            raise MetaflowException(
                "A %s has no field %r for R." % (type(obj).__name__, name))
        values[name] = convert(getattr(obj, name))
    return values


def _columns(objects, names):
    """One list per field, each field read from every object: a table for R."""
    rows = [_fields(obj, names) for obj in objects]
    return {name: [row[name] for row in rows] for name in names}


# requests


class Server(object):
    """Answers requests; one per R session, for as long as R keeps stdin open."""

    def __init__(self, scratch=None):
        # R passes a directory under its own tempdir(), which R removes when it
        # exits: R ends this process by killing it, so close() may never run.
        if scratch:
            os.makedirs(scratch, exist_ok=True)
        self.scratch = scratch or tempfile.mkdtemp(prefix="metaflow-r-client-")

    def close(self):
        shutil.rmtree(self.scratch, ignore_errors=True)

    # R's context, applied before every request
    def apply(self, context):
        for name, value in (context.get("env") or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        cwd = context.get("cwd")
        if cwd:
            if not os.path.isdir(cwd):
                # Answering for the last directory that existed would be state
                # R doesn't know about.
                raise MetaflowException(
                    "The working directory %s doesn't exist any more." % cwd)
            os.chdir(cwd)
        client.restore_context(context.get("root"), context.get("namespace"),
                               namespace_given=bool(context.get("namespace_set")))

    # ops: each takes the request's args, returns a JSON value
    def op_hello(self):
        return {"python": sys.executable, "pid": os.getpid(), "version": __version__}

    def op_get_namespace(self):
        return client.get_namespace()

    def op_default_namespace(self):
        return client.default_namespace()

    def op_get_metadata(self):
        return client.get_metadata()

    def op_set_metadata(self, ms):
        described = client.metadata(ms)
        return {"root": None if ms == "local" else client.metadata_root(), "metadata": described}

    def op_flows(self):
        return [flow.id for flow in client.Metaflow()]

    def op_object(self, cls, pathspec, check=True):
        if cls not in CLASSES:
            raise MetaflowException("Unknown client class %r." % (cls,))
        return ref_of(CLASSES[cls](pathspec, _namespace_check=bool(check)))

    def op_child(self, ref, id):
        parent = object_at(ref)
        if isinstance(parent, client.Task):
            raise MetaflowException("A task's children are artifacts: ask for their values "
                                    "with the artifact request.")
        return ref_of(parent.child(id))

    def op_latest(self, ref, which):
        if which not in ("latest_run", "latest_successful_run"):
            raise MetaflowException("No such run as %r." % (which,))
        run = getattr(object_at(ref), which)
        return None if run is None else ref_of(run)

    def op_end_task(self, ref):
        task = object_at(ref).end_task
        return None if task is None else ref_of(task)

    def op_code(self, ref):
        """Where the run of any object stored its code, or None."""
        obj = object_at(ref)
        while obj is not None and not isinstance(obj, client.Run):
            obj = obj.parent
        return None if obj is None else _code_path(obj.code)

    def op_cards(self, ref, id=None):
        """The task's cards (those with ``id``, when given): type, id and HTML of each."""
        return [{"type": card.type, "id": card.id, "pathspec": card.pathspec, "html": card.html}
                for card in object_at(ref).card_list(id)]

    def op_fields(self, ref, names):
        return _fields(object_at(ref), names)

    def op_is_in_namespace(self, ref):
        return object_at(ref).is_in_namespace()

    def op_children(self, ref, tags=()):
        return [child.id for child in object_at(ref) if all(t in child.tags for t in tags)]

    def op_runs(self, ref, tags=()):
        return [ref_of(run) for run in object_at(ref).runs(*tags)]

    def op_runs_table(self, ref, tags=()):
        runs = object_at(ref).runs(*tags)
        return _columns(runs, ["id", "created_at", "finished_at", "status", "successful", "tags",
                               "user_tags"])

    def op_tasks_table(self, ref):
        """The tasks of a step, or of every step of a run, in the order they started."""
        obj = object_at(ref)
        steps = reversed(obj.steps()) if isinstance(obj, client.Run) else [obj]
        step_names, tasks = [], []
        for step in steps:
            for task in reversed(step.tasks()):
                step_names.append(step.id)
                tasks.append(task)
        table = {"step": step_names}
        table.update(_columns(tasks, ["id", "index", "finished", "successful", "created_at",
                                      "finished_at", "origin_pathspec"]))
        return table

    def op_artifacts_table(self, ref):
        artifacts = list(object_at(ref).artifacts)
        return {"name": [a.id for a in artifacts], "type": [a.type for a in artifacts],
                "size": [a.size for a in artifacts],
                "encoding": [a.encoding for a in artifacts]}

    def op_steps_table(self, ref):
        """Per step, in the order the steps started: task counts and duration."""
        rows = []
        for step in reversed(object_at(ref).steps()):
            tasks = step.tasks()
            finished = [t.finished for t in tasks]
            rows.append({
                "step": step.id,
                "tasks": len(tasks),
                "finished": bool(tasks) and all(finished),
                "failed": sum(1 for t in tasks if t.finished and not t.successful),
                "created_at": _timestamp(step.created_at),
                "finished_at": _timestamp(step.finished_at),
            })
        return rows

    def op_failed_task(self, ref):
        """The first failed task of a run, newest step first, or None."""
        for step in object_at(ref).steps():
            for task in reversed(step.tasks()):
                if task.finished and not task.successful:
                    exception = task.exception
                    return {"pathspec": "%s/%s" % (step.id, task.id),
                            "message": None if exception is None else exception.message}
        return None

    def op_debug_task(self, ref, output_dir):
        """Write the step request of a task that ran, for R's debug_task().

        Given a run or a step, the task is its one failed task; when it has none
        or several, the reply lists them (``{"failed_tasks": [...]}``) instead.
        """
        obj = object_at(ref)
        if isinstance(obj, (client.Run, client.Step)):
            failed = _failed_tasks(obj)
            if len(failed) != 1:
                return {"failed_tasks": [task.pathspec for task in failed]}
            obj = failed[0]
        if not isinstance(obj, client.Task):
            raise MetaflowException("debug_task needs a task, not a %s." % type(obj).__name__)
        from .debug_request import debug_request  # only when a task is debugged

        # Copies of an S3 run's blobs must outlive output_dir (R removes it once
        # the debugger is made): they go to the scratch directory, removed at exit.
        return debug_request(obj, ref["root"], output_dir, blob_dir=self.scratch)

    def op_artifact(self, ref, name):
        """Where R reads an artifact's value: ``{"path": ..., "temporary": bool}``."""
        task = object_at(ref)
        artifact = task.child(name)
        if artifact.encoding == "rds":
            path = artifact.local_path()
            if path is not None:
                # R reads the blob itself, checking it with verify_blob as it reads.
                return {"path": path, "temporary": False, "sha": artifact.sha}
            # A remote blob (S3) is streamed, as stored, into a scratch file that R
            # reads and verifies the same way, then deletes: never whole in memory here.
            fd, copy = tempfile.mkstemp(dir=self.scratch, suffix=".blob")
            os.close(fd)
            try:
                artifact.copy_blob_to(copy)
            except BaseException:
                os.unlink(copy)
                raise
            return {"path": copy, "temporary": True, "sha": artifact.sha,
                    "stored_at": artifact.stored_at()}
        python_type = artifact.type
        try:
            value = artifact.data
        except MetaflowDataCorrupt:
            raise  # the blob's own fault, named as such, not the value's
        except Exception as err:  # unpickling runs arbitrary code: any error is possible
            raise ArtifactUnreadable(
                "%s: %s" % (type(err).__name__, err), python_type=python_type) from err
        from .values import to_rds  # only when a Python value is read

        try:
            return self._scratch_blob(to_rds(value))
        except RValueError as err:
            err.python_type = python_type
            raise

    def op_verify_blob(self, sha, path):
        """``"ok"``, or what is wrong with the blob file ``path`` R is reading as ``sha``
        (r/verifier.py): R asks before it reads the file, and takes the answer after."""
        return verdict(sha, path)

    def op_verify(self, ref, artifact=None):
        """The damaged blobs of the object (or of its artifact ``artifact``), as
        columns: artifact, pathspec, attempt, file, reason; with blobs and summary."""
        from ..datastore.verify import report_record  # only when something is verified

        obj = object_at(ref)
        if artifact is not None:
            obj = obj.child(artifact)
        record = report_record(obj.verify())
        damaged = record.pop("damaged")
        record["damaged"] = {name: [item[name] for item in damaged]
                             for name in ("artifact", "pathspec", "attempt", "file", "reason")}
        return record

    def _scratch_blob(self, data):
        fd, path = tempfile.mkstemp(dir=self.scratch, suffix=".blob")
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC + b"n")
            out.write(data)
        return {"path": path, "temporary": True}

    # the loop
    def answer(self, request):
        if not isinstance(request, dict):
            return {"id": None, "error": error_payload(MetaflowException(
                "A request is a JSON object, not %s." % type(request).__name__))}
        reply = {"id": request.get("id")}
        try:
            self.apply(request.get("context") or {})
            handler = getattr(self, "op_" + str(request.get("op")), None)
            if handler is None:
                raise MetaflowException("Unknown request %r." % (request.get("op"),))
            reply["value"] = handler(**(request.get("args") or {}))
        except Exception as err:  # every error goes back to R, none ends the loop
            reply["error"] = error_payload(err)
        return reply

    def serve(self, stdin, stdout):
        for line in stdin:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError as err:
                reply = {"id": None, "error": error_payload(err)}
            else:
                reply = self.answer(request)
            stdout.write(json.dumps(reply, default=str).encode("utf-8") + b"\n")
            stdout.flush()


def _failed_tasks(obj):
    """The tasks of a run or step that failed with an error (not those stopped), oldest first."""
    steps = reversed(obj.steps()) if isinstance(obj, client.Run) else [obj]
    return [task for step in steps for task in reversed(step.tasks())
            if task.finished and not task.successful and task.exception is not None]


def error_payload(err):
    payload = {
        "type": type(err).__name__,
        "message": getattr(err, "message", None) or str(err),
        "metaflow": isinstance(err, MetaflowException),
    }
    for name in ("python_type", "inner_type", "artifact", "pathspec", "path"):
        if getattr(err, name, None):
            payload[name] = getattr(err, name)
    return payload


def main():
    """Serve on stdin and stdout; ``sys.argv[1]``, if given, is the scratch directory."""
    # Replies get stdout's file to themselves: whatever else prints during a
    # request (code run by unpickling, a library's chatter, even C code) goes
    # to stderr, which R keeps in a log, instead of between two replies.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server = Server(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        server.serve(sys.stdin.buffer, replies)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
