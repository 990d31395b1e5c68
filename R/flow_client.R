#' Client for a flow: its runs
#'
#' A `flow_client` reads a flow's runs back from the local datastore. Only
#' runs in the current namespace are seen (by default your own; see
#' [set_namespace()]). Runs are listed newest first.
#'
#' @section Fields:
#' * `id`, `pathspec`: the flow's name.
#' * `parent`: `NULL`; `tags`: empty (tags belong to runs).
#' * `created_at`: when the flow first ran.
#' * `finished_at`: when its latest run finished, or `NULL`.
#' * `latest_run`, `latest_successful_run`: the id of the newest run (the
#'   newest successful run), or `NULL` if there is none.
#' * `runs`: the ids of its runs, newest first.
#'
#' @section Methods:
#' * `run(run_id)`: the [run_client] for a run id, `"latest_run"` or
#'   `"latest_successful_run"`.
#' * `runs_with_tags(...)`: the runs carrying all of the given tags, as a
#'   list of [run_client]s, newest first.
#' * `runs_table(tags = character())`: the runs as a data frame (see
#'   [runs_table()]).
#' * `is_in_namespace()`, `get_values()`, `get_obj()`, `print()`,
#'   `summary()`: see [metaflow_object].
#'
#' @examples
#' \dontrun{
#' flow <- flow_client$new("HelloFlow")
#' flow$latest_successful_run
#' flow$run("latest_run")$successful
#' flow$runs_table()
#' }
#' @family client
#' @export
flow_client <- R6::R6Class(
  "FlowClient",
  inherit = metaflow_object,
  lock_class = TRUE,
  public = list(
    #' @description Read a flow.
    #' @param flow_id The flow's name.
    initialize = function(flow_id) {
      super$initialize(python_object_at(flow_id, "Flow", call = sys.call(-1)))
    },

    #' @description A run of the flow.
    #' @param run_id A run id, `"latest_run"` or `"latest_successful_run"`.
    run = function(run_id) {
      run_client$new(resolve_run(self, run_id, call = environment()))
    },

    #' @description The runs carrying all of `...`, newest first.
    #' @param ... Tags, strings.
    runs_with_tags = function(...) {
      tags <- check_tags(c(...), call = environment())
      runs <- with_python_errors(do.call(private$py()$runs, as.list(tags)))
      lapply(py_elements(runs), run_client$new)
    },

    #' @description The runs as a data frame, one row per run.
    #' @param tags Only runs carrying all of these tags.
    runs_table = function(tags = character()) {
      runs_table(self, tags)
    }
  ),
  active = list(
    #' @field finished_at When the latest run finished.
    finished_at = function(value) {
      assert_read_only(value, "finished_at")
      latest <- private$latest("latest_run")
      if (!is.null(latest)) py_time(with_python_errors(latest$finished_at))
    },
    #' @field latest_run The id of the newest run.
    latest_run = function(value) {
      assert_read_only(value, "latest_run")
      latest <- private$latest("latest_run")
      if (!is.null(latest)) py_string(latest$id)
    },
    #' @field latest_successful_run The id of the newest successful run.
    latest_successful_run = function(value) {
      assert_read_only(value, "latest_successful_run")
      latest <- private$latest("latest_successful_run")
      if (!is.null(latest)) py_string(latest$id)
    },
    #' @field runs The ids of the runs, newest first.
    runs = function(value) {
      assert_read_only(value, "runs")
      self$get_values()
    }
  ),
  private = list(
    noun = "Flow",

    # The Python run the flow's `latest_run` or `latest_successful_run` is,
    # or NULL.
    latest = function(which) {
      run <- with_python_errors(reticulate::py_get_attr(private$py(), which))
      if (!inherits(run, "python.builtin.NoneType")) run
    },

    facts = function() {
      runs <- with_python_errors(private$py()$runs())
      ids <- py_column(runs, "id", NA_character_)
      if (length(ids) == 0L) {
        return(c(Runs = "none in this namespace", Created = format_time(self$created_at)))
      }
      successful <- py_column(runs, "successful", NA)
      latest <- py_elements(runs)[[1L]]
      c(
        Runs = paste0(length(ids), " (", sum(successful), " successful)"),
        `Latest run` = paste0(
          ids[[1L]], "  ", format_status(successful[[1L]], status = py_string(latest$status)),
          "  ", format_time(py_time(latest$created_at))
        ),
        `Latest successful` = if (any(successful)) ids[successful][[1L]] else "none",
        Created = format_time(self$created_at)
      )
    },

    details = function() {
      runs <- with_python_errors(private$py()$runs())
      count <- py_length(runs)
      shown <- reticulate::py_get_item(runs, client_python$builtins$slice(0L, 10L))
      latest <- runs_frame(shown)
      cat_table(
        if (count > 10L) paste("Latest 10 of", count, "runs") else "Runs",
        data.frame(
          id = latest$id,
          status = latest$status,
          created = vapply(seq_len(nrow(latest)), function(i) format_time(latest$created_at[i]), ""),
          duration = vapply(seq_len(nrow(latest)), function(i) format_duration(latest$duration[i]), ""),
          tags = vapply(py_tags_column(shown, "user_tags"), format_list, "", max = 4L)
        ),
        empty = "none in this namespace"
      )
    }
  )
)

# The Python run for `run_id` of `flow` (a flow_client or a flow name):
# a run id, "latest_run" or "latest_successful_run"; or, with `run_id` NULL,
# `flow` is the run's pathspec (or the Python run itself).
resolve_run <- function(flow, run_id, call) {
  if (is.null(run_id)) {
    return(python_object_at(flow, "Run", call))
  }
  run_id <- as_client_id(run_id, "run_id", call)
  flow_obj <- if (inherits(flow, "FlowClient")) flow$get_obj() else python_object_at(flow, "Flow", call)
  if (!run_id %in% c("latest_run", "latest_successful_run")) {
    return(python_child(flow_obj, run_id, "Run", call))
  }
  run <- with_python_errors(reticulate::py_get_attr(flow_obj, run_id), call = call)
  if (inherits(run, "python.builtin.NoneType")) {
    abort_no_latest_run(flow_obj, run_id, call)
  }
  run
}

abort_no_latest_run <- function(flow_obj, which, call) {
  flow <- py_string(flow_obj$id)
  kind <- if (which == "latest_run") "runs" else "successful runs"
  namespace <- get_namespace()
  where <- if (is.null(namespace)) "at all" else paste0("in namespace ", namespace)
  metaflow_abort(c(
    "Flow {.val {flow}} has no {kind} {where}.",
    i = if (!is.null(namespace)) "Call {.code set_namespace(NULL)} to see every user's runs."
  ), "not_found", call = call)
}

check_tags <- function(tags, call) {
  if (is.null(tags)) {
    return(character())
  }
  if (!is.character(tags) || anyNA(tags) || !all(nzchar(tags))) {
    metaflow_abort(c(
      "Tags must be non-empty strings.",
      x = "Got {.obj_type_friendly {tags}}."
    ), "usage", call = call)
  }
  tags
}
