# A 20-way foreach of trivial R steps: start -> 20 x square -> join -> end (23 tasks).
#
# The R counterpart of foreach20_netflix.py; bench/r_bench.py times both.
#
#   Rscript foreach20.R run --max-workers 2    # prints total=2470
library(metaflow)

flow <- metaflow("Foreach20Flow") %>%
  step(
    step = "start",
    r_function = function(self) self$items <- 0:19,
    next_step = "square", foreach = "items"
  ) %>%
  step(
    step = "square",
    r_function = function(self) self$value <- self$input * self$input,
    next_step = "join"
  ) %>%
  step(
    step = "join", join = TRUE,
    r_function = function(self, inputs) self$total <- sum(unlist(gather_inputs(inputs, "value"))),
    next_step = "end"
  ) %>%
  step(
    step = "end",
    r_function = function(self) cat(sprintf("total=%d\n", self$total))
  )

run(flow)
