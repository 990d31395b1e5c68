# Fault injection on R flows, for real: SIGTERM, SIGHUP and SIGKILL at random
# (seeded, printed) points of a foreach, to `Rscript flow.R run` and to the
# engine it starts; a closed stdout; a dead task process. Each case checks
# that no process of the run is left (from the process table: the processes
# whose working directory is the test's), that every finished artifact is
# right, and that the run resumes, with the right final artifacts.

fault_seed <- as.integer(Sys.getenv("FAULTS_SEED", "20261202"))
fault_splits <- 6L

# `count` points for case number `case`: random, the same for the same seed.
fault_points <- function(count, case = 0L) {
  seed <- fault_seed + case
  withr::with_seed(seed, points <- sample(0:(fault_splits - 2L), count, replace = TRUE))
  message("fault points (seed ", seed, "): ", paste(points, collapse = ", "))
  points
}

write_faults_flow <- function(dir) {
  write_flow_script(c(
    'flow <- metaflow("FaultsFlow") %>%',
    sprintf('  step(step = "start", r_function = function(self) self$items <- 0:%d,', fault_splits - 1L),
    '       next_step = "work", foreach = "items") %>%',
    '  step(step = "work", r_function = function(self) {',
    '    writeLines("", paste0("started-", self$input))',
    '    system2("sleep", "308.5", wait = FALSE)',
    '    if (!identical(Sys.getenv("FAST"), "1")) Sys.sleep(as.numeric(Sys.getenv("SPLIT_SECONDS", "0.4")) * self$input)',
    '    self$out <- self$input^2',
    '  }, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, r_function = function(self, inputs) {',
    '    self$outs <- sort(vapply(inputs, function(i) i$out, 0))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)
}

finished_splits <- function(dir) {
  files <- Sys.glob(file.path(dir, ".metaflow", ".metaflow_core", "FaultsFlow", "*", "work", "*", "_meta", "0.attempt.json"))
  sum(vapply(files, function(f) grepl('"succeeded"', paste(readLines(f, warn = FALSE), collapse = "")), TRUE))
}

# Waits (relaying nothing) until the last split started and `finished` splits
# finished.
wait_for_point <- function(process, dir, finished) {
  deadline <- Sys.time() + 90
  while (Sys.time() < deadline && process$is_alive()) {
    if (file.exists(file.path(dir, paste0("started-", fault_splits - 1L))) &&
        finished_splits(dir) >= finished) {
      return(invisible(TRUE))
    }
    process$poll_io(100)
    process$read_output_lines()
  }
  stop("the run did not reach ", finished, " finished splits")
}

run_status <- function(dir, run_id) {
  jsonlite::read_json(file.path(dir, ".metaflow", ".metaflow_core", "FaultsFlow", run_id, "_meta", "status.json"))
}

latest_run_id <- function(dir) {
  runs <- list.files(file.path(dir, ".metaflow", ".metaflow_core", "FaultsFlow"), pattern = "^[0-9]+$")
  runs[order(as.numeric(runs))][length(runs)]
}

expect_finished_artifacts_right <- function(run_id) {
  run <- new_run("FaultsFlow", run_id)
  work <- tasks_table(run)
  work <- work[work$step == "work" & work$successful, ]
  for (id in work$id) {
    task <- run$step("work")$task(id)
    expect_equal(task$artifact("out"), task$index^2)
  }
}

expect_resumes <- function(script, run_id) {
  withr::local_envvar(FAST = "1")
  result <- run_script(script, c("resume", "--origin-run-id", run_id))
  expect_equal(result$status, 0L, info = paste(result$stdout, result$stderr))
  resumed <- new_run("FaultsFlow", "latest_run")
  expect_true(resumed$successful)
  expect_equal(resumed$artifact("outs"), (0:(fault_splits - 1L))^2)
}

engine_pid <- function(runner_pid) {
  deadline <- Sys.time() + 30
  while (Sys.time() < deadline) {
    found <- live_processes("metaflow_core[.]codegen")
    found <- found[found$ppid == runner_pid, ]
    if (nrow(found) == 1) return(found$pid)
    Sys.sleep(0.05)
  }
  stop("no engine under the runner")
}

signal_cases <- expand.grid(
  signal = c("SIGTERM", "SIGHUP", "SIGKILL"), target = c("runner", "engine"),
  stringsAsFactors = FALSE
)

for (case in seq_len(nrow(signal_cases))) {
  local({
    name <- signal_cases$signal[case]
    target <- signal_cases$target[case]
    for (point in fault_points(1, case)) {
      test_that(sprintf("%s to the %s after %d finished splits stops everything, recorded, and the run resumes", name, target, point), {
        dir <- local_run_dir()
        script <- write_faults_flow(dir)
        signum <- switch(name, SIGTERM = 15L, SIGHUP = 1L, SIGKILL = 9L)
        process <- processx::process$new(rscript_path(), c(script, "run"), env = script_env(),
                                          stdout = "|", stderr = "2>&1")
        on.exit(process$kill_tree(), add = TRUE)
        wait_for_point(process, dir, point)
        victim <- if (target == "runner") process$get_pid() else engine_pid(process$get_pid())
        tools::pskill(victim, signum)
        output <- character()
        deadline <- Sys.time() + 60
        while (process$is_alive() && Sys.time() < deadline) {
          process$poll_io(200)
          output <- c(output, process$read_output_lines())
        }
        output <- c(output, tryCatch(process$read_all_output_lines(), error = function(e) character()))
        expect_false(process$is_alive())
        expect_no_process_left(dir)

        run_id <- latest_run_id(dir)
        status <- run_status(dir, run_id)
        # A killed engine leaves its record as it was; readers see it failed.
        if (!(target == "engine" && name == "SIGKILL")) expect_equal(status$status, "failed")
        stopped_by <- paste("stopped by", name)
        if (target == "runner" && name != "SIGKILL") {
          expect_equal(process$get_exit_status(), 128L + signum)
          expect_equal(status$reason, stopped_by)
          expect_true(any(grepl(sprintf("Run FaultsFlow/%s was %s", run_id, stopped_by), output, fixed = TRUE)))
        } else if (target == "runner") {
          expect_equal(process$get_exit_status(), -9L)
          expect_match(status$reason, "^stopped because the process that started the run, pid [0-9]+ \\(R\\), exited$")
        } else if (name != "SIGKILL") {
          expect_false(process$get_exit_status() == 0L)
          expect_equal(status$reason, stopped_by)
          expect_true(any(grepl(sprintf("Run FaultsFlow/%s was %s.", run_id, stopped_by), output, fixed = TRUE)))
        } else {
          expect_false(process$get_exit_status() == 0L)
        }
        expect_equal(new_run("FaultsFlow", run_id)$status, "failed")
        expect_false(is.null(new_run("FaultsFlow", run_id)$status_reason))
        expect_finished_artifacts_right(run_id)
        expect_resumes(script, run_id)
        expect_no_process_left(dir)
      })
    }
  })
}

test_that("closing the stdout of `Rscript flow.R run` mid-run loses the output, not the run", {
  dir <- local_run_dir()
  script <- write_faults_flow(dir)
  point <- fault_points(1, 100L)
  process <- processx::process$new(rscript_path(), c(script, "run"), env = script_env(),
                                    stdout = "|", stderr = "2>&1")
  on.exit(process$kill_tree(), add = TRUE)
  wait_for_point(process, dir, point)
  close(process$get_output_connection())
  process$wait(120000)
  expect_equal(process$get_exit_status(), 0L)
  expect_no_process_left(dir)
  run_id <- latest_run_id(dir)
  expect_equal(run_status(dir, run_id)$status, "succeeded")
  expect_equal(new_run("FaultsFlow", run_id)$artifact("outs"), (0:(fault_splits - 1L))^2)
  expect_resumes(script, run_id)
})

test_that("a task's Python process killed outright is noticed at once: its Rscript dies with it", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    'flow <- metaflow("DeadTaskFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    writeLines(as.character(Sys.getpid()), "r-pid")',
    '    Sys.sleep(300)',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)
  process <- processx::process$new(rscript_path(), c(script, "run"), env = script_env(),
                                    stdout = "|", stderr = "2>&1")
  on.exit(process$kill_tree(), add = TRUE)
  deadline <- Sys.time() + 60
  while (!(file.exists("r-pid") && length(readLines("r-pid")) == 1) && Sys.time() < deadline) Sys.sleep(0.05)
  r_pid <- as.integer(readLines("r-pid"))
  everything <- live_processes(".")
  task <- everything[everything$pid == everything$ppid[everything$pid == r_pid], ]
  expect_equal(nrow(task), 1L)
  expect_match(task$args, "internal-task")
  tools::pskill(task$pid, tools::SIGKILL)
  # Unnoticed, the run would go on until the step's 300 s sleep ended.
  process$wait(60000)
  expect_false(process$is_alive())
  output <- process$read_all_output_lines()
  expect_true(any(grepl("Task failed: killed by signal 9", output, fixed = TRUE)))
  expect_false(r_pid %in% live_processes(".")$pid)
  expect_no_process_left(dir)
})

