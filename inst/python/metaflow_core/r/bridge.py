"""Running an R step: the Python half of the bridge (see inst/PROTOCOL.md).

An R step's body runs elsewhere, through the core's public hook
(``external.run_elsewhere`` with an :class:`RStep` runner): the task process
writes a request naming the step's inherited artifacts (blob paths, never
values) as an RDS file, which R reads with base R alone, starts one ``Rscript``
for the step, and reads back ``result.json`` and the artifacts R assigned as RDS
bytes, which the datastore stores verbatim. :class:`RFrontEnd` tells the engine's
commands what an R flow adds: the code saved with each run and short previews of
R values for ``dump``.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from ..current import current
from ..datastore.cas import MAGIC
from ..datastore.serializers import RObject
from ..decorators import TimeoutException
from ..exceptions import MetaflowException
from ..external import StepOutcome, StepRunner, reserved_artifact_name
from ..front_end import FrontEnd
from ..process_tree import die_with_parent_kwargs, kill_group
from . import errors, rds, staging
from .cards import append_r_card
from .verifier import BlobVerifier

PROTOCOL_VERSION = 1
R_ENTRY = "metaflow:::bridge_main()"
# Seconds dump waits for R's previews before it shows the values without them.
PREVIEW_TIMEOUT = 60
# Where an R flow's spec and generated module sit in its code package.
PACKAGE_SPEC_DIR = "_mf_spec"
RSCRIPT_EXIT_CLASSES = ["metaflow_error_rscript"] + errors.BASE_CLASSES
_specs = {}


class RStepError(MetaflowException):
    headline = "R error"

    def __init__(self, msg, step=None, call=None, traceback=None, r_class=None,
                 caught_rds=None, partial=None):
        super().__init__(msg, step=step)
        self.extra_record = {"language": "R", "call": call, "r_traceback": traceback or [],
                             "r_class": r_class or []}
        # An error of the bridge itself (no function for the step, a bad request) comes
        # back the same on every attempt.
        self.retry_helps = "metaflow_error_bridge" not in (r_class or [])
        # The condition as R serialized it for catch(var =), and the artifacts the
        # step assigned before the error (external.run_elsewhere sets them).
        self.caught_rds = caught_rds
        self.partial_outcome = partial


def _spec(spec_dir):
    if spec_dir not in _specs:
        with open(os.path.join(spec_dir, "flow.json"), "rb") as f:
            _specs[spec_dir] = json.loads(f.read())
    return _specs[spec_dir]


def _describe(artifacts):
    """Where R finds each artifact of a task: the blob file, its sha and encoding."""
    return {name: {"path": a.path, "sha": a.sha, "encoding": a.encoding, "task": a.pathspec}
            for name, a in artifacts.items()}


def _writable(value):
    """A parameter value as the request can hold it: itself, or its repr."""
    try:
        rds.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def step_request(task, function, spec_dir, output_dir):
    """The request of one R step attempt (inst/PROTOCOL.md, section 4)."""
    return {
        "version": PROTOCOL_VERSION,
        "functions_rds": os.path.join(spec_dir, "functions.rds"),
        "function": function,
        "step": task.step_name,
        "output_dir": output_dir,
        "join": task.join,
        "self": {"artifacts": _describe(task.artifacts)},
        "inputs": [
            {"step": inp.step, "task": inp.pathspec,
             "artifacts": _describe(inp.artifacts)}
            for inp in task.inputs
        ],
        "parameters": {p: _writable(v) for p, v in task.parameters.items()},
        "foreach_stack": task.foreach_stack,
        "foreach_var": task.foreach_var,
        "current": task.current,
    }


class RStep(StepRunner):
    """Runs the R body of a step (``function`` of the spec) in a fresh Rscript process."""

    def __init__(self, spec_dir, function):
        self.spec_dir = spec_dir
        self.function = function

    def run(self, task):
        r = _spec(self.spec_dir)["r"]
        # On the datastore's filesystem, so that R's artifact files move into the
        # store by a rename; removed whatever ends the step (staging.py).
        output_dir = staging.make_output_dir(task.store)
        try:
            fetch_remote_blobs(task, output_dir)
            verifier = BlobVerifier(output_dir, ahead=_readable_blobs(task))
        except MetaflowException:
            shutil.rmtree(output_dir, ignore_errors=True)
            raise
        except OSError as err:
            shutil.rmtree(output_dir, ignore_errors=True)
            raise MetaflowException("Can't make the pipes an R step's reads are verified "
                                    "through in %s: %s." % (output_dir, err.strerror))
        try:
            request_path = os.path.join(output_dir, "request.rds")
            request = step_request(task, self.function, self.spec_dir, output_dir)
            request["verifier"] = verifier.fields()
            rds.dump(request, request_path)
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                returncode = _call_rscript(_rscript_command(r, request_path), _r_environment(r),
                                           task.step_name)
            finally:
                verifier.close()
            append_r_card(output_dir, task.step_name)
            result = _read_result(output_dir)
            if result is None or result is DAMAGED_RESULT:
                raise RStepError(_exit_message(returncode, output_dir,
                                               damaged=result is DAMAGED_RESULT),
                                 step=task.step_name, r_class=RSCRIPT_EXIT_CLASSES)
            if not result.get("ok"):
                error = result.get("error") or {}
                raise RStepError(error.get("message", "unknown R error"), step=task.step_name,
                                 call=error.get("call"), traceback=error.get("traceback"),
                                 r_class=error.get("class"),
                                 caught_rds=_read_file(output_dir, error.get("caught")),
                                 partial=StepOutcome(artifacts=_artifacts(
                                     task, result, output_dir, verifier)))
            return _outcome(task, result, output_dir, verifier)
        finally:
            shutil.rmtree(output_dir, ignore_errors=True)


def _exit_message(returncode, output_dir=None, damaged=False):
    if damaged:
        message = "Rscript left its result file unreadable (written only in part)."
    elif returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "signal %d" % -returncode
        message = "Rscript was killed by %s before the step finished." % name
    else:
        message = "Rscript exited with status %d before the step finished." % returncode
    full = output_dir is not None and _disk_full(output_dir)
    if full:
        # The likeliest cause, and the log that would say so may not have been written.
        return "%s The datastore's disk is full (no space left at %s)." % (message, output_dir)
    return message + " See the log above."


def _disk_full(path):
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    # Less than a block left is full: R's writes failed there.
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def _read_file(output_dir, name):
    if not name:
        return None
    try:
        with open(os.path.join(output_dir, os.path.basename(name)), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _call_rscript(cmd, env, step_name):
    """Run the step's Rscript in a process group of its own, and return its status.

    Whatever ends the step, R and what it started (``system2(..., wait = FALSE)``)
    end with it: the group is killed when Rscript exits, and at once when the wait
    is cut short (a timeout, an interrupt). A timeout is told in R's terms.

    R also dies with the task process (SIGKILL as its parent-death signal): a task
    killed outright must not leave its step running, holding its output open."""
    proc = subprocess.Popen(cmd, env=env, **die_with_parent_kwargs())
    try:
        proc.wait()
    except TimeoutException as err:
        kill_group(proc)
        raise RStepTimeout(step_name, err)
    finally:
        kill_group(proc)
    return proc.returncode


class RStepTimeout(RStepError, TimeoutException):
    """A timeout of an R step: an R condition of class ``metaflow_error_timeout``."""

    headline = "@timeout"

    def __init__(self, step_name, err):
        seconds = err.seconds
        RStepError.__init__(
            self, "Step `%s` timed out after %d second%s." % (
                step_name, seconds, "" if seconds == 1 else "s"),
            step=step_name, r_class=["metaflow_error_timeout", "metaflow_error", "error",
                                     "condition"])
        self.seconds = seconds
        self.retry_helps = err.retry_helps


def _rscript_command(r, request_path):
    return [_rscript(r), "--no-save", "--no-restore", "-e", R_ENTRY, request_path]


def _rscript(r):
    """The Rscript the flow was written with; on another machine (a task from a code
    package, in a container) where that path doesn't exist, the one on the PATH."""
    if os.path.exists(r["rscript"]):
        return r["rscript"]
    return shutil.which("Rscript") or r["rscript"]


