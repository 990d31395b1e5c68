import subprocess

import pytest

from flowfiles import load_flow_class, write_flow
from graph_cases import GRAPH_CASES, case_graph
from runner import FLOWS_DIR, run_flow
from metaflow_core.graph import FlowGraph
from metaflow_core.graph_text import dot_string, graph_edges, mermaid_string, to_dot, to_mermaid

# The valid shapes R's flow_mermaid() and flow_dot() are tested on too; R's test
# compares its text with `Rscript flow.R show --mermaid`, which is to_mermaid's.
SHAPES = GRAPH_CASES["shapes"]


def flow_graph(tmp_path, flow_file, class_name):
    """The FlowGraph of a flow of pytests/flows/."""
    return FlowGraph(load_flow_class(tmp_path, (FLOWS_DIR / flow_file).read_text(), class_name))


FOREACH_MERMAID = [
    "flowchart TD",
    "    %% ForeachFlow",
    '    n1(["start"])',
    '    n2["square"]',
    '    n3{{"join"}}',
    '    n4(["end"])',
    '    n1 -.->|"foreach items"| n2',
    "    n2 --> n3",
    "    n3 --> n4",
]

FOREACH_DOT = [
    'digraph "ForeachFlow" {',
    "    rankdir=TB;",
    '    node [fontname="Helvetica"];',
    '    "start" [shape=oval];',
    '    "square" [shape=box];',
    '    "join" [shape=hexagon];',
    '    "end" [shape=oval];',
    '    "start" -> "square" [style=dashed, label="foreach items"];',
    '    "square" -> "join";',
    '    "join" -> "end";',
    "}",
]


@pytest.mark.parametrize("writer, lines", [(to_mermaid, FOREACH_MERMAID), (to_dot, FOREACH_DOT)],
                         ids=["mermaid", "dot"])
def test_a_foreach_flow_as_text(tmp_path, writer, lines):
    assert writer(flow_graph(tmp_path, "foreach_flow.py", "ForeachFlow")) == "\n".join(lines)


def test_edges_have_a_kind_and_a_split_start_is_still_drawn_as_start(tmp_path):
    graph = flow_graph(tmp_path, "branch_flow.py", "BranchFlow")
    assert graph_edges(graph) == [
        ("start", "a", "branch"), ("start", "b", "branch"),
        ("a", "join", "join"), ("b", "join", "join"), ("join", "end", "linear"),
    ]
    assert '    "start" [shape=oval];' in to_dot(graph).splitlines()


def test_labels_and_ids_are_escaped():
    assert mermaid_string('a "b" #1 <c>') == '"a #quot;b#quot; #35;1 #lt;c#gt;"'
    assert dot_string('a "b" \\c') == '"a \\"b\\" \\\\c"'


@pytest.mark.parametrize("shape", SHAPES, ids=[shape["shape"] for shape in SHAPES])
def test_each_shape_has_a_node_per_step_and_a_line_per_transition(tmp_path, shape):
    graph = case_graph(tmp_path, shape, "ShapeFlow")
    transitions = sum(len(s.get("next", [])) for s in shape["steps"])
    foreach_steps = [s for s in shape["steps"] if s.get("foreach")]
    mermaid = to_mermaid(graph).splitlines()
    assert mermaid[:2] == ["flowchart TD", "    %% ShapeFlow"]
    assert len(mermaid) == 2 + len(shape["steps"]) + transitions
    assert sum("-.->|" in line for line in mermaid) == len(foreach_steps)
    dot = to_dot(graph).splitlines()
    assert len([line for line in dot if " -> " in line]) == transitions
    assert sum("style=dashed" in line for line in dot) == len(foreach_steps)


@pytest.mark.parametrize("shape", SHAPES, ids=[shape["shape"] for shape in SHAPES])
def test_graphviz_reads_the_dot_text(tmp_path, shape):
    result = subprocess.run(["dot", "-Tsvg"], input=to_dot(case_graph(tmp_path, shape, "ShapeFlow")),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "<svg" in result.stdout


@pytest.mark.parametrize("option, writer", [("--mermaid", to_mermaid), ("--dot", to_dot)])
def test_show_prints_the_text(tmp_path, option, writer):
    result = run_flow("foreach_flow.py", "show", option, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == writer(flow_graph(tmp_path, "foreach_flow.py", "ForeachFlow")) + "\n"


def test_show_takes_one_format(tmp_path):
    result = run_flow("foreach_flow.py", "show", "--mermaid", "--dot", cwd=tmp_path)
    assert result.returncode == 2
    assert "Give only one of --mermaid and --dot." in result.stderr


def test_show_without_a_format_lists_the_steps_as_before(tmp_path):
    result = run_flow("foreach_flow.py", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Step square\n    ?\n    => join\n" in result.stdout


def test_show_checks_the_graph_before_drawing_it(tmp_path):
    source = (FLOWS_DIR / "foreach_flow.py").read_text()
    broken = write_flow(tmp_path, source.replace("self.next(self.end)", "self.next(self.ned)"))
    result = run_flow(broken, "show", "--mermaid", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Validity checker found an issue" in result.stderr
    assert "Traceback" not in result.stderr
