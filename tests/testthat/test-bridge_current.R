test_that("current() only works inside a running step", {
  expect_snapshot(current("run_id"), error = TRUE)
  expect_error(current("run_id"), class = "metaflow_error_current")
})

test_that("current() returns the running task's values", {
  ran <- run_step(
    function(self) {
      self$seen <- lapply(
        c(
          "flow_name", "run_id", "origin_run_id", "step_name", "task_id", "pathspec",
          "namespace", "username", "retry_count", "is_running_flow", "parameter_names"
        ),
        current
      )
    },
    step = "train", parameters = list(alpha = 1)
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$seen, list(
    "TestFlow", "1", NULL, "train", "2", "TestFlow/1/train/2",
    "user:tester", "tester", 0L, TRUE, "alpha"
  ))
})

test_that("current() names the values it knows when asked for another", {
  withr::defer(rm("current", envir = running_task))
  set_running_task(test_current("train"))

  expect_identical(current("parameter_names"), character())
  expect_snapshot(current("flow"), error = TRUE)
})
