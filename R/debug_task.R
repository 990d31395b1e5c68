#' Debug a task in R
#'
#' `debug_task()` rebuilds, in this R session, what an R step saw when its
#' task started: its `self` (the artifacts of the task it started from, the
#' parameters, the foreach `input` and `index`), a join's `inputs`, what
#' [current()] returned, and the step function with the flow script's helper
#' functions, constants and packages. Call the step again with `$run()` and
#' you get the error the task failed with, in your session, where
#' [traceback()], [browser()] and [debug()] work.
#'
#' Everything is read from the datastore, so it works for any finished or
#' failed task of an R flow, also in a new session. What the step assigns to
#' `self` here stays in this session: nothing is written to the datastore.
#'
#' @param task The task: its pathspec (`"Flow/RunID/StepName/TaskID"`) or a
#'   [task_client] (e.g. `step$task("3")`). A run or a step (a pathspec, a
#'   [run_client] or a [step_client]) stands for its failed task, when it has
#'   exactly one; a task stopped because another failed doesn't count.
#' @param browse `TRUE` to run the step at once under [debugonce()], which
#'   enters the browser at the first line of the step's body. An error of the
#'   step is then reported as a message, not raised, and the debugger object
#'   is returned all the same.
#' @return A `metaflow_debug_task` object (printing it says what to do next):
#'   * `$self`: the step's `self`, a sandbox: assignments stay in the session.
#'   * `$inputs`: a join's inputs, else `NULL`.
#'   * `$fn`: the step function; it finds the flow script's helpers and
#'     constants. Call it as `$fn(self)` (or `$fn(self, inputs)`); [current()]
#'     answers only inside `$run()`.
#'   * `$run()`: calls the step on `$self` (and `$inputs`) with the flow's
#'     options and `current()` in place, as the task did; raises the step's
#'     error. Run `debug_task()` again for a fresh `self`.
#'   * `$pathspec`, `$step`, `$exception` (the error the task stored, or
#'     `NULL`), `$packages` (the flow script's packages, attached by
#'     `debug_task()`).
#' @family client
#' @export
#' @template example-project-start
#' @examples
#'
#' # A flow whose `square` step fails on one of its splits.
#' flow <- metaflow("DebugFlow") %>%
#'   step(step = "start", next_step = "square", foreach = "numbers",
#'        r_function = function(self) self$numbers <- c(1, 2, 3)) %>%
#'   step(step = "square", next_step = "join", r_function = function(self) {
#'     if (self$input == 2) stop("bad value ", self$input)
#'     self$value <- self$input^2
#'   }) %>%
#'   step(step = "join", join = TRUE, next_step = "end",
#'        r_function = function(self, inputs) self$total <- 0) %>%
#'   step(step = "end")
#' failure <- tryCatch(run(flow, quiet = TRUE), metaflow_error_run = identity)
#'
#' # The run's error names the failed task; the run alone would do too.
#' debugger <- debug_task(failure$task_pathspec)
#' debugger
#' debugger$self$input
#' try(debugger$run())
#' @template example-project-end
debug_task <- function(task, browse = FALSE) {
  call <- environment()
  if (!is_true_or_false(browse)) {
    metaflow_abort("{.arg browse} must be `TRUE` or `FALSE`.", "usage", call = call)
  }
  ref <- debug_task_ref(task, call)
  output_dir <- tempfile("metaflow-debug-")
  dir.create(output_dir)
  on.exit(unlink(output_dir, recursive = TRUE), add = TRUE)
  reply <- client_request("debug_task", list(ref = ref, output_dir = output_dir), call = call)
  check_one_failed_task(reply, ref$pathspec, call)
  check_debuggable(reply, reply$pathspec, call)
  # Its `self` reads blobs in this session, checked by the client's process.
  use_client_verifier()
  debugger <- new_debug_task(read_request(reply$request), reply$pathspec, call)
  if (browse) {
    browse_step(debugger)
    return(invisible(debugger))
  }
  debugger
}

