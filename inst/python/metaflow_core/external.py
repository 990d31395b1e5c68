"""Step bodies that run outside the task's Python process.

The hook that keeps the core ignorant of where they run:
``run_elsewhere(self, runner, inputs)`` delegates the body of the running step
  to ``runner`` (an R process today; a Batch or Slurm job could be another). The
  runner gets a :class:`StepTask`, everything the body may read, and returns a
  :class:`StepOutcome`, everything the body did: artifacts to set, artifacts a
  join takes from one input, and the splits of a foreach; an exception it raises
  may carry a ``partial_outcome`` (a StepOutcome) whose artifacts are set before
  it propagates. ``self.next()`` is
  still called in Python after it, so the graph is read from the module as usual::

      @step
      def start(self):
          run_elsewhere(self, runner)
          self.next(self.end)

A flow written in another language also names its front end (front_end.py).
"""

from .current import current
from .flowspec import FlowSpec
from .parameters import flow_parameters
from .task_types import ENGINE_STATE


class StoredArtifact(object):
    """One artifact as stored: its sha, encoding, and the local file of its blob.

    ``path`` is None where the datastore keeps no local files; ``load()`` reads
    the value in this process.
    """

    __slots__ = ("name", "sha", "encoding", "path", "_datastore")

    def __init__(self, datastore, name):
        self.name = name
        self.sha = datastore.sha(name)
        self.encoding = datastore.encoding(name)
        self.path = datastore.local_path(name)
        self._datastore = datastore

    def load(self):
        return self._datastore.load_object(self.name)

    @property
    def storage(self):
        return self._datastore.storage

    def copy_blob_to(self, path):
        """Stream the stored blob (header and all, unverified: the reader checks
        it against ``sha``) into the local file ``path``."""
        self._datastore.copy_blob_to(self.name, path)

    @property
    def pathspec(self):
        """The task it belongs to, ``Flow/run/step/task``."""
        ds = self._datastore
        return "%s/%s" % (ds.flow_datastore.flow_name, ds.pathspec)


class JoinInput(object):
    """One input of a join: the step and task it comes from and its artifacts."""

    __slots__ = ("step", "pathspec", "artifacts")

    def __init__(self, step, pathspec, artifacts):
        self.step, self.pathspec, self.artifacts = step, pathspec, artifacts


class StepTask(object):
    """What a step body that runs elsewhere can read.

    * ``step_name``, ``foreach_var`` (the artifact a foreach step splits over, as
      the graph says), ``join`` (None, ``"branch"`` or ``"foreach"``)
    * ``artifacts``: name -> StoredArtifact the step inherited (empty in a join)
    * ``inputs``: the join's inputs, a list of JoinInput (empty elsewhere)
    * ``parameters``: attribute name -> value
    * ``foreach_stack``: the enclosing foreach splits, outermost first, as dicts
      of ``step``, ``var``, ``num_splits``, ``index`` and ``value``
    * ``current``: ``current``'s fields as a dict
    * ``datastore_type``: where the artifacts live (``local``, ``s3``)
    * ``store``: the content-addressed store the task's artifacts go to, where a
      runner can move a blob file it staged (``store.save_file(path)``); None
      where nothing is stored (debug_task's request)
    """

    def __init__(self, step_name, foreach_var, join, artifacts, inputs, parameters,
                 foreach_stack, current_fields, datastore_type, store=None):
        self.datastore_type = datastore_type
        self.store = store
        self.step_name = step_name
        self.foreach_var = foreach_var
        self.join = join
        self.artifacts = artifacts
        self.inputs = inputs
        self.parameters = parameters
        self.foreach_stack = foreach_stack
        self.current = current_fields


class StepOutcome(object):
    """What a step body that ran elsewhere did.

    * ``artifacts``: name -> value to set on the flow (e.g. an ``RObject``)
    * ``merge``: name -> index of the join input whose artifact passes down
    * ``foreach``: for a foreach step, ``(num_splits, shown_values)``: how many
      splits and a short text per split (or None); the values need not exist in
      this process
    """

    def __init__(self, artifacts=None, merge=None, foreach=None):
        self.artifacts = dict(artifacts or {})
        self.merge = dict(merge or {})
        self.foreach = foreach


class StepRunner(object):
    """Runs the body of a step elsewhere: subclass and implement ``run()``."""

    def run(self, task):
        """Run the body for ``task`` (a StepTask); return a StepOutcome."""
        raise NotImplementedError


def reserved_artifact_name(name):
    """Whether ``name`` can't be an artifact: the engine or FlowSpec uses it."""
    return not name or name in ENGINE_STATE or hasattr(FlowSpec, name)


def _artifacts_of(datastore):
    return {name: StoredArtifact(datastore, name) for name in datastore.keys()}


def step_task(flow, inputs=None):
    """The StepTask of the step running on ``flow`` (``inputs`` in a join)."""
    graph = flow._graph
    step_name = flow._current_step
    join = None
    if inputs is not None:
        split = graph.matching_split(step_name)
        join = "foreach" if split is not None and graph[split].type == "foreach" else "branch"
    params = [attr for attr, _ in flow_parameters(type(flow))]
    datastore = flow._datastore
    return StepTask(
        step_name=step_name,
        foreach_var=graph[step_name].foreach_param,
        join=join,
        artifacts={} if datastore is None else _artifacts_of(datastore),
        inputs=[JoinInput(inp._current_step, inp._datastore.pathspec,
                          _artifacts_of(inp._datastore)) for inp in (inputs or [])],
        parameters={p: getattr(flow, p) for p in params},
        foreach_stack=[f.to_dict() for f in flow._foreach_stack_frames],
        current_fields={
            "flow_name": current.flow_name, "run_id": current.run_id,
            "step_name": current.step_name, "task_id": current.task_id,
            "retry_count": current.retry_count, "origin_run_id": current.origin_run_id,
            "pathspec": current.pathspec, "namespace": current.namespace,
            "username": current.username, "is_running_flow": True,
            "parameter_names": list(params),
        },
        datastore_type=flow._param_source.storage.TYPE,
        store=flow._param_source.ca_store,
    )


def run_elsewhere(flow, runner, inputs=None):
    """Run the body of the current step with ``runner`` and apply its StepOutcome.

    Call it inside a step, with the join's ``inputs`` in a join. Artifacts are
    set as the step had assigned them; a foreach step's splits are counted from
    the outcome, so ``self.next(..., foreach=var)`` needs no Python value.
    """
    try:
        outcome = runner.run(step_task(flow, inputs))
    except Exception as exc:
        # A body that failed keeps the artifacts it assigned before the error,
        # as a Python step does: the runner's exception may carry them.
        partial = getattr(exc, "partial_outcome", None)
        for name, value in (partial.artifacts if partial else {}).items():
            setattr(flow, name, value)
        raise
    for name, value in outcome.artifacts.items():
        setattr(flow, name, value)
    for name, index in outcome.merge.items():
        flow._passdown[name] = inputs[index]._datastore
    if outcome.foreach is not None:
        var = flow._graph[flow._current_step].foreach_param
        flow._counted_splits = (var,) + tuple(outcome.foreach)
    return outcome
