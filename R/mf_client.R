#' The client's entry point
#'
#' `mf_client` navigates from a flow down to a task, one level at a time, as
#' in Netflix's R package:
#' `mf_client$new()$flow("HelloFlow")$run("latest_run")$step("start")$task(id)`.
#' [new_flow()], [new_run()], [new_step()] and [new_task()] do the same in one
#' call, and the methods `flow_client$run()`, `run_client$step()` and
#' `step_client$task()` go one level down from an object.
#'
#' Making an `mf_client` doesn't start the client's Python; its first method
#' call does.
#'
#' @section Methods:
#' * `flow(flow_id)`: a [flow_client].
#' * `run(flow_client, run_id)`: a [run_client]; `run_id` may be
#'   `"latest_run"` or `"latest_successful_run"`.
#' * `step(run_client, step_id)`: a [step_client].
#' * `task(step_client, task_id)`: a [task_client].
#' * `flows()`: the names of the flows with runs in the current namespace
#'   (see [list_flows()]).
#'
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' client <- mf_client$new()
#' client$flows()
#' flow <- client$flow("HelloFlow")
#' run <- client$run(flow, "latest_successful_run")
#' task <- client$task(client$step(run, "end"), run$end_task)
#' task$artifact("total")
#' @template example-project-end
#' @family client
#' @export
mf_client <- R6::R6Class(
  "MetaflowClient",
  lock_class = TRUE,
  public = list(
    #' @description A flow.
    #' @param flow_id The flow's name.
    flow = function(flow_id) {
      flow_client$new(ref_at(flow_id, "Flow", call = environment()))
    },

    #' @description A run of a flow.
    #' @param flow_client A [flow_client] or a flow's name.
    #' @param run_id A run id, `"latest_run"` or `"latest_successful_run"`.
    run = function(flow_client, run_id) {
      run_client$new(resolve_run(flow_client, run_id, call = environment()))
    },

    #' @description A step of a run.
    #' @param run_client A [run_client] or a run's pathspec.
    #' @param step_id The step's name.
    step = function(run_client, step_id) {
      step_client$new(resolve_step(run_client, step_id, call = environment()))
    },

    #' @description A task of a step.
    #' @param step_client A [step_client] or a step's pathspec.
    #' @param task_id The task's id.
    task = function(step_client, task_id) {
      task_client$new(resolve_task(step_client, task_id, call = environment()))
    },

    #' @description The flows with runs in the current namespace.
    flows = function() {
      list_flows()
    },

    #' @description Print how to use the client.
    #' @param ... Ignored.
    print = function(...) {
      cli::cat_line("<metaflow client>")
      cli::cat_line("Use $flow(), $run(), $step() and $task(), or new_flow() and new_run().")
      invisible(self)
    }
  )
)