# The ref of `task`: a task, or a run or step (client object or pathspec) whose
# one failed task the client's process picks.
debug_task_ref <- function(task, call) {
  if (inherits(task, c("TaskClient", "RunClient", "StepClient"))) {
    return(ref_of(task))
  }
  if (inherits(task, "metaflow_object")) {
    metaflow_abort(c(
      "{.arg task} must be a task, a step or a run, not a {.cls {class(task)[[1L]]}}.",
      i = "Give a task, e.g. {.code step$task(step$a_task)}, or a task's pathspec."
    ), "pathspec", call = call)
  }
  depth <- if (is_string(task)) length(strsplit(task, "/", fixed = TRUE)[[1L]]) else 4L
  class_name <- c("2" = "Run", "3" = "Step")[as.character(depth)]
  ref_at(task, if (is.na(class_name)) "Task" else class_name, call = call)
}

# A run or a step with no failed task, or several: the user must choose.
check_one_failed_task <- function(reply, pathspec, call) {
  if (is.null(reply$failed_tasks)) {
    return(invisible())
  }
  failed <- as_strings(reply$failed_tasks)
  if (length(failed) == 0L) {
    metaflow_abort(c(
      "{.val {pathspec}} has no failed task to debug.",
      i = "Give the pathspec of the task you want, {.val {paste0(pathspec, '/...')}}."
    ), "not_found", call = call)
  }
  metaflow_abort(c(
    "{.val {pathspec}} has {length(failed)} failed tasks: say which one to debug.",
    "*" = "{.val {failed}}"
  ), "pathspec", failed_tasks = failed, call = call)
}

check_debuggable <- function(reply, pathspec, call) {
  if (identical(reply$language, "Python")) {
    metaflow_abort(c(
      "Can't debug task {.val {pathspec}} in R: it is a task of a Python flow.",
      i = "{.fn debug_task} works for the steps of R flows.",
      i = paste(
        "Debug a Python step in Python: add {.code breakpoint()} to the step and run",
        "{.code python flow.py resume <step>}, or read what it stored with",
        "{.code Task(\"{pathspec}\").data}."
      )
    ), "not_r_step", call = call)
  }
  if (identical(reply$language, "none")) {
    metaflow_abort(
      "Can't debug task {.val {pathspec}}: its step has no R function.",
      "not_r_step", call = call
    )
  }
}

# The debugger of the task the request describes: its `self` and inputs are
# the bridge's own (R/bridge_self.R), its step function reads the flow
# script's globals from an environment of their own, so the session's global
# environment is left as it was.
new_debug_task <- function(request, pathspec, call) {
  functions <- readRDS(request$functions_rds)
  check_blobs(request, pathspec, call)
  attach_packages(union(functions$packages, "metaflow"))
  helpers <- script_environment(functions$globals)
  fn <- rehomed(step_function(functions, request), helpers)
  inputs <- join_inputs(request)
  debugger <- new.env(parent = emptyenv())
  debugger$pathspec <- pathspec
  debugger$step <- request$step
  debugger$fn <- fn
  debugger$inputs <- inputs
  debugger$self <- request_self(request, inputs)
  debugger$packages <- as.character(functions$packages)
  debugger$exception <- task_client$new(pathspec)$exception
  debugger$run <- function() {
    run_debugged_step(debugger, functions$options, request$current)
  }
  class(debugger) <- "metaflow_debug_task"
  debugger
}

# Blobs removed from the datastore would only show when the step reads them.
check_blobs <- function(request, pathspec, call) {
  refs <- c(
    as.list(request$self$artifacts),
    unlist(lapply(request$inputs, function(input) as.list(input$artifacts)), recursive = FALSE)
  )
  paths <- vapply(refs, function(ref) ref$path %||% NA_character_, "")
  missing <- !is.na(paths) & !file.exists(paths)
  if (any(missing)) {
    first <- which(missing)[[1L]]
    metaflow_abort(c(
      "Can't debug task {.val {pathspec}}: the datastore has lost some of its artifacts.",
      x = "Artifact {.val {names(refs)[[first]]}} should be in {.path {paths[[first]]}}.",
      i = "Run the flow again to debug a new task."
    ), "datastore", call = call)
  }
  if (!file.exists(request$functions_rds)) {
    metaflow_abort(
      "Can't debug task {.val {pathspec}}: the run's functions file {.path {request$functions_rds}} is missing.",
      "datastore", call = call
    )
  }
}

