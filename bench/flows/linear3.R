# Three trivial R steps in a line: start -> middle -> end (3 tasks).
#
# bench/r_bench.py times it; the target is a whole run under 2 s.
#
#   Rscript linear3.R run --max-workers 2    # prints total=3
library(metaflow)

flow <- metaflow("Linear3Flow") %>%
  step(step = "start", r_function = function(self) self$x <- 1L, next_step = "middle") %>%
  step(step = "middle", r_function = function(self) self$x <- self$x + 2L, next_step = "end") %>%
  step(step = "end", r_function = function(self) cat(sprintf("total=%d\n", self$x)))

run(flow)
