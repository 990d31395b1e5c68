"""Where a task attempt runs: the launcher seam between the runtime and compute.

The runtime schedules; a :class:`Launcher` starts one attempt of a task and
hands back a :class:`LaunchedTask`, which the runtime tracks until it ends.
Every launcher gets the same task arguments (the dict that becomes the task
command's one JSON argument) and the same environment additions, so a task
that runs elsewhere is the task that runs here. A step decorator chooses the
launcher (``StepDecorator.launcher()``); the runtime never asks which one.

A launched task:

- writes the attempt's output, line by line, into its logs and the console
  (:class:`TaskOutput`), wherever the lines come from;
- puts itself on ``runtime.events`` once it has ended, with ``returncode`` set:
  0 for success, a positive exit status, or minus the signal that ended it;
- stops when asked (``stop()``, then ``stop(force=True)`` past the grace), and
  ``wait()`` returns once a forced stop has taken.

The local launcher runs ``python flow.py internal-task '<json>'`` in a session
of its own, as the runtime always has.
"""

import os
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

from .process_tree import signal_session
from .task_types import TASK_COMMAND

OUTPUT_GRACE_SECONDS = 1.0
TRUNCATED = b"[TRUNCATED - MAXIMUM LOG FILE SIZE REACHED]\n"


def utc_stamp():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogSink(object):
    """A task's stream: timestamped lines into its log, capped at a size.

    A log that can't be written (a full disk) is given up, and said so once
    (``on_error``); the task goes on, its output still drained and shown."""

    def __init__(self, handle, max_bytes, on_error=None):
        self.handle = handle
        self.max_bytes = max_bytes
        self.written = 0
        self.truncated = False
        self.error = None
        self.on_error = on_error

    def write_line(self, line):
        if self.truncated or self.error is not None:
            return
        record = utc_stamp().encode() + b" " + line
        try:
            if self.written + len(record) > self.max_bytes:
                self.handle.write(TRUNCATED)
                self.truncated = True
                return
            self.handle.write(record)
        except (OSError, ValueError) as err:
            self._fail(err)
            return
        self.written += len(record)

    def _fail(self, err):
        self.error = err
        if self.on_error is not None:
            self.on_error(err)

    def close(self):
        if self.handle is None:
            return
        try:
            self.handle.close()
        except OSError as err:
            if self.error is None:
                self._fail(err)


class LaunchedTask(object):
    """One attempt of a task, started by a launcher; see the module's docstring."""

    # How the console names where the attempt runs: "pid 123", "batch job ab12".
    label = None
    returncode = None

    def __init__(self, runtime, task):
        self.runtime = runtime
        self.task = task
        self.output = TaskOutput(runtime, self)

    def attempt_fields(self):
        """What the attempt's metadata records of where it runs."""
        return {}

    def stop(self, force=False):
        raise NotImplementedError

    def wait(self):
        raise NotImplementedError

    def finished(self):
        self.runtime.events.put(self)


class TaskOutput(object):
    """The attempt's stdout and stderr: each line into its log and onto the console."""

    def __init__(self, runtime, launched):
        self.runtime = runtime
        self.launched = launched
        task = launched.task
        ds = runtime.flow_datastore.task(
            runtime.run_id, task.step, task.task_id, attempt=task.retry_count, mode="w"
        )
        max_bytes = runtime.max_log_size * 1024 * 1024
        self.sinks = {}
        for stream in ("stdout", "stderr"):
            try:
                handle, error = ds.open_log(stream), None
            except OSError as err:
                handle, error = None, err
            self.sinks[stream] = LogSink(handle, max_bytes, self._log_lost(stream))
            if error is not None:
                self.sinks[stream]._fail(error)

    def _log_lost(self, stream):
        def lost(err):
            self.runtime.system_echo(self.launched.task, "Its %s log can't be written (%s); "
                                     "its output from here on is not kept."
                                     % (stream, getattr(err, "strerror", None) or err),
                                     launched=self.launched)
        return lost

    def line(self, stream, line):
        if not line.endswith(b"\n"):
            line += b"\n"
        self.sinks[stream].write_line(line)
        self.runtime.task_echo(self.launched, line.decode("utf-8", "replace").rstrip("\n"),
                               stream)

    def close(self, stream=None):
        for name in ([stream] if stream else list(self.sinks)):
            self.sinks[name].close()


class Launcher(object):
    """Starts task attempts somewhere; subclasses say where."""

    name = None
    # Whether a task launched here runs from the code package (package.py).
    needs_code_package = False

    def check(self, state, step):
        """Refuse, before the run starts, what this launcher can't run for ``step``
        (a headline error); ``state`` is the command line's (cli.State)."""

    def launch(self, runtime, task, args, env):
        """Start one attempt: ``args`` is the task command's argument (a dict),
        ``env`` what the attempt's environment adds. Returns a LaunchedTask."""
        raise NotImplementedError


class LocalLauncher(Launcher):
    name = "local"

    def launch(self, runtime, task, args, env):
        cmd = runtime.entrypoint + [TASK_COMMAND, runtime.task_argument(args)]
        full_env = dict(os.environ)
        full_env.update(env)
        return LocalTask(runtime, task, cmd, full_env)


class LocalTask(LaunchedTask):
    """A task process on this machine, in a session of its own."""

    def __init__(self, runtime, task, cmd, env):
        super().__init__(runtime, task)
        popen_kwargs = {}
        if os.name == "posix":
            popen_kwargs["start_new_session"] = True
        else:
            popen_kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, **popen_kwargs
        )
        self.label = "pid %d" % self.proc.pid
        self.readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        threading.Thread(target=self._wait, daemon=True).start()

    @property
    def pid(self):
        return self.proc.pid

    def attempt_fields(self):
        return {"pid": self.proc.pid}

    def _pump(self, pipe, stream):
        for line in iter(pipe.readline, b""):
            self.output.line(stream, line)
        pipe.close()
        self.output.close(stream)

    def _wait(self):
        self.proc.wait()
        if os.name == "posix":
            # What the task left running (a step's background child, re-parented
            # to init) neither outlives the task nor holds its output open.
            signal_session(self.proc.pid, signal.SIGKILL)
        # The task's end is its exit, not the end of its output: a process that
        # escaped its session may hold the pipes open for long. What the task
        # wrote before it exited is read within the grace; later lines still
        # reach its log as they come.
        deadline = time.time() + OUTPUT_GRACE_SECONDS
        for reader in self.readers:
            reader.join(max(0.0, deadline - time.time()))
        self.finished()

    @property
    def returncode(self):
        return self.proc.returncode

    def stop(self, force=False):
        signum = getattr(signal, "SIGKILL", signal.SIGTERM) if force else signal.SIGTERM
        if os.name == "posix":
            # The whole session: an R step's Rscript has a group of its own in it.
            signal_session(self.proc.pid, signum)
            return
        try:
            if force:
                self.proc.kill()
            else:
                self.proc.terminate()
        except (ProcessLookupError, PermissionError, OSError):
            pass

    def wait(self):
        self.proc.wait()


LOCAL = LocalLauncher()


def launcher_for(decorators):
    """The launcher the step's decorators choose; the local one if none does."""
    for deco in decorators:
        chosen = deco.launcher(decorators)
        if chosen is not None:
            return chosen
    return LOCAL
