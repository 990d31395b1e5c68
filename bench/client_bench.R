# How fast the R client reads results back, with many runs in the datastore.
#
#     R CMD INSTALL . && Rscript bench/client_bench.R
#
# Options are environment variables (run() reads a script's command line as
# the flow's): BENCH_RUNS (default 1000) and BENCH_REPEATS (default 5).
#
# Makes a local datastore in a temporary directory holding BENCH_RUNS runs of a
# small R flow, ClientBenchFlow (start sets x, end passes it on): three real
# runs made with run(), then the rest written through the engine's own
# metadata and datastore APIs (metaflow_core.metadata.local and
# metaflow_core.datastore), copying the last real run with a new run id and
# a new x, so they are valid runs the client reads like any other. Every
# tenth run, and the newest, failed in its start step, so
# "latest_successful_run" has to skip one.
#
# Then times, in fresh `Rscript -e` sessions (medians of BENCH_REPEATS):
#   baseline  library(metaflow)
#   artifact  library(metaflow); new_run(flow, "latest_successful_run")$artifact("x")
#   table     library(metaflow); runs_table(flow)      (all runs, one row each)
#   reticulate library(metaflow); loadNamespace("reticulate")
# and prints artifact and table minus the baseline: what the client costs
# beyond R's own start-up, against the 1 s target. The reticulate line is
# for reference: what loading reticulate alone costs, the floor of a client
# that embeds Python through it (the package's first client did). Last, the
# same two calls timed in a warm session, where the client's process runs.

n_runs <- as.integer(Sys.getenv("BENCH_RUNS", "1000"))
repeats <- as.integer(Sys.getenv("BENCH_REPEATS", "5"))
n_real <- 3L
flow_name <- "ClientBenchFlow"

suppressPackageStartupMessages(library(metaflow))
python <- metaflow_python()
root <- tempfile("metaflow-client-bench-")
dir.create(root)
on.exit(unlink(root, recursive = TRUE), add = TRUE)
Sys.setenv(METAFLOW_DATASTORE_SYSROOT_LOCAL = root)

# Real runs ------------------------------------------------------------------

started <- Sys.time()
flow <- metaflow(flow_name) %>%
  step(step = "start", r_function = function(self) self$x <- 0L, next_step = "end") %>%
  step(step = "end")
for (i in seq_len(n_real)) {
  run(flow, quiet = TRUE)
}

# Copies of the last real run ------------------------------------------------------

rds_dir <- file.path(root, "rds")
dir.create(rds_dir)
copies <- n_runs - n_real
for (i in seq_len(copies)) {
  writeBin(serialize(i, NULL), file.path(rds_dir, paste0(i, ".rds")))
}

replicate_runs <- "
import os, sys
from metaflow_core.datastore.flow_datastore import FlowDataStore
from metaflow_core.datastore.storage import LocalStorage
from metaflow_core.metadata.local import LocalMetadataProvider, SUCCEEDED, FAILED

root, flow, copies, rds_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
meta = LocalMetadataProvider(os.path.join(root, '.metaflow'))
fds = FlowDataStore(flow, storage=LocalStorage(meta.root))
template_id = fds.get_latest_run()
template = meta.run(flow, template_id)
steps = sorted(meta.steps(flow, template_id), key=lambda s: s['ts_epoch'])

for i in range(1, copies + 1):
    failed = i % 10 == 0 or i == copies
    with open(os.path.join(rds_dir, '%d.rds' % i), 'rb') as f:
        x = f.read()
    run_id = meta.new_run_id(flow)
    meta.register_run(flow, run_id, template['user_name'], tags=template['tags'],
                      system_tags=template['system_tags'])
    for step in steps:
        name = step['step_name']
        if failed and name == 'end':
            break
        meta.register_step(flow, run_id, name)
        for task in meta.tasks(flow, template_id, name):
            task_id = task['task_id']
            meta.register_task(flow, run_id, name, task_id)
            meta.start_attempt(flow, run_id, name, task_id, 0)
            source = fds.task(template_id, name, task_id)
            out = fds.task(run_id, name, task_id, attempt=0, mode='w')
            control = dict(source.control)
            out.save_bytes('x', x, 'rds', 'R object')
            if failed and name == 'start':
                control.update(task_ok=False, transition=None, exception={
                    'type': 'RStepError', 'message': 'bench failure', 'traceback': None,
                    'language': 'R', 'call': 'start(self)', 'r_traceback': []})
            else:
                out.passdown(source)
            out.set_control(**control)
            out.done()
            meta.finish_attempt(flow, run_id, name, task_id, 0, not failed)
    meta.set_run_status(flow, run_id, FAILED if failed else SUCCEEDED)
    fds.set_latest_run(run_id)
