"""The flow graph as text to paste elsewhere: Mermaid (```mermaid in Markdown) and
Graphviz DOT, for ``show --mermaid`` and ``show --dot``.

The R package's ``flow_mermaid()`` and ``flow_dot()`` write the same bytes for the
same graph (a test of the R package compares them), so the format is fixed here:

* steps in the order ``show`` lists them (``FlowGraph.sorted_nodes``), then the
  edges, each step's in the order of its ``self.next()`` call;
* a shape per node: start and end ovals, whatever their type; other steps by
  type, linear boxes, split diamonds, foreach parallelograms, join hexagons;
* an edge's kind: ``foreach`` out of a foreach step (dashed, labelled with the
  artifact it fans out over), ``branch`` out of a static split, ``join`` into a
  join step, else ``linear``.

Mermaid node ids are ``n1``, ``n2``, ... in that order, because a step's name may be
one of Mermaid's keywords (``end``); the name is the node's quoted label. DOT node
ids are the quoted step names.
"""

MERMAID_SHAPES = {
    "start": ("([", "])"),
    "end": ("([", "])"),
    "linear": ("[", "]"),
    "split": ("{", "}"),
    "foreach": ("[/", "/]"),
    "join": ("{{", "}}"),
}

DOT_SHAPES = {
    "start": "oval",
    "end": "oval",
    "linear": "box",
    "split": "diamond",
    "foreach": "parallelogram",
    "join": "hexagon",
}

INDENT = "    "


def graph_edges(graph):
    """``(from, to, kind)`` for every transition, in ``show`` order."""
    edges = []
    for name in graph.sorted_nodes:
        node = graph[name]
        for child in node.out_funcs:
            edges.append((name, child, edge_kind(node, graph[child])))
    return edges


def edge_kind(parent, child):
    if parent.type == "foreach":
        return "foreach"
    if parent.type == "split":
        return "branch"
    if child.type == "join":
        return "join"
    return "linear"


def node_shape(graph, name):
    """start and end as themselves, whatever their type (a start step may split)."""
    if name in (graph.start_step, graph.end_step):
        return name
    return graph[name].type


def foreach_label(node):
    return "foreach %s" % node.foreach_param


def to_mermaid(graph):
    """The graph as a Mermaid flowchart, top to bottom, without a trailing newline."""
    ids = {name: "n%d" % number for number, name in enumerate(graph.sorted_nodes, 1)}
    lines = ["flowchart TD", INDENT + "%% " + graph.name]
    for name in graph.sorted_nodes:
        opening, closing = MERMAID_SHAPES[node_shape(graph, name)]
        lines.append("%s%s%s%s%s" % (INDENT, ids[name], opening, mermaid_string(name), closing))
    for parent, child, kind in graph_edges(graph):
        if kind == "foreach":
            arrow = "-.->|%s|" % mermaid_string(foreach_label(graph[parent]))
        else:
            arrow = "-->"
        lines.append("%s%s %s %s" % (INDENT, ids[parent], arrow, ids[child]))
    return "\n".join(lines)


def to_dot(graph):
    """The graph as a Graphviz digraph, top to bottom, without a trailing newline."""
    lines = [
        "digraph %s {" % dot_string(graph.name),
        INDENT + "rankdir=TB;",
        INDENT + 'node [fontname="Helvetica"];',
    ]
    for name in graph.sorted_nodes:
        lines.append("%s%s [shape=%s];" % (INDENT, dot_string(name), DOT_SHAPES[node_shape(graph, name)]))
    for parent, child, kind in graph_edges(graph):
        attributes = ""
        if kind == "foreach":
            attributes = " [style=dashed, label=%s]" % dot_string(foreach_label(graph[parent]))
        lines.append("%s%s -> %s%s;" % (INDENT, dot_string(parent), dot_string(child), attributes))
    lines.append("}")
    return "\n".join(lines)


def mermaid_string(text):
    """text as a quoted Mermaid label: Mermaid has no backslash escapes, only entities."""
    for char, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, entity)
    return '"%s"' % text


def dot_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
