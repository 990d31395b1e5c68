#' Add a step to a flow
#'
#' A step is a unit of work: an R function that reads and sets artifacts on
#' `self`, e.g. `self$model <- fit(self$data)`. Steps are connected by
#' `next_step`; every flow begins with a step named `start` and finishes with
#' one named `end`.
#'
#' * A linear step goes to one step: `next_step = "train"`.
#' * A static split goes to several steps, which run in parallel:
#'   `next_step = c("fit_glm", "fit_tree")`.
#' * A foreach split runs the next step once per element of an artifact:
#'   `next_step = "fit", foreach = "alphas"`; in that step `self$input` is
#'   the element (for a data frame, a column; see `foreach`).
#' * A join step, `join = TRUE`, gathers the branches of a split: its
#'   function takes a second argument, `inputs`, the list of the branches.
#'
#' The flow is checked as a whole before it runs: `start` and `end` exist,
#' `next_step` names existing steps, there are no loops, and splits and joins
#' match.
#'
#' Step functions are stored as they are, braces or not:
#' `function(self) self$x <- 1` works. They run in a separate R process, which
#' gets the objects of your global environment the functions use and attaches
#' the packages your script attached.
#'
#' @param flow A flow made by [metaflow()].
#' @param ... Decorators for the step, e.g. [retry()] or [catch()].
#'   Anything else is an error; in particular `step` must be given by name.
#' @param step The step's name: lowercase letters, digits and underscores,
#'   starting with a letter. Some names are reserved, such as `next`,
#'   `input`, `index` and Python keywords like `class`.
#' @param r_function `NULL` (a step that does nothing, typical for `end`), or
#'   the step's function: `function(self)`, or `function(self, inputs)` for a
#'   join step.
#' @param foreach `NULL`, or the name of the artifact to fan out over; the
#'   step must then have exactly one `next_step`. The next step runs once per
#'   element, as [lapply()] goes over it: each element of a vector, each item
#'   of a list, each *column* of a data frame (`self$input` is then the
#'   column). To run once per row, split the data frame into a list of rows:
#'   `self$rows <- split(df, seq_len(nrow(df)))`, then `foreach = "rows"`
#'   (each `self$input` is a one-row data frame).
#' @param join Whether the step is a join step.
#' @param next_step The step or steps to go to next; `NULL` only for `end`.
#' @return The flow, invisibly, with the step added.
#' @family flow definition
#' @export
#' @examples
#' flow <- metaflow("StatsFlow")
#' flow %>%
#'   step(
#'     step = "start",
#'     r_function = function(self) self$genres <- c("Drama", "Sci-Fi"),
#'     next_step = "stats",
#'     foreach = "genres"
#'   ) %>%
#'   step(
#'     retry(times = 2),
#'     step = "stats",
#'     r_function = function(self) self$n <- nchar(self$input),
#'     next_step = "join"
#'   ) %>%
#'   step(
#'     step = "join",
#'     r_function = function(self, inputs) self$total <- sum(sapply(inputs, function(i) i$n)),
#'     join = TRUE,
#'     next_step = "end"
#'   ) %>%
#'   step(step = "end")
#' flow
step <- function(flow, ..., step, r_function = NULL, foreach = NULL, join = FALSE,
                 next_step = NULL) {
  check_flow(if (!missing(flow)) flow, "step")
  decorators <- list(...)
  if (missing(step)) {
    abort_missing_step_name(decorators)
  }
  check_step_name(step, "step")
  check_decorators(decorators, "step", "step", paste("step", encodeString(step, quote = "\"")))
  if (flow$has_step(step)) {
    metaflow_abort(c(
      "Each step of a flow must have its own name.",
      x = "Flow {.val {flow$get_name()}} already has a step {.val {step}}."
    ), "step")
  }
  if (!is_true_or_false(join)) {
    metaflow_abort(c(
      "{.arg join} of step {.val {step}} must be {.code TRUE} or {.code FALSE}.",
      x = "Got {show_value(join)}."
    ), "step")
  }
  next_step <- check_next_step(next_step, step)
  check_foreach(foreach, step, next_step)
  if (join && (length(next_step) > 1 || !is.null(foreach))) {
    metaflow_abort(c(
      "Step {.val {step}} can't be both a join and a split.",
      i = "Add a step after the join to split again."
    ), "step")
  }
  check_step_function(r_function, step, join)
  flow$add_step(list(
    name = step,
    r_function = r_function,
    next_step = next_step,
    foreach = foreach,
    join = join,
    decorators = unname(decorators)
  ))
}

# A step becomes a method of the engine's Python flow class, so its name can't
# be a Python keyword, nor shadow what steps use on `self` or Metaflow reserves.
reserved_step_names <- c(
  "name", "next", "input", "index", "cmd", "foreach_stack", "merge_artifacts"
)

python_keywords <- c(
  "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
  "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
  "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
  "try", "while", "with", "yield"
)

