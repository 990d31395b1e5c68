"""Graph shapes × behaviours, written out as real flows in Python and in R.

A shape is a list of steps (name, next steps, foreach width, join).
``write_flow()`` turns a shape plus a behaviour into a flow file, a Python
FlowSpec or an R script for ``Rscript flow.R run``, and ``simulate()`` says
what every task of that flow must compute, so a test can compare a real run
with the expectation without knowing how the flow was written.

Every step computes the same thing in both languages:

* ``v_in``: what arrives, 0 in ``start``, the parent's ``value`` in a
  linear step (plus ``self.input`` in the first step of a foreach), the sum
  of the inputs' ``value`` in a join;
* ``value = v_in + weight`` (the step's position, 1-based);
* a foreach step also sets ``items`` to ``value * 10 + k`` for k = 1..width.

``v_in`` tells the tasks of a step apart, so the behaviour is injected into
exactly one task: the task of the shape's ``target`` step with the largest
``v_in``. Each execution of a step body (every attempt) appends
``<run id> <step> <v_in> <attempt>`` to the file ``$MATRIX_LOG``.

Behaviours, in that task:

* ``success``: nothing;
* ``failure``: it raises (``stop()`` in R), so the run fails;
* ``retry``: the step has ``retry(times=1)``; it raises on attempt 0 only;
* ``catch``: the step has ``catch(var='err')`` and raises; the step after it
  records what it sees of ``err`` in ``saw_err``;
* ``resume``: it raises while ``MATRIX_FAIL=1`` is set, so a run with it set
  fails and a resume without it succeeds.
"""

import collections
import json
from pathlib import Path

BEHAVIOURS = ("success", "failure", "retry", "catch", "resume")
LANGUAGES = ("python", "R")

Step = collections.namedtuple("Step", "name next foreach join")


def _step(name, *next_steps, foreach=0, join=False):
    return Step(name, tuple(next_steps), foreach, join)


Shape = collections.namedtuple("Shape", "name steps target")

SHAPES = {
    shape.name: shape for shape in (
        Shape("linear", (
            _step("start", "a"),
            _step("a", "end"),
            _step("end"),
        ), target="a"),
        Shape("branch", (
            _step("start", "a", "b"),
            _step("a", "join"),
            _step("b", "join"),
            _step("join", "end", join=True),
            _step("end"),
        ), target="a"),
        Shape("foreach", (
            _step("start", "a", foreach=3),
            _step("a", "join"),
            _step("join", "end", join=True),
            _step("end"),
        ), target="a"),
        Shape("nested-foreach", (
            _step("start", "outer", foreach=2),
            _step("outer", "a", foreach=2),
            _step("a", "inner_join"),
            _step("inner_join", "outer_join", join=True),
            _step("outer_join", "end", join=True),
            _step("end"),
        ), target="a"),
        Shape("branch-in-foreach", (
            _step("start", "fan", foreach=2),
            _step("fan", "a", "b"),
            _step("a", "join_branch"),
            _step("b", "join_branch"),
            _step("join_branch", "join_foreach", join=True),
            _step("join_foreach", "end", join=True),
            _step("end"),
        ), target="a"),
    )
}

FAILURE_MESSAGE = "injected failure in %s"

# What a flow's tasks compute: one per task, in no particular order.
Task = collections.namedtuple("Task", "step v_in value")


def flow_name(shape, language):
    words = shape.name.replace("-", " ").title().replace(" ", "")
    return "Matrix%s%sFlow" % (words, "R" if language == "R" else "Py")


def weights(shape):
    return {s.name: i + 1 for i, s in enumerate(shape.steps)}


def foreach_children(shape):
    return {s.next[0] for s in shape.steps if s.foreach}


def parents(shape):
    found = collections.defaultdict(list)
    for s in shape.steps:
        for n in s.next:
            found[n].append(s.name)
    return found


