#' Run a flow
#'
#' `run()` runs a flow on the local machine, one process per task, and
#' returns the run. It is also how a flow script becomes a command-line
#' program: a script that ends in `run(flow)` can be started with
#' `Rscript flow.R run --alpha 0.2`, `Rscript flow.R show`, and so on.
#'
#' # Two ways to give options
#'
#' Options can come from `...` (`run(flow, alpha = 0.2, max_workers = 4)`)
#' and, when the script runs under `Rscript`, from its command line
#' (`Rscript flow.R run --alpha 0.2 --max-workers 4`). When both give the
#' same option, the command line wins; when the command line names a command
#' (`Rscript flow.R show`), that command runs instead of the one `...` asks
#' for. The command line goes to the engine as it is: every command and
#' option of `Rscript flow.R help` works there, spelled as the engine spells
#' it (`--max-workers`).
#'
#' Options are passed to the engine as separate arguments, never through a
#' shell, so a value with spaces, quotes, backslashes or newlines arrives
#' exactly as given.
#'
#' # What a step gets from the session
#'
#' Each task of an R step runs in an `Rscript` of its own, which starts as a
#' plain `Rscript` does, with R's default packages, and then gets from the
#' session that called `run()`:
#'
#' * the packages the session had attached, attached in the same order, so
#'   `search()` is the session's, whatever the step's code looks like;
#' * the objects of the global environment that the step functions use
#'   (helper functions, constants, data) and the S4 classes defined there;
#' * the session's [options()] as they were when `run()` was called, except
#'   those that describe the session rather than the code: the console's
#'   (`width`, `prompt`, `continue`, `echo`, `keep.source` and the like),
#'   R's top-level handlers (`error`, `warning.expression`, `interrupt`),
#'   the devices and programs it opens (`device`, `browser`, `editor`,
#'   `pager`, `pdfviewer`), `defaultPackages`, RStudio's (`rstudio.*`),
#'   knitr's `knitr.in.progress`, and any option whose value is an
#'   environment or a function defined elsewhere than in a package or the
#'   global environment. With `warn = 0`, R's default, a step prints
#'   warnings as they happen (`warn = 1`);
#' * the session's environment variables as they were when `run()` was called
#'   (so [Sys.setenv()] before `run()` reaches the steps), with `R_LIBS` set
#'   to the session's [.libPaths()] so that a step loads the same packages,
#'   and the variables the engine sets for a run (`METAFLOW_RUN_ID`,
#'   `METAFLOW_USER`, `METAFLOW_DATASTORE_SYSROOT_LOCAL`, `PYTHONPATH`);
#' * the working directory.
#'
#' Other state of the session (objects the steps don't use, loaded but not
#' attached namespaces, the random seed) does not carry over: call
#' [set.seed()] in a step for random numbers that repeat.
#'
#' # Resuming a run
#'
#' `run(flow, resume = TRUE)` (or `Rscript flow.R resume`) starts a new run
#' from the latest run of the flow, the *origin*; `origin_run_id` (or
#' `--origin-run-id ID`) names another one. Every task of the origin that
#' succeeded is cloned instead of run again: the clone has the origin task's
#' artifacts, identical, and its logs, and its `task$origin_pathspec` names
#' the task it was cloned from. The tasks that failed, that were stopped or
#' never started, run again, and so does everything after them, with the
#' flow's code as it is now: a step fixed after the failure runs in its new
#' form. `resume = "step"` (`Rscript flow.R resume step`) also runs that step
#' and every step after it again. The new run's `run$origin_run_id` is the
#' origin's id.
#'
#' A resumed run has the origin's parameter values: giving one to a resume
#' is an error of class `metaflow_error_usage`, as is a step the flow
#' doesn't have. This holds whatever ended the origin, even its runtime
#' being killed (the tasks it was running then die with it, and the origin
#' reads as failed).
#'
#' # Output and interruption
#'
#' In an interactive console that redraws in place (see
#' [cli::is_dynamic_tty()]), a run shows a progress display that updates while
#' it goes: steps done out of the flow's steps, tasks running, done and
#' failed, and the time so far, with what the steps print (`print()`, `cat()`,
#' messages) shown above it, each line prefixed by its task (`[start/1]`).
#' Under `Rscript`, in knitr and in a console that can't redraw, the engine's
#' output appears as it happens instead, each task's lines prefixed by the
#' task's pathspec (`HelloFlow/1712345/start/1`). Set
#' `options(metaflow.progress = TRUE)` for the display or `FALSE` for the
#' lines whatever the console (`NULL`, the default, decides from it). Either
#' way a run or a resume ends with one line counting its steps and tasks and
#' the time it took, `✔ HelloFlow/1712345 done: 4 steps, 7 tasks in 3.2s`
#' (a resume also counts the tasks it cloned), or, for a run that failed or
#' was interrupted, how far it got, `✖ HelloFlow/1712345 failed: 1 of 4
#' steps, 2 tasks done, 1 failed in 1.1s`, followed by the error. With
#' `quiet = TRUE` that line and the errors are all that is shown. The display
#' reads the progress from events the engine writes as data (see
#' `inst/PROTOCOL.md`), which `Rscript flow.R run --event-file PATH` keeps in
#' `PATH`. Interrupting R (Ctrl-C, or Esc in RStudio), or Ctrl-C
#' on `Rscript flow.R run`, stops the run the way Ctrl-C stops the engine:
#' every running task is stopped, with every process it started, and
#' recorded as killed; the run is recorded as failed, the tasks that had
#' finished are kept, and `run()` fails with an error of class
#' `metaflow_error_interrupted` ("Run Flow/ID was interrupted."). The run can
#' be resumed (`run(flow, resume = TRUE)`, `Rscript flow.R resume`). The
#' progress display is cleared first, whatever ends the run, and its last line
#' says the run was interrupted.
#'
#' SIGTERM and SIGHUP (what `timeout`, `docker stop`, a scheduler or a closed
#' terminal send) stop the run the same way, whether they reach
#' `Rscript flow.R run`, the R session running `run()`, or the engine: the
#' run and each task it stopped are recorded as "stopped by SIGTERM" (or
#' SIGHUP), and then R ends with the status the signal gives (143 for
#' SIGTERM, 129 for SIGHUP). If R itself is killed outright (SIGKILL), the
#' engine notices and stops the run, recorded as stopped because the process
#' that started it exited; if the engine is killed, its tasks die with it and
#' the run reads as failed. A run is never left "running" for good: the
#' engine keeps a heartbeat in the run's metadata, and a run whose heartbeat
#' stopped reads as failed (see `status_reason` in [run_client]). A resume
#' whose origin run is still going is refused. Output that can't be written
#' (`Rscript flow.R run | head -1`, a closed terminal) is dropped; the run
#' goes on.
#'
#' @param flow The flow to run, made with [metaflow()].
#' @param ... Run options and parameter values, all named:
#'   * Parameters of the flow, by their names exactly: `alpha = 0.2`. A value
#'     is a single string, number or logical; several values if the
#'     parameter has a `separator`. A flag parameter takes `TRUE` or `FALSE`.
#'     A `json` parameter takes any value [jsonlite::toJSON()] can convert
#'     (length-one vectors become scalars; wrap in [I()] to keep an array), or
#'     a string of JSON text.
#'   * The command, when it isn't a new run: `resume = TRUE` (resume the
#'     latest run from where it failed) or `resume = "step"` (from that step),
#'     with `origin_run_id` to resume another run; `show = TRUE` (print the
#'     flow's steps); `check = TRUE` (validate the flow); `logs = "run/step"`
#'     or `"run/step/task"` (print a task's output again); `dump = "run/step"` or a
#'     task's pathspec (print artifacts); `verify = TRUE` (check every stored
#'     artifact of every run of the flow, and every blob file, against its hash)
#'     or `verify = "run id"` (those of one run), an error if any is damaged
#'     (the client's `$verify()` returns them instead, see [run_client]);
#'     `help = TRUE` (list commands); `step_functions = "create"` (deploy the
#'     flow to AWS Step Functions, with `datastore = "s3"`; `only_json = TRUE`
#'     prints the state machine's definition instead), `"trigger"` (start an
#'     execution, with the flow's parameters) or `"list-runs"`, as
#'     `Rscript flow.R step-functions create|trigger|list-runs`.
#'   * Options of a run (or a resume): `tag` (character vector),
#'     `max_workers` (tasks at a time; by default 16, and no more than the
#'     machine's cores fit for steps that ask for cores with [resources()]),
#'     `max_num_splits` (the
#'     most tasks a foreach may start, default 100), `max_log_size` (MB of
#'     output kept per task, default 10), `namespace` (run only),
#'     `run_id_file` (a file to write the run's ID to).
#'   * Options of the engine: `datastore` (`"local"`, or `"s3"` to keep the
#'     whole run in S3 at `datastore_root` or `METAFLOW_DATASTORE_SYSROOT_S3`;
#'     by default `METAFLOW_DEFAULT_DATASTORE`), `datastore_root`,
#'     `metadata` (`"local"`), `with` (decorators for every step, e.g.
#'     `c("retry", "catch")`), `batch = TRUE` (the same as `with = "batch"`:
#'     every step runs on AWS Batch, see [batch()]),
#'     `quiet = TRUE` (only the run's last line), `package_suffixes` (character
#'     vector, e.g. `c(".R", ".csv")`: the files of the directory the flow runs
#'     from that go into the code package a [batch()] step runs from; by
#'     default `.py`, `.R` and `.RDS`).
#'   * `other_args`: a character vector of further command-line arguments
#'     for the command, passed as they are.
#' @return For a run or a resume, the run, invisibly: a [run_client], e.g.
#'   `run(flow)$artifact("total")`. For other commands, `0`, invisibly. A run that fails is an error of class `metaflow_error_run`
#'   (its message names the failed step and task; fields `pathspec`, the run,
#'   `step` and `task_pathspec`, the failed task, and `attempt`). Its parent
#'   is the failed task's own error, as its `task$exception` is (see
#'   [task_client]): for an R step the step's condition, with its classes,
#'   message, call and R `traceback`; for a Python step an error of class
#'   `metaflow_python_error` (fields `type`, `traceback`). The
#'   error is built from the summary the engine writes as data, not from its
#'   output. A command line the engine rejects, such as a parameter value of
#'   the wrong type, is an error of class `metaflow_error_usage`; an
#'   interrupted run, of class `metaflow_error_interrupted`. Under
#'   `Rscript` either error ends the script with a non-zero exit status.
#' @family running flows
#' @export
#' @template example-project-start
#' @examples
#'
#' flow <- metaflow("HelloFlow") %>%
#'   parameter("alpha", default = 0.1, help = "Learning rate") %>%
#'   step(step = "start", r_function = function(self) self$x <- self$alpha * 2, next_step = "end") %>%
#'   step(step = "end", r_function = function(self) cat("x is", self$x, "\n"))
#'
#' result <- run(flow, alpha = 0.2)
#' result$artifact("x")
#'
#' run(flow, show = TRUE)
#' run(flow, resume = "end", tag = "retried")
#' try(run(flow, alpha = "a lot"))
#' @template example-project-end
run <- function(flow = NULL, ...) {
  call <- environment()
  check_flow(flow, "run", call = call)
  flow_name <- flow$get_name()
  parameters <- flow$get_parameters()
  argv <- script_command_line()
  from_command_line <- engine_args_from_command_line(argv, parameters)
  check_command_line(argv, from_command_line, parameters, script_program() %||% "Rscript", call)
  args <- merge_engine_args(
    engine_args_from_options(list(...), parameters, flow_name, call = call),
    from_command_line
  )
  if (identical(args$command, "status")) {
    return(invisible(print_status(args, call)))
  }
  validate_flow(flow, call = call)
  if (identical(args$command, "resume")) {
    check_resume_args(args, flow, call)
  }
  starts_run <- args$command %in% c("run", "resume") && !engine_shows_help(args)
  run_id_file <- engine_option_value(args, "run-id-file")
  temporary_run_id_file <- NULL
  if (starts_run && is.null(run_id_file)) {
    run_id_file <- temporary_run_id_file <- tempfile("metaflow-run-id-")
    on.exit(unlink(run_id_file), add = TRUE)
    args$command_args <- c(args$command_args, list(option_entry("run-id-file", run_id_file)))
  }

  # What failed, if anything, as data (the engine's cli_errors.py).
  failure_file <- tempfile("metaflow-failure-", fileext = ".json")
  on.exit(unlink(failure_file), add = TRUE)
  args$top <- c(args$top, list(option_entry("failure-file", failure_file)))

  # The run's progress as data (run_progress.R), for the display and its end line.
  progress <- temporary_event_file <- NULL
  if (starts_run) {
    event_file <- engine_option_value(args, "event-file")
    if (is.null(event_file)) {
      event_file <- temporary_event_file <- tempfile("metaflow-events-", fileext = ".jsonl")
      on.exit(unlink(event_file), add = TRUE)
      args$command_args <- c(args$command_args, list(option_entry("event-file", event_file)))
    }
    progress <- new_run_progress(progress_display(engine_quiet(args), call), event_file)
    if (progress$display == "dynamic") {
      # The display shows the tasks' output, from the events, instead of the log lines.
      args$top <- c(args$top, list(option_entry("quiet")))
    }
  }

  spec_dir <- tempfile("metaflow-spec-")
  dir.create(spec_dir)
  on.exit(unlink(spec_dir, recursive = TRUE), add = TRUE)
  write_flow_spec(flow, spec_dir, evaluate_parameter_defaults(flow, call = call), call = call)

  # A run ID file the user named may hold the ID of an earlier run until the
  # engine writes this run's.
  earlier_run_id <- if (starts_run) read_run_id(run_id_file)
  result <- run_engine(c("-m", "metaflow_core.codegen", spec_dir, engine_argv(args)), progress)
  run_id <- if (starts_run) setdiff(read_run_id(run_id_file), earlier_run_id)
  pathspec <- if (length(run_id) == 1) paste0(flow_name, "/", run_id)
  if (!is.null(progress)) {
    progress_end_line(progress)
  }
  if (!is.null(result$signal)) {
    # A SIGTERM or SIGHUP: the run is recorded; now R ends as the signal asked.
    exit_for_signal(result$signal, pathspec, c(spec_dir, failure_file, temporary_run_id_file,
                                                       temporary_event_file),
                    succeeded = result$status == 0)
  }
  if (result$status != 0) {
    abort_engine_failure(result$status, failure_file, args$command, flow_name, pathspec, call)
  }
  if (is.null(pathspec)) {
    return(invisible(0L))
  }
  invisible(client_for_new_run(pathspec, call))
}

