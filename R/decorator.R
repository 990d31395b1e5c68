#' Decorate a step or a flow
#'
#' A decorator changes how a step runs (retries, error catching, resources,
#' time limits, environment variables) or, given to [metaflow()], how the whole
#' flow runs. Pass decorators to [step()] (or [metaflow()]) in `...`:
#' `step(flow, retry(times = 2), step = "train", ...)`.
#'
#' `decorator()` makes any decorator by name; [retry()], [catch()],
#' [resources()], [batch()], [timeout()] and [environment_variables()] make
#' the common ones with their defaults spelled out.
#'
#' Decorators are data, not code: the name and the attributes go to the
#' engine in the flow spec as JSON, and the engine checks them, so a
#' decorator it doesn't know fails when the flow starts, not when it is
#' written. Nothing you pass here is ever pasted into Python source.
#'
#' @param x The decorator's name, e.g. `"retry"`: letters, digits and
#'   underscores, not starting with a digit.
#' @param ... The decorator's attributes, all named. `NULL` means the
#'   engine's default (Python's `None`).
#' @param .convert_args How to treat the attribute values.
#'   * `TRUE` (the default): each value must be `NULL` or a single string,
#'     number or logical. Factors become strings and whole numbers become
#'     integers, so `retry(times = 3)` sends `3`, not `3.0`.
#'   * `FALSE`: values are sent exactly as they are, and may be anything
#'     JSON can hold: atomic vectors (a length-1 vector becomes a scalar,
#'     a longer one an array) and lists (named lists become objects). Unlike
#'     the original R package, where this pasted raw Python text, no value
#'     is ever read as code: `"{'a': 1}"` stays a string.
#' @return An object of class `decorator`: a list with the decorator's `name`
#'   and its named list of `attributes`. It prints as the decorator would be
#'   written in Python, e.g. `@retry(times=3, minutes_between_retries=2)`.
#' @family decorators
#' @export
#' @examples
#' decorator("retry", times = 2)
#' decorator("resources", cpu = 16, memory = 220000)
#' decorator("batch")
#' decorator("schedule", daily = TRUE)
#' decorator("custom", sizes = list(small = 1, large = 10), .convert_args = FALSE)
decorator <- function(x, ..., .convert_args = TRUE) {
  check_decorator_name(x)
  if (!is_true_or_false(.convert_args)) {
    metaflow_abort("{.arg .convert_args} must be {.code TRUE} or {.code FALSE}.", "decorator")
  }
  attributes <- list(...)
  check_decorator_attribute_names(x, attributes)
  attributes <- Map(
    function(value, attribute) {
      if (.convert_args) {
        convert_decorator_value(value, x, attribute)
      } else {
        check_json_value(value, x, attribute)
      }
    },
    attributes, names(attributes)
  )
  new_decorator(x, attributes)
}

#' Retry a step that fails
#'
#' A step with `retry()` runs again when it fails, up to `times` more times,
#' waiting `minutes_between_retries` between attempts. Combine it with
#' [catch()] to carry on after the last attempt fails.
#'
#' Each attempt is the same task run again, with its own logs and
#' artifacts: `current("retry_count")` is `0` in the first attempt, `1` in
#' the second and so on, and the client reads any attempt
#' (`task$current_attempt` is the last). A local run waits
#' `minutes_between_retries` too (Metaflow itself waits only on remote
#' compute), without holding up other tasks: the retry is scheduled for
#' later, and the run's other tasks go on meanwhile. `0` retries at once.
#'
#' Some failures are not retried, whatever `times` says, because another
#' attempt would fail the same way: an error of the step bridge itself (such
#' as a step function that can't be found), and a [timeout()] with
#' `retry = FALSE`. [catch()] handles them at once.
#'
#' `run(flow, with = "retry")` (or `Rscript flow.R run --with retry`) gives
#' every step a `retry()` with the defaults; a step's own `retry()` wins.
#'
#' @param times How many times to retry: a whole number, 0 to 4.
#' @param minutes_between_retries Minutes to wait before each retry: a whole
#'   number, 0 or more.
#' @return A [decorator()].
#' @family decorators
#' @export
#' @examples
#' retry()
#' retry(times = 1, minutes_between_retries = 0)
#'
#' # A step that fails twice and succeeds on its third attempt:
#' flaky <- function(self) {
#'   if (current("retry_count") < 2) stop("not yet")
#'   self$attempt <- current("retry_count")
#' }
#' flow <- metaflow("FlakyFlow") %>%
#'   step(step = "start", retry(times = 3, minutes_between_retries = 0),
#'        r_function = flaky, next_step = "end") %>%
#'   step(step = "end")
retry <- function(times = 3L, minutes_between_retries = 2L) {
  check_whole_number(times, "times", "retry", max = 4)
  check_whole_number(minutes_between_retries, "minutes_between_retries", "retry")
  decorator("retry", times = times, minutes_between_retries = minutes_between_retries)
}

