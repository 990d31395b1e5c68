import os
import subprocess
import sys
import textwrap

import pytest

import graph_cases
import metaflow_core
from flowfiles import line_of, load_flow_class, write_flow
from metaflow_core import lint
from metaflow_core.exceptions import LintWarn
from metaflow_core.graph import FlowGraph

HEADER = "from metaflow_core.flowspec import FlowSpec, step\n\n\nclass LintFlow(FlowSpec):\n"


def flow_source(steps):
    """A module defining LintFlow with the given step methods."""
    return HEADER + textwrap.indent(textwrap.dedent(steps).strip("\n"), "    ") + "\n"


def build(tmp_path, steps):
    source = flow_source(steps)
    return source, FlowGraph(load_flow_class(tmp_path, source, "LintFlow"))


def lint_error(tmp_path, steps):
    """(source, graph, LintWarn) for a flow that must fail lint."""
    source, graph = build(tmp_path, steps)
    with pytest.raises(LintWarn) as info:
        lint.validate(graph)
    return source, graph, info.value


def assert_located(err, graph, source, step, line_text, occurrence=1):
    assert err.step == step
    assert err.lineno == line_of(source, line_text, occurrence)
    assert err.source_file == graph[step].source_file == graph.source_file


VALID = {
    "linear": """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
    "branch": """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.join)

        @step
        def b(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
    "foreach": """
        @step
        def start(self):
            self.items = [1, 2]
            self.next(self.body, foreach="items")

        @step
        def body(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
    "nested_foreach": """
        @step
        def start(self):
            self.next(self.outer, foreach="xs")

        @step
        def outer(self):
            self.next(self.inner, foreach="ys")

        @step
        def inner(self):
            self.next(self.join_inner)

        @step
        def join_inner(self, inputs):
            self.next(self.join_outer)

        @step
        def join_outer(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
    "nested_branches": """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.c, self.d)

        @step
        def c(self):
            self.next(self.inner_join)

        @step
        def d(self):
            self.next(self.inner_join)

        @step
        def inner_join(self, inputs):
            self.next(self.outer_join)

        @step
        def b(self):
            self.next(self.outer_join)

        @step
        def outer_join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
    "branch_in_foreach": """
        @step
        def start(self):
            self.next(self.fan, foreach="xs")

        @step
        def fan(self):
            self.next(self.left, self.right)

        @step
        def left(self):
            self.next(self.meet)

        @step
        def right(self):
            self.next(self.meet)

        @step
        def meet(self, inputs):
            self.next(self.collect)

        @step
        def collect(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
}


@pytest.mark.parametrize("shape", sorted(VALID))
def test_valid_flows_pass(tmp_path, shape):
    _, graph = build(tmp_path, VALID[shape])
    lint.validate(graph)


def test_checks_run_in_metaflow_order():
    assert [check.__name__ for check in lint.CHECKS] == [
        "check_reserved_words",
        "check_basic_steps",
        "check_start_degree",
        "check_end_degree",
        "check_that_end_is_end",
        "check_step_names",
        "check_name_lengths",
        "check_num_args",
        "check_static_transitions",
        "check_valid_transitions",
        "check_unknown_transitions",
        "check_for_acyclicity",
        "check_for_orphans",
        "check_split_join_balance",
        "check_empty_foreaches",
    ]


def test_first_failing_check_wins(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.index)

        @step
        def index(self):
            pass

        @step
        def end(self):
            pass
        """,
    )
    assert "reserved word" in err.message


# 1. reserved words
@pytest.mark.parametrize("word", sorted(lint.RESERVED_WORDS))
def test_reserved_words(tmp_path, word):
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.next(self.{word})

        @step
        def {word}(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        f"Step name *{word}* is a reserved word. Choose another name for the step."
    )
    assert_located(err, graph, source, word, f"def {word}(")


# 2. basic steps
@pytest.mark.parametrize("missing, present", [("start", "end"), ("end", "start")])
def test_basic_steps(tmp_path, missing, present):
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def {present}(self):
            pass
        """,
    )
    assert err.message == (
        f"Your flow must have exactly one {missing} step. Either name a step "
        f"'{missing}' or use @step({missing}=True)."
    )
    assert err.step is None and err.lineno is None
    assert err.source_file == graph.source_file


# 4. start and end degree
def test_start_with_incoming_transition(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.start)

        @step
        def b(self):
            self.next(self.start)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "The start step *start* has incoming transitions from a, b. A start step "
        "must have no incoming transitions."
    )
    assert_located(err, graph, source, "start", "def start")