# `Rscript flow.R status [--json]`: the package's report, which holds the
# engine's (`python flow.py status`) and what only R knows.
print_status <- function(args, call) {
  options <- vapply(args$command_args, function(entry) paste(entry$tokens, collapse = " "), "")
  unknown <- setdiff(options, "--json")
  if (length(unknown) > 0) {
    metaflow_abort(c(
      "{.code status} takes no arguments but {.code --json}.",
      x = "Got {.code {unknown}}."
    ), "usage", call = call)
  }
  status <- metaflow_status()
  if ("--json" %in% options) {
    cat(jsonlite::toJSON(unclass(status), auto_unbox = TRUE, null = "null"), "\n", sep = "")
  } else {
    print(status)
  }
  0L
}

# The client of the run run() just made. Like Metaflow's Runner, it skips the
# namespace check: the run is the caller's whatever namespace the session is
# in (e.g. after set_namespace("user:someone_else"), or a run's --namespace).
# The context is the one run() ran in: the run is where run() wrote it,
# wherever the session's working directory is when the client is first used.
client_for_new_run <- function(pathspec, call) {
  context <- client_context()
  run_client$new(deferred_ref(function() {
    ref_at(pathspec, "Run", call, check = FALSE, context = context)
  }))
}

# The command line of `Rscript flow.R ARGS...`: ARGS. An interactive session
# has none, whatever R was started with.
script_command_line <- function() {
  if (interactive()) character() else commandArgs(trailingOnly = TRUE)
}

