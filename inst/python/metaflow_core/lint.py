"""Graph checks run before ``run``, ``resume`` and ``check``.

Each check is a small function registered with :func:`check` under a rule id;
:func:`validate` runs them in registration order (Metaflow's order) and the
first problem found is raised as a :class:`LintWarn` naming the step, its line
and its file, with the check's id as its ``rule``. The graph rules have the ids
R's ``validate_flow()`` gives its errors and run in the same order;
``inst/graph_cases.json`` holds bad graphs for each, which both test suites
run. The other rules are about Python source, which R checks as it builds a flow.
Messages are Metaflow's, ``*x*`` marking a name to highlight (see :func:`render`).
"""

import re

from .exceptions import LintWarn
from .names import length_problem

RESERVED_WORDS = frozenset({"name", "next", "input", "index", "cmd"})

CHECKS = []


def check(rule):
    """Register func(graph) as the check of rule; it raises LintWarn on the first problem."""

    def register(func):
        func.rule = rule
        CHECKS.append(func)
        return func

    return register


def validate(graph):
    """Run every check on graph; raise the first LintWarn found, its ``rule`` set."""
    for run_check in CHECKS:
        try:
            run_check(graph)
        except LintWarn as err:
            err.rule = run_check.rule
            raise


def _warn(graph, msg, node=None, lineno=None):
    """A LintWarn located at node (its def line unless lineno is given)."""
    if node is None:
        return LintWarn(msg, lineno=lineno, source_file=graph.source_file)
    return LintWarn(
        msg,
        lineno=lineno or node.func_lineno,
        source_file=node.source_file,
        step=node.name,
    )


@check("reserved_word")
def check_reserved_words(graph):
    msg = "Step name *%s* is a reserved word. Choose another name for the step."
    for node in graph:
        if node.name in RESERVED_WORDS:
            raise _warn(graph, msg % node.name, node)


@check("start_and_end")
def check_basic_steps(graph):
    msg = (
        "Your flow must have exactly one %s step. Either name a step '%s' or use "
        "@step(%s=True)."
    )
    for kind, name in (("start", graph.start_step), ("end", graph.end_step)):
        if name not in graph:
            raise _warn(graph, msg % (kind, name, kind))


@check("start_has_no_parents")
def check_start_degree(graph):
    start = graph[graph.start_step]
    if start.in_funcs:
        msg = (
            "The start step *%s* has incoming transitions from %s. A start step must "
            "have no incoming transitions." % (start.name, ", ".join(start.in_funcs))
        )
        raise _warn(graph, msg, start)


@check("end_is_end")
def check_end_degree(graph):
    end = graph[graph.end_step]
    if end.out_funcs:
        msg = (
            "The end step *%s* has outgoing transitions. An end step must have no "
            "outgoing transitions (no self.next())." % end.name
        )
        raise _warn(graph, msg, end, end.tail_next_lineno)


@check("end_is_end")
def check_that_end_is_end(graph):
    end = graph[graph.end_step]
    if end.has_tail_next:
        msg = (
            "The terminal step *%s* should not have a self.next() transition. "
            "Just remove it." % end.name
        )
        raise _warn(graph, msg, end, end.tail_next_lineno)
    if end.num_args > 1:
        msg = (
            "The terminal step *%s* should not be a join step (it gets an extra "
            "argument). Add a join step before it." % end.name
        )
        raise _warn(graph, msg, end)


@check("step_name")
def check_step_names(graph):
    msg = (
        "Step *{0}* has an invalid name. Only lowercase ascii characters, "
        "underscores, and digits are allowed."
    )
    for node in graph:
        if re.search("[^a-z0-9_]", node.name) or node.name.startswith("_"):
            raise _warn(graph, msg.format(node.name), node)


@check("name_length")
def check_name_lengths(graph):
    """Names become directories and keys of the datastore: too long a one would
    fail the run with an OSError once it starts."""
    problem = length_problem("flow", graph.name) or next(
        filter(None, (length_problem("parameter", name) for name in graph.parameter_names)),
        None)
    if problem:
        raise _warn(graph, problem)
    for node in graph:
        problem = (length_problem("step", node.name)
                   or length_problem("foreach", node.foreach_param, node.name))
        if problem:
            raise _warn(graph, problem, node)


@check("step_arguments")
def check_num_args(graph):
    too_many = (
        "Step {0} has too many arguments. Normal steps take only 'self' as an "
        "argument. Join steps take 'self' and 'inputs'."
    )
    join_and_split = (
        "Step *{0}* is both a join step (it takes an extra argument) and a split "
        "step (it transitions to multiple steps). This is not allowed. Add a new "
        "step so that split and join become separate steps."
    )
    no_self = "Step *{0}* is missing the 'self' argument."
    for node in graph:
        if node.num_args > 2:
            raise _warn(graph, too_many.format(node.name), node)
        # a missing or invalid self.next() (type None) is left to the checks below
        if node.num_args == 2 and node.type not in ("join", None):
            raise _warn(graph, join_and_split.format(node.name), node)
        if node.num_args == 0:
            raise _warn(graph, no_self.format(node.name), node)


@check("next_step_given")
def check_static_transitions(graph):
    msg = (
        "Step *{0}* is missing a self.next() transition to the next step. Add a "
        "self.next() as the last line in the function."
    )
    for node in graph:
        if node.name != graph.end_step and not node.has_tail_next:
            raise _warn(graph, msg.format(node.name), node)