def test_end_with_outgoing_transition(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.end)

        @step
        def end(self):
            self.next(self.a)
        """,
    )
    assert err.message == (
        "The end step *end* has outgoing transitions. An end step must have no "
        "outgoing transitions (no self.next())."
    )
    assert_located(err, graph, source, "end", "self.next(self.a)", occurrence=2)


# 5. end is end
@pytest.mark.parametrize("tail", ["self.next()", "self.next(print)"])
def test_end_with_self_next(tmp_path, tail):
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            {tail}
        """,
    )
    assert err.message == (
        "The terminal step *end* should not have a self.next() transition. Just "
        "remove it."
    )
    assert_located(err, graph, source, "end", tail)


def test_end_as_join(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.end)

        @step
        def b(self):
            self.next(self.end)

        @step
        def end(self, inputs):
            pass
        """,
    )
    assert err.message == (
        "The terminal step *end* should not be a join step (it gets an extra "
        "argument). Add a join step before it."
    )
    assert_located(err, graph, source, "end", "def end")


# 6. step names
@pytest.mark.parametrize("name", ["Upper", "_private", "caf\u00e9"])
def test_step_names(tmp_path, name):
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.next(self.{name})

        @step
        def {name}(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        f"Step *{name}* has an invalid name. Only lowercase ascii characters, "
        "underscores, and digits are allowed."
    )
    assert_located(err, graph, source, name, f"def {name}(")


# 7. number of arguments
def test_too_many_arguments(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self, inputs, extra):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step a has too many arguments. Normal steps take only 'self' as an "
        "argument. Join steps take 'self' and 'inputs'."
    )
    assert_located(err, graph, source, "a", "def a")


@pytest.mark.parametrize(
    "tail", ["self.next(self.b, self.c)", "self.next(self.b, foreach='xs')"]
)
def test_join_that_splits(tmp_path, tail):
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self, inputs):
            {tail}

        @step
        def b(self):
            self.next(self.end)

        @step
        def c(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *a* is both a join step (it takes an extra argument) and a split step "
        "(it transitions to multiple steps). This is not allowed. Add a new step so "
        "that split and join become separate steps."
    )
    assert_located(err, graph, source, "a", "def a")


def test_start_taking_inputs_is_an_unmatched_join(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message.startswith(
        "Step *start* seems like a join step (it takes an extra input argument) but "
        "it is not preceded by a split."
    )
    assert_located(err, graph, source, "start", "def start")


def test_missing_self(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a():
            pass

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == "Step *a* is missing the 'self' argument."
    assert_located(err, graph, source, "a", "def a")


def test_join_with_invalid_transition_is_reported_as_such(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.join)

        @step
        def b(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end, foreach=3)

        @step
        def end(self):
            pass
        """,
    )
    assert "specifies an invalid self.next() transition" in err.message
    assert_located(err, graph, source, "join", "self.next(self.end, foreach=3)")


