"""Wall time of a whole local run of inst/examples/hello_flow.py (7 tasks).

Each repetition runs in a fresh datastore, so it measures the engine's fixed
costs: process start per task, graph parsing, artifact and metadata writes.

    .venv/bin/python bench/bench_local_run.py [repetitions]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

FLOW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "inst", "examples", "hello_flow.py")
TASKS = 7  # start, 4 x square, join, end


def time_one_run():
    with tempfile.TemporaryDirectory() as workdir:
        env = dict(os.environ, METAFLOW_DATASTORE_SYSROOT_LOCAL=workdir)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, FLOW, "run"], cwd=workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit("hello_flow run failed (exit %d):\n%s" % (result.returncode, result.stdout))
    return elapsed


def main():
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = [time_one_run() for _ in range(repetitions)]
    median = statistics.median(times)
    print("hello_flow run: median %.2f s over %d runs (min %.2f, max %.2f), %.0f ms per task"
          % (median, repetitions, min(times), max(times), 1000 * median / TASKS))


if __name__ == "__main__":
    main()
