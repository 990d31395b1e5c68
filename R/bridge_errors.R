#' Signal a classed metaflow error from the step bridge
#'
#' Every R step runs in a fresh `Rscript` that loads this package, so the code
#' on that path ([bridge_main()], `self`, [merge_artifacts()], [current()])
#' uses base R only and can't afford `cli`, which [metaflow_abort()] formats
#' with. `bridge_abort()` raises the same kind of condition with base R: classes
#' `metaflow_error_<kind>` and `metaflow_error`, and a message that states the
#' problem first, then bullets.
#'
#' @param message A character vector: the problem first, then elements named
#'   `x` (what is wrong), `i` (a hint) or `*` (a list item), which become
#'   bullets. No interpolation: build the text with [sprintf()].
#' @param kind The error family, e.g. `"artifact"` or `"merge"`.
#' @param ... Fields stored in the condition, e.g. `parent` for the error that
#'   caused this one, or `artifact` for the artifact concerned.
#' @param call The call the error is reported for; by default the function
#'   that calls `bridge_abort()`.
#' @noRd
bridge_abort <- function(message, kind, ..., call = sys.call(-1)) {
  stop(structure(
    class = c(paste0("metaflow_error_", kind), "metaflow_error", "error", "condition"),
    list(message = format_bullets(message), call = call, ...)
  ))
}

# Lays out a message the way cli does: the first line plain, named elements
# as bullets. Honours the `cli.unicode` option (testthat snapshots turn it off)
# without loading cli.
format_bullets <- function(message) {
  kinds <- names(message)
  if (is.null(kinds)) {
    kinds <- rep("", length(message))
  }
  unicode <- getOption("cli.unicode", isTRUE(l10n_info()[["UTF-8"]]))
  symbols <- if (isTRUE(unicode)) {
    c(x = "\u2716 ", i = "\u2139 ", "*" = "\u2022 ")
  } else {
    c(x = "x ", i = "i ", "*" = "* ")
  }
  prefix <- ifelse(kinds %in% names(symbols), symbols[kinds], "")
  paste0(prefix, message, collapse = "\n")
}