#' Catch a step's error and carry on
#'
#' When a step with `catch()` fails (after any [retry()]), the run goes on
#' as if it had succeeded. With `var`, the error is stored in that artifact
#' so later steps can look at it; when the step succeeds, the artifact is
#' `NULL` (`None` in Python, as in Metaflow), so `is.null(self$var)` tells.
#' Either way the task keeps the artifacts the step assigned before the
#' error.
#'
#' For an R step the stored error is an R condition, read as any artifact
#' (`self$var` in a later step, `task$artifact(var)` in the client), and
#' `identical()` in every R session that reads it. Its class is
#' `metaflow_caught_error` followed by the error's own classes (e.g.
#' `c("metaflow_caught_error", "simpleError", "error", "condition")`), and
#' it holds:
#'
#' * `message`: the whole message ([conditionMessage()]);
#' * `call`: the call the error was raised in, or `NULL` ([conditionCall()]);
#' * `traceback`: the calls from the step function down to the error, a
#'   character vector, each with `at file:line` where the flow file has it;
#' * `step` and `pathspec`: the step and the task that failed.
#'
#' A failure that doesn't come from R code is stored the same way, with
#' `call` `NULL`, an empty `traceback` and the classes
#' `c("metaflow_caught_error", "metaflow_error_<kind>", "metaflow_error",
#' "error", "condition")`: kind `timeout` when a [timeout()] stopped the
#' step, `rscript` when the R process died (killed, or crashed), `engine`
#' for any other error of the engine. A Python step stores Metaflow's
#' `CaughtException` (`type`, `message`, `traceback`).
#'
#' @param var `NULL`, or the name of the artifact to store the error in.
#' @param print_exception Whether to print the error (for an R step, the R
#'   error and its R traceback) to the step's log; with `FALSE` the log says
#'   nothing of it.
#' @return A [decorator()].
#' @family decorators
#' @export
#' @examples
#' catch()
#' catch(var = "compute_failed")
#'
#' # In a flow, a later step reads the condition:
#' flow <- metaflow("CatchFlow") %>%
#'   step(step = "start", catch(var = "compute_failed"), r_function = function(self) {
#'     stop("no data today")
#'   }, next_step = "end") %>%
#'   step(step = "end", r_function = function(self) {
#'     if (!is.null(self$compute_failed)) message(conditionMessage(self$compute_failed))
#'   })
catch <- function(var = NULL, print_exception = TRUE) {
  if (!is.null(var) && !is_identifier(var)) {
    metaflow_abort(c(
      "{.arg var} must be {.code NULL} or the name of an artifact.",
      x = "Got {show_value(var)}.",
      i = "Artifact names use letters, digits and underscores and don't start with a digit."
    ), "decorator")
  }
  if (!is_true_or_false(print_exception)) {
    metaflow_abort("{.arg print_exception} must be {.code TRUE} or {.code FALSE}.", "decorator")
  }
  decorator("catch", var = var, print_exception = print_exception)
}

