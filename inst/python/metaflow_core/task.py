"""One attempt of one step, run inside the child process the runtime started.

The task reads its inputs' artifact indexes (never their values, unless the
step touches them), runs the step function, and writes its artifacts and a
control record that the runtime schedules from. Whatever happens, the attempt
ends with a complete ``data.json`` and ``DONE.lock``, so a failed attempt can be
inspected like a successful one.
"""

import json
import sys

from .current import current
from .exceptions import (
    EXIT_DISALLOW_RETRY,
    MetaflowDataMissing,
    MetaflowException,
    MetaflowInternalError,
    exception_record,
)
from .decorators import error_record
from .front_end import front_end_of
from .parameters import flow_parameters
from .task_types import PARAMETERS_STEP, FlowLike, ForeachFrame, Inputs, TaskGraph


class Task(object):
    def __init__(self, flow, graph, flow_datastore, run_id, step_name, task_id,
                 input_paths, split_index=None, retry_count=0, max_user_code_retries=0,
                 decorators=(), namespace=None, username=None, origin_run_id=None):
        self.flow = flow
        self.graph = graph
        self.flow_datastore = flow_datastore
        self.run_id = str(run_id)
        self.step_name = step_name
        self.task_id = str(task_id)
        self.input_paths = input_paths
        self.split_index = split_index
        self.retry_count = retry_count
        self.max_user_code_retries = max_user_code_retries
        self.decorators = list(decorators)
        self.namespace = namespace
        self.username = username
        self.origin_run_id = origin_run_id
        # The error the attempt failed with, once run() returned False.
        self.error = None

    def _load_inputs(self):
        inputs = []
        for path in self.input_paths:
            run_id, step_name, task_id = path.split("/")
            inputs.append(self.flow_datastore.task(run_id, step_name, task_id))
        if not inputs:
            raise MetaflowDataMissing("Step *%s* got no inputs." % self.step_name)
        return inputs

    def _foreach_frames(self, node, inputs):
        parent = inputs[0]
        stack = [ForeachFrame.from_dict(d) for d in parent.control.get("foreach_stack", [])]
        if node.type == "join":
            split = self.graph.matching_split(node.name)
            if split is not None and self.graph[split].type == "foreach":
                expected = stack[-1].num_splits if stack else None
                if expected is not None and expected != len(inputs):
                    raise MetaflowDataMissing(
                        "Foreach join *%s* expected %d splits but only %d inputs were found"
                        % (node.name, expected, len(inputs)), step=node.name
                    )
                return stack[:-1]
            return stack
        if parent.step_name != PARAMETERS_STEP and self.graph[parent.step_name].type == "foreach":
            index = int(self.split_index)
            values = parent.control.get("foreach_values") or []
            stack.append(ForeachFrame(
                parent.step_name, parent.control["foreach_var"],
                parent.control["foreach_num_splits"], index,
                values[index] if index < len(values) else None,
            ))
        return stack

    def _bind_flow(self, node, inputs):
        flow = self.flow
        flow._current_step = self.step_name
        flow._graph = self.graph
        flow._param_source = inputs[0]
        if node.type == "join":
            flow._is_join = True
            joined = []
            for ds in inputs:
                inp = type(flow)(use_cli=False)
                inp._datastore = ds
                inp._param_source = ds
                inp._current_step = ds.step_name
                inp._foreach_stack_frames = [
                    ForeachFrame.from_dict(d) for d in ds.control.get("foreach_stack", [])
                ]
                joined.append(inp)
            return Inputs(joined)
        flow._datastore = inputs[0]
        return None

    def run(self):
        """Run the attempt; returns True when the step succeeded."""
        node = self.graph[self.step_name]
        output = self.flow_datastore.task(
            self.run_id, self.step_name, self.task_id, attempt=self.retry_count, mode="w"
        )
        flow = self.flow
        error = None
        inputs = []
        try:
            inputs = self._load_inputs()
            flow._foreach_stack_frames = self._foreach_frames(node, inputs)
            join_inputs = self._bind_flow(node, inputs)
            current._set_env(
                flow_name=flow.name, run_id=self.run_id, step_name=self.step_name,
                task_id=self.task_id, retry_count=self.retry_count,
                origin_run_id=self.origin_run_id,
                # Metaflow's current.namespace is the user's own unless the run set one.
                namespace=self.namespace or "user:%s" % self.username,
                username=self.username,
                parameter_names=[attr for attr, _ in flow_parameters(type(flow))],
            )
            for d in self.decorators:
                d.task_pre_step(flow)
            self._call_step(node, join_inputs)
            self._check_transition(node)
            for d in self.decorators:
                d.task_post_step(flow)
        except Exception as exc:
            error = exc
            # An error no retry can fix makes this attempt the last: @catch handles it now.
            retries = (self.max_user_code_retries if getattr(exc, "retry_helps", True)
                       else self.retry_count)
            handled = any(
                d.task_exception(flow, exc, self.retry_count, retries)
                for d in self.decorators
            )
            if handled:
                error = None
                flow._transition = (list(node.out_funcs), None)
            else:
                self._report(exc)
        try:
            self._persist(output, node, inputs, error)
        except Exception as exc:
            if error is None:
                self._report(exc)
                error = exc
                output.set_control(task_ok=False, exception=error_record(flow, exc))
                try:
                    output.done()
                except MetaflowException as record_error:
                    # Even the failure can't be recorded (a full disk): said once, and
                    # the runtime records the attempt from the task's exit status.
                    if not isinstance(exc, type(record_error)):
                        self._report(record_error)
        self.error = error
        return error is None

    def exit_code(self):
        """The task process's exit status: 0, 1, or EXIT_DISALLOW_RETRY when a retry of
        this error can't succeed."""
        if self.error is None:
            return 0
        return 1 if getattr(self.error, "retry_helps", True) else EXIT_DISALLOW_RETRY

    def _call_step(self, node, join_inputs):
        func = getattr(self.flow, self.step_name)
        disarms = [d.arm(self.step_name) for d in self.decorators if hasattr(d, "arm")]
        try:
            if node.type == "join":
                func(join_inputs)
            else:
                func()
        finally:
            for disarm in disarms:
                disarm()

    def _check_transition(self, node):
        if node.type == "end":
            return
        transition = self.flow._transition
        if transition is None:
            raise MetaflowException(
                "Step *%s* did not call self.next() when it ran. Make sure there is an "
                "unconditional self.next() as the last line of the step." % self.step_name,
                step=self.step_name,
            )
        if list(transition[0]) != list(node.out_funcs):
            raise MetaflowInternalError(
                "Based on static analysis of the code, step *%s* was expected to transition "
                "to step(s) *%s*. However, when the code was executed, self.next() was called "
                "with *%s*. Make sure there is only one unconditional self.next() call in the "
                "end of your step. " % (self.step_name, ", ".join(node.out_funcs),
                                         ", ".join(transition[0])),
                step=self.step_name,
            )

    def _persist(self, output, node, inputs, error):
        flow = self.flow
        # A failed attempt keeps what it could save, so it can be inspected; its
        # own error is already reported, so a second one here is not raised.
        for name, value in flow._artifacts_to_persist().items():
            try:
                if isinstance(value, FlowLike):
                    raise MetaflowException(
                        "Flows can't be serialized. Maybe you tried to assign *self* or one "
                        "of the *inputs* to an attribute? Artifact *%s* in step *%s*."
                        % (name, self.step_name), step=self.step_name
                    )
                output.save_object(name, value)
            except MetaflowException:
                if error is None:
                    raise
        if inputs:
            if node.type == "join":
                params = [attr for attr, _ in flow_parameters(type(flow))]
                output.passdown(inputs[0], [p for p in params if p in inputs[0]])
                for name, ds in flow._passdown.items():
                    output.passdown(ds, [name])
            else:
                output.passdown(inputs[0])
        for d in self.decorators:
            d.task_finished(flow, output, error)
        transition = flow._transition
        output.set_control(
            task_ok=error is None,
            transition=[list(transition[0]), transition[1]] if transition else None,
            foreach_var=flow._foreach_var,
            foreach_num_splits=flow._foreach_num_splits,
            foreach_values=flow._foreach_values,
            foreach_stack=[f.to_dict() for f in flow._foreach_stack_frames],
            exception=error_record(flow, error) if error is not None else None,
        )
        output.done()

    def _report(self, exc):
        index = ""
        if self.flow._foreach_stack_frames:
            index = "[%s]" % ",".join(str(f.index) for f in self.flow._foreach_stack_frames)
        sys.stderr.write("<flow %s step %s%s> failed:\n" % (self.flow.name, self.step_name, index))
        front_end_lines = front_end_of(type(self.flow)).error_lines(error_record(self.flow, exc))
        if front_end_lines:
            sys.stderr.write("".join("    %s\n" % line for line in front_end_lines))
        elif isinstance(exc, MetaflowException):
            lines = exc.message.replace("*", "").splitlines() or [""]
            sys.stderr.write("    %s:\n%s\n" % (exc.headline, "\n".join("    " + l for l in lines)))
        else:
            sys.stderr.write(exception_record(exc)["traceback"])
        sys.stderr.flush()


def main(flow, argv):
    """Entry point of a task process; exits with Task.exit_code()."""
    from .datastore import FlowDataStore
    from .decorators import parse_decospec, step_decorators
    from .parent_watch import watch_parent
    from .util import get_username

    watch_parent()
    text = argv[0]
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    args = json.loads(text)
    # Built once by the runtime from the flow's module, not parsed again here.
    graph = TaskGraph(args["graph"])
    if args["namespace"] is not None:
        from . import client

        client.namespace(args["namespace"] or None)
    extra = [parse_decospec(s) for s in args["decospecs"]]
    task = Task(
        flow, graph,
        FlowDataStore(flow.name, ds_type=args["datastore"], ds_root=args["datastore_root"]),
        args["run_id"], args["step"], args["task_id"], args["input_paths"],
        split_index=args["split_index"], retry_count=args["retry_count"],
        max_user_code_retries=args["max_user_code_retries"],
        decorators=step_decorators(getattr(type(flow), args["step"]), extra),
        namespace=args["namespace"], username=get_username(),
        origin_run_id=args["origin_run_id"],
    )
    task.run()
    sys.exit(task.exit_code())
