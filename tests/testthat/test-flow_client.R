# flow_client: a flow's runs, newest first, in the current namespace.

test_that("a flow lists its runs and knows the latest", {
  fixture <- local_client_fixture()
  flow <- flow_client$new("ClientLinearFlow")
  run_id <- sub("^ClientLinearFlow/", "", fixture$linear)
  expect_s3_class(flow, c("FlowClient", "metaflow_object"))
  expect_equal(flow$runs, run_id)
  expect_equal(flow$latest_run, run_id)
  expect_equal(flow$latest_successful_run, run_id)
  expect_equal(flow$finished_at, new_run(fixture$linear)$finished_at)
})

test_that("latest_successful_run skips a failed run; a flow without one has none", {
  fixture <- local_client_fixture()
  failing <- flow_client$new("ClientFailFlow")
  expect_equal(failing$latest_run, sub("^ClientFailFlow/", "", fixture$failed))
  expect_null(failing$latest_successful_run)
  expect_null(failing$finished_at)
  expect_error(failing$run("latest_successful_run"), class = "metaflow_error_not_found")
  expect_snapshot(failing$run("latest_successful_run"), error = TRUE)
})

test_that("run() takes a run id, latest_run or latest_successful_run", {
  fixture <- local_client_fixture()
  flow <- new_flow("ClientLinearFlow")
  run_id <- sub("^ClientLinearFlow/", "", fixture$linear)
  expect_s3_class(flow$run(run_id), "RunClient")
  expect_equal(flow$run(run_id)$pathspec, fixture$linear)
  expect_equal(flow$run("latest_run")$id, run_id)
  expect_equal(flow$run("latest_successful_run")$id, run_id)
})

test_that("an unknown run is an error listing the flow's latest runs", {
  fixture <- local_client_fixture()
  flow <- new_flow("ClientLinearFlow")
  err <- expect_error(flow$run("12345"), class = "metaflow_error_not_found")
  expect_match(conditionMessage(err), sub("^ClientLinearFlow/", "", fixture$linear), fixed = TRUE)
  expect_snapshot(flow$run("12345"), error = TRUE, transform = scrub_client_output)
})

test_that("runs are seen in the namespace the flow was read in", {
  fixture <- local_client_fixture()
  own_id <- sub("^ClientPyFlow/", "", fixture$python)
  other_id <- sub("^ClientPyFlow/", "", fixture$other)
  expect_equal(new_flow("ClientPyFlow")$runs, own_id)
  expect_equal(new_flow("ClientPyFlow")$latest_run, own_id)
  set_namespace(NULL)
  everyone <- new_flow("ClientPyFlow")
  expect_equal(everyone$runs, c(other_id, own_id))
  expect_equal(everyone$latest_run, other_id)
})

test_that("runs_with_tags() returns the runs carrying every tag", {
  fixture <- local_client_fixture()
  flow <- new_flow("ClientLinearFlow")
  tagged <- flow$runs_with_tags("alpha", "beta")
  expect_length(tagged, 1)
  expect_s3_class(tagged[[1]], "RunClient")
  expect_equal(tagged[[1]]$pathspec, fixture$linear)
  expect_length(flow$runs_with_tags("alpha", "gamma"), 0)
  expect_length(flow$runs_with_tags(), 1)
  expect_error(flow$runs_with_tags(1), class = "metaflow_error_usage")
})

test_that("runs_table() is one row per run", {
  fixture <- local_client_fixture()
  table <- new_flow("ClientLinearFlow")$runs_table()
  expect_equal(table$id, sub("^ClientLinearFlow/", "", fixture$linear))
  expect_identical(new_flow("ClientLinearFlow")$runs_table(tags = "gamma")$id, character())
})

test_that("an unknown flow is an error listing the flows there are", {
  local_client_fixture()
  err <- expect_error(flow_client$new("NoSuchFlow"), class = "metaflow_error_not_found")
  expect_match(conditionMessage(err), "ClientLinearFlow", fixed = TRUE)
  expect_error(flow_client$new("Bad/Name"), class = "metaflow_error_pathspec")
  expect_error(flow_client$new(42), class = "metaflow_error_pathspec")
})

test_that("print() shows the runs first; summary() adds the latest runs", {
  fixture <- local_client_fixture()
  flow <- new_flow("ClientLinearFlow")
  expect_snapshot(print(flow), transform = scrub_client_output)
  expect_snapshot(flow$summary(), transform = scrub_client_output)
  expect_snapshot(print(new_flow("ClientFailFlow")), transform = scrub_client_output)
})