@check("valid_transition")
def check_valid_transitions(graph):
    msg = (
        "Step *{0}* specifies an invalid self.next() transition. Make sure the "
        "self.next() expression matches with one of the supported transition "
        "types:\n"
        "  • Linear: self.next(self.step_name)\n"
        "  • Fan-out: self.next(self.step1, self.step2, ...)\n"
        "  • Foreach: self.next(self.step, foreach='variable')\n"
        "The foreach variable must be a string literal naming an artifact."
    )
    for node in graph:
        if node.name != graph.end_step and node.invalid_tail_next:
            raise _warn(graph, msg.format(node.name), node, node.tail_next_lineno)


@check("next_step_exists")
def check_unknown_transitions(graph):
    msg = "Step *{0}* specifies a self.next() transition to an unknown step, *{1}*."
    for node in graph:
        unknown = [name for name in node.out_funcs if name not in graph]
        if unknown:
            raise _warn(graph, msg.format(node.name, unknown[0]), node, node.tail_next_lineno)


@check("no_loops")
def check_for_acyclicity(graph):
    msg = (
        "There is a loop in your flow: *{0}*. Break the loop by fixing self.next() "
        "transitions."
    )
    state = {}  # step name -> "open" while on the current path, then "done"
    for root in graph:
        if root.name in state:
            continue
        state[root.name] = "open"
        path, pending = [root.name], [iter(root.out_funcs)]
        while pending:
            name = next(pending[-1], None)
            if name is None:
                state[path.pop()] = "done"
                pending.pop()
            elif state.get(name) == "open":
                loop = path[path.index(name) :] + [name]
                node = graph[path[-1]]
                raise _warn(graph, msg.format("->".join(loop)), node, node.tail_next_lineno)
            elif name not in state:
                state[name] = "open"
                path.append(name)
                pending.append(iter(graph[name].out_funcs))


@check("all_reachable")
def check_for_orphans(graph):
    msg = (
        "Step *{0}* is unreachable from the entry step *{1}*. Add self.next({0}) in "
        "another step or remove *{0}*."
    )
    reachable = set(graph.sorted_nodes)
    for node in graph:
        if node.name not in reachable:
            raise _warn(graph, msg.format(node.name, graph.start_step), node)


@check("split_join_balance")
def check_split_join_balance(graph):
    """Every split is closed by one join that all its branches, and only they, reach."""
    unjoined = (
        "The terminal step *{end}* was reached before a split started at step(s) "
        "*{roots}* were joined. Add a join step before *{end}*."
    )
    wrong_count = (
        "Step *{0}* seems like a join step (it takes an extra input argument) but an "
        "incorrect number of steps (*{paths}*) lead to it. This join was expecting "
        "{num_roots} incoming paths, starting from split step(s) *{roots}*."
    )
    no_split = (
        "Step *{0}* seems like a join step (it takes an extra input argument) but it "
        "is not preceded by a split. Ensure that there is a matching split for every "
        "join."
    )
    unrelated = (
        "Step *{0}* joins steps from unrelated splits. Ensure that there is a "
        "matching join for every split."
    )

    def lineage(name):
        """The splits enclosing step name, as seen from the step after it."""
        node = graph[name]
        return tuple(node.split_parents[:-1] if node.type == "join" else node.split_parents)

    def check_join(node, open_splits):
        if not open_splits:
            raise _warn(graph, no_split.format(node.name), node)
        roots = open_splits[-1]
        if len(node.in_funcs) != len(roots):
            msg = wrong_count.format(
                node.name,
                paths=", ".join(node.in_funcs),
                num_roots=len(roots),
                roots=", ".join(roots),
            )
            raise _warn(graph, msg, node)
        if len({lineage(name) for name in node.in_funcs}) > 1:
            raise _warn(graph, unrelated.format(node.name), node)

    # open_splits: for each split not joined yet on this path, its branch steps
    seen = set()
    stack = [(graph[graph.start_step], ())]
    while stack:
        node, open_splits = stack.pop()
        if (node.name, open_splits) in seen:
            continue
        seen.add((node.name, open_splits))
        if node.type in ("split", "foreach"):
            open_splits = open_splits + (tuple(node.out_funcs),)
        elif node.type == "join":
            check_join(node, open_splits)
            open_splits = open_splits[:-1]
        elif node.name == graph.end_step and open_splits:
            msg = unjoined.format(end=node.name, roots=", ".join(open_splits[-1]))
            raise _warn(graph, msg, node)
        for name in reversed(node.out_funcs):
            stack.append((graph[name], open_splits))


@check("foreach_not_empty")
def check_empty_foreaches(graph):
    msg = (
        "Step *{0}* is a foreach split that has no children: it is followed "
        "immediately by a join step, *{1}*. Add at least one step between the split "
        "and the join."
    )
    for node in graph:
        if node.type == "foreach":
            joins = [name for name in node.out_funcs if graph[name].type == "join"]
            if joins:
                raise _warn(graph, msg.format(node.name, joins[0]), node, node.tail_next_lineno)


def render(msg, color=False):
    """msg with its ``*x*`` highlights shown: in ANSI bold if color, else plain."""
    spans = msg.split("*")
    if not color:
        return "".join(spans)
    return "".join(
        "\x1b[1m%s\x1b[0m" % span if i % 2 and span else span for i, span in enumerate(spans)
    )