#' Ask for compute resources
#'
#' `resources()` says what a step needs; it takes full effect when the step
#' runs on a compute backend such as AWS Batch (for example with
#' `run(with = "batch")`). If both `resources()` and [batch()] are given, the
#' larger value of each is used.
#'
#' What a step asked for is recorded with each of its tasks' attempts:
#' `task$resources` (a list of `cpu`, `memory` and `gpu`) and the task's
#' `print()` show it. A local run doesn't limit a step to what it asked for,
#' but
#'
#' * warns, in one line when the run starts, about a step that asks for more
#'   cores or memory than the machine has;
#' * runs no more tasks at a time than the machine's cores can take: without
#'   an explicit `max_workers` (`--max-workers`), a task whose step asks for
#'   `cpu` cores starts only when the cores asked for by the tasks already
#'   running, plus its own, are no more than the machine's (a task that asks
#'   for more than the machine has runs alone). Tasks of steps without
#'   `resources()` aren't counted; at most 16 tasks run at a time. An
#'   explicit `max_workers` is the only limit.
#'
#' @param cpu Number of CPUs.
#' @param gpu Number of GPUs.
#' @param memory Memory in megabytes.
#' @param shared_memory `NULL`, or shared memory in megabytes.
#' @return A [decorator()].
#' @family decorators
#' @export
#' @examples
#' resources(cpu = 8, memory = 32000)
resources <- function(cpu = 1L, gpu = 0L, memory = 4096L, shared_memory = NULL) {
  check_positive_number(cpu, "cpu", "resources")
  check_whole_number(gpu, "gpu", "resources")
  check_whole_number(memory, "memory", "resources", min = 1)
  check_whole_number(shared_memory, "shared_memory", "resources", min = 1, null_ok = TRUE)
  decorator("resources", cpu = cpu, gpu = gpu, memory = memory, shared_memory = shared_memory)
}

#' Set environment variables for a step
#'
#' @param ... Environment variables, all named: `NAME = value`. Each value
#'   must be a single string, number or logical, and is sent as a string
#'   (`TRUE` becomes `"TRUE"`).
#' @return A [decorator()] named `environment` whose attribute `vars` is the
#'   named list of values.
#' @family decorators
#' @export
#' @examples
#' environment_variables(MODEL = "glm", THREADS = 4)
environment_variables <- function(...) {
  vars <- list(...)
  if (any(!nzchar(names2(vars)))) {
    positions <- as.character(which(!nzchar(names2(vars))))
    metaflow_abort(c(
      "All environment variables must be named.",
      x = "Argument{?s} {positions} {?has/have} no name.",
      i = "Write {.code environment_variables(NAME = \"value\")}."
    ), "decorator")
  }
  bad_names <- names(vars)[!grepl("^[A-Za-z_][A-Za-z0-9_]*$", names(vars))]
  if (length(bad_names) > 0) {
    metaflow_abort(c(
      "Environment variable names must use letters, digits and underscores, and not start with a digit.",
      x = "Can't use {show_value(bad_names)}."
    ), "decorator")
  }
  duplicated_names <- unique(names(vars)[duplicated(names(vars))])
  if (length(duplicated_names) > 0) {
    metaflow_abort(c(
      "Each environment variable can be set only once.",
      x = "{.envvar {duplicated_names}} {?is/are} set more than once."
    ), "decorator")
  }
  vars <- Map(
    function(value, name) {
      if (is.factor(value)) {
        value <- as.character(value)
      }
      if (!is_scalar_atomic(value)) {
        metaflow_abort(c(
          "The value of environment variable {.envvar {name}} must be a single string, number or logical.",
          x = "Got {show_value(value)}."
        ), "decorator")
      }
      as.character(value)
    },
    vars, names(vars)
  )
  decorator("environment", vars = structure(vars, names = names2(vars)), .convert_args = FALSE)
}

