#' Runs, tasks and artifacts as data frames
#'
#' For looking at results as a table: one row per run of a flow, per task of
#' a step, or per artifact of a task. Each is one pass over the client's
#' metadata; listing artifacts reads the task's index of names, types and
#' sizes, never the artifacts' values.
#'
#' * `runs_table()`: the runs of a flow in the current namespace, newest
#'   first. Columns: `id`; `created_at` and `finished_at` (`POSIXct`,
#'   `finished_at` is `NA` until the `end` step finished); `duration`
#'   (a `difftime` in seconds, `NA` if unfinished); `status` (`"running"`,
#'   `"succeeded"` or `"failed"`); `successful` (logical); `tags` (a list
#'   column of character vectors).
#' * `tasks_table()`: the tasks of a step, in the order they were started
#'   (for a foreach, split order). Columns: `id`; `index` (the 0-based
#'   foreach index, `NA` outside a foreach); `finished`, `successful`
#'   (logical); `created_at`, `finished_at`, `duration`.
#' * `artifacts_table()`: the artifacts of a task, by name. Columns:
#'   `name`; `type` (`"R object"` for an artifact of an R step, else the
#'   Python type); `size` (bytes as stored); `encoding` (`"rds"` for R
#'   values, `"pickle"` for Python values).
#'
#' The same tables come from the methods `flow_client$runs_table()`,
#' `step_client$tasks_table()` and `task_client$artifacts_table()`.
#'
#' @param flow A [flow_client] or a flow's name.
#' @param tags Only runs carrying all of these tags.
#' @param step A [step_client] or a step's pathspec (`"Flow/RunID/StepName"`).
#' @param task A [task_client] or a task's pathspec
#'   (`"Flow/RunID/StepName/TaskID"`).
#' @return A data frame with one row per run, task or artifact.
#' @examples
#' \dontrun{
#' runs <- runs_table("HelloFlow")
#' runs[runs$successful, c("id", "duration")]
#' tasks_table("HelloFlow/1712345/square")
#' artifacts_table("HelloFlow/1712345/end/7")
#' }
#' @family client
#' @name client_tables
NULL

#' @rdname client_tables
#' @export
runs_table <- function(flow, tags = character()) {
  call <- environment()
  tags <- check_tags(tags, call = call)
  flow_obj <- if (inherits(flow, "FlowClient")) flow$get_obj() else python_object_at(flow, "Flow", call)
  with_python_errors(runs_frame(do.call(flow_obj$runs, as.list(tags))), call = call)
}

#' @rdname client_tables
#' @export
tasks_table <- function(step) {
  call <- environment()
  step_obj <- if (inherits(step, "StepClient")) step$get_obj() else python_object_at(step, "Step", call)
  with_python_errors(tasks_frame(step_obj), call = call)
}

#' @rdname client_tables
#' @export
artifacts_table <- function(task) {
  call <- environment()
  task_obj <- if (inherits(task, "TaskClient")) task$get_obj() else python_object_at(task, "Task", call)
  with_python_errors(artifacts_frame(task_obj), call = call)
}

# The tables, from Python objects. Each column is one call into Python that
# reads one attribute of every object.

# `runs`: a Python list of runs.
runs_frame <- function(runs) {
  created_at <- py_time_column(runs, "created_at")
  finished_at <- py_time_column(runs, "finished_at")
  frame <- data.frame(
    id = py_column(runs, "id", NA_character_),
    created_at = created_at,
    finished_at = finished_at,
    duration = difftime(finished_at, created_at, units = "secs"),
    status = py_column(runs, "status", NA_character_),
    successful = py_column(runs, "successful", NA),
    stringsAsFactors = FALSE
  )
  frame$tags <- py_tags_column(runs)
  frame
}

tasks_frame <- function(step_obj) {
  tasks <- client_python$builtins$list(client_python$builtins$reversed(step_obj$tasks()))
  created_at <- py_time_column(tasks, "created_at")
  finished_at <- py_time_column(tasks, "finished_at")
  data.frame(
    id = py_column(tasks, "id", NA_character_),
    index = py_column(tasks, "index", NA_integer_),
    finished = py_column(tasks, "finished", NA),
    successful = py_column(tasks, "successful", NA),
    created_at = created_at,
    finished_at = finished_at,
    duration = difftime(finished_at, created_at, units = "secs"),
    stringsAsFactors = FALSE
  )
}

artifacts_frame <- function(task_obj) {
  artifacts <- client_python$builtins$list(task_obj$artifacts)
  data.frame(
    name = py_column(artifacts, "id", NA_character_),
    type = py_column(artifacts, "type", NA_character_),
    size = py_column(artifacts, "size", NA_real_),
    encoding = py_column(artifacts, "encoding", NA_character_),
    stringsAsFactors = FALSE
  )
}

# One row per step of a run, in the order the steps started: its task count,
# how many finished and failed, and how long the step took.
steps_frame <- function(run_obj) {
  steps <- rev(py_elements(run_obj$steps()))
  rows <- lapply(steps, function(step) {
    tasks <- step$tasks()
    finished <- py_column(tasks, "finished", NA)
    successful <- py_column(tasks, "successful", NA)
    created_at <- py_time(step$created_at)
    finished_at <- py_time(step$finished_at)
    data.frame(
      step = py_string(step$id),
      tasks = length(finished),
      finished = length(finished) > 0L && all(finished),
      failed = sum(finished & !successful),
      duration = if (is.null(finished_at)) NA_real_ else as.numeric(difftime(finished_at, created_at, units = "secs")),
      stringsAsFactors = FALSE
    )
  })
  if (length(rows) == 0L) {
    return(data.frame(step = character(), tasks = integer(), finished = logical(), failed = integer(), duration = numeric()))
  }
  do.call(rbind, rows)
}
