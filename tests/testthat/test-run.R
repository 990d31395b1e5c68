# End-to-end tests: real runs on the real engine (the Python of
# metaflow_python()), with every R step in its own Rscript process. Nothing
# here is skipped: without Python or Rscript these tests fail.

without_run_id <- function(lines) {
  gsub("[0-9]{6,}", "<run-id>", lines)
}

linear_flow_code <- c(
  'flow <- metaflow("LinearFlow") %>%',
  '  parameter("alpha", default = 0.1, help = "Learning rate") %>%',
  '  step(step = "start", r_function = function(self) {',
  '    self$doubled <- self$alpha * 2',
  '    cat("alpha is", self$alpha, "\\n")',
  '  }, next_step = "end") %>%',
  '  step(step = "end", r_function = function(self) self$result <- self$doubled + 1)'
)

linear_flow <- function() {
  flow_from_code(linear_flow_code)
}

# A flow with a parameter of every type; its start step keeps every value it
# got in the artifact `seen`.
params_flow_code <- c(
  'flow <- metaflow("ParamsFlow") %>%',
  '  parameter("message", default = "hello") %>%',
  '  parameter("count", default = 1L) %>%',
  '  parameter("alpha", default = 0.1) %>%',
  '  parameter("strict", type = "bool", default = FALSE) %>%',
  '  parameter("dry_run", is_flag = TRUE) %>%',
  '  parameter("config", type = "json", default = list(a = 1)) %>%',
  '  parameter("genres", separator = ",", default = "Drama") %>%',
  '  parameter("top_k", default = 5L) %>%',
  '  parameter("sizes", separator = ",", type = "int", default = 1L) %>%',
  '  parameter("ratios", separator = ";", type = "float", default = 0.5) %>%',
  '  step(step = "start", r_function = function(self) {',
  '    self$seen <- list(',
  '      message = self$message, count = self$count, alpha = self$alpha, strict = self$strict,',
  '      dry_run = self$dry_run, config = self$config, genres = self$genres, top_k = self$top_k,',
  '      sizes = self$sizes, ratios = self$ratios',
  '    )',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

params_flow <- function() {
  flow_from_code(params_flow_code)
}

tricky_text <- "it's \"quoted\" \\ back\\slash $HOME `date`; rm -rf /\nsecond line\t{glue} --help"

test_that("a flow runs from a new user's shell, with no Python settings, and reads back in another", {
  dir <- withr::local_tempdir()
  script <- file.path(dir, "hello.R")
  writeLines(c(
    "library(metaflow)",
    "metaflow('ShellFlow') %>%",
    "  step(step = 'start', r_function = function(self) self$answer <- list(x = 42L, why = 'life'), next_step = 'end') %>%",
    "  step(step = 'end') %>%",
    "  run()"
  ), script)
  env <- clean_python_env()
  env <- env[names(env) != "METAFLOW_DATASTORE_SYSROOT_LOCAL"]
  ran <- processx::run(rscript_path(), c(script, "run"), env = env, wd = dir, error_on_status = FALSE)
  expect_equal(ran$status, 0, info = ran$stderr)
  expect_true(dir.exists(file.path(dir, ".metaflow", ".metaflow_core", "ShellFlow")))
  read <- processx::run(
    rscript_path(),
    c("-e", "dput(metaflow::new_run('ShellFlow', 'latest_run')$artifact('answer'))"),
    env = env, wd = dir, error_on_status = FALSE
  )
  expect_equal(read$status, 0, info = read$stderr)
  expect_identical(eval(parse(text = read$stdout)), list(x = 42L, why = "life"))
})

# A failure summary as the engine writes it (cli_errors.py), in a file.
local_failure_summary <- function(summary, env = parent.frame()) {
  path <- withr::local_tempfile(fileext = ".json", .local_envir = env)
  jsonlite::write_json(summary, path, auto_unbox = TRUE, null = "null")
  path
}

r_step_failure <- list(
  version = 1, kind = "run", headline = "Step failure",
  message = "Step boom (task-id 2) failed: R error: no luck", step = "boom", exit_code = 1,
  run = "BoomFlow/17",
  failed_tasks = list(list(
    step = "boom", pathspec = "BoomFlow/17/boom/2", attempt = 1, exit_code = 1,
    error = list(
      type = "RStepError", message = "no luck", traceback = "...", language = "R",
      call = "boom(self)", r_class = c("bad_luck", "error", "condition"),
      r_traceback = c("boom(self)", "stop(bad_luck())")
    )
  ))
)

test_that("a failed run's error is built from the engine's summary, with the task's error as parent", {
  path <- local_failure_summary(r_step_failure)
  err <- expect_error(
    abort_engine_failure(1L, path, "run", "BoomFlow", NULL, call = NULL),
    class = "metaflow_error_run"
  )
  expect_identical(err$pathspec, "BoomFlow/17")
  expect_identical(err$step, "boom")
  expect_identical(err$task_pathspec, "BoomFlow/17/boom/2")
  expect_identical(err$attempt, 1L)
  expect_identical(err$status, 1L)
  expect_s3_class(err$parent, c("metaflow_task_error", "bad_luck", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(err$parent), "no luck")
  expect_identical(conditionCall(err$parent), quote(boom(self)))
  expect_identical(err$parent$traceback, c("boom(self)", "stop(bad_luck())"))
  expect_identical(c(err$parent$step, err$parent$pathspec), c("boom", "BoomFlow/17/boom/2"))
  expect_snapshot(cat(conditionMessage(err)))
})

test_that("a Python step's error, a usage error and a failure without tasks come from the summary too", {
  python <- r_step_failure
  python$failed_tasks[[1]]$error <- list(
    type = "ValueError", message = "bad value", traceback = "Traceback ...\nValueError: bad value\n"
  )
  err <- expect_error(
    abort_engine_failure(1L, local_failure_summary(python), "run", "BoomFlow", NULL, call = NULL),
    class = "metaflow_error_run"
  )
  expect_s3_class(err$parent, c("metaflow_task_error", "metaflow_python_error", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(err$parent), "ValueError: bad value")
  expect_identical(err$parent$type, "ValueError")

  usage <- list(
    version = 1, kind = "usage", headline = "Invalid command line",
    message = "No such option: --bogus", step = NULL, exit_code = 2, run = NULL,
    failed_tasks = list()
  )
  err <- expect_error(
    abort_engine_failure(2L, local_failure_summary(usage), "run", "BoomFlow", NULL, call = NULL),
    class = "metaflow_error_usage"
  )
  expect_match(conditionMessage(err), "Invalid command line: No such option: --bogus", fixed = TRUE)
  expect_null(err$parent)

  splits <- list(
    version = 1, kind = "run", headline = "Invalid foreach",
    message = "Foreach in step start yielded 3 child steps", step = "start", exit_code = 1,
    run = "BoomFlow/18", failed_tasks = list()
  )
  err <- expect_error(
    abort_engine_failure(1L, local_failure_summary(splits), "run", "BoomFlow", NULL, call = NULL),
    class = "metaflow_error_run"
  )
  expect_identical(err$step, "start")
  expect_identical(err$pathspec, "BoomFlow/18")
  expect_match(conditionMessage(err), "Invalid foreach: Foreach in step start", fixed = TRUE)

  err <- expect_error(
    abort_engine_failure(1L, tempfile(), "run", "BoomFlow", NULL, call = NULL),
    class = "metaflow_error_run"
  )
  expect_match(conditionMessage(err), "exited with status 1 without saying what failed", fixed = TRUE)
})

test_that("an invalid flow is rejected by run() before its parameters' defaults or the engine run", {
  local_run_dir()
  called <- FALSE
  flow <- metaflow("Broken") %>%
    parameter("when", default = function(context) {
      called <<- TRUE
      "now"
    }, type = "str") %>%
    step(step = "start", next_step = "end")
  expect_error(run(flow), class = "metaflow_error_graph")
  expect_false(called)
  expect_false(dir.exists(".metaflow"))
})

test_that("run() runs a flow in the session and returns the run", {
  local_run_dir()
  flow <- linear_flow()
  result <- collect_messages(run(flow, alpha = 0.25))
  pathspec <- result$value$pathspec
  expect_match(pathspec, "^LinearFlow/[0-9]+$")
  expect_equal(result$value$artifact("result"), 1.5)
  run_id <- sub("^LinearFlow/", "", pathspec)
  expect_true(any(grepl(paste0(run_id, "/start/[0-9]+ \\(pid [0-9]+\\)\\] alpha is 0.25"), result$messages)))
  expect_match(result$messages[[length(result$messages)]], paste0("^. ", pathspec, " done: [0-9]+ steps, [0-9]+ tasks in [0-9.]+s$"))
})

test_that("run() returns its run even when the session's namespace is another user's", {
  local_run_dir()
  set_namespace("user:someone_else")
  result <- collect_messages(run(linear_flow(), quiet = TRUE))$value
  expect_equal(result$artifact("result"), 1.2)
  expect_equal(get_namespace(), "user:someone_else")
})

test_that("`Rscript flow.R run --alpha 0.2` runs the flow with that value", {
  dir <- local_run_dir()
  script <- write_flow_script(linear_flow_code, dir)
  result <- run_script(script, c("run", "--alpha", "0.2"))
  expect_equal(result$status, 0, info = result$stderr)
  run <- new_run("LinearFlow", "latest_run")
  pathspec <- run$pathspec
  expect_equal(run$artifact("result"), 1.4)
  expect_match(result$stderr, "alpha is 0.2")
  expect_match(result$stderr, paste0(pathspec, " done: 2 steps, 2 tasks in "), fixed = TRUE)
})

test_that("parameters of every type given to run() reach the steps unchanged", {
  local_run_dir()
  result <- collect_messages(run(
    params_flow(),
    message = tricky_text, count = 3, alpha = 1 / 3, strict = TRUE, dry_run = TRUE,
    config = list(x = 1:2, y = tricky_text), genres = c("Sci-Fi", "Drama"), top_k = 12L,
    sizes = c(3, 4), ratios = c(1.5, 2)
  ))$value
  expect_identical(result$artifact("seen"), list(
    message = tricky_text, count = 3L, alpha = 1 / 3, strict = TRUE, dry_run = TRUE,
    config = list(x = 1:2, y = tricky_text), genres = c("Sci-Fi", "Drama"), top_k = 12L,
    sizes = c(3L, 4L), ratios = c(1.5, 2)
  ))
})

test_that("parameters not given take their defaults, a flag without one FALSE", {
  local_run_dir()
  result <- collect_messages(run(params_flow(), quiet = TRUE))$value
  expect_identical(result$artifact("seen"), list(
    message = "hello", count = 1L, alpha = 0.1, strict = FALSE, dry_run = FALSE,
    config = list(a = 1), genres = "Drama", top_k = 5L, sizes = 1L, ratios = 0.5
  ))
})

test_that("parameters of every type given on the command line reach the steps unchanged", {
  dir <- local_run_dir()
  script <- write_flow_script(params_flow_code, dir)
  id_file <- file.path(dir, "run-id.txt")
  result <- run_script(script, c(
    "run", "--message", tricky_text, "--count", "3", "--alpha", "0.125", "--strict", "true",
    "--dry_run", "--config", '{"x": [1, 2], "y": "z"}', "--genres", "Sci-Fi,Drama", "--top_k=12",
    "--sizes", "3,4", "--ratios", "1.5;2", "--run-id-file", id_file
  ))
  expect_equal(result$status, 0, info = result$stderr)
  pathspec <- paste0("ParamsFlow/", readLines(id_file, warn = FALSE))
  expect_match(result$stderr, paste0(pathspec, " done: 2 steps, 2 tasks in "), fixed = TRUE)
  expect_identical(new_run(pathspec)$artifact("seen"), list(
    message = tricky_text, count = 3L, alpha = 0.125, strict = TRUE, dry_run = TRUE,
    config = list(x = 1:2, y = "z"), genres = c("Sci-Fi", "Drama"), top_k = 12L,
    sizes = c(3L, 4L), ratios = c(1.5, 2)
  ))
})

test_that("the command line overrides the values run() gives in the script", {
  dir <- local_run_dir()
  script <- file.path(dir, "flow.R")
  writeLines(c("library(metaflow)", params_flow_code, 'run(flow, count = 5, message = "from R", dry_run = TRUE)'), script)
  result <- run_script(script, c("run", "--count", "6", "--no-dry_run"))
  expect_equal(result$status, 0, info = result$stderr)
  seen <- new_run("ParamsFlow", "latest_run")$artifact("seen")
  expect_equal(seen[c("count", "message", "dry_run")], list(count = 6L, message = "from R", dry_run = FALSE))
})

test_that("a bad parameter value given to run() is an error before the engine starts", {
  local_run_dir()
  err <- expect_error(collect_messages(run(linear_flow(), alpha = "abc")), class = "metaflow_error_usage")
  expect_snapshot(cat(conditionMessage(err)))
  expect_null(err$status)
})

# Runs `code` in an interactive R session (R --interactive, reading it from
# stdin), as a user at the console would; returns its output.
run_in_session <- function(code) {
  input <- withr::local_tempfile(lines = c("library(metaflow)", code))
  processx::run(
    file.path(R.home("bin"), "R"), c("--interactive", "--no-echo", "--no-save", "--no-restore", "-q"),
    stdin = input, stderr_to_stdout = TRUE, env = script_env(), error_on_status = FALSE
  )$stdout
}

test_that("in a session, what the engine rejects speaks of run()'s arguments, not a command line", {
  local_run_dir()
  output <- run_in_session(c(
    linear_flow_code,
    'err <- tryCatch(run(flow, other_args = "--bogus"), metaflow_error_usage = identity)',
    'cat(conditionMessage(err), "\n")'
  ))
  expect_match(output, "The engine rejected the arguments of `run()` for flow LinearFlow.", fixed = TRUE)
  expect_match(output, "No such option: --bogus|No such option '--bogus'")
  expect_no_match(output, "Usage:")
  expect_no_match(output, "Try '")
})

test_that("a bad parameter value on the command line fails the script with a clear message", {
  dir <- local_run_dir()
  script <- write_flow_script(linear_flow_code, dir)
  result <- run_script(script, c("run", "--alpha", "abc"))
  expect_false(result$status == 0)
  expect_match(result$stderr, "Error in `run()`:", fixed = TRUE)
  expect_match(result$stderr, "Invalid value for '--alpha': 'abc' is not a valid float", fixed = TRUE)
  expect_match(result$stderr, "Usage: Rscript flow.R run [OPTIONS]", fixed = TRUE)
  expect_match(result$stderr, "The engine rejected the command line of `Rscript flow.R run`", fixed = TRUE)
  expect_no_match(result$stderr, "Backtrace")
})

test_that("`Rscript flow.R --alpha 5`, without a command, says the command is missing", {
  dir <- local_run_dir()
  script <- write_flow_script(linear_flow_code, dir)
  result <- run_script(script, c("--alpha", "5"))
  expect_false(result$status == 0)
  expect_match(result$stderr, "The command is missing: `--alpha` is an option of `run`", fixed = TRUE)
  expect_match(result$stderr, "Did you mean `Rscript flow.R run --alpha 5`?", fixed = TRUE)
  expect_false(dir.exists(file.path(dir, ".metaflow", ".metaflow_core", "LinearFlow")))
})

test_that("a failing step is a metaflow_error_run that names the step", {
  local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("FailingFlow") %>%',
    '  step(step = "start", r_function = function(self) self$x <- 1, next_step = "explode") %>%',
    '  step(step = "explode", r_function = function(self) stop("the {data} is bad"), next_step = "end") %>%',
    '  step(step = "end")'
  ))
  output <- NULL
  err <- expect_error(
    withCallingHandlers(
      run(flow),
      message = function(m) {
        output <<- c(output, conditionMessage(m))
        invokeRestart("muffleMessage")
      }
    ),
    class = "metaflow_error_run"
  )
  expect_match(err$pathspec, "^FailingFlow/[0-9]+$")
  expect_match(conditionMessage(err), err$pathspec, fixed = TRUE)
  expect_snapshot(cat(conditionMessage(err)), transform = without_run_id)
  expect_true(any(grepl("the {data} is bad", output, fixed = TRUE)))
  # Built from the engine's summary: the failed task, and its R error as parent.
  expect_identical(err$step, "explode")
  expect_identical(err$task_pathspec, paste0(err$pathspec, "/explode/2"))
  expect_identical(err$attempt, 0L)
  expect_s3_class(err$parent, "simpleError")
  expect_identical(conditionMessage(err$parent), "the {data} is bad")
  expect_identical(conditionCall(err$parent), quote(explode(self)))
})

test_that("a step's own condition class reaches run()'s error as its parent", {
  local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("ClassyFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    stop(structure(class = c("stale_data_error", "error", "condition"),',
    '      list(message = "the data is stale", call = quote(check_data(x)))))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  err <- expect_error(collect_messages(run(flow)), class = "metaflow_error_run")
  expect_s3_class(err$parent, c("metaflow_task_error", "stale_data_error", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(err$parent), "the data is stale")
  expect_identical(conditionCall(err$parent), quote(check_data(x)))
  expect_identical(err$step, "start")
  expect_match(err$task_pathspec, "^ClassyFlow/[0-9]+/start/1$")
  expect_error(stop(err$parent), class = "stale_data_error")
})

test_that("a failing step makes `Rscript flow.R run` exit non-zero", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    'flow <- metaflow("FailingFlow") %>%',
    '  step(step = "start", r_function = function(self) stop("no luck"), next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)
  result <- run_script(script, "run")
  expect_false(result$status == 0)
  expect_match(result$stderr, "Step `start` failed in task FailingFlow/[0-9]+/start/1")
  expect_match(result$stderr, "Caused by error in `start()`:\n! no luck", fixed = TRUE)
  expect_no_match(result$stderr, "Backtrace")
})

test_that("`Rscript flow.R show`, `check`, `help` and `run --help` work", {
  dir <- local_run_dir()
  script <- write_flow_script(linear_flow_code, dir)
  show <- run_script(script, "show")
  expect_equal(show$status, 0, info = show$stderr)
  expect_match(show$stdout, "Step start\n")
  expect_match(show$stdout, "=> end")
  check <- run_script(script, "check")
  expect_equal(check$status, 0, info = check$stderr)
  expect_match(check$stderr, "The graph looks good!")
  help <- run_script(script, "help")
  expect_equal(help$status, 0, info = help$stderr)
  expect_match(help$stdout, "Commands:")
  # A bare `Rscript flow.R` runs the flow, and help says so.
  expect_match(help$stdout, "run +Run the workflow locally \\(this is the default command\\)\\.")
  expect_match(help$stdout, "check +Check that the flow is valid.\n")
  # The commands R tells apart from options are the engine's.
  commands <- strsplit(sub("^.*Commands:\n", "", help$stdout), "\n")[[1]]
  listed <- sub("^  ([a-z-]+) .*$", "\\1", grep("^  [a-z]", commands, value = TRUE))
  expect_setequal(listed, engine_commands())
  run_help <- run_script(script, c("run", "--help"))
  expect_equal(run_help$status, 0, info = run_help$stderr)
  expect_match(run_help$stdout, "--alpha FLOAT")
  expect_match(run_help$stdout, "Learning rate")
  expect_false(dir.exists(file.path(dir, ".metaflow", ".metaflow_core", "LinearFlow")))
})

test_that("a bare `Rscript flow.R` runs the flow", {
  dir <- local_run_dir()
  result <- run_script(write_flow_script(linear_flow_code, dir))
  expect_equal(result$status, 0, info = result$stderr)
  expect_equal(new_run("LinearFlow", "latest_run")$artifact("result"), 1.2)
})

test_that("`Rscript flow.R dump` shows a short str() of each R artifact", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    'flow <- metaflow("DumpFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    self$count <- 42L',
    '    self$frame <- data.frame(a = 1:3, b = c("x", "y", "z"))',
    '    self$big <- runif(1e4)',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)
  expect_equal(run_script(script, "run")$status, 0)
  run_id <- new_run("DumpFlow", "latest_run")$id
  dump <- run_script(script, c("dump", paste0(run_id, "/start")))
  expect_equal(dump$status, 0, info = dump$stderr)
  expect_match(dump$stdout, "count \\[size: [0-9]+ type: R object\\] =  int 42\n")
  expect_match(dump$stdout, "= 'data.frame':\t3 obs. of  2 variables:\n     $ a: int  1 2 3\n", fixed = TRUE)
  expect_match(dump$stdout, "big \\[size: [0-9]+ type: R object\\] = < artifact too large >")
})