def simulate(shape, caught=None, parents_of=None):
    """Every task of a run of ``shape``, as Task(step, v_in, value).

    ``caught``: the ``v_in`` of the target task whose body stops before it
    sets ``value`` (a caught failure), so its ``value`` stays the parent's; it
    keeps the ``v_in`` it assigned before the failure, in either language.
    ``parents_of``: a dict to fill with each task's parent tasks.
    """
    by_name = {s.name: s for s in shape.steps}
    weight = weights(shape)
    tasks = []
    parents_of = {} if parents_of is None else parents_of

    def run(name, v_in, parents):
        """Run ``name`` and what follows it up to the join that closes the
        split it is in; that join's name and the last task before it."""
        s = by_name[name]
        if name == shape.target and v_in == caught:
            parent = parents[0]
            task = Task(name, v_in, parent.value)
        else:
            task = Task(name, v_in, v_in + weight[name])
        tasks.append(task)
        parents_of[task] = list(parents)
        value = task.value
        if not s.next:
            return None, task
        if s.foreach:
            arms = [run(s.next[0], value + value * 10 + k, [task])
                    for k in range(1, s.foreach + 1)]
        elif len(s.next) > 1:
            arms = [run(n, value, [task]) for n in s.next]
        elif by_name[s.next[0]].join:
            return s.next[0], task
        else:
            return run(s.next[0], value, [task])
        joins = {j for j, _ in arms}
        assert len(joins) == 1, "the arms of %s meet in %s" % (name, joins)
        return run(joins.pop(), sum(t.value for _, t in arms), [t for _, t in arms])

    run("start", 0, [])
    return tasks


def ancestors_of(shape, task):
    """The tasks ``task`` of ``simulate(shape)`` descends from."""
    parents_of = {}
    simulate(shape, parents_of=parents_of)
    found, todo = set(), list(parents_of[task])
    while todo:
        t = todo.pop()
        if t not in found:
            found.add(t)
            todo.extend(parents_of[t])
    return found


def descendants_of(shape, task):
    """The tasks of ``simulate(shape)`` that descend from ``task``."""
    return {t for t in simulate(shape) if task in ancestors_of(shape, t)}


def target_task(shape):
    """The task of ``simulate(shape)`` a behaviour is injected into."""
    v_in = target_v_in(shape)
    return next(t for t in simulate(shape) if (t.step, t.v_in) == (shape.target, v_in))


def target_v_in(shape):
    """The ``v_in`` of the one task a behaviour is injected into."""
    found = sorted(t.v_in for t in simulate(shape) if t.step == shape.target)
    assert len(found) == len(set(found)), "tasks of %s aren't told apart" % shape.target
    return found[-1]


# -- Python ---------------------------------------------------------------

PY_HEADER = '''\
"""Generated by pytests/matrix/shapes.py: shape {shape}, behaviour {behaviour}."""

import os

from metaflow_core import FlowSpec, catch, current, retry, step


def log_execution(v_in):
    with open(os.environ["MATRIX_LOG"], "a") as f:
        f.write("%s %s %d %d\\n" % (current.run_id, current.step_name, v_in, current.retry_count))


class {name}(FlowSpec):
'''

PY_FAILS = {
    "failure": None,
    "catch": None,
    "retry": "current.retry_count == 0",
    "resume": 'os.environ.get("MATRIX_FAIL") == "1"',
}


def python_flow(shape, behaviour):
    weight, children = weights(shape), foreach_children(shape)
    parent_of = parents(shape)
    target = target_v_in(shape)
    out = [PY_HEADER.format(shape=shape.name, behaviour=behaviour,
                            name=flow_name(shape, "python"))]
    for s in shape.steps:
        body = []
        if s.name == shape.target and behaviour == "retry":
            body.append("    @retry(times=1, minutes_between_retries=0)")
        if s.name == shape.target and behaviour == "catch":
            body.append('    @catch(var="err")')
        body.append("    @step")
        body.append("    def %s(self%s):" % (s.name, ", inputs" if s.join else ""))
        if s.name == "start":
            body.append("        v_in = 0")
        elif s.join:
            body.append("        v_in = sum(i.value for i in inputs)")
        elif s.name in children:
            body.append("        v_in = self.value + self.input")
        else:
            body.append("        v_in = self.value")
        body.append("        self.v_in = v_in")
        body.append("        log_execution(v_in)")
        if s.name == shape.target and behaviour in PY_FAILS:
            condition = " and ".join(c for c in ("v_in == %d" % target, PY_FAILS[behaviour]) if c)
            body.append("        if %s:" % condition)
            body.append("            raise RuntimeError(%r)" % (FAILURE_MESSAGE % s.name))
        body.append("        self.value = v_in + %d" % weight[s.name])
        if s.foreach:
            body.append("        self.items = [self.value * 10 + k for k in range(1, %d)]"
                        % (s.foreach + 1))
        if behaviour == "catch" and shape.target in parent_of[s.name]:
            if s.join:
                body.append("        self.saw_err = [str(i.err) for i in inputs"
                            ' if hasattr(i, "err")]')
            else:
                body.append("        self.saw_err = [str(self.err)]")
        if s.foreach:
            body.append('        self.next(self.%s, foreach="items")' % s.next[0])
        elif s.next:
            body.append("        self.next(%s)" % ", ".join("self." + n for n in s.next))
        out.append("\n".join(body) + "\n")
    out.append('\nif __name__ == "__main__":\n    %s()\n' % flow_name(shape, "python"))
    return "\n".join(out)


