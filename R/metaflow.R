#' Start a flow
#'
#' A flow is a graph of steps. Make one with `metaflow()`, then add
#' [parameter()]s and [step()]s to it, and run it with `run()`:
#'
#' ```
#' flow <- metaflow("HelloFlow") %>%
#'   step(step = "start", r_function = function(self) self$x <- 1, next_step = "end") %>%
#'   step(step = "end")
#' ```
#'
#' The flow is an object you can modify in place: `step()` and `parameter()`
#' change the flow they are given and return it invisibly, so
#' `flow %>% step(...)` adds a step to `flow` even without reassigning it.
#'
#' Unlike the original R package, `metaflow()` doesn't assign the flow to a
#' variable named after it in the global environment; keep the value it
#' returns.
#'
#' @param cls The flow's name: letters, digits and underscores, not starting
#'   with a digit (it names the flow's runs, e.g. `HelloFlow/1712345`).
#' @param ... Flow-level decorators, made with [decorator()], e.g.
#'   `decorator("schedule", daily = TRUE)`.
#' @return A flow, with no steps or parameters yet. Printing it shows its
#'   parameters and its steps in graph order.
#' @family flow definition
#' @export
#' @examples
#' flow <- metaflow("HelloFlow")
#' flow %>%
#'   step(step = "start", r_function = function(self) self$message <- "hi", next_step = "end") %>%
#'   step(step = "end")
#' flow
#'
#' metaflow("NightlyFlow", decorator("schedule", daily = TRUE))
metaflow <- function(cls, ...) {
  if (missing(cls)) {
    metaflow_abort(c(
      "{.arg cls} must be given: it is the flow's name.",
      i = "Write e.g. {.code metaflow(\"HelloFlow\")}."
    ), "flow")
  }
  if (!is_string(cls) || !grepl("^[A-Za-z_][A-Za-z0-9_]*$", cls)) {
    metaflow_abort(c(
      "A flow's name must use letters, digits and underscores, and not start with a digit.",
      x = "Got {show_value(cls)}.",
      i = "For example {.code metaflow(\"HelloFlow\")}."
    ), "flow")
  }
  check_name_length(cls, "flow")
  decorators <- list(...)
  check_decorators(decorators, "metaflow", "flow", paste("flow", encodeString(cls, quote = "\"")))
  Flow$new(cls, unname(decorators))
}

# Checks shared by the flow-building verbs -------------------------------------

# decorators: the `...` of metaflow() or step(), given to `target` (e.g.
# 'step "train"'). Every element must be a decorator(), none given twice.
check_decorators <- function(decorators, verb, kind, target, call = parent.frame()) {
  not_decorators <- which(!vapply(decorators, is_decorator, TRUE))
  if (length(not_decorators) > 0) {
    position <- not_decorators[[1]]
    shown <- show_value(decorators[[position]])
    metaflow_abort(c(
      "{.arg ...} of {.fn {verb}} must hold only decorators.",
      x = "Argument {position} of {.arg ...} is {shown}.",
      i = "Make decorators with {.fn decorator}, {.fn retry}, {.fn catch} and the like."
    ), kind, call = call)
  }
  decorator_names <- vapply(decorators, function(d) d$name, "")
  repeated <- unique(decorator_names[duplicated(decorator_names)])
  if (length(repeated) > 0) {
    metaflow_abort(c(
      "Each decorator can be given only once.",
      x = "{.code @{repeated[[1]]}} is given to {target} more than once."
    ), "decorator", call = call)
  }
}

# name: a flow, step, parameter or foreach name (`kind`), already known to be a
# string. A name too long for the datastore's paths would fail the run later
# with an error about a file.
check_name_length <- function(name, kind, step = NULL, call = parent.frame()) {
  if (is_too_long(name)) {
    shown <- shown_name(name)
    where <- if (is.null(step)) "" else paste0(" of step \"", step, "\"")
    metaflow_abort(c(
      "A {kind} name can have at most {max_name_length} characters.",
      x = "The {kind} name{where} {.val {shown}} has {nchar(name)} characters.",
      i = "Choose a shorter name: names become files and keys of the datastore."
    ), if (kind == "foreach") "step" else kind, call = call)
  }
}

check_flow <- function(flow, verb, call = parent.frame()) {
  if (!inherits(flow, "Flow")) {
    metaflow_abort(c(
      "{.arg flow} of {.fn {verb}} must be a flow made by {.fn metaflow}.",
      x = "Got {show_value(flow)}.",
      i = "Write e.g. {.code metaflow(\"HelloFlow\") %>% {verb}(...)}."
    ), "flow", call = call)
  }
}