test_that("run() runs other commands and returns 0", {
  local_run_dir()
  flow <- linear_flow()
  output <- capture.output(status <- run(flow, show = TRUE))
  expect_equal(status, 0L)
  expect_true("Step start" %in% output)
  run_id <- sub("^LinearFlow/", "", collect_messages(run(flow))$value$pathspec)
  logs <- collect_messages(capture.output(run(flow, logs = paste0(run_id, "/start"))))
  expect_true(any(grepl("alpha is 0.1", logs$value, fixed = TRUE)))
})

test_that("interrupting `Rscript flow.R run` stops the run and its tasks first", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    'flow <- metaflow("SlowFlow") %>%',
    sprintf('  step(step = "start", r_function = function(self) { %s }, next_step = "end") %%>%%',
            background_sleeper_code("303.5", "Sys.sleep(120)")),
    '  step(step = "end")'
  ), dir)
  process <- processx::process$new(rscript_path(), c(script, "run"), env = script_env(), stdout = "|", stderr = "2>&1")
  on.exit(process$kill_tree(), add = TRUE)
  output <- character()
  deadline <- Sys.time() + 60
  while (!any(grepl("Task is starting", output)) && Sys.time() < deadline && process$is_alive()) {
    process$poll_io(200)
    output <- c(output, process$read_output_lines())
  }
  expect_true(any(grepl("Task is starting", output)))
  Sys.sleep(1)
  process$interrupt()
  process$wait(30000)
  expect_false(process$is_alive())
  output <- c(output, process$read_all_output_lines())
  expect_false(process$get_exit_status() == 0)
  expect_true(any(grepl("[KILLED BY ORCHESTRATOR]", output, fixed = TRUE)))
  expect_true(any(grepl("Run SlowFlow/[0-9]+ was interrupted[.]", output)))
  expect_false(any(grepl("Run SlowFlow/[0-9]+ failed", output)))
  expect_equal(nrow(live_processes("sleep 303[.]5")), 0L)
})

