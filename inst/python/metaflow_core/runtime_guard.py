"""What stops a runtime from outside, and how it tells the world it is alive.

A run must never be left half-done and still "running" with no one scheduling
it. Three things see to that while the runtime's loop runs:

* the signals a user, a terminal or a scheduler sends (SIGINT, SIGTERM,
  SIGHUP) are noted, never acted on in the handler, so the loop stops the tasks
  and records the run as stopped by that signal at a point where every started
  task is tracked;
* the runtime dies with the process that started it (R's ``run()``, a shell, a
  test): Linux's parent-death signal wakes it at once, and a thread that polls
  ``getppid()`` covers the race of a parent that died before ``prctl`` ran and
  the systems that have no ``prctl``;
* a heartbeat in the run's metadata (``metadata/local.py``), so a reader on any
  host can tell a run whose runtime stopped, even by SIGKILL or a power cut,
  from one still going.
"""

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

from .exceptions import DatastoreAccessError
from .metadata.local import heartbeat_seconds

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
PARENT_POLL_SECONDS = 0.25
# Where there are real-time signals, one of them is the runtime's parent-death signal.
PARENT_DEATH_SIGNAL = (signal.SIGRTMIN + 3) if hasattr(signal, "SIGRTMIN") else None
# The status a runtime whose parent died exits with: what a hangup would give.
PARENT_GONE_EXIT = 128 + getattr(signal, "SIGHUP", 1)


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def can_set_parent_death_signal():
    return _LIBC is not None and hasattr(_LIBC, "prctl")


def set_parent_death_signal(signum):
    """Ask Linux to send ``signum`` when the parent (the thread that forked us) exits.

    Returns whether it is set. Call it again after fork in a child (it is not inherited)."""
    if _LIBC is None:
        return False
    try:
        return _LIBC.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (AttributeError, OSError):
        return False


def die_with_parent_preexec(parent_pid, signum=getattr(signal, "SIGKILL", 9)):
    """A Popen ``preexec_fn`` for a child that must not outlive its parent: a process
    group of its own, the parent-death signal, and the race closed (a parent that
    died before prctl ran is already gone by now)."""
    def preexec():
        os.setpgid(0, 0)
        set_parent_death_signal(signum)
        if os.getppid() != parent_pid:
            os._exit(128 + signum)
    return preexec


def _parent_name(ppid):
    try:
        with open("/proc/%d/comm" % ppid) as f:
            return f.read().strip()
    except OSError:
        return None


class RuntimeGuard(object):
    """Notes the reason to stop a runtime; the runtime's loop reads ``stop``.

    ``stop`` is None while the run may go on, then ``(reason, exit status)``.
    """

    def __init__(self, heartbeat=None):
        self.stop = None
        self._heartbeat = heartbeat
        self._previous = {}
        self._done = threading.Event()
        self.parent = os.getppid() if os.name == "posix" else None
        self.parent_name = _parent_name(self.parent) if self.parent else None
        hup = getattr(signal, "SIGHUP", None)
        # Under nohup the run is meant to outlive its shell, and its terminal.
        self._nohup = hup is not None and signal.getsignal(hup) == signal.SIG_IGN

    # the loop's side
    def start(self):
        if threading.current_thread() is threading.main_thread():
            self._install_handlers()
        if self._watches_parent():
            if threading.current_thread() is threading.main_thread():
                self._arm_parent_death_signal()
            self._check_parent()
            threading.Thread(target=self._poll_parent, daemon=True,
                             name="metaflow-runtime-parent").start()
        if self._heartbeat is not None:
            threading.Thread(target=self._beat, daemon=True,
                             name="metaflow-heartbeat").start()

    def close(self):
        self._done.set()
        if self._watches_parent():
            set_parent_death_signal(0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _install_handlers(self):
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            if signum == getattr(signal, "SIGHUP", None) and self._nohup:
                continue
            # Installed explicitly: a runtime started in the background inherits an
            # ignored SIGINT, and Ctrl-C or a kill must still stop its tasks.
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _watches_parent(self):
        # Started by init, or already orphaned: there is no parent to outlive.
        return (os.name == "posix" and bool(self.parent) and self.parent != 1
                and not self._nohup)

    def _arm_parent_death_signal(self):
        # A signal of its own, not SIGTERM: Linux sends it when the *thread* that
        # started us exits, which is no reason to stop while our parent lives.
        signum = PARENT_DEATH_SIGNAL or signal.SIGTERM
        if PARENT_DEATH_SIGNAL:
            self._previous[signum] = signal.signal(signum, self._on_parent_death_signal)
        set_parent_death_signal(signum)

    def _on_parent_death_signal(self, signum, frame):
        if self._parent_gone():
            self._note_parent_gone()

    def _on_signal(self, signum, frame):
        if self._parent_gone():
            self._note_parent_gone()
            return
        self._note("stopped by %s" % signal_name(signum), 128 + signum)

    def _note(self, reason, status):
        # The first reason wins: a second Ctrl-C can't cut the clean-up short.
        if self.stop is None:
            self.stop = (reason, status)

    # the parent
    def _parent_gone(self):
        return self.parent is not None and self.parent != 1 and os.getppid() != self.parent

    def _note_parent_gone(self):
        name = (" (%s)" % self.parent_name) if self.parent_name else ""
        self._note("stopped because the process that started the run, pid %d%s, exited"
                   % (self.parent, name), PARENT_GONE_EXIT)

    def _check_parent(self):
        if self._parent_gone():
            self._note_parent_gone()

    def _poll_parent(self):
        while not self._done.wait(PARENT_POLL_SECONDS):
            if self._parent_gone():
                self._note_parent_gone()
                return

    # the heartbeat
    def _beat(self):
        interval = heartbeat_seconds()
        while not self._done.wait(interval):
            try:
                self._heartbeat()
            except (OSError, DatastoreAccessError):
                # A full or unwritable disk: the heartbeat goes stale, and a reader
                # says the runtime stopped only if it really stays silent.
                pass
