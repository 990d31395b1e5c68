# A real run of a flow whose steps have cards (test-card.R, test-card_view.R):
# `Rscript flow.R run` in a directory of its own, once per test file.

card_flow_code <- c(
  'library(ggplot2)',
  'flow <- metaflow("CardTestFlow") %>%',
  '  parameter("rows", default = 4L) %>%',
  '  step(step = "start", card(), next_step = "plain", r_function = function(self) {',
  '    self$scores <- data.frame(name = c("alpha", "beta", "gamma", "delta")[seq_len(self$rows)],',
  '                              score = c(0.123456, 2.5, 31.75, NA)[seq_len(self$rows)])',
  '    card_append(',
  '      card_markdown(c("# Scores", "The **best** of them.")),',
  '      card_table(self$scores, digits = 3),',
  '      card_plot(ggplot(self$scores, aes(name, score)) + geom_col())',
  '    )',
  '    current("card")$append(card_plot({ plot(1:10); abline(0, 1) }, format = "svg"))',
  '    card_append(card_plot(stop("the plot is broken")), card_artifact("scores"), 42)',
  '  }) %>%',
  '  step(step = "plain", next_step = "explode", r_function = function(self) {',
  '    card_append(card_markdown("nowhere to go"))',
  '  }) %>%',
  '  step(step = "explode", card(id = "failing"), next_step = "end", r_function = function(self) {',
  '    self$before <- 1',
  '    card_append(card_markdown("Appended before the error"))',
  '    stop("the data is bad")',
  '  }) %>%',
  '  step(step = "end")'
)

# Runs the card flow once, for the test file that calls it at its top level:
# list(dir, script, result); the directory goes when the file's tests end.
card_test_run <- function() {
  dir <- normalizePath(tempfile("metaflow-card-test-"), mustWork = FALSE)
  dir.create(dir)
  withr::defer(unlink(dir, recursive = TRUE), envir = testthat::teardown_env())
  script <- write_flow_script(card_flow_code, dir)
  result <- withr::with_dir(dir, withr::with_envvar(
    c(METAFLOW_DATASTORE_SYSROOT_LOCAL = dir),
    run_script(script, "run")
  ))
  list(dir = dir, script = script, result = result)
}

# The rest of the calling test reads `run`'s datastore, in every user's namespace.
local_card_run <- function(run, env = parent.frame()) {
  withr::local_dir(run$dir, .local_envir = env)
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = run$dir, .local_envir = env)
  old_namespace <- get_namespace()
  set_namespace(NULL)
  withr::defer(set_namespace(old_namespace), envir = env)
  run
}

# The first task of a step of the card flow's latest run.
first_card_task <- function(step) {
  step <- new_step("CardTestFlow", "latest_run", step)
  step$task(step$a_task)
}

# The card of a task of the latest run, read in a fresh R session (a real
# Rscript, not this session's client): the HTML, written to a file there.
card_in_fresh_session <- function(step, id = "NULL") {
  out <- tempfile(fileext = ".html")
  code <- sprintf(
    'library(metaflow); s <- new_step("CardTestFlow", "latest_run", "%s"); writeLines(as.character(s$task(s$a_task)$card(id = %s)), "%s")',
    step, id, out
  )
  result <- processx::run(rscript_path(), c("-e", code), env = script_env(), error_on_status = FALSE)
  if (result$status != 0) {
    stop("Reading the card failed:\n", result$stderr, call. = FALSE)
  }
  paste(readLines(out, encoding = "UTF-8"), collapse = "\n")
}
