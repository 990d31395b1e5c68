"""The flow graph: one node per ``@step`` method, edges read from its source.

Each step method's source is parsed with :mod:`ast` and only its last statement
is inspected: it must be ``self.next(...)``. The shape of that call gives the
node its type:

* ``self.next(self.a)``: ``linear``; ``start`` for the start step, ``join`` when
  the step takes an extra argument (``inputs``)
* ``self.next(self.a, self.b, ...)``: ``split``
* ``self.next(self.a, foreach="var")``: ``foreach`` (the name must be a string literal)
* the end step: ``end``

A step whose last statement is not ``self.next(...)``, or whose transition has
another shape, gets type ``None``; building the graph never fails on such
flows, :mod:`metaflow_core.lint` reports them.

The graph is built once per run, from the flow's module, by the process that
schedules it; tasks get its nodes as data (``task_nodes()``, read by
``task_types.TaskGraph``) instead of parsing the source again.
"""

import ast
import inspect
import json

from .exceptions import MetaflowException
from .parameters import flow_parameters
from .task_types import TASK_NODE_FIELDS, NodeTable

START_STEP = "start"
END_STEP = "end"


class DAGNode:
    """One step: its transition, its place among splits and joins, its source."""

    def __init__(self, name, func):
        self.name = name
        self.func_name = func.__name__
        self.decorators = getattr(func, "decorators", [])
        self.doc = inspect.cleandoc(func.__doc__) if func.__doc__ else ""
        self.source_file, func_ast, first_line = _parse_step_source(name, func)
        self.func_lineno = first_line + func_ast.lineno - 1
        args = func_ast.args
        self.num_args = len(args.posonlyargs) + len(args.args)

        self.type = None
        self.out_funcs = []
        self.has_tail_next = False
        self.invalid_tail_next = False
        self.tail_next_lineno = None
        self.foreach_param = None
        self._parse_tail(func_ast.body[-1], first_line)

        # filled by FlowGraph from the edges
        self.in_funcs = []
        self.split_parents = []
        self.split_branches = []
        self.matching_join = None
        self.is_inside_foreach = False

    def _parse_tail(self, tail, first_line):
        call = getattr(tail, "value", None)
        if self.name == END_STEP:
            self.type = "end"
        if not (isinstance(tail, ast.Expr) and _is_self_next(call)):
            return
        self.has_tail_next = True
        self.tail_next_lineno = first_line + tail.lineno - 1
        targets = [_self_attribute(arg) for arg in call.args]
        if None in targets:
            self.invalid_tail_next = True
            return
        self.out_funcs = targets
        if self.type == "end":
            return
        transition = _transition_type(targets, call.keywords, self.num_args)
        if transition is None:
            self.invalid_tail_next = True
            return
        self.type = "start" if transition == "linear" and self.name == START_STEP else transition
        if transition == "foreach":
            self.foreach_param = call.keywords[0].value.value

    def __repr__(self):
        return "<DAGNode %s %s -> %s (line %s)>" % (
            self.name,
            self.type,
            ", ".join(self.out_funcs),
            self.func_lineno,
        )


def _parse_step_source(name, func):
    """(source file, FunctionDef, absolute line of the source's first line)."""
    func = inspect.unwrap(func)
    try:
        lines, first_line = inspect.getsourcelines(func)
        source_file = inspect.getsourcefile(func)
    except (OSError, TypeError):
        raise MetaflowException(
            "Cannot read the source code of step *%s*. Steps must be defined in a "
            "Python file." % name
        )
    indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
    source = "".join(line[len(indent) :] if line.startswith(indent) else line for line in lines)
    try:
        module = ast.parse(source)
    except SyntaxError as err:
        raise MetaflowException(
            "Cannot parse the source code of step *%s*: %s" % (name, err),
            lineno=first_line + (err.lineno or 1) - 1,
            source_file=source_file,
            step=name,
        )
    func_ast = module.body[0] if module.body else None
    if not isinstance(func_ast, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise MetaflowException(
            "Step *%s* must be defined with a def statement." % name,
            lineno=first_line,
            source_file=source_file,
            step=name,
        )
    return source_file, func_ast, first_line


def _is_self_next(call):
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "next"
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "self"
    )


def _self_attribute(expr):
    """``"a"`` for the expression ``self.a``, else None."""
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == "self"
    ):
        return expr.attr
    return None


def _transition_type(targets, keywords, num_args):
    """Node type for ``self.next(*targets, **keywords)``; None if not supported."""
    if not keywords:
        if len(targets) > 1:
            return "split"
        if len(targets) == 1:
            return "join" if num_args > 1 else "linear"
        return None
    if (
        len(keywords) == 1
        and keywords[0].arg == "foreach"
        and isinstance(keywords[0].value, ast.Constant)
        and isinstance(keywords[0].value.value, str)
        and len(targets) == 1
    ):
        return "foreach"
    return None