# The flow script's globals (helpers, constants) in an environment whose
# parent is the global one. The step functions and the helpers, saved from the
# script's global environment (a step function through the environment the
# pipe evaluated it in), find them there instead of in the session's global
# environment.
script_environment <- function(globals) {
  helpers <- new.env(parent = globalenv())
  for (name in names(globals)) {
    assign(name, rehomed(globals[[name]], helpers), envir = helpers)
  }
  helpers
}

# `fn` with `helpers` in place of the global environment among its enclosing
# environments. Those between are the copies readRDS() made, this session's
# own, so changing their parent changes nothing else.
rehomed <- function(fn, helpers) {
  if (!is.function(fn) || is.primitive(fn)) {
    return(fn)
  }
  env <- environment(fn)
  if (identical(env, globalenv())) {
    environment(fn) <- helpers
    return(fn)
  }
  while (!identical(env, emptyenv()) && !isNamespace(env)) {
    if (identical(parent.env(env), globalenv())) {
      parent.env(env) <- helpers
      break
    }
    env <- parent.env(env)
  }
  fn
}

# As the bridge calls the step (call_step(), R/bridge_main.R), with the flow's
# options and current() for as long as the call lasts.
run_debugged_step <- function(debugger, carried_options, current_fields) {
  old_options <- options(carried_options)
  old_current <- running_task$current
  on.exit({
    options(old_options)
    running_task$current <- old_current
  }, add = TRUE)
  set_running_task(current_fields)
  call_step(list(
    name = debugger$step, fun = debugger$fn, self = debugger$self, inputs = debugger$inputs
  ))
}

browse_step <- function(debugger) {
  debugonce(debugger$fn)
  outcome <- tryCatch(list(value = debugger$run()), error = function(err) list(error = err))
  if (!is.null(outcome$error)) {
    cli::cli_inform(c(
      "Step {.field {debugger$step}} failed again: {conditionMessage(outcome$error)}",
      i = "{.code $run()} raises it again; {.code $self} holds what the step assigned."
    ))
  }
}

#' @export
print.metaflow_debug_task <- function(x, ...) {
  self <- x$self
  arguments <- if (is.null(x$inputs)) "self" else "self, inputs"
  cli::cat_line(sprintf("<metaflow debug_task: %s>", x$pathspec))
  cli::cat_line(sprintf("Step: %s (%s)", x$step, arguments))
  frames <- self_field(self, "foreach_stack")
  if (length(frames) > 0L) {
    top <- frames[[length(frames)]]
    cli::cat_line(sprintf(
      "Foreach: index %d of %d splits of %s", top$index, top$num_splits, top$var
    ))
  }
  cli::cat_line(sprintf("Artifacts: %s", format_names(self_artifact_names(self), max = 20L)))
  parameters <- names(self_field(self, "parameters"))
  if (length(parameters) > 0L) {
    cli::cat_line(sprintf("Parameters: %s", format_names(parameters, max = 20L)))
  }
  if (!is.null(x$inputs)) {
    cli::cat_line(sprintf("Inputs: %d", length(x$inputs)))
  }
  if (!is.null(x$exception)) {
    cli::cat_line(sprintf("Task failed with: %s", format_exception_headline(x$exception)))
  }
  commands <- c(
    "$run()" = "run the step again here: it raises the task's error",
    "$fn(%s)" = "call the step function yourself",
    "debugonce($fn); $run()" = "step through it in the browser",
    "$self, $inputs" = "what the step started with; assignments stay in this session"
  )
  names(commands) <- sprintf(names(commands), arguments)
  cli::cat_line(c("", "Next:", sprintf("  %-24s %s", names(commands), commands)))
  invisible(x)
}
