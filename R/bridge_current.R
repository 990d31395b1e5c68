# What the running task knows about itself; filled by bridge_main() from the
# request's `current` object, empty outside a step.
running_task <- new.env(parent = emptyenv())

current_names <- c(
  "flow_name", "run_id", "origin_run_id", "step_name", "task_id", "pathspec",
  "namespace", "username", "retry_count", "is_running_flow", "parameter_names", "card"
)

set_running_task <- function(values) {
  values$parameter_names <- as.character(unlist(values$parameter_names))
  running_task$current <- values
  running_task$card <- list()
}

#' Information about the running task
#'
#' Inside a step, `current()` tells the step about the task running it: the
#' flow, run, step and task, the pathspec, the namespace and user, and which
#' attempt this is.
#'
#' @param value The name of the value, one of `"flow_name"`, `"run_id"`,
#'   `"origin_run_id"` (the run a resumed run copies from, else `NULL`),
#'   `"step_name"`, `"task_id"`, `"pathspec"` (`"Flow/run/step/task"`),
#'   `"namespace"`, `"username"`, `"retry_count"` (0 for the first attempt),
#'   `"is_running_flow"`, `"parameter_names"` or `"card"` (the step's card:
#'   `current("card")$append(...)` is [card_append()]).
#' @return The value: a string, except `retry_count` (an integer),
#'   `is_running_flow` (`TRUE`), `parameter_names` (a character vector) and an
#'   unset `origin_run_id` (`NULL`) and `card` (an object whose `$append()`
#'   adds components to the step's card).
#' @family step helpers
#' @export
#' @examples
#' # In a step: record where an artifact was made.
#' start <- function(self) {
#'   self$made_by <- current("pathspec")
#' }
#'
#' # Outside a running step there is no current task:
#' try(current("run_id"))
current <- function(value) {
  values <- running_task$current
  if (is.null(values)) {
    bridge_abort(c(
      "`current()` only works inside a running step.",
      i = "Call it in a step function; `run()` runs the flow's steps."
    ), "current", call = sys.call())
  }
  known <- union(current_names, names(values))
  if (missing(value)) {
    value <- NULL
  }
  if (!is.character(value) || length(value) != 1L || !value %in% known) {
    bridge_abort(c(
      "`value` must name a value of `current()`.",
      x = sprintf("Got %s.", show_value(value)),
      i = sprintf("Known values: %s.", format_names(known, max = 20L))
    ), "current", call = sys.call())
  }
  if (value == "card") {
    return(card_collector())
  }
  values[[value]]
}
