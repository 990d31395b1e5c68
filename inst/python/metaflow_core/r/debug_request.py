"""The step request of a task that already ran, for R's ``debug_task()``.

R rebuilds the ``self`` a step saw when it started from the same request the
bridge wrote for it (inst/PROTOCOL.md, section 4): the artifacts of the tasks
it started from, the run's parameters, the foreach stack and ``current``. The
request is made again from the datastore, as the task process made it, so the
R session reads the same blobs the step read.
"""

import os

from ..datastore import FlowDataStore
from ..exceptions import MetaflowDataMissing, MetaflowException
from ..external import JoinInput, StepTask, StoredArtifact
from ..task_types import PARAMETERS_STEP
from . import rds
from .bridge import fetch_remote_blobs, step_request


def debug_request(task, root, output_dir, blob_dir=None):
    """Write the request of ``task`` (a client Task) to ``output_dir``; the blobs
    of a run on S3 are copied into ``blob_dir`` (default ``output_dir``).

    Returns ``{"language": "R", "request": path, ...}``, or ``{"language":
    "Python"}`` for a task of a flow that isn't R's.
    """
    flow_name, run_id, step_name, task_id = task.pathspec.split("/")
    run = task.parent.parent
    code = run.code
    if code is None:
        return {"language": "Python", "pathspec": task.pathspec}
    spec = code.spec
    step = next((s for s in spec["steps"] if s["name"] == step_name), None)
    if step is None or step.get("function") is None:
        return {"language": "none", "pathspec": task.pathspec}
    if not os.path.exists(os.path.join(code.path, "functions.rds")):
        raise MetaflowDataMissing(
            "Run %s/%s saved no functions.rds with its code in %s: it was made by an older "
            "version of the package. Run the flow again to debug its tasks."
            % (flow_name, run_id, code.path))
    parents = task.parent_task_pathspecs
    if parents is None:
        raise MetaflowDataMissing(
            "Run %s/%s didn't record which tasks %s started from: it was made by an older "
            "version of the package. Run the flow again to debug its tasks."
            % (flow_name, run_id, task.pathspec))
    # An S3 run's ref carries its s3:// root; its blobs are copied into output_dir.
    remote = root.startswith("s3://")
    datastore = FlowDataStore(flow_name, ds_type="s3" if remote else "local", ds_root=root)
    inputs = [_input_datastore(datastore, pathspec) for pathspec in parents]
    join = _join_type(step, inputs)
    names = [p["name"] for p in spec.get("parameters", [])]
    step_task = StepTask(
        step_name=step_name,
        foreach_var=step.get("foreach"),
        join=join,
        artifacts={} if join else _artifacts(inputs[0]),
        inputs=[JoinInput(ds.step_name, ds.pathspec, _artifacts(ds)) for ds in inputs]
        if join else [],
        parameters=_parameters(inputs[0], names),
        foreach_stack=_foreach_stack(inputs, join, task.index),
        current_fields=_current(task, run, names),
        datastore_type=datastore.ds_type,
    )
    if remote:
        fetch_remote_blobs(step_task, blob_dir or output_dir)
    path = os.path.join(output_dir, "request.rds")
    rds.dump(step_request(step_task, step["function"], code.path, output_dir), path)
    return {"language": "R", "pathspec": task.pathspec, "request": path, "join": join,
            "parents": parents, "attempt": task.current_attempt}


def _input_datastore(datastore, pathspec):
    _, run_id, step_name, task_id = pathspec.split("/")
    try:
        return datastore.task(run_id, step_name, task_id)
    except MetaflowException as err:
        raise MetaflowDataMissing(
            "The datastore has no completed attempt of task %s, which the step started "
            "from: %s" % (pathspec, err)) from err


def _parameters(ds, names):
    try:
        return {name: ds.load_object(name) for name in names if name in ds}
    except Exception as err:  # a lost or damaged blob: any error of reading it
        raise MetaflowDataMissing(
            "Can't read the parameters of task %s from the datastore: %s" % (ds.pathspec, err)
        ) from err


def _artifacts(ds):
    return {name: StoredArtifact(ds, name) for name in ds.keys()}


def _join_type(step, inputs):
    """None, "foreach" (the inputs are the splits of one step) or "branch"."""
    if not step.get("join"):
        return None
    return "foreach" if len(set(ds.step_name for ds in inputs)) == 1 else "branch"


def _foreach_stack(inputs, join, index):
    """The frames the task process computed from its first input (task.py)."""
    parent = inputs[0]
    stack = list(parent.control.get("foreach_stack") or [])
    if join == "foreach":
        return stack[:-1]
    var = parent.control.get("foreach_var")
    if join is None and parent.step_name != PARAMETERS_STEP and var is not None:
        values = parent.control.get("foreach_values") or []
        stack.append({"step": parent.step_name, "var": var,
                      "num_splits": parent.control.get("foreach_num_splits"), "index": index,
                      "value": values[index] if index < len(values) else None})
    return stack


def _current(task, run, parameter_names):
    flow_name, run_id, step_name, task_id = task.pathspec.split("/")
    users = [tag[len("user:"):] for tag in run.system_tags if tag.startswith("user:")]
    username = users[0] if users else None
    origin = run.origin_pathspec
    return {
        "flow_name": flow_name, "run_id": run_id, "step_name": step_name, "task_id": task_id,
        "retry_count": task.current_attempt,
        "origin_run_id": origin.split("/")[1] if origin else None,
        "pathspec": task.pathspec, "namespace": "user:%s" % username, "username": username,
        "is_running_flow": True, "parameter_names": list(parameter_names),
    }
