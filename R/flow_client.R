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
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' flow <- flow_client$new("HelloFlow")
#' flow
#' flow$latest_successful_run
#' flow$run("latest_run")$successful
#' flow$runs_table()[, c("id", "status", "tags")]
#' @template example-project-end
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
      super$initialize(ref_at(flow_id, "Flow", call = sys.call(-1)))
    },

    #' @description A run of the flow.
    #' @param run_id A run id, `"latest_run"` or `"latest_successful_run"`.
    run = function(run_id) {
      run_client$new(resolve_run(private$ref(), run_id, call = environment()))
    },

    #' @description The runs carrying all of `...`, newest first.
    #' @param ... Tags, strings.
    runs_with_tags = function(...) {
      tags <- check_tags(c(...), call = environment())
      runs <- private$ask("runs", tags = as.list(tags))
      lapply(runs, function(run) run_client$new(as_ref(run)))
    },

    #' @description The runs as a data frame, one row per run.
    #' @param tags Only runs carrying all of these tags.
    runs_table = function(tags = character()) {
      runs_table(self, tags)
    }
  ),
  active = read_only_fields(
    #' @field finished_at When the latest run finished.
    finished_at = function() {
      latest <- private$ask("latest", which = "latest_run")
      if (!is.null(latest)) {
        as_time(client_request("fields", list(ref = latest, names = list("finished_at")))$finished_at)
      }
    },
    #' @field latest_run The id of the newest run.
    latest_run = function() {
      private$field("latest_run")
    },
    #' @field latest_successful_run The id of the newest successful run.
    latest_successful_run = function() {
      private$field("latest_successful_run")
    },
    #' @field runs The ids of the runs, newest first.
    runs = function() {
      self$get_values()
    }
  ),
  private = list(
    noun = "Flow",

    facts = function() {
      runs <- runs_table(self)
      created <- format_time(self$created_at)
      if (nrow(runs) == 0L) {
        return(c(Runs = "none in this namespace", Created = created))
      }
      c(
        Runs = paste0(nrow(runs), " (", sum(runs$successful), " successful)"),
        `Latest run` = paste0(
          runs$id[[1L]], "  ", format_status(runs$successful[[1L]], status = runs$status[[1L]]),
          "  ", format_time(runs$created_at[[1L]])
        ),
        `Latest successful` = if (any(runs$successful)) runs$id[runs$successful][[1L]] else "none",
        Created = created
      )
    },

    details = function() {
      reply <- private$ask("runs_table", tags = list())
      runs <- runs_frame(reply)
      latest <- utils::head(runs, 10L)
      cat_table(
        if (nrow(runs) > 10L) paste("Latest 10 of", nrow(runs), "runs") else "Runs",
        data.frame(
          id = latest$id,
          status = latest$status,
          created = vapply(seq_len(nrow(latest)), function(i) format_time(latest$created_at[i]), ""),
          duration = vapply(seq_len(nrow(latest)), function(i) format_duration(latest$duration[i]), ""),
          tags = vapply(utils::head(reply$user_tags, 10L), function(tags) format_names(as_strings(tags), max = 4L, quote = FALSE), "")
        ),
        empty = "none in this namespace"
      )
    }
  )
)

# The ref of the run `run_id` of `flow` (a flow's ref or name): a run id,
# "latest_run" or "latest_successful_run"; or, with `run_id` NULL, `flow`
# is the run's pathspec (or its ref).
resolve_run <- function(flow, run_id, call) {
  if (is.null(run_id)) {
    return(ref_at(flow, "Run", call))
  }
  run_id <- as_client_id(run_id, "run_id", call)
  flow <- ref_at(flow, "Flow", call)
  if (!run_id %in% c("latest_run", "latest_successful_run")) {
    return(child_ref(flow, run_id, call))
  }
  run <- client_request("latest", list(ref = flow, which = run_id), call = call)
  if (is.null(run)) {
    abort_no_latest_run(flow, run_id, call)
  }
  as_ref(run)
}

abort_no_latest_run <- function(flow_ref, which, call) {
  flow <- flow_ref$pathspec
  kind <- if (which == "latest_run") "runs" else "successful runs"
  namespace <- flow_ref$ns
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
