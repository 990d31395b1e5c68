# run_client: one run's status, steps, code and results.

test_that("a run is made from a flow and an id, or from its pathspec", {
  fixture <- local_client_fixture()
  run_id <- sub("^ClientLinearFlow/", "", fixture$linear)
  flow <- flow_client$new("ClientLinearFlow")
  made <- list(
    run_client$new(flow, run_id),
    run_client$new(fixture$linear),
    run_client$new(flow, "latest_run"),
    run_client$new("ClientLinearFlow", "latest_successful_run")
  )
  for (run in made) {
    expect_s3_class(run, c("RunClient", "metaflow_object"))
    expect_equal(run$pathspec, fixture$linear)
  }
  expect_error(run_client$new("ClientLinearFlow"), class = "metaflow_error_pathspec")
  expect_error(run_client$new("ClientLinearFlow/1/start"), class = "metaflow_error_pathspec")
  expect_snapshot(run_client$new("ClientLinearFlow/"), error = TRUE)
})

test_that("a successful run's status, times, steps and end task", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  expect_equal(run$status, "succeeded")
  expect_true(run$successful)
  expect_true(run$finished)
  expect_s3_class(run$finished_at, "POSIXct")
  expect_gte(as.numeric(run$finished_at), as.numeric(run$created_at))
  expect_equal(run$steps, c("end", "start"))
  end <- run$step("end")
  expect_equal(run$end_task, end$a_task)
})

test_that("artifact() gives back the identical R objects of the end step", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  values <- client_linear_values()
  expect_setequal(run$artifacts, c(names(values), "y"))
  for (name in names(values)) {
    expect_identical(run$artifact(name), values[[name]], label = name)
  }
  expect_identical(run$artifact("y"), 43L)
})

test_that("an unknown artifact is an error listing the artifacts", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  err <- expect_error(run$artifact("nope"), class = "metaflow_error_not_found")
  expect_match(conditionMessage(err), "df, l, m, when, x, y", fixed = TRUE)
  expect_snapshot(run$artifact("nope"), error = TRUE, transform = scrub_client_output)
})

test_that("a failed run is unsuccessful, has no results, and says why", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$failed)
  expect_equal(run$status, "failed")
  expect_false(run$successful)
  expect_false(run$finished)
  expect_null(run$finished_at)
  expect_null(run$end_task)
  expect_identical(run$artifacts, character())
  expect_equal(run$steps, "start")
  expect_error(run$artifact("before"), class = "metaflow_error_not_found")
  expect_snapshot(run$artifact("before"), error = TRUE, transform = scrub_client_output)
})

test_that("step() gives a step; an unknown step lists the run's steps", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$foreach)
  expect_s3_class(run$step("square"), "StepClient")
  expect_equal(run$step("square")$pathspec, paste0(fixture$foreach, "/square"))
  err <- expect_error(run$step("squares"), class = "metaflow_error_not_found")
  expect_match(conditionMessage(err), "start, square, join, end", fixed = TRUE)
  expect_snapshot(run$step("squares"), error = TRUE, transform = scrub_client_output)
})

test_that("code is the generated module and spec of an R flow, NULL for a Python flow", {
  fixture <- local_client_fixture()
  code <- new_run(fixture$linear)$code
  expect_named(code, c("flowspec", "spec"))
  expect_match(code$flowspec, "class ClientLinearFlow", fixed = TRUE)
  expect_equal(code$spec$flow_name, "ClientLinearFlow")
  expect_null(new_run(fixture$python)$code)
})

test_that("print() shows status, times and steps; summary() adds each step", {
  fixture <- local_client_fixture()
  expect_snapshot(print(new_run(fixture$linear)), transform = scrub_client_output)
  expect_snapshot(new_run(fixture$foreach)$summary(), transform = scrub_client_output)
  expect_snapshot(new_run(fixture$failed)$summary(), transform = scrub_client_output)
})
