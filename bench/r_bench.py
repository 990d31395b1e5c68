"""Wall time of R flows on metaflow_core, against the same flow on Netflix's metaflow.

``Rscript flow.R run --max-workers 2`` of bench/flows/foreach20.R (start -> 20 x
square -> join -> end, 23 trivial R steps) alternates with
``python foreach20_netflix.py run --max-workers 2`` on Netflix's metaflow from
.bench/venv-netflix (``make bench-setup``), who goes first swapping every round;
every round then runs bench/flows/linear3.R (start -> middle -> end). Each run
gets a fresh temporary directory (working directory, HOME, local datastore); R
finds the engine's Python through METAFLOW_PYTHON (.venv/bin/python). One
untimed run of each flow comes first. A run that fails, or whose end step
doesn't print the right total, stops the benchmark.

Then where an R task's time goes, each process run alone: R's start, loading
the package, the flow script up to starting the engine, one R step's bridge
(``Rscript -e metaflow:::bridge_main() request.json``, replaying a request
recorded from a real run), one whole task as the runtime launches it, and the
same task with a stand-in Rscript that does nothing (the Python task alone).
Last, linear3 runs split into the engine's run loop and the rest.

Tasks run the *installed* metaflow package: reinstall it after changing R/ or
inst/ (``R CMD INSTALL --no-test-load .``).

    .venv/bin/python bench/r_bench.py [--repeat N] [--task-repeat N]
"""

import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

from harness import (MAX_WORKERS, ROOT, System, Workdir, alternate, parse_arguments,
                     checked_run, clean_environ, core_python, fail, launched_task,
                     netflix_system, print_load, print_parts, recorded_launches,
                     repeat_timed, summary, time_run, timed)

FOREACH_TASKS = 23
LINEAR_TASKS = 3
FOREACH_OUTPUT = "total=%d" % sum(i * i for i in range(20))
TARGET_RATIO = 1.0
TARGET_LINEAR_SECONDS = 2.0

# Runs a flow script up to the engine: everything `Rscript flow.R run` does in
# R before Python takes over (attach the package, build and validate the flow,
# write its spec, find and check Python), with the spec written to
# BENCH_SPEC_DIR. The global run() is found before the package's.
RUN_UNTIL_ENGINE = """
run <- function(flow, ...) {
  metaflow:::write_flow_spec(flow, Sys.getenv("BENCH_SPEC_DIR"))
  invisible(metaflow:::find_python())
}
source(commandArgs(trailingOnly = TRUE)[1])
"""

# Stands in for Rscript to time a task without R: the step succeeds at once,
# assigning nothing.
NO_OP_RSCRIPT = """#!/bin/sh
for last; do :; done
printf '{"ok": true, "artifacts": {}, "merge": {}, "foreach": null, "error": null}' \\
    > "$(dirname "$last")/result.json"
"""

# The engine's last line: the time of its run loop, from starting it to the end step.
ENGINE_DONE = re.compile(r"^Done! \d+ tasks in ([0-9.]+) s\.$", re.MULTILINE)

# Stands in for Rscript in a recorded run's spec: logs each step's command
# line, environment and request, then becomes the real Rscript.
RECORD_RSCRIPT = """#!%(python)s
import json, os, shutil, sys
request = sys.argv[-1]
with open(%(log)r, "a") as log:
    kept = "%%s.%%d" %% (%(log)r, os.getpid())
    shutil.copyfile(request, kept)
    log.write(json.dumps({"cmd": [%(rscript)r] + sys.argv[1:], "env": dict(os.environ),
                          "request": request, "kept": kept}))
    log.write("\\n")
os.execv(%(rscript)r, [%(rscript)r] + sys.argv[1:])
"""


def rscript():
    path = shutil.which("Rscript")
    if path is None:
        sys.exit("No Rscript on the PATH: R is needed (make setup).")
    return path