#' Limit how long a step may run
#'
#' A step with `timeout()` fails when one attempt runs longer than the sum of
#' `seconds`, `minutes` and `hours`; with [retry()] it is then tried again,
#' and with [catch()] the run goes on. This decorator is not in the original
#' R package.
#'
#' When the time is up, the step's `Rscript` is stopped together with every
#' process it started (say with `system2(..., wait = FALSE)`), within a
#' second or two, and the attempt fails with an error of class
#' `metaflow_error_timeout`: "Step `train` timed out after 600 seconds."
#' A run that fails this way is an error of [run()] whose parent is that
#' condition. (A Python step keeps Metaflow's message, "Step train timed out
#' after 0 hours, 10 minutes, 0 seconds".)
#'
#' @param seconds,minutes,hours Whole numbers; at least one must be positive.
#' @param retry Whether a [retry()] of the step may try again after a timeout.
#'   `FALSE` for a step that would run out of time again: the run fails (or
#'   [catch()] takes over) after the first timeout.
#' @return A [decorator()].
#' @family decorators
#' @export
#' @examples
#' timeout(minutes = 10)
#' timeout(hours = 1, minutes = 30)
#' timeout(minutes = 5, retry = FALSE)
timeout <- function(seconds = 0L, minutes = 0L, hours = 0L, retry = TRUE) {
  if (!is_true_or_false(retry)) {
    metaflow_abort("{.arg retry} must be {.code TRUE} or {.code FALSE}.", "decorator")
  }
  check_whole_number(seconds, "seconds", "timeout")
  check_whole_number(minutes, "minutes", "timeout")
  check_whole_number(hours, "hours", "timeout")
  if (seconds + minutes + hours == 0) {
    metaflow_abort(c(
      "{.fn timeout} needs a duration.",
      i = "Give {.arg seconds}, {.arg minutes} or {.arg hours}, e.g. {.code timeout(minutes = 5)}."
    ), "decorator")
  }
  if (retry) {
    return(decorator("timeout", seconds = seconds, minutes = minutes, hours = hours))
  }
  decorator("timeout", seconds = seconds, minutes = minutes, hours = hours, retry = FALSE)
}

#' @export
format.decorator <- function(x, ...) {
  if (length(x$attributes) == 0) {
    return(paste0("@", x$name))
  }
  arguments <- paste0(names(x$attributes), "=", vapply(x$attributes, format_python_value, ""))
  paste0("@", x$name, "(", paste(arguments, collapse = ", "), ")")
}

#' @export
print.decorator <- function(x, ...) {
  cat(format(x, ...), "\n", sep = "")
  invisible(x)
}

new_decorator <- function(name, attributes) {
  structure(
    list(name = name, attributes = structure(attributes, names = names2(attributes))),
    class = "decorator"
  )
}

is_decorator <- function(x) {
  inherits(x, "decorator")
}

# How a decorator attribute reads in Python, for printing only: the engine
# gets the value as JSON, never as this text.
format_python_value <- function(value) {
  if (is.null(value)) {
    return("None")
  }
  if (is.list(value)) {
    items <- vapply(value, format_python_value, "")
    if (!is.null(names(value))) {
      if (length(value) == 0) {
        return("{}")
      }
      items <- paste0(encodeString(names(value), quote = "'"), ": ", items)
      return(paste0("{", paste(items, collapse = ", "), "}"))
    }
    return(paste0("[", paste(items, collapse = ", "), "]"))
  }
  items <- if (is.logical(value)) {
    ifelse(value, "True", "False")
  } else if (is.character(value)) {
    encodeString(value, quote = "'")
  } else if (is.integer(value)) {
    as.character(value)
  } else {
    json_double(value)
  }
  if (length(items) == 1) items else paste0("[", paste(items, collapse = ", "), "]")
}

check_decorator_name <- function(x, call = parent.frame()) {
  if (!is_identifier(x)) {
    metaflow_abort(c(
      "A decorator's name must use letters, digits and underscores, and not start with a digit.",
      x = "Got {show_value(x)}."
    ), "decorator", call = call)
  }
}