# 8. static transitions
@pytest.mark.parametrize(
    "body",
    [
        "pass",
        "self.next(self.end)\n            print('after')",
        "if True:\n                self.next(self.end)",
        "return self.next(self.end)",
    ],
)
def test_missing_transition(tmp_path, body):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            %s

        @step
        def end(self):
            pass
        """
        % body,
    )
    assert err.message == (
        "Step *a* is missing a self.next() transition to the next step. Add a "
        "self.next() as the last line in the function."
    )
    assert_located(err, graph, source, "a", "def a")


# 9. valid transitions
@pytest.mark.parametrize(
    "tail",
    [
        "self.next()",
        "self.next(self.end, foreach=name)",
        "self.next(self.end, foreach=3)",
        "self.next(self.end, self.end, foreach='xs')",
        "self.next(self.end, num_parallel=4)",
        "self.next({'x': self.end}, condition='c')",
        "self.next(self.end, bogus='x')",
        "self.next(end)",
    ],
)
def test_invalid_transition(tmp_path, tail):
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            {tail}

        @step
        def end(self):
            pass
        """,
    )
    assert err.message.startswith(
        "Step *a* specifies an invalid self.next() transition. Make sure the "
        "self.next() expression matches with one of the supported transition types:\n"
    )
    assert "  • Foreach: self.next(self.step, foreach='variable')\n" in err.message
    assert_located(err, graph, source, "a", tail)


# 10. unknown transitions
def test_unknown_transition(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.nowhere)

        @step
        def a(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *start* specifies a self.next() transition to an unknown step, *nowhere*."
    )
    assert_located(err, graph, source, "start", "self.next(self.a, self.nowhere)")


# 11. acyclicity
def test_loop(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.b)

        @step
        def b(self):
            self.next(self.a)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "There is a loop in your flow: *a->b->a*. Break the loop by fixing "
        "self.next() transitions."
    )
    assert_located(err, graph, source, "b", "self.next(self.a)", occurrence=2)


def test_self_loop(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.a)

        @step
        def end(self):
            pass
        """,
    )
    assert "There is a loop in your flow: *a->a*." in err.message
    assert_located(err, graph, source, "a", "self.next(self.a)", occurrence=2)


# 12. orphans
def test_orphan(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.end)

        @step
        def lonely(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *lonely* is unreachable from the entry step *start*. Add "
        "self.next(lonely) in another step or remove *lonely*."
    )
    assert_located(err, graph, source, "lonely", "def lonely")


# 13. split/join balance
def test_end_before_join(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.end)

        @step
        def b(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "The terminal step *end* was reached before a split started at step(s) "
        "*a, b* were joined. Add a join step before *end*."
    )
    assert_located(err, graph, source, "end", "def end")


def test_join_with_wrong_number_of_paths(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.b, self.c)

        @step
        def a(self):
            self.next(self.join)

        @step
        def b(self):
            self.next(self.join)

        @step
        def c(self):
            self.next(self.end)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *join* seems like a join step (it takes an extra input argument) but "
        "an incorrect number of steps (*a, b*) lead to it. This join was expecting "
        "3 incoming paths, starting from split step(s) *a, b, c*."
    )
    assert_located(err, graph, source, "join", "def join")


def test_join_without_split(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *join* seems like a join step (it takes an extra input argument) but "
        "it is not preceded by a split. Ensure that there is a matching split for "
        "every join."
    )
    assert_located(err, graph, source, "join", "def join")


def test_join_of_unrelated_splits(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.c, self.d)

        @step
        def b(self):
            self.next(self.cross)

        @step
        def c(self):
            self.next(self.cross)

        @step
        def d(self):
            self.next(self.outer)

        @step
        def cross(self, inputs):
            self.next(self.outer)

        @step
        def outer(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *cross* joins steps from unrelated splits. Ensure that there is a "
        "matching join for every split."
    )
    assert_located(err, graph, source, "cross", "def cross")


# 15. empty foreach
def test_empty_foreach(tmp_path):
    source, graph, err = lint_error(
        tmp_path,
        """
        @step
        def start(self):
            self.next(self.join, foreach="xs")

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.message == (
        "Step *start* is a foreach split that has no children: it is followed "
        "immediately by a join step, *join*. Add at least one step between the "
        "split and the join."
    )
    assert_located(err, graph, source, "start", 'self.next(self.join, foreach="xs")')


