"""The scheduler: one launched attempt per task at a time.

The runtime keeps a FIFO queue of ready tasks and at most ``max_workers``
attempts running, each started by the launcher its step's decorators choose
(launcher.py: a local process, or a job elsewhere; the runtime can't tell them
apart). When an attempt ends it reads its control record (a small
JSON index, never an artifact) and queues what the graph says comes next: every
split of a foreach, every branch of a split, and a join once all of its inputs
are done. Tasks are keyed by ``(step, foreach indices)``, which is also how
``resume`` matches a new run's tasks to the origin run's.
"""

import collections
import json
import os
import queue
import signal
import threading
import time
from datetime import datetime

from . import machine
from .exceptions import (
    EXIT_DISALLOW_RETRY,
    DatastoreAccessError,
    ForeachError,
    MetaflowException,
    RunInterrupted,
    RunRecordError,
    TaskFailed,
)
from .datastore.storage import sysroot_of
from .metadata import FAILED, SUCCEEDED
from .parameters import ParameterContext, flow_parameters
from .decorators import retry_counts, retry_delay, step_decorators, step_resources
from .launcher import launcher_for
from .run_events import RunEvents
from .runtime_guard import RuntimeGuard
from .task_types import DEFAULT_MAX_NUM_SPLITS, PARAMETERS_STEP

# What a task gets to exit on SIGTERM before SIGKILL: short, as a run stopped by a
# signal must have no process left within 2 s.
KILL_GRACE_SECONDS = 1.5
DEFAULT_MAX_WORKERS = 16


class ScheduledTask(object):
    def __init__(self, step, task_id, input_paths, key, split_index=None):
        self.step = step
        self.task_id = task_id
        self.input_paths = input_paths
        self.key = key
        self.split_index = split_index
        self.retry_count = 0

    def pathspec(self, run_id):
        return "%s/%s/%s" % (run_id, self.step, self.task_id)