check_decorator_attribute_names <- function(decorator_name, attributes, call = parent.frame()) {
  if (length(attributes) == 0) {
    return(invisible())
  }
  attribute_names <- names2(attributes)
  if (any(!nzchar(attribute_names))) {
    positions <- as.character(which(!nzchar(attribute_names)))
    metaflow_abort(c(
      "All arguments to a decorator must be named.",
      x = "Argument{?s} {positions} {?has/have} no name.",
      i = "Write e.g. {.code decorator(\"{decorator_name}\", times = 3)}."
    ), "decorator", call = call)
  }
  bad_names <- attribute_names[!is_identifier_vector(attribute_names)]
  if (length(bad_names) > 0) {
    metaflow_abort(c(
      "Decorator attribute names must use letters, digits and underscores, and not start with a digit.",
      x = "{.code @{decorator_name}} has attribute{?s} {show_value(bad_names)}."
    ), "decorator", call = call)
  }
  duplicated_names <- unique(attribute_names[duplicated(attribute_names)])
  if (length(duplicated_names) > 0) {
    metaflow_abort(c(
      "Each decorator attribute can be given only once.",
      x = "{.code @{decorator_name}} has {.arg {duplicated_names}} more than once."
    ), "decorator", call = call)
  }
}

convert_decorator_value <- function(value, decorator_name, attribute, call = parent.frame()) {
  if (is.null(value)) {
    return(NULL)
  }
  if (is.factor(value)) {
    value <- as.character(value)
  }
  if (!is_scalar_atomic(value) || (is.double(value) && !is.finite(value))) {
    metaflow_abort(c(
      "Attribute {.arg {attribute}} of {.code @{decorator_name}} must be {.code NULL} or a single string, number or logical.",
      x = "Got {show_value(value)}.",
      i = "For vectors or lists, use {.code decorator(..., .convert_args = FALSE)}."
    ), "decorator", call = call)
  }
  if (is.double(value) && value == round(value) && abs(value) <= .Machine$integer.max) {
    value <- as.integer(value)
  }
  value
}

check_json_value <- function(value, decorator_name, attribute, call = parent.frame()) {
  if (!is_json_able(value)) {
    metaflow_abort(c(
      "Attribute {.arg {attribute}} of {.code @{decorator_name}} must be a value JSON can hold.",
      x = "Got {show_value(value)}.",
      i = "Use {.code NULL}, strings, finite numbers and logicals without {.code NA}, and lists of them."
    ), "decorator", call = call)
  }
  value
}

is_json_able <- function(value) {
  if (is.null(value)) {
    return(TRUE)
  }
  if (is.list(value) && !is.object(value)) {
    return(all(vapply(value, is_json_able, TRUE)) &&
      (is.null(names(value)) || all(nzchar(names(value)))))
  }
  is.atomic(value) && !is.object(value) && !anyNA(value) &&
    (is.logical(value) || is.character(value) || is.integer(value) ||
      (is.double(value) && all(is.finite(value))))
}

check_whole_number <- function(value, arg, decorator_name, min = 0, max = Inf,
                               null_ok = FALSE, call = parent.frame()) {
  if (null_ok && is.null(value)) {
    return(invisible())
  }
  if (!(is.numeric(value) && length(value) == 1 && !is.na(value) && value == round(value) &&
    value >= min && value <= max)) {
    range <- if (is.finite(max)) paste0("from ", min, " to ", max) else paste0("of at least ", min)
    metaflow_abort(c(
      "{.arg {arg}} of {.fn {decorator_name}} must be a whole number {range}{if (null_ok) ' or NULL'}.",
      x = "Got {show_value(value)}."
    ), "decorator", call = call)
  }
}

check_positive_number <- function(value, arg, decorator_name, call = parent.frame()) {
  if (!(is.numeric(value) && length(value) == 1 && is.finite(value) && value > 0)) {
    metaflow_abort(c(
      "{.arg {arg}} of {.fn {decorator_name}} must be a positive number.",
      x = "Got {show_value(value)}."
    ), "decorator", call = call)
  }
}
