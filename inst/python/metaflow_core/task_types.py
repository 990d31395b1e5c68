"""Small types and constants that the flow, the runtime and the task share.

It imports nothing from the package, so every layer can import it and the
layers read top-down: flowspec -> cli -> runtime -> task, each using this.
"""

# The runtime starts a task as ``python flow.py internal-task '<json>'``: one JSON
# argument, parsed without click, because every task pays for its imports.
TASK_COMMAND = "internal-task"
# The pseudo-step whose one task holds a run's parameter values.
PARAMETERS_STEP = "_parameters"
# Most tasks one foreach may yield, unless the run says otherwise (--max-num-splits).
DEFAULT_MAX_NUM_SPLITS = 100

# Engine state on a FlowSpec instance; never persisted as artifacts.
ENGINE_STATE = frozenset((
    "_datastore", "_param_source", "_foreach_stack_frames", "_transition",
    "_foreach_var", "_foreach_num_splits", "_foreach_values", "_passdown",
    "_current_step", "_graph", "_is_join", "_cached_input", "_counted_splits",
))


# What a task knows of each step: the graph built once per run, as data.
TASK_NODE_FIELDS = ("name", "type", "out_funcs", "in_funcs", "foreach_param", "matching_join",
                    "split_parents", "split_branches", "is_inside_foreach")


class NodeTable(object):
    """Steps by name, and the questions a task asks of them; ``nodes`` maps names to nodes."""

    def matching_split(self, join_name):
        """The split or foreach step that join_name closes, or None."""
        for node in self:
            if node.matching_join == join_name:
                return node.name
        return None

    def __getitem__(self, name):
        return self.nodes[name]

    def __contains__(self, name):
        return name in self.nodes

    def __iter__(self):
        return iter(self.nodes.values())

    def __len__(self):
        return len(self.nodes)


class TaskNode(object):
    """A step as a task sees it: the TASK_NODE_FIELDS, no source, no decorators."""

    __slots__ = TASK_NODE_FIELDS

    def __init__(self, fields):
        for name in TASK_NODE_FIELDS:
            setattr(self, name, fields[name])


class TaskGraph(NodeTable):
    """The graph a task runs by, from ``FlowGraph.task_nodes()``: no source is read,
    so a task imports neither ``inspect`` nor ``ast``."""

    def __init__(self, nodes):
        self.nodes = {fields["name"]: TaskNode(fields) for fields in nodes}


class FlowLike(object):
    """What can't be an artifact: a flow (FlowSpec derives from this) or a join's inputs."""


class ForeachFrame(object):
    """One enclosing foreach split of a task: its step, variable, size and index."""

    __slots__ = ("step", "var", "num_splits", "index", "value")

    def __init__(self, step, var, num_splits, index, value=None):
        self.step, self.var, self.num_splits = step, var, num_splits
        self.index, self.value = index, value

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        return cls(d["step"], d["var"], d["num_splits"], d["index"], d.get("value"))


class Inputs(FlowLike):
    """The inputs of a join: by index, by step name and by iteration."""

    def __init__(self, flows):
        self._flows = list(flows)
        self._by_step = {}
        for flow in self._flows:
            self._by_step.setdefault(flow._current_step, flow)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._by_step[key]
        return self._flows[key]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._by_step[name]
        except KeyError:
            raise AttributeError(
                "This join has no input from step '%s'. Inputs come from: %s"
                % (name, ", ".join(sorted(self._by_step)))
            )

    def __iter__(self):
        return iter(self._flows)

    def __len__(self):
        return len(self._flows)
