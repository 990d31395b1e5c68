"""The processes a task is made of, and how to stop all of them.

Every task process is a session leader (the runtime starts it with
``start_new_session``), and an R step's ``Rscript`` gets a process group of its
own inside that session, so that a timeout can stop R without stopping the
task. What a step starts stays in the session even when its parent exits and
it is re-parented to init, so a task's whole tree is its session, found by
session id even after the task process itself is gone.
"""

import os
import signal
import subprocess
import sys


def _session_pids_proc(sid):
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses; the
        # fields after its closing parenthesis are: state ppid pgrp session.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(name))
    return pids


def _session_pids_ps(sid):
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=,sess="], capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    pids = []
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) == sid:
            pids.append(int(parts[0]))
    return pids


def session_pids(sid):
    """The processes of session ``sid`` (POSIX), the leader included if alive."""
    if os.path.isdir("/proc/self"):
        return _session_pids_proc(sid)
    return _session_pids_ps(sid)


def signal_session(sid, signum, spare=()):
    """Send ``signum`` to every process of session ``sid`` but those in ``spare``."""
    for pid in session_pids(sid):
        if pid in spare:
            continue
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(proc):
    """SIGKILL the process group led by ``proc`` (a Popen started in a group of its own)
    and reap ``proc``: what it started goes with it."""
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    elif proc.poll() is None:
        proc.kill()
    proc.wait()


def kill_own_session():
    """SIGKILL every other process of this process's session, when it leads one.

    A task process leads its session, and what its step started is in it. Run
    any other way (a ``step`` command from a shell), the session is the shell's,
    and nothing is killed.
    """
    if os.name != "posix" or os.getsid(0) != os.getpid():
        return
    signal_session(os.getpid(), signal.SIGKILL, spare=(os.getpid(),))


def group_kwargs():
    """Popen arguments that start a child in a process group of its own."""
    if os.name != "posix":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}


def die_with_parent_kwargs():
    """Popen arguments for a child in a process group of its own that dies with this
    process (Linux's parent-death signal; elsewhere, as group_kwargs()).

    The signal follows the thread that forks, not the process: call it from a
    thread that lives as long as the child should (a task's main thread)."""
    from .runtime_guard import can_set_parent_death_signal, die_with_parent_preexec

    if not can_set_parent_death_signal():
        return group_kwargs()
    return {"preexec_fn": die_with_parent_preexec(os.getpid())}
