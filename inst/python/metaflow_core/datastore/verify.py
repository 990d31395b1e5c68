"""Checking stored blobs against the hashes they are named by, as a report.

Reading a blob already refuses a damaged one; this answers "is anything
damaged?" without reading values: for an artifact, a task, a run or a whole
flow, the list of damaged items (artifact, task, file, why), empty when all is
intact. Nothing raises for damage found: a report is what the user asked for.

A blob shared by many tasks (passed down, or cloned by resume) is hashed once
per report, streamed: memory stays flat whatever the size of the blobs.
"""

import collections
import json

from ..exceptions import MetaflowDataCorrupt, MetaflowDataMissing, MetaflowException

DamagedBlob = collections.namedtuple(
    "DamagedBlob", ["artifact", "pathspec", "attempt", "file", "reason", "sha"])
DamagedBlob.__doc__ = """One damaged item: ``artifact`` and ``pathspec`` (the task, with
the flow) are None for a blob file no task refers to, ``file`` is where it is."""

_SHA_CHARS = set("0123456789abcdef")


class VerifyReport(list):
    """The damaged items found (a list of DamagedBlob) and ``blobs``, how many
    distinct blobs were checked; ``scope`` says what was checked."""

    def __init__(self, items=(), blobs=0, scope=""):
        super().__init__(items)
        self.blobs = blobs
        self.scope = scope

    @property
    def intact(self):
        return len(self) == 0

    def summary(self):
        """One line: all intact, or how many items are damaged."""
        if self.intact:
            return "All %d blobs of %s are intact." % (self.blobs, self.scope)
        return "%d damaged item%s in %s (%d blobs checked)." % (
            len(self), "" if len(self) == 1 else "s", self.scope, self.blobs)


def _reason(err):
    """What is wrong with the blob, without the file name the message starts with."""
    message = getattr(err, "message", None) or str(err)
    for marker in (" is damaged: ", " is missing from the datastore"):
        if marker in message:
            head, _, tail = message.partition(marker)
            return tail if marker.endswith(": ") else "missing"
    return message


