"""A large R artifact from one R step to the next: time and every process's peak memory.

A numeric vector of ``--mb`` MB (``runif(mb * 2^17)``: 1024 MB by default)
goes from ``start`` to ``b`` of bench/flows/artifact.R, run with
``Rscript flow.R run``; against the floor, ``saveRDS(x, compress = FALSE)`` then
``readRDS()`` of the same vector in one plain Rscript, measured in the same
invocation of this script. The steps stamp the time when ``start``'s body has
made the vector, and before and after ``b`` reads it, so:

* *step to step*: from the vector made in ``start`` to it read in ``b``: R
  writing it, the task ending, the next task starting, R reading it;
* *net*: the same, less that of a run with a 1-element vector (the fixed cost
  of ending one task and starting the next), i.e. what the artifact costs;
* *read*: ``self$x`` in ``b``, with the blob verified against its sha1 (as
  always), and again in a second run with ``METAFLOW_BENCH_SKIP_READ_VERIFY=1``,
  which exists for this benchmark alone and skips the check.

Peak memory is each process's VmHWM, sampled from /proc every 10 ms for every
process whose environment carries this benchmark's marker (the run's R, the
runtime, each task's Python and each step's R). Targets (issue 11): net time at
most 2x the floor, every process's peak at most 2.5x the vector, verification
costing at most 10% of the read.

Runs the *installed* metaflow package (reinstall after changing R/ or inst/);
the engine's Python is METAFLOW_PYTHON, else .venv/bin/python.

    .venv/bin/python bench/artifact_bench.py [--mb 1024] [--repeat 1]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLOW = os.path.join(HERE, "flows", "artifact.R")
SKIP_VERIFY = "METAFLOW_BENCH_SKIP_READ_VERIFY"

FLOOR = """
x <- runif(as.numeric(Sys.getenv("BENCH_N")))
path <- file.path(Sys.getenv("BENCH_OUT"), "floor.rds")
t0 <- Sys.time(); saveRDS(x, path, compress = FALSE); t1 <- Sys.time()
rm(x); invisible(gc())
t2 <- Sys.time(); y <- readRDS(path); t3 <- Sys.time()
unlink(path)
cat(as.numeric(t1 - t0, units = "secs"), as.numeric(t3 - t2, units = "secs"), "\\n")
"""


class PeakSampler(object):
    """VmHWM of every process whose environment has ``BENCH_MARKER=<marker>``."""

    def __init__(self, marker):
        self.needle = ("BENCH_MARKER=%s" % marker).encode()
        self.peaks = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.01)

    def sample(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    if self.needle not in f.read().split(b"\0"):
                        continue
                with open("/proc/%s/status" % pid) as f:
                    status = f.read()
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    args = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmHWM:")), 0)
            old = self.peaks.get(pid)
            if old is None or kb > old[0]:
                self.peaks[pid] = (kb, args, old[2] if old else time.time())

    def by_role(self):
        """Peak MB per role: the run's R, the runtime, each task's Python, each step's R."""
        roles = {}
        steps = []

        def keep(role, mb):
            roles[role] = max(mb, roles.get(role, 0.0))

        for pid, (kb, args, first_seen) in self.peaks.items():
            mb = kb / 1024.0
            if "/exec/R" in args and "bridge_main" in args:
                steps.append((first_seen, mb))
            elif "/exec/R" in args:
                keep("flow script (R)", mb)
            elif "metaflow_core.codegen" in args:
                keep("runtime (Python)", mb)
            elif "internal-task" in args:
                step = args.split('"step": "', 1)[-1].split('"', 1)[0]
                keep("task %s (Python)" % step, mb)
        for name, (_, mb) in zip(["step start (R, writes x)", "step b (R, reads x)",
                                  "step end (R)"], sorted(steps)):
            roles[name] = mb
        return dict(sorted(roles.items()))


def r_env(extra):
    env = dict(os.environ)
    env.setdefault("METAFLOW_PYTHON", os.path.join(ROOT, ".venv", "bin", "python"))
    env.update(extra)
    return env


def floor(n, workdir):
    out = subprocess.run(["Rscript", "-e", FLOOR], env=r_env({"BENCH_N": str(n),
                                                              "BENCH_OUT": workdir}),
                         capture_output=True, text=True, check=True).stdout.split()
    save, read = float(out[0]), float(out[1])
    return save, read


