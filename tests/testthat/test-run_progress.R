# run()'s progress: the engine's events, the end line, and the display that
# redraws in place in an interactive console.

progress_flow_code <- c(
  'flow <- metaflow("ProgressFlow") %>%',
  '  step(step = "start", r_function = function(self) self$items <- 1:3,',
  '       next_step = "work", foreach = "items") %>%',
  '  step(step = "work", r_function = function(self) {',
  '    if (identical(Sys.getenv("FAIL_SPLIT"), as.character(self$input))) stop("split ", self$input, " fails")',
  '    self$value <- self$input * 2',
  '  }, next_step = "join") %>%',
  '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
  '    self$total <- sum(vapply(inputs, function(i) i$value, 0))',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

# The end line with what changes from run to run (the run ID, the time) scrubbed.
scrub_end_line <- function(lines) {
  lines <- gsub("ProgressFlow/[0-9]+", "ProgressFlow/<id>", lines)
  gsub("in [0-9.]+s$", "in <time>", lines)
}

read_events <- function(path) {
  lapply(readLines(path), jsonlite::parse_json)
}

# Runs the flow script with `--event-file` and returns the run and its events.
run_with_events <- function(args = character(), env = character()) {
  script <- write_flow_script(progress_flow_code)
  events <- file.path(getwd(), "events.jsonl")
  result <- processx::run(rscript_path(), c(script, "run", "--event-file", events, args),
                          env = c(script_env(), env), error_on_status = FALSE)
  list(result = result, events = events)
}

test_that("a run's events come in order and count its steps and tasks", {
  local_run_dir()
  ran <- run_with_events()
  expect_equal(ran$result$status, 0L)
  events <- read_events(ran$events)
  kinds <- vapply(events, function(e) e$event, "")
  expect_equal(kinds[[1]], "run_started")
  expect_equal(events[[1]]$steps, 4L)
  expect_equal(kinds[[length(kinds)]], "run_finished")
  expect_equal(events[[length(events)]]$status, "succeeded")
  steps <- vapply(Filter(function(e) e$event == "step_finished", events), function(e) e$step, "")
  expect_equal(steps, c("start", "work", "join", "end"))
  started <- vapply(Filter(function(e) e$event == "task_started", events), function(e) e$step, "")
  expect_equal(started, c("start", "work", "work", "work", "join", "end"))

  progress <- progress_poll(new_run_progress("lines", ran$events))
  expect_equal(progress$pathspec, events[[1]]$pathspec)
  expect_equal(
    mget(c("steps", "steps_done", "running", "done", "failed", "retried"), envir = progress),
    list(steps = 4L, steps_done = 4L, running = 0L, done = 6L, failed = 0L, retried = 0L)
  )
  # Under Rscript: the engine's per-task lines, then the end line.
  stderr <- strsplit(ran$result$stderr, "\n")[[1]]
  expect_true(any(grepl("/work/[0-9]+ \\(pid [0-9]+\\)\\] Task is starting[.]", stderr)))
  expect_snapshot(writeLines(stderr[[length(stderr)]]), transform = scrub_end_line)
})

test_that("a failed task is counted, and the end line says how far the run got", {
  local_run_dir()
  # One task at a time: split 2 fails after split 1 finished, and split 3 never starts.
  ran <- run_with_events(c("--max-workers", "1"), c(FAIL_SPLIT = "2"))
  expect_equal(ran$result$status, 1L)
  events <- read_events(ran$events)
  failed <- Filter(function(e) e$event == "task_failed", events)
  expect_length(failed, 1L)
  expect_equal(failed[[1]]$step, "work")
  expect_equal(events[[length(events)]]$status, "failed")

  progress <- progress_poll(new_run_progress("lines", ran$events))
  expect_equal(
    mget(c("steps_done", "running", "done", "failed"), envir = progress),
    list(steps_done = 1L, running = 0L, done = 2L, failed = 1L)
  )
  stderr <- strsplit(ran$result$stderr, "\n")[[1]]
  end_line <- grep("^\u2716 ProgressFlow/", stderr, value = TRUE)
  expect_snapshot(writeLines(end_line), transform = scrub_end_line)
  # The error as before, after the end line.
  expect_match(paste(stderr[-seq_len(match(end_line, stderr))], collapse = "\n"),
               "Run ProgressFlow/[0-9]+ failed")
})

test_that("run(quiet = TRUE) prints only the end line", {
  local_run_dir()
  result <- collect_messages(run(flow_from_code(progress_flow_code), quiet = TRUE))
  expect_snapshot(writeLines(result$messages), transform = scrub_end_line)
  expect_equal(result$value$artifact("total"), 12)
})

test_that("the end line counts the retries", {
  local_run_dir()
  flow <- metaflow("ProgressFlow") %>%
    step(step = "start", retry(times = 1, minutes_between_retries = 0), r_function = function(self) {
      if (current("retry_count") == 0) stop("not yet")
    }, next_step = "end") %>%
    step(step = "end")
  result <- collect_messages(run(flow, quiet = TRUE))
  expect_snapshot(writeLines(result$messages), transform = scrub_end_line)
})

test_that("a quiet run that fails prints its end line, then the error", {
  local_run_dir()
  withr::local_envvar(FAIL_SPLIT = "1")
  messages <- character()
  err <- expect_error(
    withCallingHandlers(
      run(flow_from_code(progress_flow_code), quiet = TRUE, max_workers = 1),
      message = function(m) {
        messages <<- c(messages, conditionMessage(m))
        invokeRestart("muffleMessage")
      }
    ),
    class = "metaflow_error_run"
  )
  expect_length(messages, 1L)
  expect_match(messages, "^\u2716 ProgressFlow/[0-9]+ failed: 1 of 4 steps, 1 task done, 1 failed in [0-9.]+s")
  expect_equal(err$step, "work")
})

test_that("options(metaflow.progress) must be TRUE, FALSE or NULL", {
  local_run_dir()
  withr::local_options(metaflow.progress = "yes")
  expect_snapshot(run(flow_from_code(progress_flow_code)), error = TRUE)
  expect_false(dir.exists(file.path(getwd(), ".metaflow", "ProgressFlow")))
})

# An interactive R in a pseudo-terminal, as a user's console is; returns the
# process, stopped when the calling test ends.
local_console_session <- function(env = parent.frame()) {
  session <- processx::process$new(
    file.path(R.home("bin"), "R"), c("--no-save", "--no-restore", "--quiet", "--interactive"),
    env = script_env(), pty = TRUE, pty_options = list(echo = FALSE, cols = 120L)
  )
  withr::defer(if (session$is_alive()) session$kill_tree(), envir = env)
  session
}

# Everything the console shows until `pattern` appears in it (or 90 seconds).
read_console_until <- function(session, pattern, output = "") {
  deadline <- Sys.time() + 90
  while (!grepl(pattern, output) && session$is_alive() && Sys.time() < deadline) {
    session$poll_io(200)
    output <- paste0(output, session$read_output())
  }
  output
}

sleep_flow_code <- c(
  "library(metaflow)",
  'flow <- metaflow("SleepFlow") %>%',
  '  step(step = "start", r_function = function(self) {',
  '    print("hello {from} the step")',
  '    Sys.sleep(3)',
  '    writeLines("slept", "slept")',
  '  }, next_step = "end") %>%',
  '  step(step = "end")'
)

test_that("an interactive console shows the progress in place, with the steps' output above it", {
  local_run_dir()
  writeLines(sleep_flow_code, "flow_def.R")
  session <- local_console_session()
  session$write_input('source("flow_def.R"); res <- run(flow); cat("RUN", res$pathspec, "\\n")\n')
  output <- read_console_until(session, "RUN SleepFlow/[0-9]+")

  # Shown as printed: no glue interpolation of the braces.
  expect_match(output, "[start/1] [1] \"hello {from} the step\"", fixed = TRUE)
  expect_match(output, "0/2 steps | tasks: 1 running, 0 done, 0 failed", fixed = TRUE)
  # Redrawn in place: a carriage return and an erase to the end of the line.
  expect_match(output, "\r[^\n]*tasks: 1 running[^\n]*\u001b\\[K")
  expect_match(output, "\u2714\u001b\\[39m SleepFlow/[0-9]+ done: 2 steps, 2 tasks in [0-9.]+s")
  # The engine's own log lines are the display's now.
  expect_no_match(output, "Task is starting")
  # The bar is gone from the last line: erased before the end line is written.
  last_bar <- max(gregexpr("tasks: [0-9]+ running", output)[[1]])
  end_line <- regexpr("SleepFlow/[0-9]+ done:", output)
  expect_match(substr(output, last_bar, end_line), "\r\u001b\\[K")
})

test_that("Ctrl-C in an interactive console clears the progress and reports the interrupted run", {
  local_run_dir()
  writeLines(sub("Sys.sleep(3)", "Sys.sleep(300)", sleep_flow_code, fixed = TRUE), "flow_def.R")
  session <- local_console_session()
  session$write_input(paste0(
    'source("flow_def.R"); res <- tryCatch(run(flow), error = identity); ',
    'cat("CLASS", class(res)[[1]], "\\n")\n'
  ))
  output <- read_console_until(session, "tasks: 1 running")
  session$interrupt()
  output <- read_console_until(session, "CLASS [a-z_]+", output)

  expect_match(output, "CLASS metaflow_error_interrupted")
  expect_match(output, "SleepFlow/[0-9]+ interrupted: 0 of 2 steps, 0 tasks done, 0 failed, 1 stopped")
  after_bar <- substr(output, max(gregexpr("tasks: 1 running", output)[[1]]), nchar(output))
  expect_match(after_bar, "^[^\n]*\r\u001b\\[K")
  # The cursor cli hid while the bar was drawn is shown again.
  expect_match(after_bar, "\u001b[?25h", fixed = TRUE)
})

test_that("a run that fails in an interactive console clears the progress, then shows the error", {
  local_run_dir()
  writeLines(sub('writeLines("slept", "slept")', 'stop("the data is bad")', sleep_flow_code, fixed = TRUE),
             "flow_def.R")
  session <- local_console_session()
  session$write_input(paste0(
    'source("flow_def.R"); res <- tryCatch(run(flow), error = identity); ',
    'cat("CLASS", class(res)[[1]], "\\n")\n'
  ))
  output <- read_console_until(session, "CLASS [a-z_]+")

  expect_match(output, "CLASS metaflow_error_run")
  # The step's error, as the step wrote it, above the bar.
  expect_match(output, "[start/1]     Error in start(self): the data is bad", fixed = TRUE)
  expect_match(output, "SleepFlow/[0-9]+ failed: 0 of 2 steps, 0 tasks done, 1 failed in [0-9.]+s")
  after_bar <- substr(output, max(gregexpr("tasks: [0-9]+ running", output)[[1]]), nchar(output))
  expect_match(after_bar, "^[^\n]*\r\u001b\\[K")
})
