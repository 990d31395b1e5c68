# mf_client: navigating from a flow down to a task, as Netflix's package does.

test_that("mf_client navigates flow, run, step and task", {
  fixture <- local_client_fixture()
  client <- mf_client$new()
  flow <- client$flow("ClientForeachFlow")
  expect_s3_class(flow, "FlowClient")
  run <- client$run(flow, "latest_successful_run")
  expect_s3_class(run, "RunClient")
  expect_equal(run$pathspec, fixture$foreach)
  step <- client$step(run, "square")
  expect_s3_class(step, "StepClient")
  task <- client$task(step, step$a_task)
  expect_s3_class(task, "TaskClient")
  expect_equal(task$pathspec, paste0(fixture$foreach, "/square/", step$a_task))
  expect_true("ClientForeachFlow" %in% client$flows())
})

test_that("mf_client takes names and pathspecs as well as objects", {
  fixture <- local_client_fixture()
  client <- mf_client$new()
  run_id <- sub("^ClientForeachFlow/", "", fixture$foreach)
  expect_equal(client$run("ClientForeachFlow", run_id)$pathspec, fixture$foreach)
  expect_equal(client$step(fixture$foreach, "end")$id, "end")
  step_pathspec <- paste0(fixture$foreach, "/end")
  task_id <- new_step(step_pathspec)$a_task
  expect_equal(client$task(step_pathspec, task_id)$id, task_id)
})

test_that("mf_client errors name what is missing", {
  local_client_fixture()
  client <- mf_client$new()
  expect_error(client$flow("NoSuchFlow"), class = "metaflow_error_not_found")
  flow <- client$flow("ClientForeachFlow")
  expect_error(client$run(flow, "1"), class = "metaflow_error_not_found")
  expect_snapshot(client$run(flow, "1"), error = TRUE, transform = scrub_client_output)
})

test_that("printing an mf_client says how to use it", {
  expect_snapshot(print(mf_client$new()))
})
