#' @examples
#'
#' # A flow to read results from: four squares added up in a join.
#' flow <- metaflow("HelloFlow") %>%
#'   step(
#'     step = "start",
#'     r_function = function(self) self$numbers <- c(1, 2, 3, 4),
#'     next_step = "square", foreach = "numbers"
#'   ) %>%
#'   step(
#'     step = "square",
#'     r_function = function(self) self$value <- self$input^2,
#'     next_step = "join"
#'   ) %>%
#'   step(
#'     step = "join", join = TRUE,
#'     r_function = function(self, inputs) self$total <- sum(unlist(gather_inputs(inputs, "value"))),
#'     next_step = "end"
#'   ) %>%
#'   step(step = "end")
#' run(flow, quiet = TRUE)
