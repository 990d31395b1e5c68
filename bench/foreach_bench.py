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

import os
import statistics

from harness import (MAX_WORKERS, ROOT, System, Workdir, alternate, parse_arguments,
                     clean_environ, core_python, launched_task, netflix_system, print_load,
                     print_parts, recorded_launches, repeat_timed, summary, time_run, version_of)

TASKS = 23
EXPECTED_OUTPUT = "total=%d" % sum(i * i for i in range(20))
TARGET_RATIO = 0.5


def core_system():
    python = core_python()
    env = dict(clean_environ(), PYTHONPATH=os.path.join(ROOT, "inst", "python"))
    label = "metaflow_core " + version_of(python, env, "metaflow_core")
    return System(label, python, "foreach20_core.py", [], env, EXPECTED_OUTPUT)


def time_core_task_parts(core, netflix, repeat):
    """Costs that make up one metaflow_core task, each process run alone ``repeat`` times.

    The task is rerun in the finished run's datastore, so its artifact blobs
    already exist (as most do for later foreach children in a real run).
    """
    with Workdir(core) as wd:
        launches = recorded_launches(core, wd, core.program,
                                     core.run_command(wd.flow_path)[1:])
        task_cmd, task_env = launched_task(launches, "square")
        commands = [
            ("interpreter start (python -c pass)", [core.program, "-c", "pass"], wd.env),
            ("flow.py --help (imports, graph, CLI)", [core.program, wd.flow_path, "--help"],
             wd.env),
            ("one foreach task (as the runtime launches it)", task_cmd, task_env),
        ]
        parts = [(label, repeat_timed(label, cmd, wd.path, env, repeat))
                 for label, cmd, env in commands]
    with Workdir(netflix) as wd:
        cmd = [netflix.program, wd.flow_path, "--no-pylint", "--help"]
        label = "for comparison: Netflix flow.py --help"
        parts.append((label, repeat_timed(label, cmd, wd.path, wd.env, repeat)))
    return parts


def main():
    args = parse_arguments(__doc__, "system")

    core = core_system()
    netflix = netflix_system(args.netflix_python)

    systems = [core, netflix]
    print_load("before")
    print("foreach20: start -> 20 x square -> join -> end (%d tasks), run --max-workers %d, "
          "%d CPUs, %d timed runs each" % (TASKS, MAX_WORKERS, os.cpu_count(), args.repeat))
    for system in systems:
        time_run(system)
    times = alternate(systems, args.repeat)

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
    print_parts(time_core_task_parts(core, netflix, args.task_repeat))
    print_load("after")


if __name__ == "__main__":
    main()