# `Rscript flow.R` when the flow runs from a script under Rscript, which then
# has a command line; NULL in a session.
script_program <- function() {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (interactive() || length(script) != 1) {
    return(NULL)
  }
  paste("Rscript", basename(script))
}

# How the engine speaks of its command line. Under Rscript its usage and help
# text call the program `Rscript flow.R`, rather than the generated module's
# file name; in a session there is no command line to show the usage of, so a
# usage error is only its message. Either way, the error a run ends with is
# run()'s own, built from the failure file: the engine doesn't print it too.
engine_command_line_env <- function(program = script_program()) {
  c(
    METAFLOW_FRONT_END_REPORTS_ERRORS = "1",
    if (is.null(program)) c(METAFLOW_USAGE_HINTS = "0") else c(METAFLOW_PROG_NAME = program)
  )
}

read_run_id <- function(path) {
  if (!file.exists(path)) {
    return(NULL)
  }
  run_id <- trimws(paste(readLines(path, warn = FALSE), collapse = ""))
  if (nzchar(run_id)) run_id
}

# The engine process ------------------------------------------------------------

# Runs the Python engine with `args`, relaying its output line by line as it
# comes. Returns the exit status.
#
# An interrupt of R (Ctrl-C) is passed on as SIGINT, which the engine handles
# by stopping its tasks and recording the run as failed; R waits for that to
# finish, and run() then reports the interruption the engine recorded. Never
# SIGKILL first: the engine's task processes would be orphaned.
run_engine <- function(args, progress = NULL) {
  # find_python(), not metaflow_python(): its check costs a Python start on
  # every Rscript run; abort_engine_failure() runs it only if the engine fails.
  process <- processx::process$new(
    find_python(), args,
    env = python_env(engine_command_line_env()),
    stdout = "|", stderr = "|",
    cleanup_tree = TRUE
  )
  catch_stop_signals()
  on.exit(release_stop_signals(), add = TRUE)
  on.exit(stop_engine(process), add = TRUE, after = FALSE)
  if (!is.null(progress)) {
    on.exit(progress_close(progress), add = TRUE)
  }
  output <- new_relay(progress)
  tryCatch(
    {
      while (process$is_incomplete_output() || process$is_incomplete_error()) {
        relay_engine_output(process, output = output)
        if (!is.null(progress)) progress_poll(progress)
      }
      process$wait()
    },
    interrupt = function(cnd) stop_engine(process, signal_to_pass_on(), output = output)
  )
  if (!is.null(progress)) {
    # What the engine wrote last: how the run ended, the tasks it stopped.
    progress_poll(progress)
  }
  signum <- release_stop_signals()
  status <- process$get_exit_status() %||% (128L + if (signum > 0) signum else 2L)
  list(status = status, signal = if (signum > 0) signum)
}