check_step_name <- function(name, arg, call = parent.frame()) {
  if (!is_string(name)) {
    metaflow_abort(c(
      "{.arg {arg}} must be a string, the name of a step.",
      x = "Got {show_value(name)}."
    ), "step", call = call)
  }
  if (!grepl("^[a-z][a-z0-9_]*$", name)) {
    metaflow_abort(c(
      "Step names must use lowercase letters, digits and underscores, and start with a letter.",
      x = "{.arg {arg}} is {show_value(name)}."
    ), "step", call = call)
  }
  check_name_length(name, "step", call = call)
  if (name %in% c(reserved_step_names, python_keywords)) {
    reason <- if (name %in% python_keywords) "a Python keyword" else "reserved by metaflow"
    metaflow_abort(c(
      "{.val {name}} can't be a step name: it is {reason}.",
      i = "Choose another name, e.g. {.val {paste0(name, '_step')}}."
    ), "step", call = call)
  }
}

abort_missing_step_name <- function(decorators, call = parent.frame()) {
  positional <- Filter(is.character, decorators)
  if (length(positional) > 0) {
    shown <- show_value(positional[[1]])
    metaflow_abort(c(
      "{.arg step} must be given by name.",
      x = "{shown} was passed by position, so it went into {.arg ...}, which holds the step's decorators.",
      i = "Write {.code step(flow, step = {shown}, ...)}."
    ), "step", call = call)
  }
  metaflow_abort(c(
    "{.arg step} is missing: every step needs a name.",
    i = "Write e.g. {.code step(flow, step = \"start\", ...)}."
  ), "step", call = call)
}

# next_step as a character vector: character(0) for NULL.
check_next_step <- function(next_step, step, call = parent.frame()) {
  if (is.null(next_step)) {
    return(character())
  }
  if (!is.character(next_step) || length(next_step) == 0 || anyNA(next_step)) {
    metaflow_abort(c(
      "{.arg next_step} of step {.val {step}} must be {.code NULL} or step names.",
      x = "Got {show_value(next_step)}."
    ), "step", call = call)
  }
  for (target in next_step) {
    check_step_name(target, "next_step", call = call)
  }
  repeated <- unique(next_step[duplicated(next_step)])
  if (length(repeated) > 0) {
    metaflow_abort(c(
      "{.arg next_step} of step {.val {step}} can name each step only once.",
      x = "{.val {repeated}} {?is/are} repeated."
    ), "step", call = call)
  }
  unname(next_step)
}

check_foreach <- function(foreach, step, next_step, call = parent.frame()) {
  if (is.null(foreach)) {
    return(invisible())
  }
  if (!is_identifier(foreach)) {
    metaflow_abort(c(
      "{.arg foreach} of step {.val {step}} must be the name of an artifact.",
      x = "Got {show_value(foreach)}.",
      i = "Artifact names use letters, digits and underscores and don't start with a digit."
    ), "step", call = call)
  }
  check_name_length(foreach, "foreach", step = step, call = call)
  if (length(next_step) != 1) {
    metaflow_abort(c(
      "A foreach step must have exactly one {.arg next_step}.",
      x = "Step {.val {step}} fans out over {.field {foreach}} but has {length(next_step)} next step{?s}.",
      i = "The next step runs once for each element of {.field {foreach}}."
    ), "step", call = call)
  }
}

check_step_function <- function(r_function, step, join, call = parent.frame()) {
  if (is.null(r_function)) {
    return(invisible())
  }
  if (!is.function(r_function)) {
    metaflow_abort(c(
      "{.arg r_function} of step {.val {step}} must be a function or {.code NULL}.",
      x = "Got {show_value(r_function)}."
    ), "step", call = call)
  }
  expected <- if (join) 2L else 1L
  if (!can_take_arguments(r_function, expected)) {
    takes <- paste(names(function_formals(r_function)), collapse = ", ")
    if (join) {
      metaflow_abort(c(
        "The function of join step {.val {step}} must take two arguments, {.arg self} and {.arg inputs}.",
        x = "It takes {.code function({takes})}."
      ), "step", call = call)
    }
    metaflow_abort(c(
      "The function of step {.val {step}} must take one argument, {.arg self}.",
      x = "It takes {.code function({takes})}.",
      i = if (can_take_arguments(r_function, 2L)) "Only join steps ({.code join = TRUE}) get a second argument, {.arg inputs}."
    ), "step", call = call)
  }
}

# Whether f(a1, ..., an) is a valid call for exactly n positional arguments.
can_take_arguments <- function(f, n) {
  formals <- function_formals(f)
  has_dots <- "..." %in% names(formals)
  formals <- formals[names(formals) != "..."]
  n_required <- sum(vapply(seq_along(formals), function(i) identical(formals[[i]], quote(expr = )), TRUE))
  n_required <= n && (has_dots || length(formals) >= n)
}

# The formals of a closure or a primitive; NULL for language constructs such
# as `if`, which have none.
function_formals <- function(f) {
  arguments <- args(f)
  if (is.null(arguments)) NULL else formals(arguments)
}
