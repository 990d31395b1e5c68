"""Run the flows under ``pytests/flows/`` for real, each in its own process.

A flow runs as a user would run it, ``python flow.py run ...``, with the
engine on ``PYTHONPATH`` and its datastore in the test's directory
(``METAFLOW_DATASTORE_SYSROOT_LOCAL``), so runs of different tests never meet.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

FLOWS_DIR = Path(__file__).resolve().parent / "flows"
ENGINE_DIR = Path(__file__).resolve().parent.parent / "inst" / "python"

# Settings of the calling shell that would change how a flow runs.
_LEAKY_PREFIXES = ("METAFLOW_RUN_", "METAFLOW_RESUME_")
_LEAKY_NAMES = ("METAFLOW_DATASTORE_SYSROOT_LOCAL", "METAFLOW_DEFAULT_DECOSPECS",
                "METAFLOW_QUIET", "METAFLOW_DEBUG", "METAFLOW_WITH")


def flow_path(flow_file):
    path = Path(flow_file)
    return path if path.is_absolute() else FLOWS_DIR / path


def flow_env(cwd, env=None):
    """The environment a flow runs in: engine importable, datastore under ``cwd``."""
    merged = {
        k: v for k, v in os.environ.items()
        if not k.startswith(_LEAKY_PREFIXES) and k not in _LEAKY_NAMES
    }
    merged["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ENGINE_DIR), os.environ.get("PYTHONPATH")) if p
    )
    merged["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(cwd)
    merged["PYTHONDONTWRITEBYTECODE"] = "1"
    merged.update(env or {})
    return merged


def flow_command(flow_file, *args):
    return [sys.executable, str(flow_path(flow_file))] + [str(a) for a in args]


def run_flow(flow_file, *args, cwd, env=None, timeout=120):
    """``python <flow_file> <args>`` in ``cwd``; the finished process, output as text."""
    return subprocess.run(
        flow_command(flow_file, *args), cwd=str(cwd), env=flow_env(cwd, env),
        stdin=subprocess.DEVNULL, capture_output=True, encoding="utf-8", errors="replace",
        timeout=timeout,
    )


def start_flow(flow_file, *args, cwd, env=None):
    """Like run_flow, but returns the running Popen (output piped, as text)."""
    return subprocess.Popen(
        flow_command(flow_file, *args), cwd=str(cwd), env=flow_env(cwd, env),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        encoding="utf-8", errors="replace",
    )


@contextlib.contextmanager
def flow_process(flow_file, *args, cwd, env=None):
    """start_flow() for a ``with`` block, which the process never outlives: killed and
    reaped if the block leaves it running."""
    proc = start_flow(flow_file, *args, cwd=cwd, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def describe(result):
    """Everything a failed assertion about a run should show."""
    return "exit code %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        result.returncode, result.stdout, result.stderr)


def run_id_of(result):
    """The run id announced by ``Workflow starting (run-id X):``."""
    found = re.findall(r"Workflow starting \(run-id (\S+?)\):", result.stderr)
    assert found, "no run id in the output:\n" + describe(result)
    return found[-1]


def wait_for(predicate, timeout=30.0, interval=0.05, what="a condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def is_alive(pid):
    """Whether a process with this pid exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def processes_in(directory):
    """Pids of the processes whose working directory is ``directory``.

    Read from ``/proc``; where there is none this finds nothing, and the tests
    rely on the pid files their flows write instead.
    """
    found = []
    if not os.path.isdir("/proc"):
        return found
    target = os.path.realpath(str(directory))
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                if os.readlink("/proc/%s/cwd" % name) == target and is_alive(int(name)):
                    found.append(int(name))
            except OSError:
                continue
    return found


def kill_quietly(pid, signum=signal.SIGKILL):
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def engine_lines(text):
    """Lines of ``text`` that come from a traceback through the engine's own files."""
    marker = "metaflow_core" + os.sep
    return [line for line in text.splitlines() if 'File "' in line and marker in line]


def datastore_problems(root):
    """Half-written state under ``root/.metaflow``, as readable strings.

    Every attempt that wrote its index (``N.data.json``) must have its lock
    (``N.DONE.lock``) and the other way round, and no temporary file of an
    atomic write may be left behind.
    """
    problems = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(str(root), ".metaflow")):
        for name in filenames:
            if name.startswith(".tmp.") or ".tmp." in name:
                problems.append("temporary file left: %s" % os.path.join(dirpath, name))
        data = {n.split(".", 1)[0] for n in filenames if re.match(r"^\d+\.data\.json$", n)}
        done = {n.split(".", 1)[0] for n in filenames if re.match(r"^\d+\.DONE\.lock$", n)}
        for attempt in sorted(data ^ done):
            problems.append("attempt %s of %s has only one of data.json / DONE.lock"
                            % (attempt, dirpath))
    return problems


def assert_succeeded(result, root):
    assert result.returncode == 0, describe(result)
    assert "Done!" in result.stderr, describe(result)
    assert datastore_problems(root) == []


def assert_failed_cleanly(result, root, *messages):
    """The run failed, said each of ``messages``, showed no engine traceback, left no debris."""
    assert result.returncode != 0, describe(result)
    for message in messages:
        assert message in result.stderr, describe(result)
    assert engine_lines(result.stderr) == [], describe(result)
    assert "Internal error" not in result.stderr, describe(result)
    assert datastore_problems(root) == []


@contextlib.contextmanager
def read_only(directory):
    """``directory`` made read-only for real, for the ``with`` block.

    The tests run as root, whom mode bits don't stop, so the directory is
    bind-mounted onto itself read-only, and unmounted afterwards. A machine
    where that can't be done fails the test: it must not pass untested."""
    directory = str(directory)
    subprocess.run(["mount", "--bind", directory, directory], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", directory], check=True)
        probe = os.path.join(directory, ".write-probe")
        try:
            open(probe, "w").close()
        except OSError:
            pass
        else:
            os.unlink(probe)
            raise AssertionError("%s is still writable after a read-only bind mount" % directory)
        yield directory
    finally:
        subprocess.run(["umount", directory], check=True)


@contextlib.contextmanager
def small_tmpfs(directory, size="256k"):
    """A tmpfs of ``size`` mounted at ``directory`` (made if missing), for a full disk."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", directory],
                   check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", directory], check=True)
