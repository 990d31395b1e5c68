# The flow of bench/artifact_bench.py: a numeric vector of BENCH_N doubles made
# in `start`, read in `b`. The steps stamp times to BENCH_OUT/stamps.
library(metaflow)

flow <- metaflow("ArtifactBenchFlow") %>%
  step(step = "start", r_function = function(self) {
    self$x <- runif(as.numeric(Sys.getenv("BENCH_N")))
    cat("made", format(as.numeric(Sys.time()), nsmall = 6), "\n",
        file = file.path(Sys.getenv("BENCH_OUT"), "stamps"), append = TRUE)
  }, next_step = "b") %>%
  step(step = "b", r_function = function(self) {
    stamps <- file.path(Sys.getenv("BENCH_OUT"), "stamps")
    cat("read_from", format(as.numeric(Sys.time()), nsmall = 6), "\n", file = stamps, append = TRUE)
    x <- self$x
    cat("read_to", format(as.numeric(Sys.time()), nsmall = 6), "\n", file = stamps, append = TRUE)
    self$n <- length(x)
  }, next_step = "end") %>%
  step(step = "end")

run(flow)