test_that("interrupting run() in an interactive session stops every task's processes, and the run resumes", {
  dir <- local_run_dir()
  # Splits 1 and 2 sleep, each with a background child, until the run is
  # interrupted; split 0 finishes at once, and is kept.
  writeLines(c(
    'flow <- metaflow("InterruptFlow") %>%',
    '  step(step = "start", r_function = function(self) self$items <- 0:2,',
    '       next_step = "work", foreach = "items") %>%',
    '  step(step = "work", r_function = function(self) {',
    '    if (self$input > 0 && !file.exists("interrupted")) {',
    sprintf('      %s', background_sleeper_code("304.5", 'writeLines("", paste0("started-", self$input)); Sys.sleep(120)')),
    '    }',
    '    self$done <- self$input',
    '  }, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
    '    self$done <- sort(vapply(inputs, function(i) i$done, 0L))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ), "flow_def.R")
  session <- processx::process$new(
    file.path(R.home("bin"), "R"), c("--no-save", "--no-restore", "--quiet", "--interactive"),
    env = script_env(), stdin = "|", stdout = "|", stderr = "2>&1"
  )
  on.exit(session$kill_tree(), add = TRUE)
  session$write_input(paste0(c(
    "library(metaflow)",
    'source("flow_def.R")',
    "res <- tryCatch(run(flow, max_workers = 3), error = function(e) e)",
    'cat("CLASS:", class(res), "\n")',
    'cat("MESSAGE:", conditionMessage(res), "\n")',
    'quit("no")'
  ), "\n", collapse = ""))
  output <- character()
  deadline <- Sys.time() + 90
  while (!all(file.exists(c("started-1", "started-2"))) && Sys.time() < deadline) {
    session$poll_io(200)
    output <- c(output, session$read_output_lines())
  }
  expect_true(all(file.exists(c("started-1", "started-2"))))
  expect_equal(nrow(live_processes("sleep 304[.]5")), 2L)
  session$interrupt()
  session$wait(60000)
  output <- c(output, session$read_all_output_lines())
  expect_false(session$is_alive())
  expect_match(paste(output, collapse = "\n"), "CLASS: metaflow_error_interrupted metaflow_error")
  expect_match(paste(output, collapse = "\n"), "MESSAGE: Run InterruptFlow/[0-9]+ was interrupted[.]")

  run <- new_run("InterruptFlow", "latest_run")
  work <- tasks_table(run)
  work <- work[work$step == "work", ]
  expect_equal(sort(work$index), 0:2)
  expect_equal(work$successful[order(work$index)], c(TRUE, FALSE, FALSE))
  expect_true(all(work$finished))
  # Nothing of the run is left: no sleeper, and nothing in a task's session.
  pids <- vapply(work$id, function(id) as.integer(run$step("work")$task(id)$metadata_dict$pid), 0L)
  expect_equal(nrow(live_processes("sleep 304[.]5")), 0L)
  everything <- live_processes(".")
  expect_equal(nrow(everything[everything$sid %in% pids, ]), 0L)

  writeLines("", "interrupted")
  resumed <- run(flow_from_code(readLines("flow_def.R")), resume = TRUE, quiet = TRUE)
  expect_true(resumed$successful)
  expect_equal(resumed$artifact("done"), 0:2)
})

test_that("a task killed because a sibling failed ends recorded as killed, with its step finished", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    'flow <- metaflow("SiblingFailsFlow") %>%',
    '  step(step = "start", r_function = function(self) self$items <- 0:3, next_step = "work", foreach = "items") %>%',
    '  step(step = "work", r_function = function(self) {',
    '    if (self$input == 0) {',
    '      Sys.sleep(3)',
    '      stop("split 0 failed")',
    '    }',
    '    Sys.sleep(30)',
    '  }, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)
  started <- Sys.time()
  result <- run_script(script, c("run", "--max-workers", "2"))
  expect_false(result$status == 0)
  expect_lt(as.numeric(difftime(Sys.time(), started, units = "secs")), 30)

  run <- new_run("SiblingFailsFlow", "latest_run")
  tasks <- tasks_table(run)
  expect_true(all(tasks$finished))
  expect_false(anyNA(tasks$finished_at))
  work <- tasks[tasks$step == "work", ]
  # Splits 2 and 3 never started, so they have no task.
  expect_equal(sort(work$index), c(0L, 1L))
  expect_false(any(work$successful))

  step <- run$step("work")
  expect_s3_class(step$finished_at, "POSIXct")
  printed <- paste(capture.output(print(step)), collapse = "\n")
  expect_match(printed, "Tasks +2 \\(2 failed\\)")
  expect_no_match(printed, "running|not yet")

  killed <- step$task(work$id[work$index == 1L])
  expect_true(killed$finished)
  expect_false(killed$successful)
  record <- killed$metadata_dict
  expect_equal(record$status, "killed")
  failed_id <- work$id[work$index == 0L]
  expect_equal(record$reason, paste0("stopped because task SiblingFailsFlow/", run$id, "/work/", failed_id, " failed"))
  # The sleeping task's session (the task, its Rscript and what that started) is
  # gone with the run.
  left <- live_processes(".")
  expect_equal(nrow(left[left$sid == as.integer(record$pid), ]), 0L)
})

# Graph shapes and artifacts, end to end: each flow is a script run with
# `Rscript flow.R run`, as a user would, and read back with the client.

run_flow_script <- function(code, args = character()) {
  result <- run_script(write_flow_script(code), c("run", args))
  if (result$status != 0) {
    stop("The flow failed:\n", result$stderr, call. = FALSE)
  }
  result
}

latest_end <- function(flow_name) {
  new_run(flow_name, "latest_run")$end_task
}

test_that("a static branch joins with inputs named by step", {
  local_run_dir()
  run_flow_script(c(
    'flow <- metaflow("BranchFlow") %>%',
    '  step(step = "start", r_function = function(self) self$x <- 1, next_step = c("a", "b")) %>%',
    '  step(step = "a", r_function = function(self) self$x <- self$x + 10, next_step = "join") %>%',
    '  step(step = "b", r_function = function(self) self$x <- self$x + 20, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
    '    self$from_a <- inputs$a$x',
    '    self$from_b <- inputs[["b"]]$x',
    '    self$names <- names(inputs)',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  run <- new_run("BranchFlow", "latest_run")
  expect_equal(run$artifact("from_a"), 11)
  expect_equal(run$artifact("from_b"), 21)
  expect_setequal(run$artifact("names"), c("a", "b"))
})

test_that("foreach splits over a length-1 vector, a numeric vector and a list of data frames", {
  local_run_dir()
  run_flow_script(c(
    'flow <- metaflow("ForeachFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    self$one <- "only"',
    '    self$numbers <- c(2.5, 4, 8)',
    '    self$frames <- list(data.frame(a = 1:2), data.frame(a = 3:5, b = "x"))',
    '  }, next_step = "split_one") %>%',
    '  step(step = "split_one", next_step = "each_one", foreach = "one") %>%',
    '  step(step = "each_one", r_function = function(self) self$got <- self$input, next_step = "join_one") %>%',
    '  step(step = "join_one", join = TRUE, r_function = function(self, inputs) {',
    '    self$ones <- gather_inputs(inputs, "got")',
    '    merge_artifacts(self, inputs, exclude = list("got"))',
    '  }, next_step = "split_numbers") %>%',
    '  step(step = "split_numbers", next_step = "each_number", foreach = "numbers") %>%',
    '  step(step = "each_number", r_function = function(self) {',
    '    self$squared <- self$input^2',
    '    self$at <- self$index',
    '  }, next_step = "join_numbers") %>%',
    '  step(step = "join_numbers", join = TRUE, r_function = function(self, inputs) {',
    '    self$squares <- unlist(gather_inputs(inputs, "squared"))',
    '    self$indices <- unlist(gather_inputs(inputs, "at"))',
    '    merge_artifacts(self, inputs, exclude = list("squared", "at"))',
    '  }, next_step = "split_frames") %>%',
    '  step(step = "split_frames", next_step = "each_frame", foreach = "frames") %>%',
    '  step(step = "each_frame", r_function = function(self) self$rows <- nrow(self$input), next_step = "join_frames") %>%',
    '  step(step = "join_frames", join = TRUE, r_function = function(self, inputs) {',
    '    self$all_rows <- unlist(gather_inputs(inputs, "rows"))',
    '    merge_artifacts(self, inputs, exclude = list("rows"))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  run <- new_run("ForeachFlow", "latest_run")
  expect_identical(run$artifact("ones"), list("only"))
  expect_identical(run$artifact("squares"), c(6.25, 16, 64))
  expect_identical(run$artifact("indices"), c(0L, 1L, 2L))
  expect_identical(run$artifact("all_rows"), c(2L, 3L))
  expect_equal(sort(tasks_table(run$step("each_frame"))$index), c(0, 1))
})

test_that("a foreach over a data frame goes over its columns, over split() rows over its rows", {
  local_run_dir()
  run_flow_script(c(
    'flow <- metaflow("FrameForeachFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    self$df <- data.frame(a = 1:3, b = c("x", "y", "z"))',
    '    self$rows <- split(self$df, seq_len(nrow(self$df)))',
    '  }, next_step = "split_columns") %>%',
    '  step(step = "split_columns", next_step = "each_column", foreach = "df") %>%',
    '  step(step = "each_column", r_function = function(self) self$got <- self$input, next_step = "join_columns") %>%',
    '  step(step = "join_columns", join = TRUE, r_function = function(self, inputs) {',
    '    self$columns <- gather_inputs(inputs, "got")',
    '    merge_artifacts(self, inputs, exclude = list("got"))',
    '  }, next_step = "split_rows") %>%',
    '  step(step = "split_rows", next_step = "each_row", foreach = "rows") %>%',
    '  step(step = "each_row", r_function = function(self) self$got <- self$input, next_step = "join_rows") %>%',
    '  step(step = "join_rows", join = TRUE, r_function = function(self, inputs) {',
    '    self$row_inputs <- gather_inputs(inputs, "got")',
    '    merge_artifacts(self, inputs, exclude = list("got"))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  run <- new_run("FrameForeachFlow", "latest_run")
  df <- data.frame(a = 1:3, b = c("x", "y", "z"))
  expect_identical(run$artifact("columns"), list(1:3, c("x", "y", "z")))
  expect_identical(run$artifact("row_inputs"), unname(split(df, seq_len(nrow(df)))))
})

test_that("a two-level nested foreach sees both levels of its stack", {
  local_run_dir()
  run_flow_script(c(
    'flow <- metaflow("NestedFlow") %>%',
    '  step(step = "start", r_function = function(self) self$letters <- c("a", "b"),',
    '       next_step = "outer", foreach = "letters") %>%',
    '  step(step = "outer", r_function = function(self) {',
    '    self$letter <- self$input',
    '    self$numbers <- 1:3',
    '  }, next_step = "inner", foreach = "numbers") %>%',
    '  step(step = "inner", r_function = function(self) {',
    '    stack <- self$foreach_stack()',
    '    self$label <- paste0(self$letter, self$input, "@", stack[[1]]$index, stack[[2]]$index)',
    '  }, next_step = "join_inner") %>%',
    '  step(step = "join_inner", join = TRUE, r_function = function(self, inputs) {',
    '    self$labels <- unlist(gather_inputs(inputs, "label"))',
    '  }, next_step = "join_outer") %>%',
    '  step(step = "join_outer", join = TRUE, r_function = function(self, inputs) {',
    '    self$labels <- unlist(gather_inputs(inputs, "labels"))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  expect_identical(
    new_run("NestedFlow", "latest_run")$artifact("labels"),
    c("a1@00", "a2@01", "a3@02", "b1@10", "b2@11", "b3@12")
  )
})

merge_flow_code <- function(conflict) {
  c(
    'flow <- metaflow("MergeFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    self$shared <- "same"',
    '    self$clash <- 0',
    '  }, next_step = c("a", "b")) %>%',
    '  step(step = "a", r_function = function(self) {',
    '    self$only_a <- "A"',
    sprintf('    self$clash <- %s', if (conflict) "1" else "0"),
    '  }, next_step = "join") %>%',
    '  step(step = "b", r_function = function(self) {',
    '    self$only_b <- "B"',
    '    self$clash <- 2',
    '  }, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
    sprintf('    merge_artifacts(self, inputs%s)', if (conflict) "" else ', exclude = list("clash")'),
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  )
}

test_that("merge_artifacts carries what the branches agree on", {
  local_run_dir()
  run_flow_script(merge_flow_code(conflict = FALSE))
  run <- new_run("MergeFlow", "latest_run")
  expect_identical(
    lapply(c("shared", "only_a", "only_b"), run$artifact),
    list("same", "A", "B")
  )
  expect_false("clash" %in% run$artifacts)
})

test_that("merge_artifacts with a conflict fails the run and names the artifact", {
  local_run_dir()
  result <- run_script(write_flow_script(merge_flow_code(conflict = TRUE)), "run")
  expect_gt(result$status, 0)
  expect_match(result$stderr, "conflicting values")
  expect_match(result$stderr, "clash")
  expect_false(new_run("MergeFlow", "latest_run")$successful)
})

test_that("a helper function and a library() call of the flow script work inside steps", {
  local_run_dir()
  run_flow_script(c(
    'library(tools)',
    'scale_by <- 3',
    'triple <- function(x) x * scale_by',
    'flow <- metaflow("HelperFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    self$tripled <- triple(2)',
    '    self$ext <- file_ext("data.csv")',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  run <- new_run("HelperFlow", "latest_run")
  expect_identical(run$artifact("tripled"), 6)
  expect_identical(run$artifact("ext"), "csv")
})

test_that("a step sees the search path of the flow script under a plain Rscript", {
  local_run_dir()
  run_flow_script(c(
    'library(tools)',
    'flow <- metaflow("SearchFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    x <- c(1, 5, 2)',
    '    self$middle <- eval(parse(text = "median(x)"))',
    '    self$spread <- match.fun("sd")(x)',
    '    self$search <- search()',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  plain <- processx::run(
    rscript_path(), c("-e", "library(metaflow); library(tools); writeLines(search())"),
    env = script_env()
  )
  run <- new_run("SearchFlow", "latest_run")
  expect_identical(run$artifact("middle"), 2)
  expect_identical(run$artifact("spread"), stats::sd(c(1, 5, 2)))
  expect_identical(run$artifact("search"), strsplit(plain$stdout, "\n")[[1]])
})

settings_flow_code <- c(
  'flow <- metaflow("SettingsFlow") %>%',
  '  step(step = "start", r_function = function(self) {',
  '    self$digits <- getOption("digits")',
  '    self$mine <- getOption("my.option")',
  '    self$variable <- Sys.getenv("MY_VARIABLE")',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

test_that("options() and Sys.setenv() at the top of a flow script reach its steps", {
  local_run_dir()
  run_flow_script(c(
    'options(digits = 3, my.option = list(level = "high"))',
    'Sys.setenv(MY_VARIABLE = "from the script")',
    settings_flow_code
  ))
  run <- new_run("SettingsFlow", "latest_run")
  expect_identical(run$artifact("digits"), 3L)
  expect_identical(run$artifact("mine"), list(level = "high"))
  expect_identical(run$artifact("variable"), "from the script")
})

test_that("options() and Sys.setenv() of the session reach the steps of run()", {
  local_run_dir()
  withr::local_options(digits = 4, my.option = "session")
  withr::local_envvar(MY_VARIABLE = "from the session")
  run <- collect_messages(run(flow_from_code(settings_flow_code), quiet = TRUE))$value
  expect_identical(run$artifact("digits"), 4L)
  expect_identical(run$artifact("mine"), "session")
  expect_identical(run$artifact("variable"), "from the session")
})

test_that("a client error inside a step names the datastore the step's client read", {
  dir <- local_run_dir()
  result <- run_script(write_flow_script(c(
    'flow <- metaflow("LookupFlow") %>%',
    '  step(step = "start", r_function = function(self) new_flow("NoSuchFlow"), next_step = "end") %>%',
    '  step(step = "end")'
  ), dir), "run")
  expect_false(result$status == 0)
  # The whole headline is the first line of the step's error, which the run's error shows.
  headline <- paste0("Flow 'NoSuchFlow' does not exist in local@", dir, ". Flows: LookupFlow")
  expect_match(result$stderr, paste0("Error in new_flow(\"NoSuchFlow\"): ", headline), fixed = TRUE)
  expect_match(result$stderr, paste0("Caused by error in `new_flow()`:\n! ", headline), fixed = TRUE)
})

test_that("artifacts come back identical() after a round trip through the datastore", {
  local_run_dir()
  run_flow_script(c(
    'setClass("Point", representation(x = "numeric", y = "numeric"))',
    'make_values <- function() {',
    '  env <- new.env()',
    '  assign("a", 1:3, envir = env)',
    '  list(',
    '    na = NA, num0 = numeric(0), named = c(a = 1, b = 2),',
    '    factor = factor(c("lo", "hi", "lo"), levels = c("lo", "hi")),',
    '    date = as.Date("2024-02-29"),',
    '    time = as.POSIXct("2024-02-29 12:34:56", tz = "America/New_York"),',
    '    df = structure(data.frame(a = 1:2, b = c("x", NA)), note = "kept"),',
    '    with_null = list(1, NULL, "z"), matrix = matrix(1:6, 2, dimnames = list(c("r1", "r2"), NULL)),',
    '    env = env, closure = function(x) x + 1, s4 = new("Point", x = 1, y = 2),',
    '    utf8 = c("naïve", "日本語", "emoji 🎉")',
    '  )',
    '}',
    'flow <- metaflow("FidelityFlow") %>%',
    '  step(step = "start", r_function = function(self) self$values <- make_values(), next_step = "middle") %>%',
    '  step(step = "middle", r_function = function(self) self$copied <- self$values, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  expected <- local({
    setClass("Point", representation(x = "numeric", y = "numeric"), where = environment())
    env <- new.env()
    assign("a", 1:3, envir = env)
    list(
      na = NA, num0 = numeric(0), named = c(a = 1, b = 2),
      factor = factor(c("lo", "hi", "lo"), levels = c("lo", "hi")),
      date = as.Date("2024-02-29"),
      time = as.POSIXct("2024-02-29 12:34:56", tz = "America/New_York"),
      df = structure(data.frame(a = 1:2, b = c("x", NA)), note = "kept"),
      with_null = list(1, NULL, "z"), matrix = matrix(1:6, 2, dimnames = list(c("r1", "r2"), NULL)),
      env = env, closure = function(x) x + 1,
      utf8 = c("naïve", "日本語", "emoji 🎉")
    )
  })
  for (name in c("values", "copied")) {
    got <- new_run("FidelityFlow", "latest_run")$artifact(name)
    for (field in setdiff(names(expected), c("env", "closure"))) {
      expect_identical(got[[field]], expected[[field]], label = paste(name, field))
    }
    expect_identical(as.list(got$env), as.list(expected$env))
    expect_true(identical(got$closure, expected$closure, ignore.environment = TRUE, ignore.srcref = TRUE))
    expect_identical(got$closure(1), 2)
    expect_true(isS4(got$s4))
    expect_identical(c(got$s4@x, got$s4@y), c(1, 2))
  }
})

test_that("an error of the step bridge is not retried, whatever @retry says", {
  dir <- local_run_dir()
  flow <- metaflow("NoFunctionFlow") %>%
    step(retry(times = 2, minutes_between_retries = 0), step = "start",
         r_function = function(self) self$x <- 1, next_step = "end") %>%
    step(step = "end")
  spec_dir <- file.path(dir, "spec")
  dir.create(spec_dir)
  write_flow_spec(flow, spec_dir)
  # The functions file loses the step's function: every attempt would fail alike.
  functions_path <- file.path(spec_dir, "functions.rds")
  functions <- readRDS(functions_path)
  functions$steps <- functions$steps[0]
  saveRDS(functions, functions_path)
  failure_file <- file.path(dir, "failure.json")
  result <- processx::run(
    find_python(), c("-m", "metaflow_core.codegen", spec_dir, "--failure-file", failure_file, "run"),
    env = python_env(), wd = dir, error_on_status = FALSE
  )
  expect_equal(result$status, 1)
  expect_match(result$stderr, "Not retried: running the task again would fail the same way.", fixed = TRUE)
  expect_no_match(result$stderr, "(retry)", fixed = TRUE)
  err <- expect_error(
    abort_engine_failure(result$status, failure_file, "run", "NoFunctionFlow", NULL, call = NULL),
    class = "metaflow_error_run"
  )
  expect_identical(err$attempt, 0L)
  expect_s3_class(err$parent, "metaflow_error_bridge")
  expect_match(conditionMessage(err$parent), "Step `start` has no R function", fixed = TRUE)
  summary <- jsonlite::read_json(failure_file)
  expect_identical(summary$failed_tasks[[1]]$exit_code, 202L)
})

test_that("catch(var =) sets the variable to NULL when the step succeeds, as Metaflow sets None", {
  local_run_dir()
  run_flow_script(c(
    'flow <- metaflow("CatchNullFlow") %>%',
    '  step(step = "start", r_function = function(self) self$x <- 1, next_step = "safe") %>%',
    '  step(catch(var = "err"), step = "safe", r_function = function(self) self$y <- self$x + 1,',
    '    next_step = "end") %>%',
    '  step(step = "end", r_function = function(self) {',
    '    if (!is.null(self$err)) stop("err should be NULL")',
    '    self$err_was_null <- is.null(self$err)',
    '  })'
  ))
  run <- new_run("CatchNullFlow", "latest_run")
  expect_true(run$successful)
  expect_true(run$artifact("err_was_null"))
  expect_null(run$artifact("err"))
})

# A flow whose step `start` fails in a helper function, after assigning `x`:
# the helper's `stop()` is on line 3 of flow.R, its call on line 8.
helper_error_code <- c(
  'helper <- function(x) {',
  '  if (x > 1) stop("the data is bad: ", x)',
  '}',
  'flow <- metaflow("HelperErrorFlow") %>%',
  '  step(step = "start", r_function = function(self) {',
  '    self$x <- 2',
  '    helper(self$x)',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

# Python's marks in what a user reads: a traceback, the bridge's exception.
expect_no_python <- function(text) {
  expect_no_match(text, "File \"", fixed = TRUE)
  expect_no_match(text, "Traceback (most recent call last)", fixed = TRUE)
  expect_no_match(text, "RStepError", fixed = TRUE)
}

test_that("a failed R step is recorded as R's error, with the flow file's lines, and no Python shows", {
  dir <- local_run_dir()
  result <- run_script(write_flow_script(helper_error_code, dir), "run")
  expect_gt(result$status, 0)
  task <- new_run("HelperErrorFlow", "latest_run")$step("start")$task("1")
  # The end of the console: the step, the task, the R call and message.
  expect_match(result$stderr, paste0("Step `start` failed in task ", task$pathspec, "."), fixed = TRUE)
  expect_match(result$stderr, "Caused by error in `helper()`:\n! the data is bad: 2", fixed = TRUE)
  expect_no_python(result$stderr)

  err <- task$exception
  expect_s3_class(err, c("metaflow_task_error", "simpleError", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(err), "the data is bad: 2")
  expect_identical(conditionCall(err), quote(helper(self$x)))
  expect_identical(err$traceback, c(
    "start(self) at flow.R:6", "helper(self$x) at flow.R:8",
    "stop(\"the data is bad: \", x) at flow.R:3"
  ))
  expect_identical(c(err$step, err$pathspec), c("start", task$pathspec))
  printed <- paste(capture.output(print(err)), collapse = "\n")
  expect_match(printed, "Error in helper(self$x): the data is bad: 2\nR traceback:", fixed = TRUE)
  expect_match(printed, task$pathspec, fixed = TRUE)

  # The task's log has the R error and traceback, and the failed attempt
  # keeps what the step assigned before the error.
  expect_match(task$stderr, "Error in helper(self$x): the data is bad: 2", fixed = TRUE)
  expect_match(task$stderr, "2. helper(self$x) at flow.R:8", fixed = TRUE)
  expect_no_python(task$stderr)
  expect_identical(task$artifact("x"), 2)
})

test_that("run() fails with the step, the task and the R error as the parent", {
  local_run_dir()
  err <- expect_error(collect_messages(run(flow_from_code(helper_error_code))),
                      class = "metaflow_error_run")
  expect_match(conditionMessage(err), "Step `start` failed in task HelperErrorFlow/", fixed = TRUE)
  expect_s3_class(err$parent, "simpleError")
  expect_identical(conditionCall(err$parent), quote(helper(self$x)))
  expect_identical(err$parent$pathspec, err$task_pathspec)
  expect_no_python(paste(conditionMessage(err), conditionMessage(err$parent)))
})

# A flow whose step `risky` fails under catch(), after assigning `kept`; the
# step after it keeps what it sees of the caught error.
caught_error_code <- function(catch_args = 'var = "err"') {
  c(
    'helper <- function(x) stop("the data is bad: ", x)',
    'flow <- metaflow("CaughtErrorFlow") %>%',
    '  step(step = "start", next_step = "risky") %>%',
    sprintf('  step(catch(%s), step = "risky", r_function = function(self) {', catch_args),
    '    self$kept <- 2',
    '    helper(self$kept)',
    '  }, next_step = "end") %>%',
    '  step(step = "end", r_function = function(self) {',
    '    self$seen_class <- class(self$err)',
    '    self$seen_message <- conditionMessage(self$err)',
    '    self$seen_kept <- self$kept',
    '  })'
  )
}

test_that("catch(var =) stores an R step's error as the R condition, read alike in any session", {
  dir <- local_run_dir()
  run_script(write_flow_script(caught_error_code(), dir), "run")
  run <- new_run("CaughtErrorFlow", "latest_run")
  expect_true(run$successful)
  risky <- run$step("risky")$task(run$step("risky")$a_task)
  err <- risky$artifact("err")
  expect_s3_class(err, c("metaflow_caught_error", "simpleError", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(err), "the data is bad: 2")
  expect_identical(conditionCall(err), quote(helper(self$kept)))
  expect_identical(err$traceback[2:3], c(
    "helper(self$kept) at flow.R:7", "stop(\"the data is bad: \", x) at flow.R:2"
  ))
  expect_identical(c(err$step, err$pathspec), c("risky", risky$pathspec))

  # Another R session reads an identical() object.
  saved <- file.path(dir, "err.rds")
  read <- processx::run(rscript_path(), c("-e", sprintf(
    'saveRDS(metaflow::new_task("%s")$artifact("err"), "%s")', risky$pathspec, saved
  )), env = script_env(), error_on_status = FALSE)
  expect_identical(read$status, 0L, info = read$stderr)
  expect_identical(readRDS(saved), err)

  # The next step read it as `self$err`; the caught task kept `kept`.
  expect_identical(run$artifact("seen_class"), class(err))
  expect_identical(run$artifact("seen_message"), "the data is bad: 2")
  expect_identical(run$artifact("seen_kept"), 2)
  expect_identical(risky$artifact("kept"), 2)

  # The log shows the R error and its R traceback, no Python.
  log <- paste(risky$stdout, risky$stderr)
  expect_match(log, "@catch caught an exception", fixed = TRUE)
  expect_match(log, ">  Error in helper(self$kept): the data is bad: 2\n>  R traceback:", fixed = TRUE)
  expect_no_python(log)
})

test_that("catch(print_exception = FALSE) keeps an R step's log quiet", {
  dir <- local_run_dir()
  run_script(write_flow_script(caught_error_code('var = "err", print_exception = FALSE'), dir), "run")
  run <- new_run("CaughtErrorFlow", "latest_run")
  expect_true(run$successful)
  risky <- run$step("risky")$task(run$step("risky")$a_task)
  expect_s3_class(risky$artifact("err"), "metaflow_caught_error")
  log <- paste(risky$stdout, risky$stderr)
  expect_no_match(log, "the data is bad", fixed = TRUE)
  expect_no_match(log, "@catch", fixed = TRUE)
})

test_that("catch(var =) stores a timeout or a dead Rscript of an R step as an R condition", {
  local_run_dir()
  run_flow_script(c(
    'flow <- metaflow("EngineCaughtFlow") %>%',
    '  step(step = "start", next_step = c("slow", "crash")) %>%',
    '  step(timeout(seconds = 1), catch(var = "err"), step = "slow",',
    '       r_function = function(self) Sys.sleep(4), next_step = "join") %>%',
    '  step(catch(var = "err"), step = "crash",',
    '       r_function = function(self) tools::pskill(Sys.getpid()), next_step = "join") %>%',
    '  step(step = "join", join = TRUE, next_step = "end",',
    '       r_function = function(self, inputs) self$classes <- lapply(inputs, function(i) class(i$err))) %>%',
    '  step(step = "end")'
  ))
  run <- new_run("EngineCaughtFlow", "latest_run")
  engine_classes <- c("metaflow_error", "error", "condition")
  expect_mapequal(run$artifact("classes"), list(
    slow = c("metaflow_caught_error", "metaflow_error_timeout", engine_classes),
    crash = c("metaflow_caught_error", "metaflow_error_rscript", engine_classes)
  ))
  slow <- run$step("slow")$task(run$step("slow")$a_task)
  err <- slow$artifact("err")
  expect_match(conditionMessage(err), "timed out", fixed = TRUE)
  expect_null(conditionCall(err))
  expect_identical(c(err$step, err$pathspec), c("slow", slow$pathspec))
  crash <- run$step("crash")$task(run$step("crash")$a_task)
  expect_match(conditionMessage(crash$artifact("err")), "Rscript was killed by SIGTERM", fixed = TRUE)
  expect_no_python(paste(slow$stdout, slow$stderr, crash$stdout, crash$stderr))
})

# A step that fails with an error of several lines.
multi_line_error_code <- c(
  'flow <- metaflow("MultiLineFlow") %>%',
  '  step(step = "start", r_function = function(self) {',
  '    stop("the first line\\nthe second line names `clash`\\nthe third line")',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

test_that("a multi-line R error reaches run()'s error and task$exception whole", {
  local_run_dir()
  whole <- "the first line\nthe second line names `clash`\nthe third line"
  err <- expect_error(collect_messages(run(flow_from_code(multi_line_error_code))),
                      class = "metaflow_error_run")
  expect_identical(conditionMessage(err$parent), whole)
  expect_match(conditionMessage(err), "the third line", fixed = TRUE)
  exception <- new_task(err$task_pathspec)$exception
  expect_identical(exception$message, whole)
  shown <- paste(format(exception), collapse = "\n")
  expect_match(shown, "the second line names `clash`", fixed = TRUE)
  expect_match(shown, "the third line", fixed = TRUE)
  printed <- paste(capture.output(print(exception)), collapse = "\n")
  expect_match(printed, "the third line", fixed = TRUE)
})

test_that("`Rscript flow.R run` ends with the whole multi-line error of the failed step", {
  dir <- local_run_dir()
  result <- run_script(write_flow_script(multi_line_error_code, dir), "run")
  expect_gt(result$status, 0)
  # The script's last lines, after the task logs, are run()'s error, with the
  # whole message; the engine doesn't print it a second time.
  error <- sub("^.*Error in `run\\(\\)`:", "", result$stderr)
  expect_match(error, "the first line\n.*the second line names `clash`\n.*the third line")
  expect_no_match(result$stderr, "Step failure", fixed = TRUE)
  # The task's log indents every line of the error under its headline.
  expect_match(result$stderr, "\\]     Error in start\\(self\\): the first line\n[^\n]*\\]     the second line names `clash`\n")
})

test_that("a merge_artifacts conflict names the artifact in run()'s error and task$exception", {
  local_run_dir()
  err <- expect_error(collect_messages(run(flow_from_code(merge_flow_code(conflict = TRUE)))),
                      class = "metaflow_error_run")
  expect_match(conditionMessage(err), "[clash]", fixed = TRUE)
  expect_s3_class(err$parent, "metaflow_error_merge")
  exception <- new_task(err$task_pathspec)$exception
  expect_match(paste(format(exception), collapse = "\n"), "[clash]", fixed = TRUE)
})

# Errors instead of internals ---------------------------------------------------------

read_only_flow_code <- c(
  'flow <- metaflow("ReadOnlyFlow") %>%',
  '  step(step = "start", r_function = function(self) self$x <- 1, next_step = "end") %>%',
  '  step(step = "end")'
)

test_that("run() in a read-only datastore is a datastore error naming the directory, nothing written", {
  dir <- local_run_dir()
  collect_messages(run(flow_from_code(read_only_flow_code), quiet = TRUE))
  before <- list.files(file.path(dir, ".metaflow"), recursive = TRUE, all.files = TRUE)
  local_read_only(dir)

  err <- expect_error(collect_messages(run(flow_from_code(read_only_flow_code))),
                      class = "metaflow_error_datastore")
  message <- conditionMessage(err)
  expect_match(message, "Flow ReadOnlyFlow failed before its run started.", fixed = TRUE)
  expect_match(message, "Datastore not usable: Could not create the directory", fixed = TRUE)
  expect_match(gsub("\\s+", " ", message), file.path(dir, ".metaflow", ".metaflow_core", "ReadOnlyFlow"), fixed = TRUE)
  expect_match(message, "Read-only file system", fixed = TRUE)
  expect_no_python(message)
  expect_no_match(message, "Internal error", fixed = TRUE)
  expect_identical(list.files(file.path(dir, ".metaflow"), recursive = TRUE, all.files = TRUE), before)
  # Reading needs no writing: the client reads the read-only datastore.
  expect_identical(new_run("ReadOnlyFlow", "latest_run")$step("start")$task("1")$artifact("x"), 1)
})

test_that("`Rscript flow.R run` in a read-only datastore ends with one headline and a non-zero exit", {
  dir <- local_run_dir()
  script <- write_flow_script(read_only_flow_code, dir)
  local_read_only(dir)

  result <- run_script(script, "run")
  expect_gt(result$status, 0)
  expect_match(result$stderr, "Error in `run()`:\n! Flow ReadOnlyFlow failed before its run started.", fixed = TRUE)
  expect_match(result$stderr, "Datastore not usable: Could not create the directory", fixed = TRUE)
  expect_no_python(result$stderr)
  expect_no_match(result$stderr, "Internal error", fixed = TRUE)
  expect_false(dir.exists(file.path(dir, ".metaflow")))
})

test_that("a step assigning an artifact name that is no identifier fails naming it, and stores nothing by it", {
  dir <- local_run_dir()
  result <- run_script(write_flow_script(c(
    'flow <- metaflow("EvilNameFlow") %>%',
    '  step(step = "start", r_function = function(self) self[["../../evil"]] <- 1, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir), "run")
  expect_gt(result$status, 0)
  expect_match(result$stderr, "Can't assign artifact \"../../evil\" in step `start`: it is not a valid artifact name.",
               fixed = TRUE)
  expect_no_python(result$stderr)
  task <- new_run("EvilNameFlow", "latest_run")$step("start")$task("1")
  expect_s3_class(task$exception, "metaflow_error_artifact")
  stored <- list.files(dir, recursive = TRUE, all.files = TRUE, include.dirs = TRUE)
  expect_false(any(grepl("evil", stored, fixed = TRUE)))
})

test_that("resuming a run whose record is damaged is a metadata error naming the file", {
  dir <- local_run_dir()
  flow <- flow_from_code(read_only_flow_code)
  run <- collect_messages(run(flow, quiet = TRUE))$value
  record <- file.path(dir, ".metaflow", ".metaflow_core", "ReadOnlyFlow", run$id, "_meta", "_self.json")
  writeBin(utils::head(readBin(record, "raw", 1000), 20), record)

  err <- expect_error(collect_messages(run(flow, resume = TRUE)), class = "metaflow_error_metadata")
  message <- gsub("\\s+", " ", conditionMessage(err))
  expect_match(message, "Damaged metadata: The metadata file", fixed = TRUE)
  expect_match(message, record, fixed = TRUE)
  expect_match(message, paste0("of run ReadOnlyFlow/", run$id), fixed = TRUE)
  expect_no_python(conditionMessage(err))
  expect_no_match(message, "JSONDecodeError", fixed = TRUE)
})

# A whole run on S3 (moto's server): datastore = "s3" and --datastore s3.

s3_flow_code <- c(
  'flow <- metaflow("S3ForeachFlow") %>%',
  '  step(step = "start", r_function = function(self) {',
  '    self$items <- 1:3',
  '    self$weights <- seq_len(1e5)',
  '  }, next_step = "square", foreach = "items") %>%',
  '  step(step = "square", r_function = function(self) {',
  '    cat("squaring", self$input, "\\n")',
  '    self$value <- self$input^2 + 0 * sum(self$weights)',
  '  }, next_step = "join") %>%',
  '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
  '    self$total <- sum(vapply(inputs, function(i) i$value, 0))',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

# What a fresh R session (a real Rscript) reads back of the latest run of the flow.
s3_read_back <- function(dir) {
  script <- file.path(dir, "read_back.R")
  writeLines(c(
    "library(metaflow)",
    "set_namespace(NULL)",
    'run <- run_client$new(flow_client$new("S3ForeachFlow"), flow_client$new("S3ForeachFlow")$latest_run)',
    'square <- step_client$new(run, "square")',
    'logs <- vapply(square$tasks, function(id) task_client$new(square, id)$stdout, "")',
    'start <- step_client$new(run, "start")',
    'weights <- task_client$new(start, start$tasks[[1]])$artifact("weights")',
    'cat(run$id, run$finished, run$artifact("total"), length(weights), sort(trimws(logs)), sep = "\\n")'
  ), script)
  result <- processx::run(rscript_path(), script, env = script_env(), wd = dir, error_on_status = FALSE)
  expect_equal(result$status, 0L, info = result$stderr)
  strsplit(trimws(result$stdout), "\n")[[1]]
}

# {relative path: size} of the files of the local datastore.
local_datastore_files <- function(dir) {
  files <- list.files(file.path(dir, ".metaflow"), recursive = TRUE, all.files = TRUE)
  stats::setNames(file.size(file.path(dir, ".metaflow", files)), files)
}

test_that("run(datastore = 's3') and --datastore s3 keep the run in S3, read back by a fresh session", {
  moto <- local_moto_server()
  local_moto_env(moto)
  dir <- local_run_dir()
  flow <- flow_from_code(s3_flow_code)
  run <- collect_messages(run(flow, datastore = "s3", quiet = TRUE))$value
  expect_equal(s3_read_back(dir), c(run$id, "TRUE", "14", "100000", "squaring 1", "squaring 2", "squaring 3"))
  # The 100 000 weights (and every other blob, record and log) went to S3: what
  # stays here is the one small record pointing at it.
  expect_equal(names(local_datastore_files(dir)), ".metaflow_core/S3ForeachFlow/_meta/_self.json")
  expect_lt(sum(local_datastore_files(dir)), 1000)

  script <- file.path(dir, "flow.R")
  writeLines(c("library(metaflow)", s3_flow_code, "run(flow)"), script)
  result <- run_script(script, c("run", "--datastore", "s3"))
  expect_equal(result$status, 0L, info = result$stderr)
  again <- s3_read_back(dir)
  expect_false(again[[1]] == run$id)
  expect_equal(again[-1], c("TRUE", "14", "100000", "squaring 1", "squaring 2", "squaring 3"))
  expect_equal(names(local_datastore_files(dir)), ".metaflow_core/S3ForeachFlow/_meta/_self.json")
})

test_that("a damaged blob in S3 is a metaflow_error_data_corrupt for the client; resume runs its task again", {
  moto <- local_moto_server()
  local_moto_env(moto)
  dir <- local_run_dir()
  flow <- flow_from_code(s3_flow_code)
  run <- collect_messages(run(flow, datastore = "s3", quiet = TRUE))$value
  # Every stored blob gets its last byte flipped, in place in the bucket.
  moto_python_run(paste(
    "import boto3",
    "s3 = boto3.client('s3')",
    "pages = s3.get_paginator('list_objects_v2').paginate(Bucket='metaflow-test', Prefix='metaflow/S3ForeachFlow/data/')",
    "for page in pages:",
    "    for obj in page.get('Contents', []):",
    "        body = bytearray(s3.get_object(Bucket='metaflow-test', Key=obj['Key'])['Body'].read())",
    "        body[-1] ^= 0xFF",
    "        s3.put_object(Bucket='metaflow-test', Key=obj['Key'], Body=bytes(body))",
    sep = "\n"
  ))
  err <- expect_error(new_run(paste0("S3ForeachFlow/", run$id))$artifact("total"),
                      class = "metaflow_error_data_corrupt")
  expect_match(conditionMessage(err), "s3://metaflow-test/metaflow/S3ForeachFlow/data/", fixed = TRUE)

  # A resume of the S3 run finds the damage, runs the damaged tasks again instead
  # of cloning them, and its artifacts read back whole.
  resumed <- collect_messages(run(flow, datastore = "s3", resume = "square"))
  expect_true(any(grepl("Not cloning .*/start/1: artifact .* is damaged \\(s3://metaflow-test/", resumed$messages)))
  expect_equal(resumed$value$artifact("total"), 14)
  expect_equal(names(local_datastore_files(dir)), ".metaflow_core/S3ForeachFlow/_meta/_self.json")
})

test_that("run(step_functions = \"create\", only_json = TRUE) prints the state machine", {
  local_run_dir()
  withr::local_envvar(
    METAFLOW_BATCH_JOB_QUEUE = "queue", METAFLOW_BATCH_CONTAINER_IMAGE = "image",
    METAFLOW_DATASTORE_SYSROOT_S3 = "s3://my-bucket/metaflow",
    # Nothing listens there: printing the definition reaches no AWS.
    METAFLOW_S3_ENDPOINT_URL = "http://127.0.0.1:9", AWS_ACCESS_KEY_ID = "none",
    AWS_SECRET_ACCESS_KEY = "none", AWS_DEFAULT_REGION = "us-east-1"
  )
  flow <- metaflow("SfnForeachFlow") %>%
    step(step = "start", r_function = function(self) self$xs <- 1:2, next_step = "square",
         foreach = "xs") %>%
    step(step = "square", r_function = function(self) self$y <- self$input^2, next_step = "join") %>%
    step(step = "join", r_function = function(self, inputs) self$total <- 0, join = TRUE,
         next_step = "end") %>%
    step(step = "end")
  output <- capture.output(
    status <- run(flow, datastore = "s3", step_functions = "create", only_json = TRUE)
  )
  expect_equal(status, 0L)
  definition <- jsonlite::fromJSON(paste(output, collapse = "\n"), simplifyVector = FALSE)
  expect_equal(names(definition$States), c("start", "start_splits", "start_foreach", "join", "end"))
  expect_equal(definition$States$start_splits$Parameters$Bucket, "my-bucket")
  expect_equal(definition$States$start_foreach$Type, "Map")
  expect_equal(names(definition$States$start_foreach$Iterator$States), "square")
  expect_false(dir.exists(".metaflow/.metaflow_core/SfnForeachFlow/data"))
})

test_that("run(step_functions = \"create\") needs the S3 datastore, even for only_json", {
  local_run_dir()
  flow <- metaflow("SfnLocalFlow") %>% step(step = "start", next_step = "end") %>% step(step = "end")
  err <- expect_error(run(flow, step_functions = "create", only_json = TRUE),
                      class = "metaflow_error_run")
  expect_match(conditionMessage(err), "runs every step on AWS Batch against the S3 datastore",
               fixed = TRUE)
})
