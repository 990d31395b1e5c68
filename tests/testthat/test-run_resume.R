# Resume, end to end: real runs (run() and `Rscript flow.R resume`), each
# execution of a step leaving a line in `executions.txt` of the run's
# directory, so that what ran again is seen from outside the engine.

# The process table: pid, ppid and command line of every live process.
executions <- function(dir) {
  path <- file.path(dir, "executions.txt")
  if (file.exists(path)) readLines(path) else character()
}

# Six splits; split 3 fails while the file `broken` exists.
splits_flow_code <- c(
  'note <- function(what) cat(what, "\\n", sep = "", file = "executions.txt", append = TRUE)',
  'flow <- metaflow("SplitsFlow") %>%',
  '  parameter("scale", default = 1) %>%',
  '  step(step = "start", r_function = function(self) {',
  '    note("start")',
  '    self$items <- 0:5',
  '  }, next_step = "work", foreach = "items") %>%',
  '  step(step = "work", r_function = function(self) {',
  '    note(paste("work", self$input))',
  '    cat("working on", self$input, "\\n")',
  '    if (self$input == 3 && file.exists("broken")) stop("split 3 fails")',
  '    self$out <- self$input * self$scale',
  '    self$stamp <- as.numeric(Sys.time())',
  '  }, next_step = "join") %>%',
  '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
  '    note("join")',
  '    self$outs <- unlist(gather_inputs(inputs, "out"))',
  '  }, next_step = "end") %>%',
  '  step(step = "end", r_function = function(self) note("end"))'
)

splits_flow <- function() {
  flow_from_code(splits_flow_code)
}

test_that("resume after a failed split reruns only that split and the ones after it", {
  dir <- local_run_dir()
  file.create("broken")
  err <- expect_error(
    collect_messages(run(splits_flow(), max_workers = 1, scale = 10)),
    class = "metaflow_error_run"
  )
  origin <- new_run(err$pathspec)
  expect_equal(executions(dir), c("start", paste("work", 0:3)))

  unlink("broken")
  writeLines(character(), "executions.txt")
  resumed <- collect_messages(run(splits_flow(), resume = TRUE, max_workers = 1))$value
  # Splits 0 to 2 are clones; split 3 and the two that never started run.
  expect_equal(executions(dir), c(paste("work", 3:5), "join", "end"))
  expect_true(resumed$successful)
  expect_equal(resumed$origin_run_id, origin$id)
  expect_null(origin$origin_run_id)
  expect_match(paste(capture.output(print(resumed)), collapse = "\n"),
               paste0("Resumed +from ", origin$pathspec))
  expect_no_match(paste(capture.output(print(origin)), collapse = "\n"), "Resumed")
  expect_equal(resumed$step("join")$task(resumed$step("join")$a_task)$artifact("outs"), 0:5 * 10)

  tasks <- tasks_table(resumed$step("work"))
  origin_tasks <- tasks_table(origin$step("work"))
  for (index in 0:5) {
    task <- resumed$step("work")$task(tasks$id[tasks$index == index])
    if (index < 3) {
      before <- origin$step("work")$task(origin_tasks$id[origin_tasks$index == index])
      expect_equal(task$origin_pathspec, before$pathspec)
      expect_equal(tasks$origin_pathspec[tasks$index == index], before$pathspec)
      expect_identical(task$artifact("stamp"), before$artifact("stamp"))
      expect_equal(task$stdout, before$stdout)
      expect_match(task$stdout, paste("working on", index))
    } else {
      expect_null(task$origin_pathspec)
      expect_identical(tasks$origin_pathspec[tasks$index == index], NA_character_)
    }
  }
})

test_that("a resumed run keeps the origin's parameters; a new value is a usage error", {
  dir <- local_run_dir()
  script <- write_flow_script(splits_flow_code, dir)
  file.create("broken")
  origin <- run_script(script, c("run", "--scale", "3"))
  expect_false(origin$status == 0)
  unlink("broken")

  refused <- run_script(script, c("resume", "--scale", "4"))
  expect_false(refused$status == 0)
  expect_match(refused$stderr, "Parameters can be given only to a new run", fixed = TRUE)
  expect_match(refused$stderr, "keeps the parameter values of the run it resumes", fixed = TRUE)
  expect_no_match(refused$stderr, "No such option|Traceback|File \"")
  expect_error(
    run(splits_flow(), resume = TRUE, scale = 4),
    "keeps the parameter values", class = "metaflow_error_usage"
  )

  resumed <- run_script(script, "resume")
  expect_equal(resumed$status, 0, info = resumed$stderr)
  run <- new_run("SplitsFlow", "latest_run")
  expect_false(is.null(run$origin_run_id))
  join <- run$step("join")
  expect_equal(join$task(join$a_task)$artifact("outs"), 0:5 * 3)
})

test_that("resume from a step reruns it and what follows; bad steps and runs are clear errors", {
  dir <- local_run_dir()
  script <- write_flow_script(splits_flow_code, dir)
  first <- collect_messages(run(splits_flow()))$value
  writeLines(character(), "executions.txt")

  again <- collect_messages(run(splits_flow(), resume = "join", origin_run_id = first$id))$value
  expect_equal(executions(dir), c("join", "end"))
  expect_equal(again$origin_run_id, first$id)

  expect_snapshot(error = TRUE, run(splits_flow(), resume = "nope"))
  bad_step <- run_script(script, c("resume", "nope"))
  expect_false(bad_step$status == 0)
  expect_match(bad_step$stderr, "Can't resume flow SplitsFlow from step \"nope\"", fixed = TRUE)
  missing <- run_script(script, c("resume", "--origin-run-id", "123"))
  expect_false(missing$status == 0)
  expect_match(missing$stderr, "Resume could not find run id 123", fixed = TRUE)
  expect_no_match(missing$stderr, "Traceback|File \"")
})

