import json
import textwrap

import pytest

from flowfiles import line_of, load_flow_class
from metaflow_core.graph import FlowGraph

LINEAR = '''
from metaflow_core.flowspec import FlowSpec, step


class LinearFlow(FlowSpec):
    """A flow in a line.

    Second line.
        Indented third line.
    """

    @step
    def start(self):
        """First step."""
        self.x = 1
        self.next(self.middle)

    @step
    def middle(self):
        self.next(self.end)

    @step
    def end(self):
        pass
'''

BRANCH = """
from metaflow_core.flowspec import FlowSpec, step


class BranchFlow(FlowSpec):
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
"""

FOREACH = """
from metaflow_core.flowspec import FlowSpec, step


class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""

NESTED_FOREACH = """
from metaflow_core.flowspec import FlowSpec, step


class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.outer = [1, 2]
        self.next(self.middle, foreach="outer")

    @step
    def middle(self):
        self.inner = "ab"
        self.next(self.leaf, foreach="inner")

    @step
    def leaf(self):
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
"""

BRANCH_IN_FOREACH = """
from metaflow_core.flowspec import FlowSpec, step


class MixedFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.fan, foreach="items")

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
"""


def graph_of(tmp_path, source, class_name):
    return FlowGraph(load_flow_class(tmp_path, source, class_name))


def test_linear_flow_nodes(tmp_path):
    graph = graph_of(tmp_path, LINEAR, "LinearFlow")
    assert graph.name == "LinearFlow"
    assert graph.doc == "A flow in a line.\n\nSecond line.\n    Indented third line."
    assert (graph.start_step, graph.end_step) == ("start", "end")
    assert [node.name for node in graph] == ["start", "middle", "end"]
    assert list(graph.nodes) == ["start", "middle", "end"]
    assert graph.sorted_nodes == ["start", "middle", "end"]
    assert len(graph) == 3 and "middle" in graph and "nope" not in graph

    start = graph["start"]
    assert start.type == "start"
    assert start.out_funcs == ["middle"]
    assert start.in_funcs == []
    assert start.num_args == 1
    assert start.doc == "First step."
    assert start.func_name == "start"
    assert start.func_lineno == line_of(LINEAR, "def start")
    assert start.tail_next_lineno == line_of(LINEAR, "self.next(self.middle)")
    assert start.has_tail_next and not start.invalid_tail_next
    assert start.source_file.endswith(".py")
    assert start.source_file == graph.source_file

    assert graph["middle"].type == "linear"
    assert graph["middle"].in_funcs == ["start"]
    end = graph["end"]
    assert end.type == "end"
    assert end.out_funcs == [] and not end.has_tail_next
    assert end.in_funcs == ["middle"]
    assert all(not node.split_parents and not node.is_inside_foreach for node in graph)


def test_branch_flow_nodes(tmp_path):
    graph = graph_of(tmp_path, BRANCH, "BranchFlow")
    assert graph["start"].type == "split"
    assert graph["start"].out_funcs == ["a", "b"]
    assert graph["start"].matching_join == "join"
    assert graph.matching_split("join") == "start"
    assert graph.matching_split("a") is None
    assert graph["join"].type == "join"
    assert graph["join"].num_args == 2
    assert graph["join"].in_funcs == ["a", "b"]
    assert graph["a"].split_parents == ["start"]
    assert graph["a"].split_branches == ["a"]
    assert graph["b"].split_branches == ["b"]
    assert graph["join"].split_parents == ["start"]
    assert graph["join"].split_branches == []
    assert graph["end"].split_parents == []
    assert graph.sorted_nodes == ["start", "a", "b", "join", "end"]
    assert not any(node.is_inside_foreach for node in graph)


def test_foreach_flow_nodes(tmp_path):
    graph = graph_of(tmp_path, FOREACH, "ForeachFlow")
    start = graph["start"]
    assert start.type == "foreach"
    assert start.foreach_param == "items"
    assert start.matching_join == "join"
    assert graph["square"].is_inside_foreach
    assert not graph["join"].is_inside_foreach
    assert not graph["end"].is_inside_foreach
    assert graph["square"].split_parents == ["start"]


def test_nested_foreach_nodes(tmp_path):
    graph = graph_of(tmp_path, NESTED_FOREACH, "NestedFlow")
    assert graph["middle"].type == "foreach"
    assert graph["middle"].split_parents == ["start"]
    assert graph["leaf"].split_parents == ["start", "middle"]
    assert graph["leaf"].split_branches == ["middle", "leaf"]
    assert graph["start"].matching_join == "join_outer"
    assert graph["middle"].matching_join == "join_inner"
    assert graph["join_inner"].is_inside_foreach
    assert not graph["join_outer"].is_inside_foreach
    assert graph.sorted_nodes == ["start", "middle", "leaf", "join_inner", "join_outer", "end"]


def test_branch_inside_foreach(tmp_path):
    graph = graph_of(tmp_path, BRANCH_IN_FOREACH, "MixedFlow")
    assert graph["left"].split_parents == ["start", "fan"]
    assert graph["left"].split_branches == ["fan", "left"]
    assert graph["meet"].in_funcs == ["left", "right"]
    assert graph["meet"].is_inside_foreach
    assert graph["fan"].matching_join == "meet"
    assert graph["start"].matching_join == "collect"
    assert graph.sorted_nodes == ["start", "fan", "left", "right", "meet", "collect", "end"]


def test_output_steps_structure(tmp_path):
    graph = graph_of(tmp_path, BRANCH, "BranchFlow")
    steps, structure = graph.output_steps()
    assert structure == ["start", [["a"], ["b"]], "join", "end"]
    assert steps["start"]["type"] == "split-static"
    assert steps["start"]["next"] == ["a", "b"]
    assert steps["start"]["matching_join"] == "join"
    assert steps["join"]["type"] == "join"
    assert steps["end"]["type"] == "end"
    assert steps["a"]["line"] == line_of(BRANCH, "def a")

    graph = graph_of(tmp_path, NESTED_FOREACH, "NestedFlow")
    steps, structure = graph.output_steps()
    assert structure == ["start", [["middle", [["leaf"]], "join_inner"]], "join_outer", "end"]
    assert steps["start"]["type"] == "split-foreach"
    assert steps["start"]["foreach_artifact"] == "outer"
    assert steps["leaf"]["type"] == "linear"


def test_to_json_is_serializable(tmp_path):
    source = """
    from metaflow_core.flowspec import FlowSpec, step


    class Deco:
        def __init__(self, name, attributes):
            self.name = name
            self.attributes = attributes


    def tagged(f):
        f.decorators.append(Deco("retry", {"times": 3, "when": object()}))
        f.decorators.append(Deco("_internal", {}))
        return f


    class DecoFlow(FlowSpec):
        '''Doc.'''

        @tagged
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
    """
    graph = graph_of(tmp_path, source, "DecoFlow")
    assert graph["start"].func_lineno == line_of(source, "def start")
    assert [deco.name for deco in graph["start"].decorators] == ["retry", "_internal"]
    data = json.loads(json.dumps(graph.to_json()))
    assert data["name"] == "DecoFlow"
    assert data["doc"] == "Doc."
    assert data["start_step"] == "start" and data["end_step"] == "end"
    assert data["graph_structure"] == ["start", "end"]
    decorators = data["steps"]["start"]["decorators"]
    assert [deco["name"] for deco in decorators] == ["retry"]
    assert decorators[0]["attributes"]["times"] == 3
    assert isinstance(decorators[0]["attributes"]["when"], str)
    assert data["steps"]["start"]["source_file"] == graph.source_file


def test_real_step_decorators(tmp_path):
    source = """
    from metaflow_core import FlowSpec, retry, step


    class RetryFlow(FlowSpec):
        @retry(times=2)
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
    """
    graph = graph_of(tmp_path, source, "RetryFlow")
    assert graph["start"].func_lineno == line_of(source, "def start")
    info = json.loads(json.dumps(graph.to_json()))["steps"]["start"]["decorators"]
    assert [deco["name"] for deco in info] == ["retry"]
    assert info[0]["attributes"]["times"] == 2
    assert info[0]["statically_defined"] is True


def test_source_with_unindented_string_and_inherited_step(tmp_path):
    source = '''
    from metaflow_core.flowspec import FlowSpec, step


    class Base(FlowSpec):
        @step
        def end(self):
            pass


    class ChildFlow(Base):
        @step
        def start(self):
            text = """
    flush left
    """
            self.next(self.end)
    '''
    graph = graph_of(tmp_path, source, "ChildFlow")
    assert graph["start"].out_funcs == ["end"]
    assert graph["start"].tail_next_lineno == line_of(source, "self.next(self.end)")
    assert graph["end"].func_lineno == line_of(source, "def end")
    assert list(graph.nodes) == ["end", "start"]
    assert graph.sorted_nodes == ["start", "end"]


@pytest.mark.parametrize(
    "tail, step_type, has_next, invalid, out_funcs",
    [
        ("pass", None, False, False, []),
        ("self.next()", None, True, True, []),
        ("self.next(self.end, foreach=name)", None, True, True, ["end"]),
        ("self.next(self.end, self.a, foreach='x')", None, True, True, ["end", "a"]),
        ("self.next(self.end, num_parallel=4)", None, True, True, ["end"]),
        ("self.next({'x': self.end}, condition='c')", None, True, True, []),
        ("self.next(self.end, bogus='x')", None, True, True, ["end"]),
        ("self.next(end)", None, True, True, []),
        ("self.next(*steps)", None, True, True, []),
        ("other.next(self.end)", None, False, False, []),
        ("self.next(self.end)", "linear", True, False, ["end"]),
    ],
)
def test_tail_shapes(tmp_path, tail, step_type, has_next, invalid, out_funcs):
    source = f"""
    from metaflow_core.flowspec import FlowSpec, step


    class TailFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            {tail}

        @step
        def end(self):
            pass
    """
    node = graph_of(tmp_path, source, "TailFlow")["a"]
    assert node.type == step_type
    assert node.has_tail_next == has_next
    assert node.invalid_tail_next == invalid
    assert node.out_funcs == out_funcs
    assert node.foreach_param is None


BROKEN = {
    "loop": """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.b, self.c)

        @step
        def b(self):
            self.next(self.a)

        @step
        def c(self):
            self.next(self.c)

        @step
        def end(self):
            pass
    """,
    "loop_through_start": """
        @step
        def start(self):
            self.next(self.a, foreach="x")

        @step
        def a(self):
            self.next(self.start)

        @step
        def end(self):
            pass
    """,
    "unknown_and_missing": """
        @step
        def start(self):
            self.next(self.nowhere, self.a)

        @step
        def a(self):
            pass

        @step
        def end(self, inputs):
            self.next(self.a)
    """,
    "no_start": """
        @step
        def begin(self):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
    "unbalanced": """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self, inputs):
            self.next(self.end)

        @step
        def b(self):
            self.next(self.end)

        @step
        def end(self):
            pass
    """,
}


