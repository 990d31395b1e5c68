# What run() shows while a run goes, drawn from the events the engine writes to
# the file `--event-file` names (inst/PROTOCOL.md, "Run events"), never from
# its log text. There are three displays:
#
#   dynamic  an interactive console that redraws in place: a cli progress bar
#            (steps done / total, tasks running, done and failed, elapsed),
#            with the tasks' own output printed above it; the engine is quiet
#   lines    Rscript, knitr, a console that can't redraw: the engine's
#            per-task log lines
#   quiet    run(quiet = TRUE): nothing but the end line
#
# Each ends with a line counting the steps and tasks and the time taken.

# The display for a run: `quiet` is run()'s. `options(metaflow.progress = TRUE)`
# or `FALSE` chooses dynamic or lines whatever the console can do.
progress_display <- function(quiet, call = parent.frame()) {
  if (quiet) {
    return("quiet")
  }
  forced <- getOption("metaflow.progress")
  if (!is.null(forced)) {
    if (!is_true_or_false(forced)) {
      metaflow_abort(c(
        "{.code options(metaflow.progress)} must be {.code TRUE}, {.code FALSE} or {.code NULL}.",
        x = "Got {show_value(forced)}."
      ), "usage", call = call)
    }
    return(if (forced) "dynamic" else "lines")
  }
  # interactive() first: under Rscript, loading cli only to ask would slow every run.
  dynamic <- interactive() && !isTRUE(getOption("knitr.in.progress")) && cli::is_dynamic_tty()
  if (dynamic) "dynamic" else "lines"
}

# The progress of one run, read from `event_file` as the engine writes it.
new_run_progress <- function(display, event_file) {
  # glue evaluates the bar's format here: it needs `::` from base.
  progress <- new.env(parent = baseenv())
  progress$display <- display
  progress$event_file <- event_file
  progress$offset <- 0
  progress$unfinished_line <- raw()
  progress$started <- Sys.time()
  progress$pathspec <- NULL
  progress$status <- NULL
  progress$steps <- NA_integer_
  for (count in c("steps_done", "running", "done", "failed", "retried", "cloned", "stopped")) {
    progress[[count]] <- 0L
  }
  progress$bar <- NULL
  progress
}

# Reads the events written since the last call and shows what they change.
progress_poll <- function(progress) {
  events <- read_new_events(progress)
  output <- character()
  for (event in events) {
    if (identical(event$event, "task_output")) {
      output <- c(output, task_output_line(event))
    } else {
      apply_event(progress, event)
    }
  }
  if (progress$display == "dynamic" && length(output) > 0) {
    # One redraw of the bar for all the lines; not interpolated, shown as they are.
    cli::cli_verbatim(output)
  }
  if (!is.null(progress$bar)) {
    cli::cli_progress_update(id = progress$bar, set = progress$steps_done,
                             force = length(events) > 0, .envir = progress)
  }
  invisible(progress)
}

# The events of the complete lines added to the file since the last read. The
# engine writes each line whole, so only the last line read can be unfinished;
# it is kept for the next read.
read_new_events <- function(progress) {
  size <- file.size(progress$event_file)
  if (is.na(size) || size <= progress$offset) {
    return(list())
  }
  con <- file(progress$event_file, "rb")
  on.exit(close(con))
  seek(con, progress$offset)
  bytes <- c(progress$unfinished_line, readBin(con, "raw", size - progress$offset))
  progress$offset <- size
  ends <- which(bytes == as.raw(10L))
  complete <- if (length(ends) > 0) seq_len(ends[[length(ends)]]) else integer()
  progress$unfinished_line <- if (length(complete) > 0) bytes[-complete] else bytes
  if (length(complete) == 0) {
    return(list())
  }
  lines <- strsplit(rawToChar(bytes[complete]), "\n", fixed = TRUE)[[1]]
  lapply(lines[nzchar(lines)], jsonlite::parse_json, simplifyVector = FALSE)
}