# -- R --------------------------------------------------------------------

R_HEADER = '''\
# Generated by pytests/matrix/shapes.py: shape {shape}, behaviour {behaviour}.
library(metaflow)

log_execution <- function(v_in) {{
  cat(sprintf("%s %s %d %d\\n", current("run_id"), current("step_name"), as.integer(v_in),
              as.integer(current("retry_count"))),
      file = Sys.getenv("MATRIX_LOG"), append = TRUE)
}}

# What a step sees of a caught error: "NULL", or the class and message of the
# condition `read()` returns, or why it can't be read.
describe_err <- function(read) {{
  tryCatch({{
    err <- read()
    if (is.null(err)) "NULL" else paste0(paste(class(err), collapse = "/"), ": ", conditionMessage(err))
  }}, error = function(e) paste("unreadable:", strsplit(conditionMessage(e), "\n")[[1]][[1]]))
}}

flow <- metaflow("{name}")
'''

R_FAILS = {
    "failure": None,
    "catch": None,
    "retry": 'current("retry_count") == 0',
    "resume": 'Sys.getenv("MATRIX_FAIL") == "1"',
}


def r_flow(shape, behaviour):
    weight, children = weights(shape), foreach_children(shape)
    parent_of = parents(shape)
    target = target_v_in(shape)
    out = [R_HEADER.format(shape=shape.name, behaviour=behaviour, name=flow_name(shape, "R"))]
    for s in shape.steps:
        args = []
        if s.name == shape.target and behaviour == "retry":
            args.append("retry(times = 1, minutes_between_retries = 0)")
        if s.name == shape.target and behaviour == "catch":
            args.append('catch(var = "err")')
        args.append('step = "%s"' % s.name)
        if s.join:
            args.append("join = TRUE")
        if s.foreach:
            args.append('foreach = "items"')
        if s.next:
            args.append("next_step = %s" % (
                '"%s"' % s.next[0] if len(s.next) == 1
                else "c(%s)" % ", ".join('"%s"' % n for n in s.next)))
        body = []
        if s.name == "start":
            body.append("v_in <- 0")
        elif s.join:
            body.append('v_in <- sum(unlist(gather_inputs(inputs, "value")))')
        elif s.name in children:
            body.append("v_in <- self$value + self$input")
        else:
            body.append("v_in <- self$value")
        body.append("self$v_in <- v_in")
        body.append("log_execution(v_in)")
        if s.name == shape.target and behaviour in R_FAILS:
            condition = " && ".join(c for c in ("v_in == %d" % target, R_FAILS[behaviour]) if c)
            body.append("if (%s) stop(%s)" % (condition, json.dumps(FAILURE_MESSAGE % s.name)))
        body.append("self$value <- v_in + %d" % weight[s.name])
        if s.foreach:
            body.append("self$items <- self$value * 10 + seq_len(%d)" % s.foreach)
        if behaviour == "catch" and shape.target in parent_of[s.name]:
            if s.join:
                body.append('caught <- Filter(function(i) "err" %in% names(i), unname(inputs))')
                body.append("self$saw_err <- vapply(caught, function(i) "
                            'describe_err(function() i$err), "")')
            else:
                body.append("self$saw_err <- describe_err(function() self$err)")
        function = "function(self%s) {\n      %s\n    }" % (
            ", inputs" if s.join else "", "\n      ".join(body))
        args.append("r_function = " + function)
        out.append("flow <- flow %%>%%\n  step(\n    %s\n  )\n" % ",\n    ".join(args))
    out.append("run(flow)\n")
    return "\n".join(out)


def write_flow(directory, shape, behaviour, language):
    """The flow file for this cell of the matrix, written into ``directory``."""
    if language == "R":
        path, text = Path(directory) / "flow.R", r_flow(shape, behaviour)
    else:
        path, text = Path(directory) / "flow.py", python_flow(shape, behaviour)
    path.write_text(text, encoding="utf-8")
    return path
