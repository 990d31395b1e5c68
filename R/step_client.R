#' Client for a step: its tasks
#'
#' A `step_client` reads one step of a run: one task, or one per split of a
#' foreach. Make one from a [run_client] and a step name
#' (`step_client$new(run, "start")`, or `run$step("start")`) or from the
#' step's pathspec (`step_client$new("HelloFlow/1712345/start")`).
#'
#' @section Fields:
#' * `id` (the step's name), `pathspec`, `parent` (the run's id), `tags`,
#'   `created_at`: see [metaflow_object].
#' * `finished_at`: when the last of its tasks finished, or `NULL` while one
#'   hasn't.
#' * `tasks`: the ids of its tasks, newest first.
#' * `a_task`: the id of one of its tasks (the newest), or `NULL`: the task,
#'   for a step that isn't a foreach.
#'
#' @section Methods:
#' * `task(task_id)`: the [task_client] of a task.
#' * `tasks_table()`: the tasks as a data frame (see [tasks_table()]).
#' * `is_in_namespace()`, `get_values()`, `get_obj()`, `print()`,
#'   `summary()`: see [metaflow_object].
#'
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' run <- new_run("HelloFlow", "latest_run")
#' square <- step_client$new(run, "square")
#' square$tasks
#' square$tasks_table()[, c("id", "index", "successful")]
#' square$task(square$a_task)$artifact("value")
#' @template example-project-end
#' @family client
#' @export
step_client <- R6::R6Class(
  "StepClient",
  inherit = metaflow_object,
  lock_class = TRUE,
  public = list(
    #' @description Read a step.
    #' @param run A [run_client], with `step_id`; or the step's pathspec
    #'   (`"Flow/RunID/StepName"`) alone.
    #' @param step_id The step's name.
    initialize = function(run, step_id = NULL) {
      super$initialize(resolve_step(run, step_id, call = sys.call(-1)))
    },

    #' @description A task of the step.
    #' @param task_id The task's id. Without it, the step's task, for a step
    #'   that has one (in a foreach, one of its tasks, as `a_task`).
    task = function(task_id = self$a_task) {
      task_client$new(resolve_task(private$ref(), task_id, call = environment()))
    },

    #' @description The tasks as a data frame, one row per task.
    tasks_table = function() {
      tasks_table(self)
    }
  ),
  active = read_only_fields(
    #' @field finished_at When the last task finished.
    finished_at = function() {
      as_time(private$field("finished_at"))
    },
    #' @field a_task The id of one task of the step.
    a_task = function() {
      private$field("task")
    },
    #' @field tasks The ids of the tasks, newest first.
    tasks = function() {
      self$get_values()
    }
  ),
  private = list(
    noun = "Step",

    facts = function() {
      tasks <- self$tasks_table()
      failed <- sum(tasks$finished & !tasks$successful)
      running <- sum(!tasks$finished)
      counts <- c(
        if (any(tasks$successful)) paste(sum(tasks$successful), "succeeded"),
        if (failed > 0L) paste(failed, "failed"),
        if (running > 0L) paste(running, "running")
      )
      created_at <- self$created_at
      c(
        Tasks = paste0(nrow(tasks), if (length(counts) > 0L) paste0(" (", paste(counts, collapse = ", "), ")")),
        Created = format_time(created_at),
        Finished = format_finished(created_at, self$finished_at)
      )
    },

    details = function() {
      tasks <- self$tasks_table()
      cat_table(
        "Tasks",
        data.frame(
          id = tasks$id,
          index = ifelse(is.na(tasks$index), "-", tasks$index),
          status = ifelse(tasks$successful, "succeeded", ifelse(tasks$finished, "failed", "running")),
          duration = vapply(seq_len(nrow(tasks)), function(i) format_duration(tasks$duration[i]), "")
        ),
        empty = "none yet"
      )
    }
  )
)

# The ref of the step `step_id` of `run` (a run_client, a run's ref or its
# pathspec); or, with `step_id` NULL, `run` is the step's pathspec (or ref).
resolve_step <- function(run, step_id, call) {
  if (is.null(step_id)) {
    return(ref_at(run, "Step", call))
  }
  step_id <- as_client_id(step_id, "step_id", call)
  run <- ref_at(run, "Run", call)
  child_ref(run, step_id, call)
}