# The signal an interrupt of R stands for: SIGTERM or SIGHUP if one was caught,
# else SIGINT (Ctrl-C).
signal_to_pass_on <- function() {
  signum <- caught_stop_signal()
  if (signum > 0) signum else 2L
}

# Where the engine's output goes. A stream that can't be written (a pipe whose
# reader left, `Rscript flow.R run | head -1`, a closed terminal) is given up,
# never the run: the engine goes on and records how the run ended.
# Under a progress bar, lines are written above it.
new_relay <- function(progress = NULL) {
  relay <- new.env(parent = emptyenv())
  relay$stdout <- TRUE
  relay$stderr <- TRUE
  relay$above_bar <- identical(progress$display, "dynamic")
  relay
}

relay_write <- function(output, stream, lines) {
  if (length(lines) == 0 || !isTRUE(output[[stream]])) {
    return(invisible())
  }
  tryCatch(
    if (isTRUE(output$above_bar)) {
      # cli clears the bar, writes the lines and draws the bar again below them.
      cli::cli_verbatim(lines)
    } else if (stream == "stdout") {
      cat(paste0(lines, "\n"), sep = "")
    } else {
      for (line in lines) message(line)
    },
    error = function(err) output[[stream]] <- FALSE
  )
  invisible()
}

# Waits up to `timeout` ms for output and relays what came: stdout to stdout,
# stderr as messages (which Rscript writes to stderr unchanged).
relay_engine_output <- function(process, timeout = 200, output = new_relay()) {
  process$poll_io(timeout)
  relay_write(output, "stdout", process$read_output_lines())
  relay_write(output, "stderr", process$read_error_lines())
  invisible()
}