class Verifier(object):
    """Checks blobs of one flow's datastore, each sha at most once."""

    def __init__(self, flow_datastore):
        self.flow_datastore = flow_datastore
        self.ca_store = flow_datastore.ca_store
        self.storage = flow_datastore.storage
        self.flow_name = flow_datastore.flow_name
        self._checked = {}  # sha -> None (intact) or the reason it is not
        self.items = []

    # one blob
    def blob_problem(self, sha, again=False):
        """None when blob ``sha`` is intact, else what is wrong with it; ``again``
        checks a blob found damaged before once more (a re-run task may have
        replaced it since)."""
        if sha not in self._checked or (again and self._checked[sha] is not None):
            try:
                self.ca_store.verify(sha)
                self._checked[sha] = None
            except (MetaflowDataCorrupt, MetaflowDataMissing) as err:
                self._checked[sha] = _reason(err)
        return self._checked[sha]

    # what a task refers to
    def attempt(self, ds, names=None, again=False):
        """Every artifact of one attempt's TaskDataStore (or those in ``names``)."""
        pathspec = "%s/%s" % (self.flow_name, ds.pathspec)
        for name in sorted(ds.keys()) if names is None else names:
            sha = ds.sha(name)
            problem = self.blob_problem(sha, again)
            if problem is not None:
                self.items.append(DamagedBlob(name, pathspec, ds.attempt,
                                              self.ca_store.describe(sha), problem, sha))

    def task(self, run_id, step_name, task_id, attempts=None):
        """Every attempt of a task that recorded its artifacts (or those in ``attempts``)."""
        probe = self.flow_datastore.task(run_id, step_name, task_id, attempt=0, mode="w")
        for attempt in probe.done_attempts() if attempts is None else attempts:
            try:
                ds = self.flow_datastore.task(run_id, step_name, task_id, attempt=attempt)
            except (MetaflowException, ValueError, KeyError, TypeError) as err:
                # The index itself is unreadable: none of its artifacts can be found.
                index = "%s/%d.data.json" % (probe.prefix, attempt)
                where = getattr(self.storage, "path", None)
                self.items.append(DamagedBlob(
                    None, "%s/%s" % (self.flow_name, probe.pathspec), attempt,
                    where(index) if where else index,
                    "its artifact index can't be read (%s)" % (
                        getattr(err, "message", None) or "%s: %s" % (type(err).__name__, err)),
                    None))
                continue
            self.attempt(ds)

    def step(self, run_id, step_name):
        for task_id in sorted(self._dirs("%s/%s/%s" % (self.flow_name, run_id, step_name)),
                              key=_id_order):
            self.task(run_id, step_name, task_id)

    def run(self, run_id):
        # _parameters is a step like the others here; _meta holds metadata, not tasks.
        steps = [n for n in self._dirs("%s/%s" % (self.flow_name, run_id)) if n != "_meta"]
        first_task = {}
        for step_name in steps:
            ids = self._dirs("%s/%s/%s" % (self.flow_name, run_id, step_name))
            first_task[step_name] = min((_id_order(i) for i in ids), default=(2, 0, ""))
        # In the order the steps ran, which is that of their task ids.
        for step_name in sorted(steps, key=lambda n: (first_task[n], n)):
            self.step(run_id, step_name)

    def flow(self):
        """Every run, then every blob file no run refers to (a stray one can still be
        reused by a later run that writes the same bytes, so it is checked too)."""
        for run_id in self.run_ids():
            self.run(run_id)
        data = "%s/data" % self.flow_name
        for fanout in sorted(self._dirs(data)):
            for name, is_file in sorted(self.storage.list_dir("%s/%s" % (data, fanout))):
                if not is_file or ".tmp." in name or name in self._checked:
                    # A temporary file is a write in progress, not a blob yet.
                    continue
                if len(name) != 40 or not set(name) <= _SHA_CHARS or name[:2] != fanout:
                    problem = "not a blob: its name is not a sha1 in its fan-out directory"
                    self._checked[name] = problem
                    path = getattr(self.storage, "path", None)
                    key = "%s/%s/%s" % (data, fanout, name)
                    where = path(key) if path else key
                else:
                    problem = self.blob_problem(name)
                    where = self.ca_store.describe(name)
                if problem is not None:
                    self.items.append(DamagedBlob(None, None, None, where, problem, name))

    def run_ids(self):
        return sorted((name for name in self._dirs(self.flow_name)
                       if name != "data" and not name.startswith("_")),
                      key=_id_order)

    def _dirs(self, prefix):
        return [name for name, is_file in self.storage.list_dir(prefix)
                if not is_file and not name.startswith(".")]

    def report(self, scope):
        return VerifyReport(self.items, blobs=len(self._checked), scope=scope)


def _id_order(text):
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def verify_run(flow_datastore, run_id):
    verifier = Verifier(flow_datastore)
    verifier.run(run_id)
    return verifier.report("run %s/%s" % (flow_datastore.flow_name, run_id))


def verify_flow(flow_datastore):
    verifier = Verifier(flow_datastore)
    verifier.flow()
    return verifier.report("flow %s" % flow_datastore.flow_name)


def item_line(item):
    """One damaged item, as the command line prints it."""
    if item.artifact is None and item.pathspec is None:
        return "Blob file %s (no task refers to it): %s" % (item.file, item.reason)
    if item.artifact is None:
        return "Task %s, attempt %s: %s" % (item.pathspec, item.attempt, item.reason)
    return "Artifact %s of task %s (attempt %s), file %s: %s" % (
        item.artifact, item.pathspec, item.attempt, item.file, item.reason)


def report_record(report):
    """The report as plain data (JSON, R)."""
    return {"blobs": report.blobs, "scope": report.scope, "summary": report.summary(),
            "damaged": [item._asdict() for item in report]}


def report_json(report):
    return json.dumps(report_record(report))
