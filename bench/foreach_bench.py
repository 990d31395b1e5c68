"""Wall time of a 20-way foreach run on metaflow_core against Netflix's metaflow.

The same flow (bench/flows/foreach20_*.py: start -> 20 x square -> join -> end,
23 tasks) runs as ``python flow.py run --max-workers 2`` on each system, the two
systems alternating (who goes first swaps every round), every run in a fresh
temporary directory (HOME, working directory and local datastore), so each
starts from an empty datastore and no user configuration. Netflix's metaflow
comes from .bench/venv-netflix (``make bench-setup`` or bench/ref_env.sh creates
it) and runs with the local datastore and metadata, ``--no-pylint``, no
metadata service. One untimed run of each system first checks the setup, writes
missing bytecode caches and warms the page cache. A run that fails, or whose end
step does not print the right total, stops the benchmark.

Then the costs that make up one metaflow_core task, each its own process run
alone: interpreter start, ``flow.py --help`` (imports, graph, command line) and
one foreach task, rerun with the command line and environment the runtime gave it.

    .venv/bin/python bench/foreach_bench.py [--repeat N] [--task-repeat N]
"""

import argparse
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
TASKS = 23
EXPECTED_OUTPUT = "total=%d" % sum(i * i for i in range(20))
MAX_WORKERS = 2
TARGET_RATIO = 0.5


class System(object):
    """One engine under test: its interpreter, flow file and environment."""

    def __init__(self, label, python, flow_file, top_level_options, env):
        self.label = label
        self.python = python
        self.flow_file = flow_file
        self.top_level_options = top_level_options
        self.env = env

    def run_command(self, flow_path):
        return ([self.python, flow_path] + self.top_level_options
                + ["run", "--max-workers", str(MAX_WORKERS)])


def clean_environ():
    """The caller's environment without anything that configures either engine.

    Bytecode caching stays on, as on a user's machine: without it every task
    process compiles the engine's modules from source again.
    """
    dropped = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items()
            if not k.startswith("METAFLOW_") and k not in dropped}


def core_system():
    venv_python = os.path.join(ROOT, ".venv", "bin", "python")
    python = venv_python if os.access(venv_python, os.X_OK) else sys.executable
    env = dict(clean_environ(), PYTHONPATH=os.path.join(ROOT, "inst", "python"))
    return System("metaflow_core", python, "foreach20_core.py", [], env)


def netflix_system(python):
    if not os.access(python, os.X_OK):
        sys.exit("No reference metaflow at %s: run `make bench-setup` (bench/ref_env.sh) first."
                 % python)
    env = dict(clean_environ(), METAFLOW_DEFAULT_DATASTORE="local",
               METAFLOW_DEFAULT_METADATA="local")
    return System("metaflow (Netflix)", python, "foreach20_netflix.py", ["--no-pylint"], env)


