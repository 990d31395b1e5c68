#' Client for a run: its status, steps and results
#'
#' A `run_client` reads one run of a flow. Make one from a [flow_client]
#' and a run id (`run_client$new(flow, "1712345")`, where the id may also be
#' `"latest_run"` or `"latest_successful_run"`), or from the run's pathspec
#' (`run_client$new("HelloFlow/1712345")`). [run()] returns one for the run
#' it made.
#'
#' @section Fields:
#' * `id`, `pathspec`, `parent` (the flow's name), `tags`, `created_at`: see
#'   [metaflow_object].
#' * `status`: `"running"`, `"succeeded"` or `"failed"`.
#' * `status_reason`: why a run that did not succeed ended, or `NULL`: e.g.
#'   `"stopped by SIGTERM"`, or, for a run whose engine stopped without
#'   saying so (killed, its machine down), `"the runtime stopped (pid ... on
#'   ...): its last heartbeat was at ..."`. Such a run reads as `"failed"`
#'   without anyone rewriting its record.
#' * `successful`: `TRUE` if the run succeeded.
#' * `finished`: `TRUE` once the run has finished (its `end` step did).
#' * `finished_at`: when its `end` step finished, or `NULL`.
#' * `end_task`: the id of the `end` step's task, or `NULL`.
#' * `steps`: the names of its steps, newest first.
#' * `artifacts`: the names of the artifacts of its `end` step (the run's
#'   results); empty if it has none.
#' * `code`: the code the run stored, a list of `flowspec` (the generated
#'   flow module, a string) and `spec` (the flow's spec, a list), or `NULL`
#'   for a flow that stored none.
#' * `origin_run_id`: for a run made by resuming another (see [run()]), the
#'   id of the run it resumed, else `NULL`.
#'
#' @section Methods:
#' * `step(step_id)`: the [step_client] of a step.
#' * `artifact(name)`: the value of an artifact of the `end` step (see
#'   [task_client] for how values are read).
#' * `verify()`: checks every stored artifact of every attempt of the run
#'   against its hash; the damaged ones as a data frame (see [verify_frame()]).
#' * `is_in_namespace()`, `get_values()`, `get_obj()`, `print()`,
#'   `summary()`: see [metaflow_object].
#'
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' run <- run_client$new("HelloFlow", "latest_run")
#' run
#' run$successful
#' run$steps
#' run$artifact("total")
#' run$verify()
#' summary(run)
#' @template example-project-end
#' @family client
#' @export
run_client <- R6::R6Class(
  "RunClient",
  inherit = metaflow_object,
  lock_class = TRUE,
  public = list(
    #' @description Read a run.
    #' @param flow A [flow_client] or a flow's name, with `run_id`; or the
    #'   run's pathspec (`"Flow/RunID"`) alone.
    #' @param run_id A run id, `"latest_run"` or `"latest_successful_run"`.
    initialize = function(flow, run_id = NULL) {
      if (inherits(flow, "metaflow_deferred")) {
        return(super$initialize(flow))
      }
      super$initialize(resolve_run(flow, run_id, call = sys.call(-1)))
    },

    #' @description A step of the run.
    #' @param step_id The step's name.
    step = function(step_id) {
      step_client$new(resolve_step(private$ref(), step_id, call = environment()))
    },

    #' @description The value of an artifact of the `end` step.
    #' @param name The artifact's name.
    artifact = function(name) {
      call <- environment()
      name <- as_client_id(name, "name", call)
      artifact_value(end_task_ref(private$ref(), call), name, call)
    }
  ),
  active = read_only_fields(
    #' @field status `"running"`, `"succeeded"` or `"failed"`.
    status = function() {
      private$field("status")
    },
    #' @field status_reason Why a run that did not succeed ended, or `NULL`.
    status_reason = function() {
      private$field("status_reason")
    },
    #' @field successful Whether the run succeeded.
    successful = function() {
      isTRUE(private$field("successful"))
    },
    #' @field finished Whether the run has finished.
    finished = function() {
      isTRUE(private$field("finished"))
    },
    #' @field finished_at When the run's `end` step finished.
    finished_at = function() {
      as_time(private$field("finished_at"))
    },
    #' @field end_task The id of the `end` step's task.
    end_task = function() {
      private$field("end_task")
    },
    #' @field steps The names of the run's steps, newest first.
    steps = function() {
      self$get_values()
    },
    #' @field artifacts The names of the `end` step's artifacts.
    artifacts = function() {
      task <- private$ask("end_task")
      if (is.null(task)) character() else as_strings(client_request("children", list(ref = task)))
    },
    #' @field code The code the run stored.
    code = function() {
      read_run_code(private$field("code"))
    },
    #' @field origin_run_id The id of the run this one resumed, or `NULL`.
    origin_run_id = function() {
      origin <- private$field("origin_pathspec")
      if (!is.null(origin)) sub("^[^/]*/", "", origin)
    }
  ),
  private = list(
    noun = "Run",

    facts = function() {
      fields <- private$fields(c(
        "status", "successful", "created_at", "finished_at", "tags", "user_tags", "origin_pathspec"
      ))
      status <- fields$status
      created_at <- as_time(fields$created_at)
      tags <- as_strings(fields$tags)
      facts <- c(
        Status = format_status(fields$successful, status = status),
        Created = format_time(created_at),
        Finished = format_finished(created_at, as_time(fields$finished_at), status),
        Steps = format_count_list(rev(self$steps)),
        User = run_user(tags),
        Tags = format_names(as_strings(fields$user_tags), max = 8L, quote = FALSE)
      )
      if (!is.null(fields$origin_pathspec)) {
        facts <- c(facts, Resumed = paste("from", fields$origin_pathspec))
      }
      if (!isTRUE(fields$successful) && status != "running") {
        facts <- c(facts, Error = failed_task_summary(private$ask("failed_task")))
      }
      facts
    },

    details = function() {
      steps <- steps_frame(private$ask("steps_table"))
      cat_table(
        "Steps",
        data.frame(
          step = steps$step,
          tasks = steps$tasks,
          status = ifelse(
            steps$failed > 0L, paste(steps$failed, "failed"),
            ifelse(steps$finished, "succeeded", "running")
          ),
          duration = vapply(seq_len(nrow(steps)), function(i) format_duration(steps$duration[i]), "")
        ),
        empty = "none yet"
      )
      artifacts <- self$artifacts
      if (length(artifacts) > 0L) {
        cli::cat_line()
        cli::cat_line("Results (artifacts of end): ", format_names(artifacts, max = 20L, quote = FALSE))
      }
    }
  )
)