test_that("a run whose engine went silent reads as failed, with when, and resume refuses while it lives", {
  dir <- local_run_dir()
  withr::local_envvar(METAFLOW_HEARTBEAT_SECONDS = "0.2", SPLIT_SECONDS = "10")
  script <- write_faults_flow(dir)
  process <- processx::process$new(rscript_path(), c(script, "run"), env = script_env(),
                                    stdout = "|", stderr = "2>&1")
  on.exit(process$kill_tree(), add = TRUE)
  wait_for_point(process, dir, 0L)
  run_id <- latest_run_id(dir)
  engine <- engine_pid(process$get_pid())
  refused <- run_script(script, c("resume", "--origin-run-id", run_id))
  expect_false(refused$status == 0L)
  expect_match(gsub("\\s+", " ", refused$stderr),
               sprintf("Run FaultsFlow/%s is still running (its runtime is pid %d on ", run_id, engine), fixed = TRUE)
  expect_false(grepl("Traceback", refused$stderr))

  tools::pskill(engine, tools::SIGSTOP)
  on.exit(tools::pskill(engine, tools::SIGCONT), add = TRUE, after = FALSE)
  deadline <- Sys.time() + 30
  while (new_run("FaultsFlow", run_id)$status == "running" && Sys.time() < deadline) Sys.sleep(0.2)
  expect_equal(new_run("FaultsFlow", run_id)$status, "failed")
  expect_match(new_run("FaultsFlow", run_id)$status_reason,
               sprintf("^the runtime stopped \\(pid %d on .*\\): its last heartbeat was at 20[0-9-]+ [0-9:]+ UTC$", engine))
  refused <- run_script(script, c("resume", "--origin-run-id", run_id))
  expect_false(refused$status == 0L)
  expect_match(refused$stderr, "is still running", fixed = TRUE)

  tools::pskill(engine, tools::SIGCONT)
  tools::pskill(process$get_pid(), tools::SIGTERM)
  process$wait(60000)
  expect_equal(process$get_exit_status(), 143L)
  expect_no_process_left(dir)
  expect_equal(run_status(dir, run_id)$reason, "stopped by SIGTERM")
})