def flow_run(n, workdir, verify=True):
    """One run of the flow: (stamps, peaks by role)."""
    run_dir = tempfile.mkdtemp(dir=workdir)
    marker = uuid.uuid4().hex
    env = {"BENCH_N": str(n), "BENCH_OUT": run_dir, "BENCH_MARKER": marker,
           "METAFLOW_DATASTORE_SYSROOT_LOCAL": run_dir}
    if not verify:
        env[SKIP_VERIFY] = "1"
    else:
        env[SKIP_VERIFY] = ""
    # What earlier runs wrote reaches the disk first, not during this one.
    os.sync()
    with PeakSampler(marker) as sampler:
        proc = subprocess.run(["Rscript", FLOW, "run"], cwd=run_dir, env=r_env(env),
                              capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("The flow failed:\n%s%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
    stamps = {}
    with open(os.path.join(run_dir, "stamps")) as f:
        for line in f:
            name, value = line.split()
            stamps[name] = float(value)
    shutil.rmtree(run_dir, ignore_errors=True)
    return stamps, sampler.by_role()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the vector in MB")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (medians)")
    args = parser.parse_args()
    n = args.mb * (1 << 17)
    workdir = tempfile.mkdtemp(prefix="artifact-bench-")
    try:
        tiny = [flow_run(1, workdir)[0] for _ in range(args.repeat)]
        fixed = statistics.median(s["read_to"] - s["made"] for s in tiny)
        floors = [floor(n, workdir) for _ in range(args.repeat)]
        # Alternating, who goes first swapping every round: the page cache and
        # the disk's writeback of earlier runs weigh on both alike.
        on, off = [], []
        for i in range(args.repeat):
            for verify in ((True, False) if i % 2 == 0 else (False, True)):
                (on if verify else off).append(flow_run(n, workdir, verify=verify))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def med(values):
        return statistics.median(values)

    floor_save = med(f[0] for f in floors)
    floor_read = med(f[1] for f in floors)
    floor_total = floor_save + floor_read
    step_to_step = med(s["read_to"] - s["made"] for s, _ in on)
    net = step_to_step - fixed
    read_on = med(s["read_to"] - s["read_from"] for s, _ in on)
    read_off = med(s["read_to"] - s["read_from"] for s, _ in off)
    peaks = on[-1][1]
    print("artifact: numeric vector of %d MB (%d doubles), %d run(s) of each kind, medians"
          % (args.mb, n, args.repeat))
    print()
    print("| time | s | x floor |")
    print("|---|---:|---:|")
    print("| floor: saveRDS(compress = FALSE) | %.2f | |" % floor_save)
    print("| floor: readRDS | %.2f | |" % floor_read)
    print("| floor: total | %.2f | 1.00 |" % floor_total)
    print("| step to step (start's x made -> b's x read) | %.2f | %.2f |"
          % (step_to_step, step_to_step / floor_total))
    print("| fixed cost of a step to step (1-element x) | %.2f | |" % fixed)
    print("| net: what the artifact costs | %.2f | %.2f |" % (net, net / floor_total))
    print("| read in b, verified | %.2f | %.2f of readRDS |" % (read_on, read_on / floor_read))
    print("| read in b, not verified (bench only) | %.2f | %.2f of readRDS |"
          % (read_off, read_off / floor_read))
    print("| verification's cost | %+.1f %% | |" % (100.0 * (read_on - read_off) / read_off))
    print()
    print("| process | peak MB | x vector |")
    print("|---|---:|---:|")
    for role, mb in peaks.items():
        print("| %s | %.0f | %.2f |" % (role, mb, mb / args.mb))
    print()
    worst = max(peaks.values()) / args.mb
    print("targets: net time <= 2x floor: %s (%.2fx); each peak <= 2.5x: %s (%.2fx); "
          "verification <= 10%%: %s (%+.1f %%)" % (
              "met" if net / floor_total <= 2 else "MISSED", net / floor_total,
              "met" if worst <= 2.5 else "MISSED", worst,
              "met" if read_on <= 1.1 * read_off else "MISSED",
              100.0 * (read_on - read_off) / read_off))


if __name__ == "__main__":
    main()