def test_render():
    assert lint.render("Step *a* is *b*.") == "Step a is b."
    assert lint.render("Step *a* x", color=True) == "Step \x1b[1ma\x1b[0m x"


CLI_FLOWS = {
    "loop": (
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.b)

        @step
        def b(self):
            self.next(self.a)

        @step
        def end(self):
            pass
        """,
        "There is a loop in your flow: a->b->a. Break the loop by fixing self.next() "
        "transitions.",
        ("self.next(self.a)", 2),
    ),
    "missing_transition": (
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            print("no transition")

        @step
        def end(self):
            pass
        """,
        "Step a is missing a self.next() transition to the next step. Add a "
        "self.next() as the last line in the function.",
        ("def a", 1),
    ),
}


def run_cli(tmp_path, steps, *args):
    source = flow_source(steps) + '\n\nif __name__ == "__main__":\n    LintFlow()\n'
    path = write_flow(tmp_path, source, "cli_flow")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(metaflow_core.__file__)))
    result = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return source, path, result


@pytest.mark.parametrize("args", [("check",), ()], ids=["check", "default-command"])
@pytest.mark.parametrize("shape", sorted(CLI_FLOWS))
def test_cli_check_reports_lint_error(tmp_path, shape, args):
    steps, message, (line_text, occurrence) = CLI_FLOWS[shape]
    source, path, result = run_cli(tmp_path, steps, *args)
    assert result.returncode == 1, result.stderr
    lineno = line_of(source, line_text, occurrence)
    assert (
        "Validity checker found an issue in file %s on line %d:" % (path, lineno)
        in result.stderr
    )
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_check_accepts_valid_flow(tmp_path):
    _, _, result = run_cli(tmp_path, VALID["nested_foreach"], "check")
    assert result.returncode == 0, result.stderr


# The bad graphs R's validate_flow() is tested on too (tests/testthat/test-validate_flow.R):
# lint must find the same rule at the same step in the FlowSpec codegen makes of each.
GRAPH_CASES = graph_cases.GRAPH_CASES["cases"]


@pytest.mark.parametrize("case", GRAPH_CASES, ids=[case["case"] for case in GRAPH_CASES])
def test_lint_and_r_agree_on_each_bad_graph(tmp_path, case):
    graph = graph_cases.case_graph(tmp_path, case)
    with pytest.raises(LintWarn) as info:
        lint.validate(graph)
    assert (info.value.rule, info.value.step) == (case["rule"], case["step"])


def test_the_graph_cases_cover_every_rule_r_shares():
    shared = {check.rule for check in lint.CHECKS} - PYTHON_ONLY_RULES
    assert {case["rule"] for case in GRAPH_CASES} == shared


# Rules about Python source; R checks the same as it builds a flow (step()'s arguments).
PYTHON_ONLY_RULES = {"reserved_word", "step_name", "name_length", "step_arguments",
                     "valid_transition"}


# names too long for the datastore's paths
def test_a_step_name_too_long_is_named_with_the_limit(tmp_path):
    long = "s" * 150
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.next(self.{long})

        @step
        def {long}(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert err.rule == "name_length"
    assert err.step == long
    assert "The step name *%s...* is 150 characters long" % ("s" * 40) in err.message
    assert "at most 100 characters" in err.message


def test_a_foreach_name_too_long_is_named_with_its_step(tmp_path):
    long = "items" + "x" * 120
    source, graph, err = lint_error(
        tmp_path,
        f"""
        @step
        def start(self):
            self.{long} = [1, 2]
            self.next(self.each, foreach="{long}")

        @step
        def each(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
    )
    assert (err.rule, err.step) == ("name_length", "start")
    assert "The foreach name" in err.message and "in step *start*" in err.message
