"""What the run benchmarks share: the systems under test, fresh work directories,
checked and timed runs, and recording the processes a run starts.

A *system* is one flow file on one engine, run as ``PROGRAM flow FILE OPTIONS run
--max-workers 2``. Every run gets a fresh temporary directory as working
directory, ``HOME`` and local datastore root, and an environment without the
caller's ``METAFLOW_*`` variables, so it starts from an empty datastore and no
user configuration. A run that exits non-zero, or that doesn't print the
system's expected line, stops the benchmark with the run's last output.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOWS = os.path.join(ROOT, "bench", "flows")
MAX_WORKERS = 2
DEFAULT_NETFLIX_PYTHON = os.path.join(ROOT, ".bench", "venv-netflix", "bin", "python")


class System(object):
    """One flow on one engine: the program that runs the flow file, and its environment."""

    def __init__(self, label, program, flow_file, top_level_options, env, expected_output):
        self.label = label
        self.program = program
        self.flow_file = flow_file
        self.top_level_options = top_level_options
        self.env = env
        self.expected_output = expected_output

    def run_command(self, flow_path):
        return ([self.program, flow_path] + self.top_level_options
                + ["run", "--max-workers", str(MAX_WORKERS)])


def clean_environ():
    """The caller's environment without anything that configures either engine.

    Bytecode caching stays on, as on a user's machine: without it every task
    process compiles the engine's modules from source again.
    """
    dropped = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items()
            if not k.startswith("METAFLOW_") and k not in dropped}


def core_python():
    """The project's interpreter: .venv/bin/python if it exists."""
    venv_python = os.path.join(ROOT, ".venv", "bin", "python")
    return venv_python if os.access(venv_python, os.X_OK) else sys.executable


def netflix_system(python, flow_file="foreach20_netflix.py", expected_output="total=2470"):
    """Netflix's metaflow, local datastore and metadata, no pylint, no service."""
    if not os.access(python, os.X_OK):
        sys.exit("No reference metaflow at %s: run `make bench-setup` (bench/ref_env.sh) first."
                 % python)
    env = dict(clean_environ(), METAFLOW_DEFAULT_DATASTORE="local",
               METAFLOW_DEFAULT_METADATA="local")
    system = System("metaflow (Netflix)", python, flow_file, ["--no-pylint"], env,
                    expected_output)
    system.label = "metaflow %s (Netflix)" % version_of(python, env, "metaflow")
    return system


def version_of(python, env, module):
    code = "import %s; print(%s.__version__)" % (module, module)
    out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s can't import %s:\n%s" % (python, module, out.stderr.strip()))
    return out.stdout.strip()


