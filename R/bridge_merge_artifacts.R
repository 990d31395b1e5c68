#' Merge the artifacts of a join's inputs
#'
#' In a join, passes down the artifacts of the incoming tasks the way
#' Metaflow's `merge_artifacts()` does: every artifact of an input that the
#' join hasn't assigned yet, isn't a parameter and isn't excluded becomes an
#' artifact of the join. If inputs hold different values for the same
#' artifact (compared by content hash; no data is read), nothing is merged and
#' the error names them: assign those artifacts in the join first, then merge
#' the rest. Merged artifacts are readable on `flow` afterwards.
#'
#' @param flow The join's `self`.
#' @param inputs The join's `inputs`, or some of them.
#' @param exclude Names of artifacts not to merge, as a character vector or
#'   a list of strings.
#' @return `flow`, invisibly.
#' @family step helpers
#' @export
#' @examples
#' # In a join: settle the conflicting `best`, take everything else as is.
#' join <- function(self, inputs) {
#'   self$best <- max(unlist(gather_inputs(inputs, "best")))
#'   merge_artifacts(self, inputs, exclude = list("scratch"))
#' }
#'
#' # It only works on the `self` of a running join:
#' try(merge_artifacts(NULL, list()))
merge_artifacts <- function(flow, inputs, exclude = list()) {
  call <- sys.call()
  if (!inherits(flow, "metaflow_self")) {
    bridge_abort(c(
      "`flow` must be the `self` of a join step.",
      x = sprintf("Got %s.", show_value(flow))
    ), "merge", call = call)
  }
  step <- self_field(flow, "step")
  if (is.null(self_field(flow, "join"))) {
    bridge_abort(sprintf(
      "`merge_artifacts()` can only be called in a join, and step `%s` is not a join.", step
    ), "merge", call = call)
  }
  exclude <- unlist(exclude)
  if (!is.null(exclude) && !is.character(exclude)) {
    bridge_abort("`exclude` must hold the names of artifacts.", "merge", call = call)
  }
  skip <- c(exclude, names(self_field(flow, "values")), names(self_field(flow, "parameters")))
  chosen <- list()
  conflicts <- character()
  for (input in inputs) {
    if (!inherits(input, "metaflow_input")) {
      bridge_abort("`inputs` must be the inputs of the join.", "merge", call = call)
    }
    store <- input_store(input)
    for (name in setdiff(store_names(store), skip)) {
      if (is.null(chosen[[name]])) {
        chosen[[name]] <- input
      } else if (!identical(store_sha(input_store(chosen[[name]]), name), store_sha(store, name))) {
        conflicts <- union(conflicts, name)
      }
    }
  }
  if (length(conflicts) > 0L) {
    bridge_abort(c(
      sprintf(
        "Step `%s` cannot merge the following artifacts due to them having conflicting values:",
        step
      ),
      x = sprintf("[%s].", paste(sort(conflicts), collapse = ", ")),
      i = paste(
        "To remedy this issue, be sure to explicitly set those artifacts",
        "(using `self$<artifact_name> <- ...`) prior to calling `merge_artifacts()`."
      )
    ), "merge", artifacts = sort(conflicts), call = call)
  }
  merged <- self_field(flow, "merged")
  merged[names(chosen)] <- chosen
  self_set_field(flow, "merged", merged)
  invisible(flow)
}