apply_event <- function(progress, event) {
  switch(event$event,
    run_started = {
      progress$pathspec <- event$pathspec
      progress$steps <- as.integer(event$steps)
      if (progress$display == "dynamic") start_progress_bar(progress)
    },
    task_started = count_event(progress, running = 1L),
    task_finished = if (isTRUE(event$cloned)) {
      count_event(progress, done = 1L, cloned = 1L)
    } else {
      count_event(progress, running = -1L, done = 1L)
    },
    task_retrying = count_event(progress, running = -1L, retried = 1L),
    task_failed = count_event(progress, running = -1L, failed = 1L),
    task_killed = count_event(progress, running = -1L, stopped = 1L),
    step_finished = count_event(progress, steps_done = 1L),
    run_finished = progress$status <- event$status
  )
  invisible()
}

# A line a task printed, as the display shows it: `[start/1] [1] 42`.
task_output_line <- function(event) {
  paste0("[", sub("^[^/]+/[^/]+/", "", event$pathspec), "] ", event$line)
}

count_event <- function(progress, ...) {
  changes <- list(...)
  for (count in names(changes)) {
    progress[[count]] <- progress[[count]] + changes[[count]]
  }
}

start_progress_bar <- function(progress) {
  progress$bar <- cli::cli_progress_bar(
    total = progress$steps,
    # The run's pathspec last: a narrow console cuts it rather than the counts.
    format = paste(
      "{cli::pb_spin} {steps_done}/{steps} steps | tasks: {running} running,",
      "{done} done, {failed} failed | {cli::pb_elapsed} | {pathspec}"
    ),
    clear = TRUE,
    # Closed by progress_close(), not when the last step finishes: the run's
    # last events come after.
    auto_terminate = FALSE,
    .auto_close = FALSE,
    .envir = progress
  )
}

# Clears the progress bar, whatever ended the run (an error, Ctrl-C): nothing
# of it is left on the console.
progress_close <- function(progress) {
  if (!is.null(progress$bar)) {
    cli::cli_progress_done(id = progress$bar, .envir = progress, result = "clear")
    progress$bar <- NULL
  }
  invisible()
}

# The last line of a run, in every display: `✔ HelloFlow/1733 done: 4 steps,
# 7 tasks in 3.2s`, or, for a run that failed or was interrupted, how far it
# got. Nothing for a run that never started.
progress_end_line <- function(progress) {
  if (is.null(progress$pathspec)) {
    return(invisible())
  }
  succeeded <- identical(progress$status, "succeeded")
  text <- progress_summary(progress, succeeded)
  # A stream that can't be written (`Rscript flow.R run | head -1`) loses the
  # line, never the run's result.
  tryCatch(
    if (interactive()) {
      if (succeeded) cli::cli_alert_success("{text}") else cli::cli_alert_danger("{text}")
    } else {
      # A plain line under Rscript, where loading cli would add a tenth of a
      # second to every run for one line.
      message(end_symbol(succeeded), " ", text)
    },
    error = function(err) NULL
  )
  invisible()
}

progress_summary <- function(progress, succeeded) {
  elapsed <- format_elapsed(difftime(Sys.time(), progress$started, units = "secs"))
  tasks <- count_of(progress$done, "task")
  notes <- c(
    if (progress$cloned > 0) paste(progress$cloned, "cloned"),
    if (progress$retried > 0) count_of(progress$retried, "retry", "retries")
  )
  if (length(notes) > 0) {
    tasks <- paste0(tasks, " (", paste(notes, collapse = ", "), ")")
  }
  if (succeeded) {
    return(sprintf("%s done: %s, %s in %s", progress$pathspec, count_of(progress$steps_done, "step"),
                   tasks, elapsed))
  }
  ended <- c(
    paste(progress$failed, "failed"),
    if (progress$stopped > 0) paste(progress$stopped, "stopped")
  )
  sprintf("%s %s: %d of %s, %s done, %s in %s", progress$pathspec, progress$status %||% "failed",
          progress$steps_done, count_of(progress$steps, "step"), tasks,
          paste(ended, collapse = ", "), elapsed)
}

count_of <- function(n, singular, plural = paste0(singular, "s")) {
  paste(n, if (identical(as.integer(n), 1L)) singular else plural)
}

end_symbol <- function(succeeded) {
  if (isTRUE(l10n_info()[["UTF-8"]])) {
    if (succeeded) "\u2714" else "\u2716"
  } else {
    if (succeeded) "v" else "x"
  }
}
