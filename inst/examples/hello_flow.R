# The smallest flow with a fan-out, written in R: square each number in its
# own task (a foreach), then add the squares up in a join.
#
#   Rscript hello_flow.R run                # HelloFlow total: 30
#   Rscript hello_flow.R run --alpha 0.2    # HelloFlow total: 6
#   Rscript hello_flow.R show               # the steps and how they connect
#   Rscript hello_flow.R help               # every command
#
# or, in an R session, source() everything but the last line and call
# run(flow, alpha = 0.2).
library(metaflow)

flow <- metaflow("HelloFlow") %>%
  parameter("alpha", help = "What every square is multiplied by.", default = 1) %>%
  step(
    step = "start",
    r_function = function(self) self$numbers <- c(1, 2, 3, 4),
    next_step = "square", foreach = "numbers"
  ) %>%
  step(
    step = "square",
    r_function = function(self) self$value <- self$alpha * self$input^2,
    next_step = "join"
  ) %>%
  step(
    step = "join", join = TRUE,
    r_function = function(self, inputs) self$total <- sum(unlist(gather_inputs(inputs, "value"))),
    next_step = "end"
  ) %>%
  step(
    step = "end",
    r_function = function(self) cat("HelloFlow total:", self$total, "\n")
  )

run(flow)