"
made <- processx::run(
  python, c("-c", replicate_runs, root, flow_name, copies, rds_dir),
  env = c("current", PYTHONPATH = system.file("python", package = "metaflow")),
  error_on_status = FALSE
)
if (made$status != 0) {
  stop("Making the runs failed:\n", made$stderr, call. = FALSE)
}
unlink(rds_dir, recursive = TRUE)
setup_seconds <- as.numeric(Sys.time() - started, units = "secs")

# The newest successful run is the last copy but one, whose x is copies - 1.
expected_x <- copies - 1L
runs <- runs_table(flow_name)
stopifnot(
  nrow(runs) == n_runs,
  sum(!runs$successful) == copies %/% 10 + (copies %% 10 != 0),
  identical(new_run(flow_name, "latest_successful_run")$artifact("x"), expected_x)
)

# Timing -----------------------------------------------------------------------------

rscript <- file.path(R.home("bin"), "Rscript")
# Median wall-clock seconds and median CPU seconds (user + system, of the
# session and its children) of `repeats` fresh sessions running `code`. On a
# busy machine the CPU time is the steadier figure.
time_session <- function(code) {
  times <- vapply(seq_len(repeats), function(i) {
    before <- proc.time()
    result <- processx::run(rscript, c("-e", code), error_on_status = FALSE)
    if (result$status != 0) {
      stop("The session failed:\n", result$stderr, call. = FALSE)
    }
    spent <- proc.time() - before
    c(wall = spent[["elapsed"]], cpu = spent[["user.child"]] + spent[["sys.child"]])
  }, numeric(2))
  apply(times, 1, stats::median)
}

quoted_flow <- encodeString(flow_name, quote = "\"")
sessions <- c(
  baseline = "library(metaflow)",
  artifact = sprintf(
    "library(metaflow); stopifnot(new_run(%s, \"latest_successful_run\")$artifact(\"x\") == %d)",
    quoted_flow, expected_x
  ),
  table = sprintf("library(metaflow); stopifnot(nrow(runs_table(%s)) == %d)", quoted_flow, n_runs),
  reticulate = "library(metaflow); invisible(loadNamespace(\"reticulate\"))"
)
medians <- vapply(sessions, time_session, numeric(2))

warm <- function(expr) {
  expr <- substitute(expr)
  stats::median(vapply(seq_len(repeats), function(i) {
    before <- Sys.time()
    eval(expr)
    as.numeric(Sys.time() - before, units = "secs")
  }, numeric(1)))
}
warm_artifact <- warm(new_run(flow_name, "latest_successful_run")$artifact("x"))
warm_table <- warm(runs_table(flow_name))

beyond <- function(session) medians[, session] - medians[, "baseline"]
line <- function(label, seconds, suffix = "") {
  cat(sprintf("  %-40s %6.3f s wall  %6.3f s CPU%s\n", label, seconds[["wall"]], seconds[["cpu"]], suffix))
}
cat(sprintf(
  "%d runs of %s (%d real, %d copies) made in %.1f s; medians of %d fresh sessions:\n",
  n_runs, flow_name, n_real, copies, setup_seconds, repeats
))
line("R start-up + library(metaflow)", medians[, "baseline"])
verdict <- function(session) {
  if (beyond(session)[["wall"]] < 1) "  beyond start-up: under the 1 s target" else "  beyond start-up: OVER the 1 s target"
}
line("latest_successful_run $artifact(\"x\")", beyond("artifact"), verdict("artifact"))
line(sprintf("runs_table() of all %d runs", n_runs), beyond("table"), verdict("table"))
line("for reference: loading reticulate alone", beyond("reticulate"))
cat(sprintf("In a warm session: artifact %.3f s, runs_table() %.3f s\n", warm_artifact, warm_table))