def broken_source(shape, class_name):
    steps = textwrap.indent(textwrap.dedent(BROKEN[shape]).strip("\n"), "    ")
    return (
        "from metaflow_core.flowspec import FlowSpec, step\n\n\n"
        "class %s(FlowSpec):\n%s\n" % (class_name, steps)
    )


@pytest.mark.parametrize("shape", sorted(BROKEN))
def test_broken_graphs_do_not_crash(tmp_path, shape):
    graph = graph_of(tmp_path, broken_source(shape, "BrokenFlow"), "BrokenFlow")
    assert len(graph) >= 2
    json.dumps(graph.to_json())
    assert len(graph.sorted_nodes) == len(set(graph.sorted_nodes))


def test_loop_graph_details(tmp_path):
    graph = graph_of(tmp_path, broken_source("loop", "LoopFlow"), "LoopFlow")
    assert graph["a"].in_funcs == ["b", "start"]
    assert graph["c"].in_funcs == ["a", "c"]
    assert graph.sorted_nodes == ["start", "a", "b", "c"]
    assert "end" not in graph.sorted_nodes


def test_end_step_transition_is_recorded(tmp_path):
    graph = graph_of(tmp_path, broken_source("unknown_and_missing", "OddFlow"), "OddFlow")
    end = graph["end"]
    assert end.type == "end"
    assert end.has_tail_next and end.out_funcs == ["a"]
    assert graph["a"].in_funcs == ["end", "start"]
    assert graph["start"].out_funcs == ["nowhere", "a"]


def test_a_task_gets_the_graph_as_data_without_reading_source(tmp_path):
    from metaflow_core.task_types import TaskGraph

    built = graph_of(tmp_path, NESTED_FOREACH, "NestedFlow")
    handed = TaskGraph(json.loads(json.dumps(built.task_nodes())))

    assert [n.name for n in handed] == [n.name for n in built] and len(handed) == len(built)
    assert handed.matching_split("join_outer") == built.matching_split("join_outer") == "start"
    assert handed.matching_split("middle") is None
    assert handed["start"].foreach_param == "outer"
    assert handed["middle"].is_inside_foreach and "end" in handed
    assert handed["join_outer"].in_funcs == built["join_outer"].in_funcs
