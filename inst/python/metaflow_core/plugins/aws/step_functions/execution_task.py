"""One task of a Step Functions execution, run inside its Batch job.

The state machine runs a job per task; each job runs this (``step-functions task
STEP``, through remote_task.py), which plays the runtime's part for that one
task: what the runtime would know, it derives from the execution and the
datastore. The run id is ``sfn-<execution name>``; a task's id comes from its
foreach indices (``task_id``), so every job can name its inputs' tasks without
asking anyone: a step's parents at the same indices, a foreach's one task at
the enclosing indices, and a foreach join's every body task, as many as the
foreach task recorded. The start task registers the run and its parameters
(defaults resolved as a local run resolves them); the end task finishes it; a
task that fails for good fails it. A foreach task leaves its split indices where
the state machine's Map reads them (``splits_key``). Retries (@retry) happen in
the job, as the runtime does them locally.
"""

import json
import os
import sys

from ....exceptions import MetaflowException
from ....launcher import LocalLauncher
from ....metadata import FAILED, SUCCEEDED
from ....parameters import flow_parameters
from ....runtime import NativeRuntime, ScheduledTask, resolve_parameters
from ....task_types import PARAMETERS_STEP
from .state_machine import RUN_ID_PREFIX, StepFunctionsError, splits_key, task_id

EXECUTION_VARIABLE = "METAFLOW_SFN_EXECUTION"
PARAMETERS_VARIABLE = "METAFLOW_SFN_PARAMETERS"
SPLIT_INDEX_VARIABLE = "METAFLOW_SFN_SPLIT_INDEX_%d"
# The _parameters task of every run the runtime starts is its first id.
PARAMETERS_TASK_ID = "0"


def split_indices(env):
    """The foreach indices of this task, outermost first, from the job's environment."""
    found = []
    while SPLIT_INDEX_VARIABLE % len(found) in env:
        text = env[SPLIT_INDEX_VARIABLE % len(found)]
        try:
            found.append(int(text))
        except ValueError:
            raise StepFunctionsError("The job's %s is *%s*, not a split index."
                                     % (SPLIT_INDEX_VARIABLE % len(found), text))
    return tuple(found)


class ExecutionTask(NativeRuntime):
    """The runtime of one task: no scheduling of what follows (the state machine
    does that) and no heartbeat (the execution is what runs the run)."""

    heartbeat = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The job is where the task runs, whatever launcher its step asks for.
        self.launchers = {name: LocalLauncher() for name in self.launchers}

    def _on_success(self, task, ds):
        self.record_finished(task, task.pathspec(self.run_id))
        if self.graph[task.step].type == "end":
            return
        names, foreach_var = ds.control["transition"]
        if foreach_var is None:
            return
        num_splits = ds.control["foreach_num_splits"]
        if num_splits > self.max_num_splits:
            raise StepFunctionsError(
                "Foreach in step *%s* yielded %d child steps which is more than the current "
                "maximum of %d children: deploy with `step-functions create --max-num-splits`."
                % (task.step, num_splits, self.max_num_splits), step=task.step)
        # Strings: the Map hands each to its iteration, which formats it into names.
        self.flow_datastore.storage.save_bytes(
            splits_key(self.flow.name, self.run_id, task.step, task.task_id),
            json.dumps([str(i) for i in range(num_splits)]).encode("utf-8"))
        self.system_echo(task, "Foreach yields %d child steps." % num_splits)

    def input_paths(self, step, key):
        """(input paths, split index) of the task of ``step`` at foreach indices ``key``."""
        run = self.run_id
        if step == "start":
            return ["%s/%s/%s" % (run, PARAMETERS_STEP, PARAMETERS_TASK_ID)], None
        node = self.graph[step]
        if node.type == "join":
            split = self.graph.matching_split(step)
            if self.graph[split].type == "foreach":
                foreach = self.flow_datastore.task(run, split, task_id(key))
                body = node.in_funcs[0]
                return ["%s/%s/%s" % (run, body, task_id(key + (i,)))
                        for i in range(foreach.control["foreach_num_splits"])], None
            return ["%s/%s/%s" % (run, parent, task_id(key)) for parent in node.in_funcs], None
        parent = node.in_funcs[0]
        if self.graph[parent].type == "foreach":
            return ["%s/%s/%s" % (run, parent, task_id(key[:-1]))], key[-1]
        return ["%s/%s/%s" % (run, parent, task_id(key))], None

    def start_run(self, given, code_package):
        """Register the run and its ``_parameters`` task: ``given`` (by parameter name)
        converted, the others' defaults resolved, as a local run does."""
        flow_cls = type(self.flow)
        self.metadata.register_run(
            self.flow.name, self.run_id, self.user, system_tags=[
                "user:%s" % self.user, "runtime:step-functions",
                "python_version:%s" % sys.version.split()[0]],
            runtime={"step_functions": self.run_id[len(RUN_ID_PREFIX):]},
            code_package=code_package)
        by_name = {param.name: attr for attr, param in flow_parameters(flow_cls)}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            raise StepFunctionsError("The execution's input names no parameter of the flow: %s."
                                     % ", ".join(unknown))
        values = resolve_parameters(flow_cls, {by_name[k]: v for k, v in given.items()},
                                    self.user, self.flow_datastore.ds_type)
        self.persist_parameters(values)

    def run_task(self, step, key, given, code_package):
        """Run the task of ``step`` at foreach indices ``key``; what fails before the
        task could run fails the run too."""
        try:
            if step == "start":
                self.start_run(given, code_package)
            paths, split_index = self.input_paths(step, key)
        except MetaflowException as err:
            self.metadata.set_run_status(self.flow.name, self.run_id, FAILED, reason=err.message,
                                         failed_tasks=[])
            raise
        self.run_queue.append(ScheduledTask(step, task_id(key), paths, key, split_index))
        self.run_queued()
        if step == "end":
            self.metadata.set_run_status(self.flow.name, self.run_id, SUCCEEDED)


def run(state, step, user, code_package, max_num_splits):
    """Run ``step``'s task of the execution the job's environment names."""
    env = os.environ
    execution = env.get(EXECUTION_VARIABLE)
    if not execution:
        raise StepFunctionsError(
            "`step-functions task` runs inside a Step Functions execution's Batch job, "
            "which sets %s; it is not set." % EXECUTION_VARIABLE)
    if step not in state.graph:
        raise StepFunctionsError("The flow has no step *%s*." % step, step=step)
    given = {}
    if step == "start":
        try:
            given = json.loads(env.get(PARAMETERS_VARIABLE) or "{}") or {}
        except ValueError as err:
            raise StepFunctionsError("The execution's Parameters are not JSON: %s." % err)
        if not isinstance(given, dict):
            raise StepFunctionsError("The execution's Parameters must be a JSON object, "
                                     "not %s." % json.dumps(given))
    runtime = ExecutionTask(
        state.flow, state.graph, state.flow_datastore, state.metadata, state.entrypoint(),
        RUN_ID_PREFIX + execution, user, max_num_splits=max_num_splits,
        decospecs=state.decospecs, echo=lambda msg, system=True: state.echo(msg, system=system),
        quiet=state.quiet)
    runtime.run_task(step, split_indices(env), given, code_package)
