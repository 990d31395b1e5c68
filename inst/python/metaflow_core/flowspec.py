"""FlowSpec: the class a flow derives from, and ``@step``.

Attributes set on ``self`` inside a step are the task's artifacts. Reading an
attribute that the step did not set falls through, lazily, to the artifacts the
task inherited from its parent; nothing is read until it is touched.
"""

import reprlib
import sys

from .exceptions import (
    ForeachError,
    InvalidArtifactName,
    InvalidNextException,
    MergeArtifactsException,
    MetaflowException,
    MissingInMergeArtifactsException,
)
from .names import check_artifact_name
from .parameters import flow_parameters
from .task_types import ENGINE_STATE, TASK_COMMAND, FlowLike

MAXIMUM_FOREACH_VALUE_CHARS = 30


def step(f):
    """Mark a method of a FlowSpec as a step."""
    f.is_step = True
    if not hasattr(f, "decorators"):
        f.decorators = []
    return f


def short_repr(value):
    if isinstance(value, (int, float, bool, str)) and len(str(value)) <= MAXIMUM_FOREACH_VALUE_CHARS:
        return str(value)
    text = reprlib.repr(value)
    return text[:MAXIMUM_FOREACH_VALUE_CHARS]


class FlowSpec(FlowLike):
    def __init__(self, use_cli=True):
        self._datastore = None
        self._param_source = None
        self._foreach_stack_frames = []
        self._transition = None
        self._foreach_var = None
        self._foreach_num_splits = None
        self._foreach_values = None
        self._passdown = {}
        self._current_step = None
        self._graph = None
        self._is_join = False
        self._cached_input = {}
        # (var, num_splits, shown values) when a step body that ran elsewhere
        # counted its foreach (see external.run_elsewhere).
        self._counted_splits = None
        if use_cli:
            if len(sys.argv) > 2 and sys.argv[1] == TASK_COMMAND:
                from . import task

                task.main(self, sys.argv[2:])
            from . import cli

            cli.main(self)

    @property
    def name(self):
        return type(self).__name__

    # artifact access
    def __getattr__(self, name):
        # Only called when normal lookup fails: the lazy read-through to inputs.
        if name.startswith("__") or name in ENGINE_STATE:
            raise AttributeError(name)
        ds = self.__dict__.get("_datastore")
        if ds is not None and name in ds:
            value = ds.load_object(name)
            object.__setattr__(self, name, value)
            return value
        raise AttributeError(
            "Flow %s has no attribute '%s'" % (type(self).__name__, name)
        )

    def __setattr__(self, name, value):
        if name not in ENGINE_STATE:
            # Checked as it is set, where the user's traceback points at the line:
            # stored, a bad name could not be read back.
            check_artifact_name(name, self.__dict__.get("_current_step"))
        # An artifact named like a step would hide the step from self.next().
        if getattr(getattr(type(self), name, None), "is_step", False):
            raise InvalidArtifactName(
                "Artifact *%s* can't be set in step *%s*: a step of the flow has that name. "
                "Rename the artifact." % (name, self.__dict__.get("_current_step")),
                step=self.__dict__.get("_current_step"),
            )
        object.__setattr__(self, name, value)

    def _parameter_value(self, attr):
        source = self.__dict__.get("_param_source")
        if source is None or attr not in source:
            raise AttributeError("Parameter '%s' is not available outside a running task." % attr)
        return source.load_object(attr)

    def _artifacts_to_persist(self):
        return {
            k: v for k, v in self.__dict__.items()
            if k not in ENGINE_STATE
        }

    # foreach
    @property
    def index(self):
        frames = self._foreach_stack_frames
        return frames[-1].index if frames else None

    @property
    def input(self):
        frames = self._foreach_stack_frames
        if not frames:
            return None
        top = frames[-1]
        if top.var not in self._cached_input:
            values = getattr(self, top.var)
            try:
                self._cached_input[top.var] = values[top.index]
            except TypeError:
                for i, item in enumerate(values):
                    if i == top.index:
                        self._cached_input[top.var] = item
                        break
        return self._cached_input[top.var]

    def foreach_stack(self):
        return [(f.index, f.num_splits, f.value) for f in self._foreach_stack_frames]

    # transitions
    def next(self, *dsts, **kwargs):
        step_name = self._current_step
        foreach = kwargs.pop("foreach", None)
        if kwargs:
            raise InvalidNextException(
                "Step *%s* passes an unknown keyword argument '%s' to self.next()."
                % (step_name, sorted(kwargs)[0]), step=step_name
            )
        if self._transition is not None:
            raise InvalidNextException(
                "Multiple self.next() calls detected in step *%s*. Call self.next() only once."
                % step_name, step=step_name
            )
        names = []
        for i, dst in enumerate(dsts, 1):
            if not getattr(dst, "is_step", False) or getattr(dst, "__self__", None) is not self:
                raise InvalidNextException(
                    "In step *%s* the %d. argument in self.next() is not a function. Make "
                    "sure all arguments in self.next() are methods of the Flow class."
                    % (step_name, i), step=step_name
                )
            names.append(dst.__name__)
        if foreach is not None:
            self._init_foreach(step_name, names, foreach)
        self._transition = (names, foreach)

    def _init_foreach(self, step_name, names, var):
        if not isinstance(var, str) or len(names) != 1:
            raise InvalidNextException(
                "Step *%s* has an invalid self.next() transition: foreach takes the name of "
                "an artifact, as a string, and exactly one step." % step_name, step=step_name
            )
        counted = self.__dict__.get("_counted_splits")
        if counted is not None and counted[0] == var:
            _, num_splits, shown = counted
        else:
            try:
                values = getattr(self, var)
            except AttributeError:
                raise ForeachError(
                    "Foreach variable *self.%s* in step *%s* does not exist. Check your "
                    "variable." % (var, step_name), step=step_name
                )
            num_splits = self._count_splits(var, values, step_name)
            shown = [short_repr(v) for v in values] if num_splits <= 10000 else None
        if num_splits == 0:
            raise ForeachError(
                "Foreach iterator over *%s* in step *%s* produced zero splits. Check your "
                "variable." % (var, step_name), step=step_name
            )
        self._foreach_var = var
        self._foreach_num_splits = num_splits
        self._foreach_values = shown

    @staticmethod
    def _count_splits(var, values, step_name):
        try:
            return len(values)
        except TypeError:
            pass
        try:
            return sum(1 for _ in iter(values))
        except TypeError as err:
            raise ForeachError(
                "Foreach variable *self.%s* in step *%s* is not iterable. Please check "
                "details: %s" % (var, step_name, err), step=step_name
            )

    # joins
    def merge_artifacts(self, inputs, exclude=None, include=None):
        step_name = self._current_step
        if not self._is_join:
            raise MetaflowException(
                "merge_artifacts can only be called in a join and step *%s* is not a join"
                % step_name, step=step_name
            )
        exclude = list(exclude or [])
        include = list(include or [])
        if exclude and include:
            raise MetaflowException(
                "`exclude` and `include` are mutually exclusive in merge_artifacts",
                step=step_name,
            )
        candidates = {}
        conflicts = set()
        for inp in inputs:
            ds = inp._datastore
            for name in ds.keys():
                if include and name not in include:
                    continue
                if name in exclude or name in self.__dict__ or self._is_parameter(name):
                    continue
                sha = ds.sha(name)
                if name in candidates and candidates[name][0] != sha:
                    conflicts.add(name)
                else:
                    candidates.setdefault(name, (sha, ds))
        if conflicts:
            raise MergeArtifactsException(
                "Step *%s* cannot merge the following artifacts due to them having "
                "conflicting values:\n[%s].\nTo remedy this issue, be sure to explicitly set "
                "those artifacts (using self.<artifact_name> = ...) prior to calling "
                "merge_artifacts." % (step_name, ", ".join(sorted(conflicts))), step=step_name
            )
        missing = [n for n in include if n not in candidates and n not in self.__dict__]
        if missing:
            raise MissingInMergeArtifactsException(
                "Step *%s* specifies that [%s] should be merged but [%s] are not present.\n"
                "To remedy this issue, make sure that the values specified in only come from "
                "at least one branch" % (step_name, ", ".join(include), ", ".join(missing)),
                step=step_name,
            )
        for name, (_, ds) in candidates.items():
            self._passdown[name] = ds

    def _is_parameter(self, name):
        return any(attr == name for attr, _ in flow_parameters(type(self)))

    def __str__(self):
        return "<flow %s step %s>" % (self.name, self._current_step)
