"""A task process dies with its runtime.

The runtime starts each task in a session of its own, so that it can stop the
task's whole process group; but a runtime that is itself killed (SIGKILL, an
out-of-memory kill) stops nothing, and its tasks would go on running and
writing into a run nobody schedules any more. A task therefore watches its
parent: once the runtime is gone (the task was re-parented), it kills what it
started (an R step's ``Rscript`` and its children, in its process group or
not) and then itself.

A thread that polls ``getppid()`` rather than Linux's ``PR_SET_PDEATHSIG``:
that signal would kill the task alone and leave its ``Rscript`` running.
"""

import os
import signal
import threading
import time

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
    me = os.getpid()
    for pid in _descendants(me):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        if os.getpgid(0) == me:
            os.killpg(me, signal.SIGKILL)
    except OSError:
        pass
    os.kill(me, signal.SIGKILL)


def _descendants(root):
    """Every process below ``root``, read from /proc (empty where there is none)."""
    children = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name, in parentheses, may hold spaces: fields follow the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