def _r_environment(r):
    env = dict(os.environ)
    env["R_LIBS"] = os.pathsep.join(r.get("lib_paths", []))
    # The R client inside a step talks to the same Python that runs the task.
    env.setdefault("METAFLOW_PYTHON", sys.executable)
    return env


class RFrontEnd(FrontEnd):
    """An R flow: generated from the spec in ``spec_dir``; a bare command runs it."""

    default_command = "run"

    def __init__(self, spec_dir):
        self.spec_dir = spec_dir

    def code_files(self):
        files = {}
        for name in ("flow.json", "flow.py"):
            with open(os.path.join(self.spec_dir, name), "rb") as f:
                files[name] = f.read()
        # debug_task() rebuilds a step from it in an R session; a spec whose steps
        # have no R function has none.
        functions = os.path.join(self.spec_dir, "functions.rds")
        if os.path.exists(functions):
            with open(functions, "rb") as f:
                files["functions.rds"] = f.read()
        return files

    def package_layout(self, module_path):
        # The files of the directory the flow was run from (an R script's data,
        # sourced helpers), and the spec beside the module generated from it.
        spec = {"%s/%s" % (PACKAGE_SPEC_DIR, name): data for name, data in self.code_files().items()}
        return os.getcwd(), "%s/flow.py" % PACKAGE_SPEC_DIR, spec

    def previews(self, values):
        return r_previews(self.spec_dir, values)

    def error_record(self, exc):
        return errors.error_record(exc)

    def error_lines(self, record):
        return errors.error_lines(record)

    def caught_value(self, exc, record):
        return errors.caught_value(exc, record, current.step_name, current.pathspec)