class Workdir(object):
    """A fresh temporary directory holding a copy of the flow; HOME and datastore root."""

    def __init__(self, system):
        self.path = tempfile.mkdtemp(prefix="bench_")
        self.flow_path = os.path.join(self.path, system.flow_file)
        shutil.copy(os.path.join(FLOWS, system.flow_file), self.flow_path)
        self.env = dict(system.env, HOME=self.path, METAFLOW_USER="bench",
                        METAFLOW_DATASTORE_SYSROOT_LOCAL=self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def timed(cmd, workdir, env):
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    return time.perf_counter() - started, proc


def fail(what, cmd, proc, reason):
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
    sys.exit("Benchmark aborted: %s %s.\n  command: %s\n  exit code: %d\n%s"
             % (what, reason, " ".join(cmd), proc.returncode, tail))


def checked_run(system, wd, cmd, env=None):
    """(seconds, output) of one whole run in ``wd``; a failed or wrong run stops the benchmark."""
    seconds, proc = timed(cmd, wd.path, wd.env if env is None else env)
    if proc.returncode != 0:
        fail("the %s run" % system.label, cmd, proc, "failed")
    output = proc.stdout + proc.stderr
    expected = re.escape(system.expected_output)
    if not re.search(r"\b%s$" % expected, output, re.MULTILINE):
        fail("the %s run" % system.label, cmd, proc,
             "did not print %s in its end step" % system.expected_output)
    return seconds, output


def time_run(system):
    with Workdir(system) as wd:
        return checked_run(system, wd, system.run_command(wd.flow_path))[0]


def repeat_timed(label, cmd, cwd, env, repeat):
    times = []
    for _ in range(repeat):
        seconds, proc = timed(cmd, cwd, env)
        if proc.returncode != 0:
            fail(label, cmd, proc, "failed")
        times.append(seconds)
    return times


def alternate(systems, repeat, extra=()):
    """Timed runs of ``systems``, alternating, who goes first swapping every round.

    ``extra`` systems run once at the end of every round. Returns label -> seconds.
    """
    times = {system.label: [] for system in list(systems) + list(extra)}
    for i in range(repeat):
        for system in list(systems if i % 2 == 0 else systems[::-1]) + list(extra):
            seconds = time_run(system)
            times[system.label].append(seconds)
            print("  run %d %-34s %6.2f s" % (i + 1, system.label, seconds), flush=True)
    return times


def summary(times):
    return statistics.median(times), min(times), max(times)


def print_load(when):
    """Other work on the machine skews every figure; say how busy it was."""
    if hasattr(os, "getloadavg"):
        print("load average %s: %.2f %.2f %.2f" % ((when,) + os.getloadavg()))


def print_parts(parts):
    """(label, seconds) rows as a table of median, min and max in ms."""
    width = max(len(label) for label, _ in parts)
    print("%-*s  %8s  %8s  %8s" % (width, "", "median", "min", "max"))
    for label, part_times in parts:
        median, low, high = summary(part_times)
        print("%-*s  %5.0f ms  %5.0f ms  %5.0f ms" % (width, label, 1000 * median, 1000 * low,
                                                    1000 * high))


# Runs a Python program as `python PROGRAM ARGS...` (or `python -m MODULE
# ARGS...`) would, logging the command line and environment of every process
# the runtime starts, so that one task can be rerun alone exactly as the
# runtime launched it, whatever that command is.
RECORD_LAUNCHES = """
import json, os, runpy, subprocess, sys
log_path, target = sys.argv[1], sys.argv[2]
popen_init = subprocess.Popen.__init__
def recording_init(self, args, *rest, **kwargs):
    with open(log_path, "a") as log:
        env = kwargs.get("env")
        log.write(json.dumps({"cmd": list(args), "env": dict(os.environ if env is None else env)}))
        log.write("\\n")
    popen_init(self, args, *rest, **kwargs)
subprocess.Popen.__init__ = recording_init
if target == "-m":
    sys.argv = [sys.argv[3]] + sys.argv[4:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = [target] + sys.argv[3:]
    runpy.run_path(target, run_name="__main__")
"""


def recorded_launches(system, wd, python, args, env=None):
    """Processes the runtime started in a checked run of ``python ARGS...``, in order."""
    log_path = os.path.join(wd.path, "launches.jsonl")
    checked_run(system, wd, [python, "-c", RECORD_LAUNCHES, log_path] + args, env)
    with open(log_path) as f:
        return [json.loads(line) for line in f]


def launched_task(launches, step_name, expected=20, which=3):
    """(command, environment) of one task of ``step_name`` among recorded launches."""
    steps = [launch for launch in launches if _launched_step(launch["cmd"]) == step_name]
    if len(steps) != expected:
        sys.exit("Benchmark aborted: expected %d launches of step %s among the %d recorded, "
                 "found %d." % (expected, step_name, len(launches), len(steps)))
    return steps[which]["cmd"], steps[which]["env"]


def _launched_step(cmd):
    """The step a recorded task command runs: Netflix's ``step NAME`` argument, or the
    ``step`` of our one JSON argument (which also holds the graph, naming every step)."""
    args = cmd[2:]
    for i, arg in enumerate(args):
        if arg == "step" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("{"):
            try:
                return json.loads(arg).get("step")
            except ValueError:
                return None
    return None


def parse_arguments(doc, what):
    """The options every benchmark takes; ``what`` names what --repeat repeats."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of each %s (default 3)" % what)
    parser.add_argument("--task-repeat", type=int, default=5,
                        help="repetitions of each per-task measurement (default 5)")
    parser.add_argument("--netflix-python", default=DEFAULT_NETFLIX_PYTHON,
                        help="interpreter with Netflix's metaflow installed")
    args = parser.parse_args()
    if args.repeat < 1 or args.task_repeat < 1:
        parser.error("--repeat and --task-repeat must be at least 1")
    return args
