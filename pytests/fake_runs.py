"""Runs written to disk through the real datastore and metadata APIs.

They leave the files a run of the engine leaves (metadata, artifact blobs and
indexes, control records, logs), made with the calls the runtime and the task
make, so client tests need no running engine and no mocks. Everything goes to
``LocalStorage.find_root()``: tests point ``METAFLOW_DATASTORE_SYSROOT_LOCAL``
at a temporary directory.
"""

import time
from datetime import datetime, timezone

from metaflow_core.datastore import FlowDataStore, LocalStorage
from metaflow_core.metadata import FAILED, RUNNING, SUCCEEDED, LocalMetadataProvider

__all__ = ["FakeRun", "hello_run", "foreach_run", "failed_run", "FAILED", "RUNNING",
           "SUCCEEDED"]


def system_tags(user):
    return ["user:%s" % user, "runtime:dev", "python_version:3.11.7",
            "metaflow_version:2.19.38"]


def log_line(text):
    """A line as the runtime stores it: ``<UTC ISO 8601>Z <text>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return ("%s %s\n" % (stamp, text)).encode("utf-8")


class FakeRun(object):
    """One run of ``flow`` by ``user``, built task by task."""

    def __init__(self, flow, user="alice", tags=(), origin_run_id=None):
        root = LocalStorage.find_root()
        self.provider = LocalMetadataProvider(root)
        self.flow_datastore = FlowDataStore(flow, ds_root=root)
        self.flow = flow
        self.run_id = self.provider.new_run_id(flow)
        self.provider.register_run(flow, self.run_id, user, tags=tags,
                                   system_tags=system_tags(user), origin_run_id=origin_run_id)
        self.flow_datastore.set_latest_run(self.run_id)
        self._steps = []
        self._next_task_id = 1

    @property
    def pathspec(self):
        return "%s/%s" % (self.flow, self.run_id)

    def task(self, step, artifacts=None, ok=True, foreach_stack=(), exception=None,
             stdout=(), stderr=(), attempts=1, done=True, task_fields=None):
        """A task that ran ``attempts`` times; the earlier attempts failed.

        The last attempt ends with ``ok``; with ``done=False`` it is still running
        (started, logs written, no artifact index). Each attempt prints its
        ``stdout``/``stderr`` lines prefixed by ``attempt <n>:``. Returns the
        task's pathspec.
        """
        if step not in self._steps:
            if self._steps:
                time.sleep(0.002)  # distinct ts_epoch, so steps list in run order
            self._steps.append(step)
            self.provider.register_step(self.flow, self.run_id, step)
        task_id = str(self._next_task_id)
        self._next_task_id += 1
        self.provider.register_task(self.flow, self.run_id, step, task_id,
                                    **(task_fields or {}))
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.provider.start_attempt(self.flow, self.run_id, step, task_id, attempt)
            ds = self.flow_datastore.task(self.run_id, step, task_id, attempt=attempt, mode="w")
            for stream, lines in (("stdout", stdout), ("stderr", stderr)):
                with ds.open_log(stream) as log:
                    for line in lines:
                        log.write(log_line("attempt %d: %s" % (attempt, line)))
            if last and not done:
                break
            attempt_ok = ok and last
            for name, value in (artifacts or {}).items():
                ds.save_object(name, value)
            ds.set_control(
                task_ok=attempt_ok,
                transition=None,
                foreach_num_splits=None,
                foreach_stack=[dict(frame) for frame in foreach_stack],
                exception=None if attempt_ok else (exception or {
                    "type": "RuntimeError", "message": "attempt %d failed" % attempt,
                    "traceback": None}),
            )
            ds.done()
            self.provider.finish_attempt(self.flow, self.run_id, step, task_id, attempt,
                                         ok=attempt_ok)
        return "%s/%s/%s/%s" % (self.flow, self.run_id, step, task_id)

    def parameters(self, **values):
        return self.task("_parameters", artifacts=values)

    def finish(self, status=SUCCEEDED, reason=None):
        self.provider.set_run_status(self.flow, self.run_id, status, reason=reason)
        return self


def hello_run(flow="HelloFlow", user="alice", tags=(), alpha=0.5, status=SUCCEEDED):
    """start -> end, with parameter ``alpha`` and a little output."""
    run = FakeRun(flow, user=user, tags=tags)
    run.parameters(alpha=alpha)
    run.task("start", artifacts={"x": 1, "name": "hello", "_private": "internal"},
             stdout=["hello", "world"], stderr=["a warning"])
    run.task("end", artifacts={"x": 1, "name": "hello", "total": 42}, stdout=["bye"])
    return run.finish(status)


def foreach_run(flow="ForeachFlow", user="alice", items=(1, 2, 3)):
    """start -> square (one task per item) -> join -> end."""
    run = FakeRun(flow, user=user)
    run.parameters()
    run.task("start", artifacts={"items": list(items)})
    for index, item in enumerate(items):
        frame = {"step": "start", "var": "items", "num_splits": len(items),
                 "index": index, "value": str(item)}
        run.task("square", artifacts={"items": list(items), "value": item ** 2},
                 foreach_stack=[frame])
    total = sum(item ** 2 for item in items)
    run.task("join", artifacts={"total": total})
    run.task("end", artifacts={"total": total})
    return run.finish(SUCCEEDED)


def failed_run(flow="HelloFlow", user="alice"):
    """start succeeds, ``train`` raises ValueError; the run fails."""
    run = FakeRun(flow, user=user)
    run.parameters(alpha=0.5)
    run.task("start", artifacts={"x": 1})
    run.task("train", ok=False, stderr=["Traceback (most recent call last):", "ValueError: boom"],
             exception={"type": "ValueError", "message": "boom",
                        "traceback": "Traceback (most recent call last):\nValueError: boom\n"})
    return run.finish(FAILED, reason="Step train failed.")
