"""The core's layering, read from the source with ast.

Every import counts, inside functions too: a cycle among the core's modules, a
core module importing the R front end (``r/``), or ``r/`` using a private member
of the core fails here.
"""

import ast
import subprocess
import sys
from pathlib import Path

import metaflow_core

PACKAGE = "metaflow_core"
ROOT = Path(metaflow_core.__file__).parent
FRONT_ENDS = ("r",)
OUTSIDE_CORE = FRONT_ENDS + ("plugins",)


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE] + parts)


def modules():
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def resolve(name, node, is_package):
    """The absolute module an ImportFrom names (``from ..x import y`` -> metaflow_core.x)."""
    if node.level == 0:
        return node.module
    base = name.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name, path, known):
    """(module, names) for each import of a package module in ``path``."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, node, path.name == "__init__.py")
            names = tuple(alias.name for alias in node.names)
            # `from . import task` imports the module metaflow_core.task.
            submodules = [target + "." + n for n in names if target + "." + n in known]
            found += [(m, ()) for m in submodules] or [(target, names)]
    return [(m, names) for m, names in found if m == PACKAGE or m.startswith(PACKAGE + ".")]


def import_graph():
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = set()
        for target, _ in imports_of(name, path, known):
            # A package import runs its __init__; count the closest known module.
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def in_core(name):
    parts = name.split(".")
    return len(parts) < 2 or parts[1] not in OUTSIDE_CORE


def find_cycle(graph):
    """One cycle as a list of modules, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return stack[stack.index(child):] + [child]
            if child not in state:
                cycle = visit(child)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def core_graph():
    # The package's __init__ re-exports names for users; it is the top, not a layer.
    return {name: {t for t in targets if in_core(t) and t != PACKAGE}
            for name, targets in import_graph().items() if in_core(name) and name != PACKAGE}


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()

    assert "metaflow_core.cli" in graph["metaflow_core.flowspec"]
    assert "metaflow_core.task" in graph["metaflow_core.flowspec"]
    assert "metaflow_core.status" in graph["metaflow_core.cli"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_core_has_no_import_cycle():
    assert find_cycle(core_graph()) is None


def test_the_core_imports_nothing_from_a_front_end():
    offending = sorted(
        (name, target) for name, targets in import_graph().items() if in_core(name)
        for target in targets if not in_core(target) and target.split(".")[1] in FRONT_ENDS
    )

    assert offending == []


def private_uses(path, name, known):
    """Private core names a front-end module imports or reaches as attributes."""
    found = []
    for target, names in imports_of(name, path, known):
        if in_core(target):
            found += ["from %s import %s" % (target, n) for n in names if n.startswith("_")]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append("line %d: .%s" % (node.lineno, node.attr))
    return found


def test_front_ends_use_only_the_cores_public_api():
    known = modules()
    found = {name: private_uses(path, name, known) for name, path in known.items()
             if name.split(".")[1:2] and name.split(".")[1] in FRONT_ENDS}

    assert found and {name: uses for name, uses in found.items() if uses} == {}


def test_the_private_check_catches_what_it_should(tmp_path):
    path = tmp_path / "bridge.py"
    path.write_text("from ..flowspec import _helper\n"
                    "def f(flow):\n    return flow._graph, self._own, type(flow).__name__\n")

    assert private_uses(path, "metaflow_core.r.bridge", modules()) == [
        "from metaflow_core.flowspec import _helper", "line 3: ._graph"]


def test_a_task_process_reads_no_source():
    # What a task imports before its step runs: no inspect or ast, which only
    # building the graph from source needs (done once, by the runtime).
    code = ("import sys, metaflow_core, metaflow_core.task, metaflow_core.datastore, "
            "metaflow_core.decorators, metaflow_core.util; "
            "print(sorted(m for m in ('inspect', 'ast', 'click') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)

    assert done.stdout.strip() == "[]"
