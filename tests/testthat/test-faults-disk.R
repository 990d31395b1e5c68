# Fault injection: the datastore's disk fills up under an R flow, for real (a
# small tmpfs, mounted as root). The run fails with an error that says so, its
# status is written, no process is left, what finished before still reads
# right, and once there is room the run resumes to the right result.

# A tmpfs of `size` at `dir` until the calling test ends. Where it can't be
# mounted (not root, no mount) the test fails.
local_small_tmpfs <- function(dir, size, env = parent.frame()) {
  dir.create(dir, showWarnings = FALSE)
  status <- system2("mount", c("-t", "tmpfs", "-o", paste0("size=", size), "tmpfs", dir),
                    stdout = FALSE, stderr = FALSE)
  if (status != 0) stop("Could not mount a tmpfs at ", dir, " (this test needs root)", call. = FALSE)
  # First of the test's exit handlers, before local_run_dir() deletes the directory.
  do.call(on.exit, list(bquote(system2("umount", c("-l", .(dir)))), add = TRUE, after = FALSE),
          envir = env)
  invisible(dir)
}

test_that("a full datastore disk fails an R run cleanly, and the run resumes once there is room", {
  dir <- local_run_dir()
  store <- local_small_tmpfs(file.path(dir, "store"), "3m")
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = store)
  script <- write_flow_script(c(
    'flow <- metaflow("FullDiskFlow") %>%',
    '  step(step = "start", r_function = function(self) self$label <- "made before the disk filled",',
    '       next_step = "big") %>%',
    # 4 MB of doubles: more than the disk holds.
    '  step(step = "big", r_function = function(self) {',
    '    self$values <- runif(2^19)',
    '    self$n <- length(self$values)',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ), dir)

  failed <- run_script(script, "run")

  output <- paste(failed$stdout, failed$stderr)
  expect_false(failed$status == 0)
  expect_match(output, "disk is full|No space left on device")
  expect_no_match(output, "Internal error|Traceback")
  expect_no_process_left(dir)
  run_id <- readLines(file.path(store, ".metaflow", ".metaflow_core", "FullDiskFlow", "latest_run"), warn = FALSE)
  run <- new_run("FullDiskFlow", run_id)
  expect_identical(run$finished, FALSE)
  expect_false(run$successful)
  start <- run$step("start")
  expect_identical(start$task(start$a_task)$artifact("label"), "made before the disk filled")

  expect_equal(system2("mount", c("-o", "remount,size=64m", store), stdout = FALSE, stderr = FALSE), 0L)
  resumed <- run_script(script, "resume")
  expect_equal(resumed$status, 0L, info = resumed$stderr)
  expect_no_process_left(dir)
  latest <- new_run("FullDiskFlow", "latest_run")
  expect_true(latest$successful)
  expect_identical(latest$origin_run_id, run_id)
  expect_identical(latest$artifact("n"), 524288L)
})
