# What `Rscript flow.R show <option>` prints for each flow of `flows`, one
# script that runs them in turn: the engine's text (graph_text.py) of each,
# for comparing with flow_mermaid() and flow_dot().
engine_show_text <- function(flows, option) {
  dir <- withr::local_tempdir("metaflow-show-")
  for (i in seq_along(flows)) {
    saveRDS(flows[[i]], file.path(dir, sprintf("flow_%02d.rds", i)))
  }
  script <- file.path(dir, "flow.R")
  writeLines(c(
    "library(metaflow)",
    "for (path in sort(list.files(pattern = '[.]rds$'))) run(readRDS(path))"
  ), script)
  result <- withr::with_dir(dir, run_script(script, c("show", option)))
  if (result$status != 0) {
    stop("`Rscript flow.R show ", option, "` failed:\n", result$stderr, call. = FALSE)
  }
  result$stdout
}