def r_previews(spec_dir, values):
    """A short ``str()`` of each R value (an RObject), rendered by one Rscript.

    Where that can't be done (R failing or taking longer than PREVIEW_TIMEOUT
    seconds) the values' repr() stands in.
    """
    fallback = [repr(value) for value in values]
    if not values:
        return fallback
    r = _spec(spec_dir)["r"]
    work_dir = tempfile.mkdtemp(prefix="mf-r-preview-")
    try:
        paths = []
        for i, value in enumerate(values):
            paths.append(os.path.join(work_dir, "%d.blob" % i))
            with open(paths[-1], "wb") as f:
                f.write(MAGIC + b"n" + value.rds_bytes)
        request_path = os.path.join(work_dir, "request.rds")
        rds.dump({"version": PROTOCOL_VERSION, "previews": paths, "output_dir": work_dir},
                 request_path)
        try:
            subprocess.run(_rscript_command(r, request_path), env=_r_environment(r),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=PREVIEW_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return fallback
        result = _read_result(work_dir)
        previews = result.get("previews") if isinstance(result, dict) else None
        return previews if isinstance(previews, list) and len(previews) == len(values) else fallback
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


# What _read_result() gives for a result file R could not write whole.
DAMAGED_RESULT = object()


def _read_result(output_dir):
    try:
        with open(os.path.join(output_dir, "result.json"), "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError:
        return DAMAGED_RESULT


def fetch_remote_blobs(task, output_dir):
    """Give each inherited artifact that has no local file (an S3 datastore) one:
    its stored blob, byte for byte, copied into ``output_dir`` (removed with it).
    R reads the copy as it reads a local blob, verified against the sha by the
    same verifier, so a blob damaged in the store is caught as locally."""
    stores = [task.artifacts] + [inp.artifacts for inp in task.inputs]
    remote = [a for artifacts in stores for a in artifacts.values() if a.path is None]
    if not remote:
        return
    directory = os.path.join(output_dir, "inputs")
    os.makedirs(directory, exist_ok=True)
    by_sha = {}
    for artifact in remote:
        by_sha.setdefault(artifact.sha, []).append(artifact)

    def fetch(sha):
        path = os.path.join(directory, sha)
        by_sha[sha][0].copy_blob_to(path)
        for artifact in by_sha[sha]:
            artifact.path = path

    remote[0].storage.parallel_map(fetch, list(by_sha))


def _readable_blobs(task):
    """(sha, path) of each inherited artifact R can read: what the step may ask about."""
    stores = [task.artifacts] + [inp.artifacts for inp in task.inputs]
    return [(a.sha, a.path) for artifacts in stores for a in artifacts.values()
            if a.encoding == "rds" and a.path is not None]


def _artifacts(task, result, output_dir, verifier):
    """The artifacts R wrote, each a blob file in ``output_dir``, moved into the
    store now (a rename): Python never reads their bytes, hashed by ``verifier``
    while R wrote them."""
    artifacts = {}
    for name, filename in (result.get("artifacts") or {}).items():
        if reserved_artifact_name(name):
            raise RStepError("Artifact name *%s* is not allowed: it is used by the engine." % name,
                             step=task.step_name)
        value = RObject(staged_path=os.path.join(output_dir, os.path.basename(filename)))
        if task.store is not None:
            value.move_into(task.store, verifier.written_sha(value.staged_path))
        artifacts[name] = value
    return artifacts


def _outcome(task, result, output_dir, verifier):
    foreach = result.get("foreach")
    return StepOutcome(
        artifacts=_artifacts(task, result, output_dir, verifier), merge=result.get("merge") or {},
        foreach=(foreach["num_splits"], foreach.get("values")) if foreach else None,
    )