class FlowGraph(NodeTable):
    """The steps of a flow class and the transitions between them."""

    start_step = START_STEP
    end_step = END_STEP

    def __init__(self, flow):
        flow_cls = flow if isinstance(flow, type) else type(flow)
        self.name = flow_cls.__name__
        self.doc = inspect.cleandoc(flow_cls.__doc__) if flow_cls.__doc__ else ""
        self.source_file = _class_source_file(flow_cls)
        self.parameter_names = [param.name for _, param in flow_parameters(flow_cls)]
        self.nodes = self._create_nodes(flow_cls)
        self._link_in_funcs()
        self.sorted_nodes = self._topological_order()
        self._traverse_splits()
        self._mark_foreach_members()

    def _create_nodes(self, flow_cls):
        nodes = [
            DAGNode(name, attr)
            for name, attr in ((name, getattr(flow_cls, name, None)) for name in dir(flow_cls))
            if callable(attr) and getattr(attr, "is_step", False)
        ]
        nodes.sort(
            key=lambda n: (n.source_file != self.source_file, n.source_file or "", n.func_lineno)
        )
        return {node.name: node for node in nodes}

    def _link_in_funcs(self):
        sources = {name: set() for name in self.nodes}
        for node in self:
            for name in node.out_funcs:
                if name in sources:
                    sources[name].add(node.name)
        for node in self:
            node.in_funcs = sorted(sources[node.name])

    def _children(self, node):
        """Known steps that node transitions to; unknown names are lint's business."""
        return [self.nodes[name] for name in node.out_funcs if name in self.nodes]

    def _topological_order(self):
        """Step names reachable from start, each after all its parents.

        A reverse postorder that visits children last-first, so sibling branches
        appear in the order of the self.next() call, as Metaflow's ``show`` lists
        them. Loops (which lint rejects) are cut where they close.
        """
        if self.start_step not in self.nodes:
            return []
        postorder = []
        visited = {self.start_step}
        start = self.nodes[self.start_step]
        stack = [(start, iter(reversed(self._children(start))))]
        while stack:
            node, children = stack[-1]
            child = next((c for c in children if c.name not in visited), None)
            if child is None:
                postorder.append(node.name)
                stack.pop()
            else:
                visited.add(child.name)
                stack.append((child, iter(reversed(self._children(child)))))
        return postorder[::-1]

    def _traverse_splits(self):
        """Fill split_parents, split_branches and matching_join, walking from start.

        Every path is followed (a step's values come from the last path that
        reaches it), but a step reached again with the same enclosing splits is not
        walked twice, and a path stops where it would close a loop.
        """
        if self.start_step not in self.nodes:
            return
        done = set()
        stack = [(self.nodes[self.start_step], (), (), frozenset())]
        while stack:
            node, parents, branches, path = stack.pop()
            if (node.name, parents, branches) in done:
                continue
            done.add((node.name, parents, branches))
            node.split_parents = list(parents)
            node.split_branches = list(branches)
            opens_split = node.type in ("split", "foreach")
            if opens_split:
                parents = parents + (node.name,)
            elif node.type == "join" and parents:
                self.nodes[parents[-1]].matching_join = node.name
                node.split_branches = list(branches[:-1])
                parents, branches = parents[:-1], branches[:-1]
            path = path | {node.name}
            for child in reversed(self._children(node)):
                if child.name not in path:
                    child_branches = branches + (child.name,) if opens_split else branches
                    stack.append((child, parents, child_branches, path))

    def _mark_foreach_members(self):
        """A step is inside a foreach unless it is the join closing every enclosing one."""
        for node in self:
            node.is_inside_foreach = any(
                self.nodes[parent].type == "foreach"
                and self.nodes[parent].matching_join != node.name
                for parent in node.split_parents
            )

    def task_nodes(self):
        """The nodes as JSON-able data, for a task's ``TaskGraph``."""
        return [{name: getattr(node, name) for name in TASK_NODE_FIELDS} for node in self]

    def output_steps(self):
        """``(steps_info, graph_structure)`` in the shape of Metaflow's ``_graph_info``.

        graph_structure lists step names in order, a split being followed by one
        nested list per branch. Meant for graphs that pass lint; on others it
        stops where the structure breaks instead of failing.
        """
        steps_info = {}
        structure = self._block(self.start_step, self.end_step, steps_info)
        if self.end_step in self.nodes and self.end_step not in steps_info:
            steps_info[self.end_step] = self._step_info(self.nodes[self.end_step])
            structure.append(self.end_step)
        return steps_info, structure

    def _block(self, first, stop, steps_info):
        names = []
        current = first
        while current != stop and current in self.nodes and current not in steps_info:
            node = self.nodes[current]
            steps_info[current] = self._step_info(node)
            names.append(current)
            if node.type in ("split", "foreach"):
                names.append(
                    [self._block(child, node.matching_join, steps_info) for child in node.out_funcs]
                )
                current = node.matching_join
            elif node.out_funcs:
                current = node.out_funcs[0]
            else:
                break
        return names

    def _step_info(self, node):
        info = {
            "name": node.name,
            "type": _OUTPUT_TYPES.get(node.type, "unknown"),
            "line": node.func_lineno,
            "source_file": node.source_file,
            "doc": node.doc,
            "decorators": [
                {
                    "name": deco.name,
                    "attributes": _jsonable(getattr(deco, "attributes", {})),
                    "statically_defined": getattr(deco, "statically_defined", True),
                }
                for deco in node.decorators
                if not deco.name.startswith("_")
            ],
            "next": list(node.out_funcs),
        }
        if node.type == "foreach":
            info["foreach_artifact"] = node.foreach_param
        if node.matching_join:
            info["matching_join"] = node.matching_join
        return info

    def to_json(self):
        steps, structure = self.output_steps()
        return {
            "name": self.name,
            "doc": self.doc,
            "start_step": self.start_step,
            "end_step": self.end_step,
            "steps": steps,
            "graph_structure": structure,
        }


_OUTPUT_TYPES = {
    "start": "start",
    "linear": "linear",
    "join": "join",
    "end": "end",
    "split": "split-static",
    "foreach": "split-foreach",
}


def _class_source_file(flow_cls):
    try:
        return inspect.getsourcefile(flow_cls)
    except (OSError, TypeError):
        return None


def _jsonable(value):
    """value with anything JSON cannot hold turned into its str()."""
    return json.loads(json.dumps(value, default=str))
