# SIGTERM and SIGHUP while run() waits for the engine (src/stop_signals.c).
#
# What `timeout`, `docker stop`, a scheduler or a closed terminal sends would
# kill R at once and leave the engine to find out alone. While the engine runs
# they are an interrupt instead, as Ctrl-C is: run() passes the same signal on
# to the engine, which stops every task and records the run as stopped by it,
# and R then exits as the signal would have ended it (128 + signal).

catch_stop_signals <- function() {
  invisible(.Call(metaflow_catch_stop_signals))
}

# The signal caught since catch_stop_signals() (0 for none), R's own handling
# of both restored.
release_stop_signals <- function() {
  .Call(metaflow_release_stop_signals)
}

caught_stop_signal <- function() {
  .Call(metaflow_caught_signal)
}

signal_name <- function(signum) {
  names <- c("1" = "SIGHUP", "2" = "SIGINT", "15" = "SIGTERM")
  unname(names[as.character(signum)] %|NA|% paste("signal", signum))
}

`%|NA|%` <- function(x, y) if (is.na(x)) y else x

# After the engine recorded a run stopped by `signum`: say so, and end R with
# the status the signal gives. on.exit() handlers don't run past quit(), so
# the caller's temporary files are removed here.
exit_for_signal <- function(signum, pathspec, cleanup = character(), succeeded = FALSE) {
  what <- if (is.null(pathspec)) "The run" else paste("Run", pathspec)
  message(if (succeeded) {
    sprintf("%s succeeded before %s stopped R.", what, signal_name(signum))
  } else {
    sprintf(
      "%s was stopped by %s: its running tasks were stopped and recorded as killed; resume it with `Rscript flow.R resume`.",
      what, signal_name(signum)
    )
  })
  unlink(cleanup, recursive = TRUE)
  quit(save = "no", status = 128L + as.integer(signum), runLast = FALSE)
}