def r_output(code, env):
    out = subprocess.run([rscript(), "-e", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("Rscript -e '%s' failed:\n%s" % (code, out.stderr.strip()))
    return out.stdout.strip()


def r_systems():
    env = dict(clean_environ(), METAFLOW_PYTHON=core_python())
    version = r_output('cat(format(packageVersion("metaflow")))', env)
    label = "metaflow R %s (metaflow_core)" % version
    return (System(label, rscript(), "foreach20.R", [], env, FOREACH_OUTPUT),
            System("linear3 " + label, rscript(), "linear3.R", [], env, "total=3"))


def warn_if_stale(env):
    """Say so when R/ or inst/ changed after the installed package (what tasks load) was built."""
    installed = r_output('cat(system.file(package = "metaflow"))', env)
    built = os.path.getmtime(os.path.join(installed, "R", "metaflow.rdb"))
    sources = (glob.glob(os.path.join(ROOT, "R", "*.R"))
               + glob.glob(os.path.join(ROOT, "inst", "**", "*.py"), recursive=True))
    newer = [os.path.relpath(p, ROOT) for p in sources if os.path.getmtime(p) > built]
    if newer:
        print("warning: changed since the installed package was built (tasks run the installed "
              "one): %s" % ", ".join(sorted(newer)[:5] + (["..."] if len(newer) > 5 else [])))
    return installed


def record_r_run(system, wd, installed):
    """A checked run of the flow through the engine, recording every launch.

    Returns (task launches, Rscript launches with their requests, the spec's
    path, the spec). The spec is written as `run()` would; its Rscript is the
    recording stand-in during the run and the real one again afterwards, for
    replays.
    """
    spec_dir = os.path.join(wd.path, "spec")
    env = dict(wd.env, BENCH_SPEC_DIR=spec_dir)
    cmd = [system.program, "-e", RUN_UNTIL_ENGINE, wd.flow_path]
    _, proc = timed(cmd, wd.path, env)
    if proc.returncode != 0:
        fail("writing the spec of %s" % system.flow_file, cmd, proc, "failed")
    spec_path = os.path.join(spec_dir, "flow.json")
    with open(spec_path) as f:
        spec = json.load(f)
    real_rscript = spec["r"]["rscript"]
    r_log = os.path.join(wd.path, "rscript.jsonl")
    stand_in = write_script(wd, "record_rscript", RECORD_RSCRIPT % {
        "python": core_python(), "log": r_log, "rscript": real_rscript})
    write_spec(spec_path, spec_with_rscript(spec, stand_in))

    engine_env = dict(wd.env, PYTHONPATH=os.path.join(installed, "python"))
    args = ["-m", "metaflow_core.codegen", spec_dir, "run", "--max-workers", str(MAX_WORKERS)]
    launches = recorded_launches(system, wd, core_python(), args, engine_env)
    write_spec(spec_path, spec)
    with open(r_log) as f:
        return launches, [json.loads(line) for line in f], spec_path, spec


def write_script(wd, name, text):
    path = os.path.join(wd.path, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def spec_with_rscript(spec, rscript_path):
    return dict(spec, r=dict(spec["r"], rscript=rscript_path))


def write_spec(path, spec):
    with open(path, "w") as f:
        json.dump(spec, f)


def replay_bridge(step_launch, wd, repeat):
    """Seconds of the step's Rscript, rerun alone with its recorded request.

    The request (an RDS file) names its output directory, the one the engine
    made and removed: each replay makes it again around a copy of the request.
    """
    times = []
    request = step_launch["request"]
    output_dir = os.path.dirname(request)
    for _ in range(repeat):
        os.makedirs(output_dir, exist_ok=True)
        shutil.copyfile(step_launch["kept"], request)
        cmd = step_launch["cmd"]
        seconds, proc = timed(cmd, wd.path, step_launch["env"])
        ok = proc.returncode == 0 and result_ok(output_dir)
        shutil.rmtree(output_dir, ignore_errors=True)
        if not ok:
            fail("replaying an R step", cmd, proc, "failed")
        times.append(seconds)
    return times


def result_ok(output_dir):
    try:
        with open(os.path.join(output_dir, "result.json")) as f:
            return json.load(f).get("ok") is True
    except (OSError, ValueError):
        return False


def time_r_task_parts(system, installed, repeat):
    """Costs that make up one R task, each process run alone ``repeat`` times."""
    with Workdir(system) as wd:
        launches, r_launches, spec_path, spec = record_r_run(system, wd, installed)
        task_cmd, task_env = launched_task(launches, "square")
        # Launch order: start, then the 20 splits of `square`, then join and end.
        step_launch = r_launches[4]
        bridge_env = step_launch["env"]
        r_start = [system.program, "--no-save", "--no-restore", "-e"]
        commands = [
            ("R start (Rscript -e NULL)", [system.program, "-e", "NULL"], wd.env),
            ("Rscript -e 'library(metaflow)'", [system.program, "-e", "library(metaflow)"],
             wd.env),
            ("flow script up to the engine (library, flow, spec, finding Python)",
             [system.program, "-e", RUN_UNTIL_ENGINE, wd.flow_path],
             dict(wd.env, BENCH_SPEC_DIR=os.path.join(wd.path, "spec-again"))),
            ("R start as a step, with R's default packages", r_start + ["NULL"], bridge_env),
            ("  + loadNamespace(\"metaflow\")", r_start + ['loadNamespace("metaflow")'],
             bridge_env),
        ]
        parts = [(label, repeat_timed(label, cmd, wd.path, env, repeat))
                 for label, cmd, env in commands]
        bridge = replay_bridge(step_launch, wd, repeat)
        parts.append(("one R step: Rscript -e metaflow:::bridge_main() request.rds", bridge))
        label = "one R task (Python task + its Rscript), as the runtime launches it"
        task = repeat_timed(label, task_cmd, wd.path, task_env, repeat)
        parts.append((label, task))
        no_op = write_script(wd, "no_op_rscript", NO_OP_RSCRIPT)
        write_spec(spec_path, spec_with_rscript(spec, no_op))
        label = "the same task without R (a stand-in Rscript writes result.json)"
        parts.append((label, repeat_timed(label, task_cmd, wd.path, task_env, repeat)))
    return parts, statistics.median(task) - statistics.median(bridge)


def time_outside_engine(system, repeat):
    """Whole runs split at the engine's run loop, whose time its last line reports.

    Outside it: R's start, the flow script, writing the spec, checking Python,
    starting the engine (imports, graph), and what R does once the engine exits.
    """
    walls, engine = [], []
    for _ in range(repeat):
        with Workdir(system) as wd:
            seconds, output = checked_run(system, wd, system.run_command(wd.flow_path))
        done = ENGINE_DONE.search(output)
        if done is None:
            sys.exit("Benchmark aborted: the %s run printed no `Done! ... tasks in ... s.` line."
                     % system.label)
        walls.append(seconds)
        engine.append(float(done.group(1)))
    outside = [wall - loop for wall, loop in zip(walls, engine)]
    return [("whole run, Rscript %s run" % system.flow_file, walls),
            ("  the engine's run loop (its `Done!` line, 0.1 s steps)", engine),
            ("  outside it: R before and after, engine start and exit", outside)]


def main():
    args = parse_arguments(__doc__, "flow")

    r_foreach, r_linear = r_systems()
    installed = warn_if_stale(r_foreach.env)
    netflix = netflix_system(args.netflix_python)
    systems = [r_foreach, netflix]

    print_load("before")
    print("foreach20: start -> 20 x square -> join -> end (%d tasks); linear3: start -> middle "
          "-> end; run --max-workers %d, %d CPUs, %d timed runs each"
          % (FOREACH_TASKS, MAX_WORKERS, os.cpu_count(), args.repeat))
    for system in systems + [r_linear]:
        time_run(system)
    times = alternate(systems, args.repeat, extra=[r_linear])

    width = max(len(s.label) for s in systems + [r_linear])
    print("\n%-*s  %8s  %8s  %8s  %9s" % (width, "flow", "median", "min", "max", "per task"))
    for system, tasks in ((r_foreach, FOREACH_TASKS), (netflix, FOREACH_TASKS),
                          (r_linear, LINEAR_TASKS)):
        median, low, high = summary(times[system.label])
        print("%-*s  %6.2f s  %6.2f s  %6.2f s  %6.0f ms"
              % (width, system.label, median, low, high, 1000 * median / tasks))
    ratio = summary(times[r_foreach.label])[0] / summary(times[netflix.label])[0]
    print("\nforeach20 ratio R on metaflow_core / Netflix Python (medians): %.2f  "
          "-> target <= %.1f %s" % (ratio, TARGET_RATIO,
                                    "met" if ratio <= TARGET_RATIO else "NOT met"))
    # Runs of one round ran back to back, under about the same load from elsewhere.
    rounds = [ours / theirs for ours, theirs in zip(times[r_foreach.label],
                                                     times[netflix.label])]
    print("ratio within each round: %s (median %.2f)"
          % (" ".join("%.2f" % r for r in rounds), statistics.median(rounds)))
    linear = summary(times[r_linear.label])[0]
    met = "met" if linear < TARGET_LINEAR_SECONDS else "NOT met"
    print("linear3 median %.2f s  -> target < %.0f s %s" % (linear, TARGET_LINEAR_SECONDS, met))

    print("\nWhere an R task's time goes, each process run alone (%d repetitions):"
          % args.task_repeat, flush=True)
    parts, python_overhead = time_r_task_parts(r_foreach, installed, args.task_repeat)
    print_parts(parts)
    print("Python task overhead (task - its R step, medians): %.0f ms" % (1000 * python_overhead))
    print("\nlinear3 inside and outside the engine (%d runs):" % args.task_repeat, flush=True)
    print_parts(time_outside_engine(r_linear, args.task_repeat))
    print_load("after")


if __name__ == "__main__":
    main()
