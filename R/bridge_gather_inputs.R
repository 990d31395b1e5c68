#' Gather an artifact from every input of a join
#'
#' In a join, collects artifact `input` from each incoming task, in the order
#' of `inputs` (split order for a foreach join).
#'
#' @param inputs The join's `inputs`, the second argument of a join step
#'   function.
#' @param input The name of the artifact to gather.
#' @return An unnamed list with one value per input.
#' @family step helpers
#' @export
#' @examples
#' # In a join after a foreach: the sum of every split's `score`.
#' join <- function(self, inputs) {
#'   self$total <- sum(unlist(gather_inputs(inputs, "score")))
#' }
#'
#' # Any list of inputs works, e.g. plain lists:
#' gather_inputs(list(list(score = 1), list(score = 2)), "score")
gather_inputs <- function(inputs, input) {
  check_artifact_name(input, call = sys.call())
  lapply(seq_along(inputs), function(i) inputs[[i]][[input]])
}
