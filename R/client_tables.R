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
#'   (for a foreach, split order); of a run, the tasks of every step, the
#'   steps in the order they started. Columns: `step`; `id`; `index` (the
#'   0-based foreach index, `NA` outside a foreach); `finished`, `successful`
#'   (logical); `created_at`, `finished_at`, `duration`; `origin_pathspec`
#'   (the task a resumed run cloned this one from, `NA` for a task that ran).
#' * `artifacts_table()`: the artifacts of a task, by name; of a run, those of
#'   its `end` task (the run's results, which `run$artifact()` reads). Columns:
#'   `name`; `type` (`"R object"` for an artifact of an R step, else the
#'   Python type); `size` (bytes as stored); `encoding` (`"rds"` for R
#'   values, `"pickle"` for Python values).
#'
#' The same tables come from the methods `flow_client$runs_table()`,
#' `step_client$tasks_table()` and `task_client$artifacts_table()`.
#'
#' @param flow A [flow_client], a flow made with [metaflow()], or a flow's
#'   name.
#' @param tags Only runs carrying all of these tags.
#' @param step A [step_client] or a step's pathspec (`"Flow/RunID/StepName"`);
#'   or a [run_client] or a run's pathspec (`"Flow/RunID"`), for all its tasks.
#' @param task A [task_client] or a task's pathspec
#'   (`"Flow/RunID/StepName/TaskID"`); or a [run_client] or a run's pathspec,
#'   for its `end` task.
#' @return A data frame with one row per run, task or artifact.
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' runs <- runs_table("HelloFlow")
#' runs[runs$successful, c("id", "status", "duration")]
#'
#' run <- new_run("HelloFlow", runs$id[[1]])
#' tasks_table(run$step("square"))[, c("id", "index", "successful", "duration")]
#' tasks_table(run)[, c("step", "id", "successful")]
#' artifacts_table(paste0(run$pathspec, "/end/", run$end_task))
#' artifacts_table(run)
#' @template example-project-end
#' @family client
#' @name client_tables
NULL

#' @rdname client_tables
#' @export
runs_table <- function(flow, tags = character()) {
  call <- environment()
  tags <- check_tags(tags, call = call)
  flow <- ref_at(flow, "Flow", call)
  runs_frame(client_request("runs_table", list(ref = flow, tags = as.list(tags)), call = call))
}

# The reply to "runs_table" as a data frame.
runs_frame <- function(runs) {
  created_at <- as_time_column(runs$created_at)
  finished_at <- as_time_column(runs$finished_at)
  frame <- data.frame(
    id = as_column(runs$id, NA_character_),
    created_at = created_at,
    finished_at = finished_at,
    duration = difftime(finished_at, created_at, units = "secs"),
    status = as_column(runs$status, NA_character_),
    successful = as_column(runs$successful, NA),
    stringsAsFactors = FALSE
  )
  frame$tags <- lapply(runs$tags, as_strings)
  frame
}

#' @rdname client_tables
#' @export
tasks_table <- function(step) {
  call <- environment()
  ref <- if (names_run(step)) ref_at(step, "Run", call) else ref_at(step, "Step", call)
  tasks <- client_request("tasks_table", list(ref = ref), call = call)
  created_at <- as_time_column(tasks$created_at)
  finished_at <- as_time_column(tasks$finished_at)
  data.frame(
    step = as_column(tasks$step, NA_character_),
    id = as_column(tasks$id, NA_character_),
    index = as_column(tasks$index, NA_integer_),
    finished = as_column(tasks$finished, NA),
    successful = as_column(tasks$successful, NA),
    created_at = created_at,
    finished_at = finished_at,
    duration = difftime(finished_at, created_at, units = "secs"),
    origin_pathspec = as_column(tasks$origin_pathspec, NA_character_),
    stringsAsFactors = FALSE
  )
}

#' @rdname client_tables
#' @export
artifacts_table <- function(task) {
  call <- environment()
  task <- if (names_run(task)) {
    end_task_ref(ref_at(task, "Run", call), call)
  } else {
    ref_at(task, "Task", call)
  }
  artifacts <- client_request("artifacts_table", list(ref = task), call = call)
  data.frame(
    name = as_column(artifacts$name, NA_character_),
    type = as_column(artifacts$type, NA_character_),
    size = as_column(artifacts$size, NA_real_),
    encoding = as_column(artifacts$encoding, NA_character_),
    stringsAsFactors = FALSE
  )
}

# Whether `x` names a run: a run_client, a run's ref or a pathspec of two parts.
names_run <- function(x) {
  inherits(x, "RunClient") || (inherits(x, "metaflow_ref") && identical(x$class, "Run")) ||
    (is_string(x) && length(strsplit(x, "/", fixed = TRUE)[[1]]) == 2L && !endsWith(x, "/"))
}

# One row per step of a run (the reply to "steps_table"), in the order the
# steps started: its task count, how many finished and failed, how long the
# step took.
steps_frame <- function(rows) {
  column <- function(name, type) as_column(lapply(rows, `[[`, name), type)
  created_at <- as_time_column(lapply(rows, `[[`, "created_at"))
  finished_at <- as_time_column(lapply(rows, `[[`, "finished_at"))
  data.frame(
    step = column("step", NA_character_),
    tasks = column("tasks", NA_integer_),
    finished = column("finished", NA),
    failed = column("failed", NA_integer_),
    duration = as.numeric(difftime(finished_at, created_at, units = "secs")),
    stringsAsFactors = FALSE
  )
}
