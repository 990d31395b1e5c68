#' Read a flow, run, step or task
#'
#' Shortcuts to the client objects by ids: `new_run("HelloFlow",
#' "latest_successful_run")` is
#' `mf_client$new()$flow("HelloFlow")$run("latest_successful_run")`.
#' An id that doesn't exist is an error of class
#' `metaflow_error_not_found` naming it and listing what does exist there
#' (e.g. the flow's latest runs); an object of another user's namespace is
#' an error of class `metaflow_error_namespace` (see [set_namespace()]).
#'
#' @param flow_id The flow's name, a [flow_client] or a flow made with
#'   [metaflow()]; or, alone, the pathspec of the run, step or task
#'   (`new_run("HelloFlow/1712345")`).
#' @param run_id A run id, `"latest_run"` (the newest run) or
#'   `"latest_successful_run"` (the newest successful run).
#' @param step_id The step's name.
#' @param task_id The task's id.
#' @return A [flow_client], [run_client], [step_client] or [task_client].
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' run <- new_run("HelloFlow", "latest_successful_run")
#' run$artifact("total")
#' new_flow("HelloFlow")$latest_run
#'
#' square <- new_step("HelloFlow", run$id, "square")
#' square$tasks
#' new_task("HelloFlow", run$id, "square", square$a_task)$artifact("value")
#'
#' # A pathspec alone names the object too:
#' new_task(paste0(run$pathspec, "/end/", run$end_task))$successful
#' try(new_run("HelloFlow", "12345"))
#' @template example-project-end
#' @family client
#' @export
new_flow <- function(flow_id) {
  flow_client$new(ref_at(flow_id, "Flow", call = environment()))
}

#' @rdname new_flow
#' @export
new_run <- function(flow_id, run_id = NULL) {
  run_client$new(resolve_run(flow_id, run_id, call = environment()))
}

#' @rdname new_flow
#' @export
new_step <- function(flow_id, run_id = NULL, step_id = NULL) {
  call <- environment()
  if (is.null(run_id) && is.null(step_id)) {
    return(step_client$new(ref_at(flow_id, "Step", call)))
  }
  check_all_ids(list(run_id = run_id, step_id = step_id), call)
  run <- run_client$new(resolve_run(flow_id, run_id, call = call))
  step_client$new(resolve_step(run, step_id, call = call))
}

#' @rdname new_flow
#' @export
new_task <- function(flow_id, run_id = NULL, step_id = NULL, task_id = NULL) {
  call <- environment()
  if (is.null(run_id) && is.null(step_id) && is.null(task_id)) {
    return(task_client$new(ref_at(flow_id, "Task", call)))
  }
  check_all_ids(list(run_id = run_id, step_id = step_id, task_id = task_id), call)
  run <- run_client$new(resolve_run(flow_id, run_id, call = call))
  step <- step_client$new(resolve_step(run, step_id, call = call))
  task_client$new(resolve_task(step, task_id, call = call))
}

check_all_ids <- function(ids, call) {
  missing <- names(ids)[vapply(ids, is.null, TRUE)]
  if (length(missing) > 0L) {
    metaflow_abort(c(
      "Give {.arg flow_id} a pathspec alone, or give every id.",
      x = "{.arg {missing}} {?is/are} missing."
    ), "usage", call = call)
  }
}

#' The flows there are
#'
#' @return The names of the flows with at least one run in the current
#'   namespace (all flows with [set_namespace()]`(NULL)`), newest first, a
#'   character vector.
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' list_flows()
#' @template example-project-end
#' @family client
#' @export
list_flows <- function() {
  as_strings(client_request("flows"))
}