test_that("resume runs the flow's new code after the failure and clones what came before", {
  dir <- local_run_dir()
  script <- write_flow_script(splits_flow_code, dir)
  file.create("broken")
  expect_false(run_script(script, c("run", "--max-workers", "1"))$status == 0)
  origin <- new_run("SplitsFlow", "latest_run")
  unlink("broken")
  fixed <- sub("self$outs <- unlist(gather_inputs(inputs, \"out\"))",
               "self$outs <- unlist(gather_inputs(inputs, \"out\")) + 100",
               splits_flow_code, fixed = TRUE)
  script <- write_flow_script(fixed, dir)
  resumed <- run_script(script, c("resume", "--max-workers", "1"))
  expect_equal(resumed$status, 0, info = resumed$stderr)

  run <- new_run("SplitsFlow", "latest_run")
  expect_equal(run$origin_run_id, origin$id)
  join <- run$step("join")
  expect_equal(join$task(join$a_task)$artifact("outs"), 0:5 + 100)
  cloned <- tasks_table(run$step("work"))
  before <- tasks_table(origin$step("work"))
  stamps <- function(r, t, i) r$step("work")$task(t$id[t$index == i])$artifact("stamp")
  for (index in 0:2) {
    expect_identical(stamps(run, cloned, index), stamps(origin, before, index))
  }
})

test_that("resume after the runtime was SIGKILLed reruns what didn't finish, and nothing is left running", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    'flow <- metaflow("KilledFlow") %>%',
    '  step(step = "start", r_function = function(self) self$items <- 0:3, next_step = "work", foreach = "items") %>%',
    '  step(step = "work", r_function = function(self) {',
    '    cat("work", self$input, "\\n", file = "executions.txt", append = TRUE)',
    '    if (self$input >= 2 && file.exists("hang")) {',
    '      writeLines(as.character(Sys.getpid()), paste0("hang-", self$input, ".pid"))',
    '      system2("sleep", "347", wait = FALSE)',
    '      Sys.sleep(300)',
    '    }',
    '    self$out <- self$input',
    '  }, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
    '    self$outs <- unlist(gather_inputs(inputs, "out"))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)
  file.create("hang")
  runtime <- processx::process$new(
    file.path(R.home("bin"), "Rscript"), c(script, "run", "--max-workers", "4"),
    env = script_env(), stdout = "|", stderr = "|", cleanup_tree = TRUE
  )
  on.exit(runtime$kill_tree(), add = TRUE)
  deadline <- Sys.time() + 90
  done_splits <- function() {
    attempts <- Sys.glob(file.path(dir, ".metaflow", ".metaflow_core", "KilledFlow", "*", "work", "*", "_meta", "0.attempt.json"))
    sum(vapply(attempts, function(p) grepl('"succeeded"', paste(readLines(p, warn = FALSE), collapse = "")), TRUE))
  }
  while (Sys.time() < deadline && !(all(file.exists(c("hang-2.pid", "hang-3.pid"))) && done_splits() == 2)) {
    Sys.sleep(0.2)
  }
  expect_true(all(file.exists(c("hang-2.pid", "hang-3.pid"))))
  expect_equal(done_splits(), 2)
  engine <- live_processes()
  engine <- engine[engine$ppid == runtime$get_pid() & grepl("python", engine$args), ]
  expect_equal(nrow(engine), 1L)
  # The engine (the runtime) and the Rscript that started it, killed with no
  # chance to clean up (as by the OOM killer, or `kill -9` of a session).
  tools::pskill(c(runtime$get_pid(), as.integer(engine$pid)), tools::SIGKILL)
  runtime$wait(10000)
  origin <- new_run("KilledFlow", "latest_run")
  step_pids <- as.integer(readLines("hang-2.pid"))
  step_pids <- c(step_pids, as.integer(readLines("hang-3.pid")))

  # Everything the origin run started dies with its runtime: its tasks, their
  # Rscripts and what those started.
  still <- function() {
    rows <- live_processes()
    rows[grepl(origin$id, rows$args, fixed = TRUE) | grepl("^sleep 347", rows$args) |
      rows$pid %in% step_pids, ]
  }
  deadline <- Sys.time() + 10
  while (Sys.time() < deadline && nrow(still()) > 0) Sys.sleep(0.2)
  expect_equal(nrow(still()), 0L, info = paste(still()$args, collapse = "\n"))
  expect_equal(origin$status, "failed")
  expect_false(origin$successful)
  work <- tasks_table(origin$step("work"))
  expect_true(all(work$finished))
  expect_equal(work$successful[order(work$index)], c(TRUE, TRUE, FALSE, FALSE))

  unlink("hang")
  writeLines(character(), "executions.txt")
  resumed <- run_script(script, "resume")
  expect_equal(resumed$status, 0, info = resumed$stderr)
  expect_equal(sort(executions(dir)), c("work 2 ", "work 3 "))
  run <- new_run("KilledFlow", "latest_run")
  expect_equal(run$origin_run_id, origin$id)
  join <- run$step("join")
  expect_equal(join$task(join$a_task)$artifact("outs"), 0:3)
})
