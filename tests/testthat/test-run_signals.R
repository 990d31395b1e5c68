test_that("signals are named as the engine names them", {
  expect_equal(signal_name(15L), "SIGTERM")
  expect_equal(signal_name(1L), "SIGHUP")
  expect_equal(signal_name(2L), "SIGINT")
  expect_equal(signal_name(10L), "signal 10")
})

test_that("no signal is caught outside run(), and R's handling comes back after it", {
  expect_equal(caught_stop_signal(), 0L)
  catch_stop_signals()
  expect_equal(release_stop_signals(), 0L)
})

for (name in c("SIGTERM", "SIGHUP")) {
  local({
    signame <- name
    test_that(sprintf("%s to an R session running run() stops the run first, recorded, then ends R with 128 + signal", signame), {
      dir <- local_run_dir()
      signum <- switch(signame, SIGTERM = 15L, SIGHUP = 1L)
      writeLines(c(
        'flow <- metaflow("SessionSignalFlow") %>%',
        '  step(step = "start", r_function = function(self) {',
        sprintf('    %s', background_sleeper_code("305.5", 'writeLines("", "started"); Sys.sleep(120)')),
        '  }, next_step = "end") %>%',
        '  step(step = "end")'
      ), "flow_def.R")
      session <- processx::process$new(
        file.path(R.home("bin"), "R"), c("--no-save", "--no-restore", "--quiet", "--interactive"),
        env = script_env(), stdin = "|", stdout = "|", stderr = "2>&1"
      )
      on.exit(session$kill_tree(), add = TRUE)
      session$write_input(paste0(c("library(metaflow)", 'source("flow_def.R")', "run(flow)"), "\n", collapse = ""))
      deadline <- Sys.time() + 90
      output <- character()
      while (!file.exists("started") && Sys.time() < deadline) {
        session$poll_io(200)
        output <- c(output, session$read_output_lines())
      }
      expect_true(file.exists("started"))
      tools::pskill(session$get_pid(), signum)
      session$wait(60000)
      output <- c(output, session$read_all_output_lines())
      expect_false(session$is_alive())
      expect_equal(session$get_exit_status(), 128L + signum)
      expect_true(any(grepl(paste("was stopped by", signame), output, fixed = TRUE)))
      expect_equal(nrow(live_processes("sleep 305[.]5")), 0L)
      run <- new_run("SessionSignalFlow", "latest_run")
      expect_equal(run$status, "failed")
      expect_equal(run$status_reason, paste("stopped by", signame))
      start <- run$step("start")$task()
      expect_equal(start$metadata_dict$status, "killed")
    })
  })
}
