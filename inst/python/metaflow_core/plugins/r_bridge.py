"""Running an R step: the Python half of the bridge (see inst/PROTOCOL.md).

The task process writes a request naming the step's inherited artifacts (blob
paths, never values) as an RDS file, which R reads with base R alone, starts one
``Rscript`` for the step, and reads back ``result.json`` and the artifacts R
assigned as RDS bytes, which the datastore stores verbatim. The same entry point
renders short previews of R values for ``dump``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from ..current import current
from ..datastore.cas import MAGIC
from ..datastore.serializers import RObject
from ..exceptions import MetaflowException
from ..flowspec import FlowSpec
from . import rds

PROTOCOL_VERSION = 1
R_ENTRY = "metaflow:::bridge_main()"
# Seconds dump waits for R's previews before it shows the values without them.
PREVIEW_TIMEOUT = 60
_specs = {}


class RStepError(MetaflowException):
    headline = "R error"

    def __init__(self, msg, step=None, call=None, traceback=None, r_class=None):
        super().__init__(msg, step=step)
        self.extra_record = {"language": "R", "call": call, "r_traceback": traceback or [],
                             "r_class": r_class or []}
        # An error of the bridge itself (no function for the step, a bad request) comes
        # back the same on every attempt.
        self.retry_helps = "metaflow_error_bridge" not in (r_class or [])


def _spec(spec_dir):
    if spec_dir not in _specs:
        with open(os.path.join(spec_dir, "flow.json"), "rb") as f:
            _specs[spec_dir] = json.loads(f.read())
    return _specs[spec_dir]


def _describe(ds):
    """Where R finds each artifact of a task: the blob file, its sha and encoding."""
    if ds is None:
        return {}
    storage = ds.storage
    if not hasattr(storage, "path"):
        raise MetaflowException(
            "R steps read artifacts from local files; datastore *%s* can't serve them yet."
            % storage.TYPE
        )
    return {
        name: {"path": storage.path(ds.ca_store.key(sha)), "sha": sha,
               "encoding": ds.info[name]["encoding"]}
        for name, sha in ds.objects.items()
    }


def _writable(value):
    """A parameter value as the request can hold it: itself, or its repr."""
    try:
        rds.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _request(flow, step_name, function, inputs, spec_dir, output_dir):
    graph = flow._graph
    params = current.parameter_names or []
    join = None
    if inputs is not None:
        split = graph.matching_split(step_name)
        join = "foreach" if split is not None and graph[split].type == "foreach" else "branch"
    return {
        "version": PROTOCOL_VERSION,
        "functions_rds": os.path.join(spec_dir, "functions.rds"),
        "function": function,
        "step": step_name,
        "output_dir": output_dir,
        "join": join,
        "self": {"artifacts": _describe(flow._datastore)},
        "inputs": [
            {"step": inp._current_step, "task": inp._datastore.pathspec,
             "artifacts": _describe(inp._datastore)}
            for inp in (inputs or [])
        ],
        "parameters": {p: _writable(getattr(flow, p)) for p in params},
        "foreach_stack": [f.to_dict() for f in flow._foreach_stack_frames],
        "foreach_var": graph[step_name].foreach_param,
        "current": {
            "flow_name": current.flow_name, "run_id": current.run_id,
            "step_name": current.step_name, "task_id": current.task_id,
            "retry_count": current.retry_count, "origin_run_id": current.origin_run_id,
            "pathspec": current.pathspec, "namespace": current.namespace,
            "username": current.username, "is_running_flow": True,
            "parameter_names": list(params),
        },
    }


def r_step(flow, function, inputs=None):
    """Run the R body of the current step in a fresh Rscript process."""
    step_name = flow._current_step
    spec_dir = type(flow)._r_spec_dir
    r = _spec(spec_dir)["r"]
    output_dir = tempfile.mkdtemp(prefix="mf-r-")
    try:
        request_path = os.path.join(output_dir, "request.rds")
        rds.dump(_request(flow, step_name, function, inputs, spec_dir, output_dir), request_path)
        sys.stdout.flush()
        sys.stderr.flush()
        returncode = subprocess.call(_rscript_command(r, request_path), env=_r_environment(r))
        result = _read_result(output_dir)
        if result is None:
            raise RStepError(
                "Rscript exited with status %d before the step finished; see the log above."
                % returncode, step=step_name
            )
        if not result.get("ok"):
            error = result.get("error") or {}
            raise RStepError(error.get("message", "unknown R error"), step=step_name,
                             call=error.get("call"), traceback=error.get("traceback"),
                             r_class=error.get("class"))
        _apply(flow, result, inputs, output_dir)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def _rscript_command(r, request_path):
    return [r["rscript"], "--no-save", "--no-restore", "-e", R_ENTRY, request_path]


def _r_environment(r):
    env = dict(os.environ)
    env["R_LIBS"] = os.pathsep.join(r.get("lib_paths", []))
    # The R client inside a step talks to the same Python that runs the task.
    env.setdefault("METAFLOW_PYTHON", sys.executable)
    return env


def r_previews(flow, values):
    """A short ``str()`` of each R value (an RObject), rendered by one Rscript.

    Where that can't be done (a flow without an R spec, R failing or taking
    longer than PREVIEW_TIMEOUT seconds) the values' repr() stands in.
    """
    spec_dir = getattr(type(flow), "_r_spec_dir", None)
    fallback = [repr(value) for value in values]
    if not values or spec_dir is None:
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
        previews = (result or {}).get("previews")
        return previews if isinstance(previews, list) and len(previews) == len(values) else fallback
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _read_result(output_dir):
    try:
        with open(os.path.join(output_dir, "result.json"), "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def _apply(flow, result, inputs, output_dir):
    for name, filename in (result.get("artifacts") or {}).items():
        if not name or name in FlowSpec._EPHEMERAL or hasattr(FlowSpec, name):
            raise RStepError("Artifact name *%s* is not allowed: it is used by the engine." % name,
                             step=flow._current_step)
        with open(os.path.join(output_dir, os.path.basename(filename)), "rb") as f:
            setattr(flow, name, RObject(f.read()))
    for name, index in (result.get("merge") or {}).items():
        flow._passdown[name] = inputs[index]._datastore
    foreach = result.get("foreach")
    if foreach:
        counted = (foreach["num_splits"], foreach.get("values"))
        flow._split_counter = lambda var: counted if var == foreach["var"] else None