class NativeRuntime(object):
    def __init__(self, flow, graph, flow_datastore, metadata, entrypoint, run_id,
                 user, max_workers=None, max_num_splits=DEFAULT_MAX_NUM_SPLITS, max_log_size=10,
                 namespace=None, decospecs=(), echo=None, quiet=False,
                 origin_run_id=None, steps_to_rerun=None, run_events=None):
        self.flow = flow
        self.graph = graph
        # The graph as every task gets it: built once here, never parsed again.
        self.task_nodes = graph.task_nodes()
        self.flow_datastore = flow_datastore
        self.metadata = metadata
        self.entrypoint = list(entrypoint)
        self.run_id = str(run_id)
        self.user = user
        self.max_workers = max_workers or DEFAULT_MAX_WORKERS
        # Without --max-workers, tasks whose steps ask for cores (@resources) run
        # together only as far as the machine's cores go.
        self.cpu_budget = None if max_workers else machine.cpu_count()
        self.max_num_splits = max_num_splits
        self.max_log_size = max_log_size
        self.namespace = namespace
        self.decospecs = list(decospecs)
        self.echo = echo or (lambda msg, **kw: None)
        self.quiet = quiet
        self.origin_run_id = origin_run_id
        self.steps_to_rerun = steps_to_rerun
        # What a front end draws its progress from (run_events.py); the queue
        # below is the launchers' "attempt ended" signal.
        self.run_events = run_events or RunEvents()
        self.steps_done = set()
        # Tasks queued and finished, by step: a step has work left while the first
        # passes the second (queued, running or waiting out a retry).
        self.queued_per_step = collections.Counter()
        self.finished_per_step = collections.Counter()
        self.events = queue.Queue()
        self.run_queue = collections.deque()
        # Retries waiting out minutes_between_retries: (when due, task).
        self.delayed = []
        self.active = {}
        self.finished = {}
        self.scheduled = set()
        self.registered_steps = set()
        self.clone_index = {}
        # Checks the blobs of the tasks resume clones, each blob once per run.
        self._clone_verifier = None
        self._next_task_id = 0
        self._print_lock = threading.Lock()
        self.decorators = {}
        from .decorators import parse_decospec

        extra = [parse_decospec(s) for s in self.decospecs]
        for node in graph:
            self.decorators[node.name] = step_decorators(getattr(type(flow), node.name), extra)
        self.resources = {name: step_resources(decos) for name, decos in self.decorators.items()}
        self.launchers = {name: launcher_for(decos) for name, decos in self.decorators.items()}
        # What a task that runs elsewhere runs (package.py): set by the command
        # line before the run starts when a step's launcher needs it.
        self.code_package = None
        self.started = time.time()
        self.tasks_run = 0
        self.guard = None

    # output
    def task_echo(self, launched, text, stream="stdout"):
        self._emit_task("task_output", launched.task, stream=stream, line=text)
        if self.quiet:
            return
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        prefix = "%s [%s (%s)] " % (stamp, launched.task.pathspec(self.run_id), launched.label)
        with self._print_lock:
            self.echo(prefix + text, system=False)

    def system_echo(self, task, text, launched=None):
        if self.quiet:
            return
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        label = getattr(launched, "label", None)
        where = task.pathspec(self.run_id) + (" (%s)" % label if label else "")
        with self._print_lock:
            self.echo("%s [%s] %s" % (stamp, where, text), system=True)

    def _emit_task(self, event, task, **fields):
        self.run_events.emit(event, step=task.step, attempt=task.retry_count,
                             pathspec="%s/%s" % (self.flow.name, task.pathspec(self.run_id)),
                             **fields)

    def _emit_run_finished(self, status, reason=None):
        self.run_events.emit("run_finished", status=status, reason=reason, tasks=self.tasks_run,
                             seconds=round(time.time() - self.started, 3))

    def _note_finished_steps(self):
        """Emit ``step_finished`` for each step that can get no more tasks: none of
        its tasks waits or runs, and every step before it is finished. Tasks are
        queued as soon as the task before them succeeds, so nothing can still come."""
        for name in self.graph.sorted_nodes:
            tasks = self.finished_per_step[name]
            if name in self.steps_done or self.queued_per_step[name] > tasks:
                continue
            if tasks and all(before in self.steps_done for before in self.graph[name].in_funcs):
                self.steps_done.add(name)
                self.run_events.emit("step_finished", step=name, tasks=tasks)

    def run_echo(self, text):
        if not self.quiet:
            with self._print_lock:
                self.echo(text, system=True)

    # ids and metadata
    def new_task_id(self):
        task_id = str(self._next_task_id)
        self._next_task_id += 1
        return task_id

    def _register_task(self, task, **fields):
        """Recorded once the task starts or is cloned: a queued task that never ran has no record."""
        flow_name = self.flow.name
        if task.step not in self.registered_steps:
            self.metadata.register_step(flow_name, self.run_id, task.step)
            self.registered_steps.add(task.step)
        self.metadata.register_task(flow_name, self.run_id, task.step, task.task_id, **fields)

    # parameters
    def persist_parameters(self, values):
        """The ``_parameters`` task: parameter values every task reads."""
        task = ScheduledTask(PARAMETERS_STEP, self.new_task_id(), [], ())
        self._register_task(task)
        ds = self.flow_datastore.task(self.run_id, PARAMETERS_STEP, task.task_id, attempt=0, mode="w")
        for attr, value in values.items():
            ds.save_object(attr, value)
        ds.set_control(task_ok=True, transition=[["start"], None], foreach_stack=[])
        ds.done()
        self.metadata.start_attempt(self.flow.name, self.run_id, PARAMETERS_STEP, task.task_id, 0)
        self.metadata.finish_attempt(self.flow.name, self.run_id, PARAMETERS_STEP, task.task_id, 0, True)
        return task.pathspec(self.run_id)

    def clone_parameters(self, origin_run_id):
        origin_ids = self.flow_datastore.task_ids(origin_run_id, PARAMETERS_STEP)
        if not origin_ids:
            raise MetaflowException("Resume could not find run id *%s*" % origin_run_id)
        task = ScheduledTask(PARAMETERS_STEP, self.new_task_id(), [], ())
        self._register_task(task, origin_task_id=origin_ids[0])
        origin = self.flow_datastore.task(origin_run_id, PARAMETERS_STEP, origin_ids[0])
        try:
            for name in origin.keys():
                # The parameters can't be computed again: damaged, they stop the resume.
                origin.verify(name)
        except MetaflowException as err:
            self.metadata.set_run_status(self.flow.name, self.run_id, FAILED,
                                         reason=err.message, failed_tasks=[])
            raise
        self._copy_task(origin, task)
        return task.pathspec(self.run_id)

    # resume
    def build_clone_index(self, origin_run_id):
        """Successful origin tasks, by (step, foreach indices), that need not run again."""
        rerun = self.steps_to_rerun or set()
        for node in self.graph:
            if node.name in rerun:
                continue
            for task_id in self.flow_datastore.task_ids(origin_run_id, node.name):
                try:
                    ds = self.flow_datastore.task(origin_run_id, node.name, task_id)
                except MetaflowException:
                    continue
                if ds.control.get("task_ok"):
                    key = tuple(f["index"] for f in ds.control.get("foreach_stack", []))
                    self.clone_index[(node.name, key)] = ds

    def _clonable(self, task, origin):
        """Whether every blob ``origin`` refers to is intact: a clone takes them by
        reference, so cloning a damaged one would hand the damage to the new run.
        A task that fails the check runs again instead, and says why."""
        if self._clone_verifier is None:
            from .datastore.verify import Verifier  # only when resuming

            self._clone_verifier = Verifier(self.flow_datastore)
        verifier = self._clone_verifier
        before = len(verifier.items)
        verifier.attempt(origin, again=True)
        damaged = verifier.items[before:]
        if not damaged:
            return True
        first = damaged[0]
        self.system_echo(task, "Not cloning %s: artifact *%s* is damaged (%s: %s); "
                               "running the task again." % (
                                   origin.pathspec, first.artifact, first.file, first.reason))
        return False

    def _copy_task(self, origin, task):
        """The clone: the origin's artifacts (by reference) and its logs, as attempt 0."""
        ds = self.flow_datastore.task(self.run_id, task.step, task.task_id, attempt=0, mode="w")
        for stream in ("stdout", "stderr"):
            log = origin.load_log(stream)
            if log:
                handle = ds.open_log(stream)
                handle.write(log)
                handle.close()
        ds.passdown(origin)
        ds.set_control(**origin.control)
        ds.done()
        self.metadata.start_attempt(self.flow.name, self.run_id, task.step, task.task_id, 0,
                                    origin_task_id=origin.task_id)
        self.metadata.finish_attempt(self.flow.name, self.run_id, task.step, task.task_id, 0, True)
        return ds

    # scheduling
    def queue_task(self, step, input_paths, key, split_index=None):
        if (step, key) in self.scheduled:
            return
        self.scheduled.add((step, key))
        self.queued_per_step[step] += 1
        self.run_queue.append(ScheduledTask(step, self.new_task_id(), input_paths, key, split_index))

    def execute(self, parameters_path):
        try:
            self._execute(parameters_path)
        finally:
            self.run_events.close()

    def _execute(self, parameters_path):
        self.run_echo("Workflow starting (run-id %s):" % self.run_id)
        self.run_events.emit("run_started", flow=self.flow.name,
                             pathspec="%s/%s" % (self.flow.name, self.run_id),
                             steps=len(self.graph.sorted_nodes), origin_run_id=self.origin_run_id)
        cores, memory = machine.cpu_count(), machine.memory_mb()
        for step, requested in self.resources.items():
            warning = requested and machine.shortfall(step, requested, cores, memory)
            if warning:
                # Shown even to a quiet run: it says why the run may not go as asked.
                with self._print_lock:
                    self.echo(warning, system=True)
        self.queue_task("start", [parameters_path], ())
        self.run_queued()
        if ("end", ()) not in self.finished:
            self.metadata.set_run_status(self.flow.name, self.run_id, FAILED,
                                         reason="the end step did not run", failed_tasks=[])
            self._emit_run_finished("failed", "the end step did not run")
            unfinished = MetaflowException(
                "The terminal step *end* was not successful by the end of flow."
            )
            unfinished.run_pathspec = "%s/%s" % (self.flow.name, self.run_id)
            raise unfinished
        self.metadata.set_run_status(self.flow.name, self.run_id, SUCCEEDED)
        self._emit_run_finished("succeeded")
        self.run_echo("Done! %d tasks in %.1f s." % (self.tasks_run, time.time() - self.started))

    def heartbeat(self):
        self.metadata.heartbeat(self.flow.name, self.run_id)

    def run_queued(self):
        """Run the queued tasks and what they lead to; a task that fails for good,
        an interrupt or a datastore that can't be written fails the run, recorded."""
        self.guard = RuntimeGuard(heartbeat=self.heartbeat)
        self.guard.start()
        try:
            try:
                self._loop()
            except OSError as err:
                # A full disk under the datastore, most often: the run fails, named,
                # and its status still goes in the space kept for it.
                raise RunRecordError("Run %s/%s could not write to its datastore: %s"
                                     % (self.flow.name, self.run_id, err))
        except KeyboardInterrupt:
            reason, status = self.guard.stop or ("stopped by SIGINT", 128 + signal.SIGINT)
            self.run_echo("Workflow interrupted: %s." % reason)
            self._terminate_all(reason)
            self._emit_run_finished("interrupted", reason)
            self.metadata.set_run_status(self.flow.name, self.run_id, FAILED, reason=reason)
            interrupted = RunInterrupted("Run %s/%s was %s; its tasks were stopped."
                                         % (self.flow.name, self.run_id, reason))
            interrupted.run_pathspec = "%s/%s" % (self.flow.name, self.run_id)
            interrupted.exit_code = status
            raise interrupted
        except Exception as err:
            self.run_echo("Workflow failed.")
            failed_tasks = getattr(err, "failed_tasks", [])
            self._terminate_all(_kill_reason(err, failed_tasks))
            self._emit_run_finished("failed", getattr(err, "message", str(err)))
            self.metadata.set_run_status(
                self.flow.name, self.run_id, FAILED, reason=getattr(err, "message", str(err)),
                failed_tasks=failed_tasks,
            )
            if isinstance(err, MetaflowException):
                err.run_pathspec = "%s/%s" % (self.flow.name, self.run_id)
            raise
        finally:
            self.guard.close()

    @property
    def interrupted(self):
        # Only noted by the guard: raised at an arbitrary point, the interrupt could
        # fall between starting a task and tracking it, and nothing would stop that
        # task. The loop raises it where every started task is tracked.
        return self.guard is not None and self.guard.stop is not None

    def _loop(self):
        while self.run_queue or self.active or self.delayed:
            if self.interrupted:
                raise KeyboardInterrupt()
            self._queue_due_retries()
            while (self.run_queue and len(self.active) < self.max_workers
                   and self._fits(self.run_queue[0])):
                task = self.run_queue.popleft()
                origin = self.clone_index.get((task.step, task.key))
                if origin is not None and not self._clonable(task, origin):
                    origin = None
                if origin is not None:
                    self.system_echo(task, "Cloning previously run task %s" % origin.pathspec)
                    self._register_task(task, origin_task_id=origin.task_id,
                                        foreach_indices=list(task.key),
                                        input_paths=task.input_paths)
                    ds = self._copy_task(origin, task)
                    self._emit_task("task_finished", task, cloned=True)
                    self._on_success(task, ds)
                    self._note_finished_steps()
                    continue
                self._launch(task)
            if not self.active:
                if self.delayed:
                    time.sleep(0.1)
                continue
            try:
                launched = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self._on_exit(launched)

    def _cpu(self, task):
        return (self.resources[task.step] or {}).get("cpu") or 0

    def _fits(self, task):
        """Whether the cores ``task`` asks for are free; with nothing running, any task starts."""
        if self.cpu_budget is None or not self.active:
            return True
        used = sum(self._cpu(launched.task) for launched in self.active.values())
        return used + self._cpu(task) <= self.cpu_budget

    def _schedule_retry(self, task, launched):
        task.retry_count += 1
        delay = retry_delay(self.decorators[task.step])
        if delay <= 0:
            self.run_queue.appendleft(task)
            return
        # Waited out here, not in a process: the other tasks go on meanwhile.
        self.system_echo(task, "Sleeping %g minutes before the next attempt." % (delay / 60.0),
                         launched=launched)
        self.delayed.append((time.time() + delay, task))

    def _queue_due_retries(self):
        now = time.time()
        due = [task for when, task in self.delayed if when <= now]
        if due:
            self.delayed = [(when, task) for when, task in self.delayed if when > now]
            self.run_queue.extendleft(reversed(due))

    def _launch(self, task):
        decorators = self.decorators[task.step]
        user_retries, _ = retry_counts(decorators)
        args = {
            "step": task.step, "run_id": self.run_id, "task_id": task.task_id,
            "input_paths": task.input_paths, "split_index": task.split_index,
            "retry_count": task.retry_count, "max_user_code_retries": user_retries,
            "namespace": self.namespace, "origin_run_id": self.origin_run_id,
            "datastore": self.flow_datastore.ds_type, "datastore_root": self.flow_datastore.ds_root,
            "decospecs": self.decospecs, "graph": self.task_nodes,
        }
        # What the attempt's environment adds to where it runs; a launcher that
        # runs it elsewhere sends these, not this process's environment.
        env = {}
        for deco in decorators:
            env.update(deco.environment())
        env["PYTHONUNBUFFERED"] = "x"
        env["METAFLOW_RUN_ID"] = self.run_id
        env["METAFLOW_USER"] = self.user
        if self.flow_datastore.ds_type == "local":
            env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = sysroot_of(self.flow_datastore.ds_root)
        if task.retry_count == 0:
            self._register_task(task, foreach_indices=list(task.key),
                                input_paths=task.input_paths)
        launched = self.launchers[task.step].launch(self, task, args, env)
        # Written before the loop can see the attempt end, which finishes this record.
        resources = self.resources[task.step]
        self.metadata.start_attempt(self.flow.name, self.run_id, task.step, task.task_id,
                                    task.retry_count, **dict(
                                        launched.attempt_fields(),
                                        **({"resources": resources} if resources else {})))
        self.active[launched] = launched
        self.tasks_run += 1
        self._emit_task("task_started", task)
        self.system_echo(task, "Task is starting%s." % (" (retry)" if task.retry_count else ""),
                         launched=launched)

    def task_argument(self, args):
        """The task's arguments as one JSON argument, or ``@file`` past Linux's 128 KiB limit."""
        text = json.dumps(args)
        if len(text) < 100000:
            return text
        # A local file either way: the task reads it before it can reach any storage.
        base = self.metadata.root if self.metadata.local else self.flow_datastore.storage.staging_dir()
        path = os.path.join(base, self.flow.name, self.run_id, args["step"],
                            args["task_id"], "_meta", "%d.args.json" % args["retry_count"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return "@" + path

    def _on_exit(self, launched):
        self.active.pop(launched, None)
        task = launched.task
        rc = launched.returncode
        try:
            ds = self.flow_datastore.task(self.run_id, task.step, task.task_id,
                                          attempt=task.retry_count)
        except MetaflowException:
            ds = None
        ok = rc == 0 and ds is not None and ds.control.get("task_ok", False)
        self.metadata.finish_attempt(self.flow.name, self.run_id, task.step, task.task_id,
                                     task.retry_count, ok, return_code=rc)
        if ok:
            self.system_echo(task, "Task finished successfully.", launched=launched)
            self._emit_task("task_finished", task, cloned=False)
            self._on_success(task, ds)
            self._note_finished_steps()
            return
        if rc is not None and rc < 0:
            self.system_echo(task, "Task failed: killed by signal %d." % -rc, launched=launched)
        else:
            self.system_echo(task, "Task failed.", launched=launched)
        user_retries, _ = retry_counts(self.decorators[task.step])
        if task.retry_count < user_retries:
            if rc != EXIT_DISALLOW_RETRY:
                self._emit_task("task_retrying", task, return_code=rc)
                self._schedule_retry(task, launched)
                return
            self.system_echo(task, "Not retried: running the task again would fail the same way.",
                             launched=launched)
        self._emit_task("task_failed", task, return_code=rc)
        raise TaskFailed("Step *%s* (task-id %s) failed%s" % (
            task.step, task.task_id, _failure_reason(ds, rc)), step=task.step,
            failed_tasks=[self._failed_task(task, ds, rc)])

    def _failed_task(self, task, ds, rc):
        """What the run's failure summary says about a task that failed for good."""
        return {
            "step": task.step,
            "pathspec": "%s/%s" % (self.flow.name, task.pathspec(self.run_id)),
            "attempt": task.retry_count,
            "exit_code": rc,
            "error": ds.control.get("exception") if ds is not None else None,
        }

    def _on_success(self, task, ds):
        path = task.pathspec(self.run_id)
        self.record_finished(task, path)
        node = self.graph[task.step]
        if node.type == "end":
            return
        control = ds.control
        names, foreach_var = control["transition"]
        if foreach_var is not None:
            num_splits = control["foreach_num_splits"]
            if num_splits > self.max_num_splits:
                raise ForeachError(
                    "Foreach in step *%s* yielded %d child steps which is more than the current "
                    "maximum of %d children. You can raise the maximum with the "
                    "--max-num-splits option. " % (task.step, num_splits, self.max_num_splits),
                    step=task.step,
                )
            self.system_echo(task, "Foreach yields %d child steps." % num_splits)
            for i in range(num_splits):
                self.queue_task(names[0], [path], task.key + (i,), split_index=i)
            return
        for name in names:
            if self.graph[name].type == "join":
                self._maybe_queue_join(name, task, ds)
            else:
                self.queue_task(name, [path], task.key)

    def record_finished(self, task, path):
        self.finished[(task.step, task.key)] = path
        self.finished_per_step[task.step] += 1

    def _maybe_queue_join(self, join, task, ds):
        split = self.graph.matching_split(join)
        if split is not None and self.graph[split].type == "foreach":
            stack = ds.control.get("foreach_stack", [])
            num_splits = stack[-1]["num_splits"]
            parent_key = task.key[:-1]
            keys = [(task.step, parent_key + (i,)) for i in range(num_splits)]
            if all(k in self.finished for k in keys):
                self.queue_task(join, [self.finished[k] for k in keys], parent_key)
            return
        keys = [(step, task.key) for step in self.graph[join].in_funcs]
        if all(k in self.finished for k in keys):
            self.queue_task(join, [self.finished[k] for k in keys], task.key)

    def _terminate_all(self, reason):
        """Stop every active task; each attempt is recorded as killed, with ``reason``."""
        if not self.active:
            return
        self.run_echo("Terminating %d active tasks..." % len(self.active))
        launched_tasks = list(self.active.values())
        for launched in launched_tasks:
            launched.stop()
        deadline = time.time() + KILL_GRACE_SECONDS
        remaining = set(launched_tasks)
        while remaining and time.time() < deadline:
            try:
                done = self.events.get(timeout=0.1)
                remaining.discard(done)
                self._record_killed(done, reason)
            except queue.Empty:
                pass
        if remaining:
            self.run_echo("Killing %d remaining tasks after having waited for %d seconds -- "
                          "some tasks may not exit cleanly" % (len(remaining), KILL_GRACE_SECONDS))
            for launched in remaining:
                launched.stop(force=True)
            for launched in launched_tasks:
                if launched in remaining:
                    launched.wait()
                    self._record_killed(launched, reason)
        self.active.clear()
        self.run_echo("Flushing logs...")

    def _record_killed(self, launched, reason):
        task = launched.task
        # The task has ended; what it started (an R step's Rscript, still handling
        # SIGTERM) must not outlive the run either.
        launched.stop(force=True)
        self.system_echo(task, "[KILLED BY ORCHESTRATOR]", launched=launched)
        self._emit_task("task_killed", task, reason=reason)
        try:
            self.metadata.finish_attempt(self.flow.name, self.run_id, task.step, task.task_id,
                                         task.retry_count, False, return_code=launched.returncode,
                                         killed=True, reason=reason)
        except (OSError, DatastoreAccessError) as err:
            # Stopping the run goes on: the run's own status matters more than this one.
            self.system_echo(task, "Could not record the task as killed: %s" % err,
                             launched=launched)


def _kill_reason(err, failed_tasks):
    """Why the runtime stopped the tasks still running when the run failed."""
    if failed_tasks:
        return "stopped because task %s failed" % failed_tasks[0]["pathspec"]
    return "stopped because the run failed: %s" % getattr(err, "message", str(err))


def _failure_reason(ds, rc):
    """What the failed attempt recorded about its error, for the run's last line."""
    error = ds.control.get("exception") if ds is not None else None
    if error and error.get("message"):
        # The whole message: a multi-line one (a merge_artifacts conflict) says what
        # failed after its first line.
        kind = "R error" if error.get("language") == "R" else error.get("type", "Error")
        return ": %s: %s" % (kind, error["message"].strip())
    if rc is not None and rc < 0:
        return ": killed by signal %d." % -rc
    return "."


def resolve_parameters(flow_cls, given, user, ds_type="local"):
    """Parameter values for a run: given values converted, defaults resolved."""
    from .exceptions import ParameterError

    values = {}
    for attr, param in flow_parameters(flow_cls):
        if given.get(attr) is not None:
            value = given[attr]
        else:
            context = ParameterContext(flow_cls.__name__, user, param.name, None, ds_type)
            value = param.resolve_default(context)
            if value is None and param.required:
                raise ParameterError(
                    "Missing value for the required parameter *%s*: pass --%s."
                    % (param.name, param.name)
                )
        try:
            values[attr] = param.convert(value) if value is not None else None
        except ValueError as err:
            raise ParameterError("Invalid value for parameter *%s*: %s." % (param.name, err))
    return values
