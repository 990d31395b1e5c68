"""A task process dies with its runtime.

The runtime starts each task in a session of its own, so that it can stop the
task's whole process group; but a runtime that is itself killed (SIGKILL, an
out-of-memory kill) stops nothing, and its tasks would go on running and
writing into a run nobody schedules any more. A task therefore watches its
parent: once the runtime is gone (the task was re-parented), it kills what it
started (its whole session: an R step's ``Rscript`` and whatever that
started) and then itself.

A thread that polls ``getppid()`` rather than Linux's ``PR_SET_PDEATHSIG``:
that signal would kill the task alone and leave its ``Rscript`` running.
"""

import os
import signal
import threading
import time

from .process_tree import kill_own_session

POLL_SECONDS = 0.25


def watch_parent(poll=POLL_SECONDS):
    """Start a daemon thread that ends this process and its children when the parent dies."""
    if os.name != "posix":
        return None
    parent = os.getppid()
    if parent == 1:
        # Started by init, or already orphaned: there is no runtime to outlive.
        return None
    thread = threading.Thread(target=_watch, args=(parent, poll), daemon=True,
                              name="metaflow-parent-watch")
    thread.start()
    return thread


def _watch(parent, poll):
    while os.getppid() == parent:
        time.sleep(poll)
    _kill_tree()


def _kill_tree():
    # Everything the task started is in its session, re-parented children too
    # (a `system2(wait = FALSE)` of an R step, in the Rscript's own group).
    kill_own_session()
    os.kill(os.getpid(), signal.SIGKILL)
