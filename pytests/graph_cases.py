"""``inst/graph_cases.json``: the graphs both the R package and the engine are tested on,
valid ones (``shapes``) and bad ones (``cases``), each a list of steps."""

import json
import pathlib

from flowfiles import load_flow_class
from metaflow_core import codegen
from metaflow_core.graph import FlowGraph

GRAPH_CASES = json.loads(
    (pathlib.Path(__file__).resolve().parent.parent / "inst" / "graph_cases.json").read_text()
)


def case_graph(tmp_path, case, flow_name="GraphCaseFlow"):
    """The FlowGraph of the FlowSpec codegen makes of a case's steps, through the R front
    end's flow spec (inst/PROTOCOL.md), as an R flow of that graph gets it."""
    steps = [
        {"name": s["name"], "function": None, "next": s.get("next", []),
         "foreach": s.get("foreach"), "join": s.get("join", False), "decorators": []}
        for s in case["steps"]
    ]
    spec = {"version": 1, "flow_name": flow_name, "parameters": [], "steps": steps}
    source = codegen.generate(codegen.validate_spec(spec))
    return FlowGraph(load_flow_class(tmp_path, source, flow_name))
