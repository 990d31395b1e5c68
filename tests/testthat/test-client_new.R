# new_flow(), new_run(), new_step(), new_task() and list_flows().

test_that("new_*() make the client objects from ids", {
  fixture <- local_client_fixture()
  run_id <- sub("^ClientForeachFlow/", "", fixture$foreach)
  expect_s3_class(new_flow("ClientForeachFlow"), "FlowClient")
  run <- new_run("ClientForeachFlow", run_id)
  expect_s3_class(run, "RunClient")
  expect_equal(run$pathspec, fixture$foreach)
  step <- new_step("ClientForeachFlow", run_id, "square")
  expect_s3_class(step, "StepClient")
  expect_equal(step$pathspec, paste0(fixture$foreach, "/square"))
  task <- new_task("ClientForeachFlow", run_id, "square", step$a_task)
  expect_s3_class(task, "TaskClient")
  expect_equal(task$pathspec, paste0(fixture$foreach, "/square/", step$a_task))
})

test_that("new_run() and new_flow() take a flow client or a flow made with metaflow()", {
  fixture <- local_client_fixture()
  run_id <- sub("^ClientForeachFlow/", "", fixture$foreach)
  flow <- metaflow("ClientForeachFlow")
  expect_equal(new_run(flow, run_id)$pathspec, fixture$foreach)
  expect_equal(new_run(new_flow("ClientForeachFlow"), "latest_run")$pathspec, fixture$foreach)
  expect_equal(new_flow(flow)$pathspec, "ClientForeachFlow")
  expect_equal(new_step(flow, run_id, "square")$pathspec, paste0(fixture$foreach, "/square"))
  expect_error(new_run(metaflow("NoSuchFlow"), "latest_run"), class = "metaflow_error_not_found")
})

test_that("new_*() take a pathspec alone", {
  fixture <- local_client_fixture()
  expect_equal(new_run(fixture$foreach)$pathspec, fixture$foreach)
  step_pathspec <- paste0(fixture$foreach, "/square")
  expect_equal(new_step(step_pathspec)$pathspec, step_pathspec)
  task_pathspec <- paste0(step_pathspec, "/", new_step(step_pathspec)$a_task)
  expect_equal(new_task(task_pathspec)$pathspec, task_pathspec)
  expect_error(new_step("ClientForeachFlow", "1"), class = "metaflow_error_usage")
  expect_snapshot(new_task("ClientForeachFlow", "1", "start"), error = TRUE)
})

test_that("new_run() resolves latest_run and latest_successful_run", {
  fixture <- local_client_fixture()
  expect_equal(new_run("ClientLinearFlow", "latest_successful_run")$pathspec, fixture$linear)
  expect_equal(new_run("ClientFailFlow", "latest_run")$pathspec, fixture$failed)
  expect_identical(new_run("ClientLinearFlow", "latest_successful_run")$artifact("x"), 42L)
  expect_equal(new_step("ClientLinearFlow", "latest_run", "start")$id, "start")
})

test_that("unknown ids at each level are errors listing what exists", {
  fixture <- local_client_fixture()
  run_id <- sub("^ClientForeachFlow/", "", fixture$foreach)
  expect_snapshot(new_flow("NoSuchFlow"), error = TRUE, transform = scrub_client_output)
  expect_snapshot(new_run("ClientForeachFlow", "1"), error = TRUE, transform = scrub_client_output)
  expect_snapshot(new_step("ClientForeachFlow", run_id, "nope"), error = TRUE, transform = scrub_client_output)
  expect_snapshot(new_task("ClientForeachFlow", run_id, "square", "999"), error = TRUE, transform = scrub_client_output)
  expect_error(new_task("ClientForeachFlow", run_id, "nope", "1"), class = "metaflow_error_not_found")
})

test_that("list_flows() lists the flows with runs in the namespace, newest first", {
  local_client_fixture()
  flows <- list_flows()
  expect_type(flows, "character")
  expect_setequal(flows, c(
    "ClientPyFlow", "ClientLinearFlow", "ClientForeachFlow", "ClientFailFlow", "ClientReaderFlow"
  ))
  expect_equal(flows[[1]], "ClientReaderFlow")
})