def version_of(system, module):
    code = "import %s; print(%s.__version__)" % (module, module)
    out = subprocess.run([system.python, "-c", code], env=system.env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit("%s can't import %s:\n%s" % (system.python, module, out.stderr.strip()))
    return out.stdout.strip()


class Workdir(object):
    """A fresh temporary directory holding a copy of the flow; HOME and datastore root."""

    def __init__(self, system):
        self.path = tempfile.mkdtemp(prefix="foreach_bench_")
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


def checked_run(system, wd, cmd):
    """Seconds for one whole run in ``wd``; a failed or wrong run stops the benchmark."""
    seconds, proc = timed(cmd, wd.path, wd.env)
    if proc.returncode != 0:
        fail("the %s run" % system.label, cmd, proc, "failed")
    if not re.search(r"\b%s$" % EXPECTED_OUTPUT, proc.stdout + proc.stderr, re.MULTILINE):
        fail("the %s run" % system.label, cmd, proc,
             "did not print %s in its end step" % EXPECTED_OUTPUT)
    return seconds


def time_run(system):
    with Workdir(system) as wd:
        return checked_run(system, wd, system.run_command(wd.flow_path))


# Runs a flow as `python flow.py ...` would, logging the command line and
# environment of every process the runtime starts, so that one task can be
# rerun alone exactly as the runtime launched it, whatever that command is.
RECORD_LAUNCHES = """
import json, os, runpy, subprocess, sys
log_path, flow_path = sys.argv[1], sys.argv[2]
sys.argv = [flow_path] + sys.argv[3:]
popen_init = subprocess.Popen.__init__
def recording_init(self, args, *rest, **kwargs):
    with open(log_path, "a") as log:
        env = kwargs.get("env")
        log.write(json.dumps({"cmd": list(args), "env": dict(os.environ if env is None else env)}))
        log.write("\\n")
    popen_init(self, args, *rest, **kwargs)
subprocess.Popen.__init__ = recording_init
runpy.run_path(flow_path, run_name="__main__")
"""


def launched_task(system, wd, step_name):
    """(command, environment) of one task of ``step_name`` from a recorded run."""
    log_path = os.path.join(wd.path, "launches.jsonl")
    run_cmd = system.run_command(wd.flow_path)
    checked_run(system, wd, [system.python, "-c", RECORD_LAUNCHES, log_path] + run_cmd[1:])
    with open(log_path) as f:
        launches = [json.loads(line) for line in f]
    # The step's name is an argument of the task's command, or a quoted string in
    # one (JSON); inside input paths (run/step/task) it belongs to a parent task.
    name = re.compile(r'(^|[\s"])%s([\s"]|$)' % re.escape(step_name))
    steps = [launch for launch in launches
             if any(name.search(arg) for arg in launch["cmd"][2:])]
    if len(steps) != 20:
        sys.exit("Benchmark aborted: expected 20 launches of step %s among the %d recorded, "
                 "found %d." % (step_name, len(launches), len(steps)))
    return steps[3]["cmd"], steps[3]["env"]


def time_core_task_parts(core, netflix, repeat):
    """Costs that make up one metaflow_core task, each process run alone ``repeat`` times.

    The task is rerun in the finished run's datastore, so its artifact blobs
    already exist (as most do for later foreach children in a real run).
    """
    with Workdir(core) as wd:
        task_cmd, task_env = launched_task(core, wd, "square")
        commands = [
            ("interpreter start (python -c pass)", [core.python, "-c", "pass"], wd.env),
            ("flow.py --help (imports, graph, CLI)", [core.python, wd.flow_path, "--help"],
             wd.env),
            ("one foreach task (as the runtime launches it)", task_cmd, task_env),
        ]
        parts = [(label, repeat_timed(label, cmd, wd.path, env, repeat))
                 for label, cmd, env in commands]
    with Workdir(netflix) as wd:
        cmd = [netflix.python, wd.flow_path, "--no-pylint", "--help"]
        label = "for comparison: Netflix flow.py --help"
        parts.append((label, repeat_timed(label, cmd, wd.path, wd.env, repeat)))
    return parts


def repeat_timed(label, cmd, cwd, env, repeat):
    times = []
    for _ in range(repeat):
        seconds, proc = timed(cmd, cwd, env)
        if proc.returncode != 0:
            fail(label, cmd, proc, "failed")
        times.append(seconds)
    return times


def summary(times):
    return statistics.median(times), min(times), max(times)


def print_load(when):
    """Other work on the machine skews every figure; say how busy it was."""
    if hasattr(os, "getloadavg"):
        print("load average %s: %.2f %.2f %.2f" % ((when,) + os.getloadavg()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of each system (default 3)")
    parser.add_argument("--task-repeat", type=int, default=5,
                        help="repetitions of each per-task measurement (default 5)")
    parser.add_argument("--netflix-python",
                        default=os.path.join(ROOT, ".bench", "venv-netflix", "bin", "python"),
                        help="interpreter with Netflix's metaflow installed")
    args = parser.parse_args()
    if args.repeat < 1 or args.task_repeat < 1:
        parser.error("--repeat and --task-repeat must be at least 1")

    core = core_system()
    netflix = netflix_system(args.netflix_python)
    core.label += " " + version_of(core, "metaflow_core")
    netflix.label = "metaflow %s (Netflix)" % version_of(netflix, "metaflow")

    systems = [core, netflix]
    print_load("before")
    print("foreach20: start -> 20 x square -> join -> end (%d tasks), run --max-workers %d, "
          "%d CPUs, %d timed runs each" % (TASKS, MAX_WORKERS, os.cpu_count(), args.repeat))
    for system in systems:
        time_run(system)
    times = {system.label: [] for system in systems}
    for i in range(args.repeat):
        for system in (systems if i % 2 == 0 else systems[::-1]):
            seconds = time_run(system)
            times[system.label].append(seconds)
            print("  run %d %-28s %6.2f s" % (i + 1, system.label, seconds), flush=True)

    width = max(len(s.label) for s in systems)
    print("\n%-*s  %8s  %8s  %8s  %9s" % (width, "system", "median", "min", "max", "per task"))
    for system in systems:
        median, low, high = summary(times[system.label])
        print("%-*s  %6.2f s  %6.2f s  %6.2f s  %6.0f ms"
              % (width, system.label, median, low, high, 1000 * median / TASKS))
    ratio = summary(times[core.label])[0] / summary(times[netflix.label])[0]
    print("\nratio metaflow_core / Netflix (medians): %.2f  -> target <= %.1f %s"
          % (ratio, TARGET_RATIO, "met" if ratio <= TARGET_RATIO else "NOT met"))
    # Runs of one round ran back to back, under about the same load from elsewhere.
    rounds = [ours / theirs for ours, theirs in zip(times[core.label], times[netflix.label])]
    print("ratio within each round: %s (median %.2f)"
          % (" ".join("%.2f" % r for r in rounds), statistics.median(rounds)))

    print("\nmetaflow_core per-task costs, each process run alone (%d repetitions):"
          % args.task_repeat)
    parts = time_core_task_parts(core, netflix, args.task_repeat)
    width = max(len(label) for label, _ in parts)
    print("%-*s  %8s  %8s  %8s" % (width, "", "median", "min", "max"))
    for label, part_times in parts:
        median, low, high = summary(part_times)
        print("%-*s  %5.0f ms  %5.0f ms  %5.0f ms" % (width, label, 1000 * median, 1000 * low,
                                                    1000 * high))
    print_load("after")


if __name__ == "__main__":
    main()