# Stops the engine with `signal` (SIGINT: Ctrl-C; SIGTERM, SIGHUP), which it
# handles by stopping its tasks and recording the run as failed; R waits for
# that to finish. Never SIGKILL first: the engine's task processes would be
# orphaned.
stop_engine <- function(process, signal = 2L, grace = 10, output = new_relay()) {
  if (!process$is_alive()) {
    return(invisible())
  }
  if (signal == 2L) process$interrupt() else process$signal(signal)
  deadline <- Sys.time() + grace
  while (process$is_alive() && Sys.time() < deadline) {
    tryCatch(relay_engine_output(process, 100, output), interrupt = function(cnd) NULL)
  }
  if (process$is_alive()) {
    process$kill_tree()
  }
  tryCatch(relay_engine_output(process, 0, output), error = function(err) NULL)
  invisible()
}

# Failures --------------------------------------------------------------------

# The error of a command that failed, built from the summary the engine wrote
# to `failure_file` (see cli_errors.py in the engine): a usage error, or a run
# that failed, whose failed task's own error is the parent. The engine's
# stderr was shown as it came and is never read back.
abort_engine_failure <- function(status, failure_file, command, flow_name, pathspec, call) {
  summary <- read_failure_summary(failure_file)
  if (is.null(summary)) {
    # The engine may not have started at all: say what Python lacks.
    check_python(find_python(call = call), call = call)
    metaflow_abort(c(
      "The engine exited with status {status} without saying what failed.",
      i = "Its output is above."
    ), "run", status = status, pathspec = pathspec, call = call)
  }
  usage <- identical(summary$kind, "usage")
  program <- script_program()
  pathspec <- pathspec %||% summary$run
  if (identical(summary$kind, "interrupted")) {
    abort_interrupted(pathspec, flow_name, status, call, signum = (summary$exit_code %||% 130L) - 128L)
  }
  headline <- if (usage && is.null(program)) {
    "The engine rejected the arguments of {.fn run} for flow {flow_name}."
  } else if (usage) {
    "The engine rejected the command line of {.code {program} {command}} for flow {flow_name}."
  } else if (!is.null(pathspec)) {
    "Run {pathspec} failed."
  } else if (command %in% c("run", "resume")) {
    "Flow {flow_name} failed before its run started."
  } else {
    "Command {.code {command}} failed for flow {flow_name}."
  }
  problem <- paste0(summary$headline, ": ", summary$message)
  task <- if (length(summary$failed_tasks) > 0) summary$failed_tasks[[1]]
  if (is.null(task)) {
    metaflow_abort(
      c(headline, x = "{problem}"),
      engine_error_kind(summary), status = status, pathspec = pathspec, step = summary$step,
      call = call
    )
  }
  metaflow_abort(
    c(headline, x = "Step {.code {task$step}} failed in task {task$pathspec}."),
    "run", status = status, pathspec = pathspec, step = task$step, task_pathspec = task$pathspec,
    attempt = task$attempt, parent = task_error_condition(task$error, task$pathspec, task$step), call = call
  )
}