# The ref of the end step's task of the run `run` (a ref), where a run's
# results are; an error if the end step didn't run.
end_task_ref <- function(run, call) {
  task <- client_request("end_task", list(ref = run), call = call)
  if (is.null(task)) {
    pathspec <- run$pathspec
    metaflow_abort(c(
      "Run {.val {pathspec}} has no results: its {.field end} step didn't run.",
      i = "Read artifacts of its other steps with {.code run$step(name)$task(id)$artifact()}."
    ), "not_found", call = call)
  }
  as_ref(task)
}

# The user who made a run, from its `user:` system tag.
run_user <- function(tags) {
  user <- sub("^user:", "", grep("^user:", tags, value = TRUE))
  if (length(user) == 0L) "unknown" else user[[1L]]
}

# "start/1: boom" for the first failed task of a failed run (the reply to
# "failed_task"), or why the run failed when no task did.
failed_task_summary <- function(failed) {
  if (is.null(failed)) {
    return("no task failed (the run was stopped)")
  }
  paste0(failed$pathspec, ": ", first_line(failed$message %||% "failed"))
}

first_line <- function(text) {
  strsplit(text %||% "", "\n", fixed = TRUE)[[1]][1] %||% ""
}

# The code a run stored, read from its code directory (or NULL for none).
read_run_code <- function(path) {
  if (is.null(path)) {
    return(NULL)
  }
  flowspec <- file.path(path, "flow.py")
  spec <- file.path(path, "flow.json")
  list(
    flowspec = if (file.exists(flowspec)) paste(readLines(flowspec, warn = FALSE, encoding = "UTF-8"), collapse = "\n"),
    spec = if (file.exists(spec)) jsonlite::read_json(spec, simplifyVector = FALSE)
  )
}
