#' Signal a classed metaflow error
#'
#' The one way the package raises errors. The condition has classes
#' `metaflow_error_<kind>` and `metaflow_error`, so callers and tests can catch
#' a family of errors by class instead of matching the message.
#'
#' @param message A [cli::cli_abort()] message: the problem first, then `x`/`i`
#'   bullets. Glue expressions are evaluated in the environment of the function
#'   that calls `metaflow_abort()`.
#' @param kind The error family, e.g. `"python"` or `"graph"`.
#' @param ... Passed to [cli::cli_abort()], e.g. `parent` to chain the error
#'   that caused this one.
#' @param call The call the error is reported for; by default the function
#'   that calls `metaflow_abort()`.
#' @noRd
metaflow_abort <- function(message, kind, ..., call = parent.frame()) {
  caller <- parent.frame()
  local_error_display()
  cli::cli_abort(
    message,
    class = c(paste0("metaflow_error_", kind), "metaflow_error"),
    ...,
    call = call,
    .envir = caller
  )
}

# An error of this package is about the user's flow or set-up, not about where
# in the package it was raised: under Rscript rlang would print a backtrace of
# the package's internals after the message. R prints an uncaught error before
# the stack unwinds, so the option holds while it is printed. A user who chose
# how backtraces show keeps that choice.
local_error_display <- function(frame = parent.frame()) {
  if (is.null(getOption("rlang_backtrace_on_error"))) {
    options(rlang_backtrace_on_error = "none")
    do.call(on.exit, list(quote(options(rlang_backtrace_on_error = NULL)), add = TRUE), envir = frame)
  }
}