# The class of a failure that no task's error explains: the datastore's and the
# metadata's own problems have theirs, as in the client (python_error_kinds).
engine_error_kind <- function(summary) {
  if (identical(summary$kind, "usage")) {
    return("usage")
  }
  type <- summary$type %||% ""
  if (type %in% c("DatastoreAccessError", "MetadataCorrupt")) python_error_kinds[[type]] else "run"
}

# The engine was stopped by a signal (`signum`): Ctrl-C (SIGINT) is an
# interruption; SIGTERM or SIGHUP sent to the engine itself are named.
abort_interrupted <- function(pathspec, flow_name, status, call, signum = 2L) {
  how <- if (identical(as.integer(signum), 2L)) "interrupted" else paste("stopped by", signal_name(signum))
  if (is.null(pathspec)) {
    metaflow_abort("Flow {flow_name} was {how} before its run started.", "interrupted",
                   status = status, call = call)
  }
  metaflow_abort(c(
    "Run {pathspec} was {how}.",
    i = "Its running tasks were stopped; the tasks that finished are kept.",
    i = "Resume it with {.code run(flow, resume = TRUE)} or {.code Rscript flow.R resume}."
  ), "interrupted", status = status, pathspec = pathspec, call = call)
}

read_failure_summary <- function(path) {
  if (!file.exists(path)) {
    return(NULL)
  }
  jsonlite::read_json(path, simplifyVector = FALSE)
}
