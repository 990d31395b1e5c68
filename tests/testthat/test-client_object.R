# What every client object has: ids, pathspecs, parents, tags, times,
# children, namespaces, read-only fields.

test_that("every level has its id, pathspec and parent", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$foreach)
  run_id <- sub("^ClientForeachFlow/", "", fixture$foreach)
  flow <- new_flow("ClientForeachFlow")
  step <- run$step("square")
  task <- step$task(step$a_task)

  expect_equal(c(flow$id, flow$pathspec), c("ClientForeachFlow", "ClientForeachFlow"))
  expect_null(flow$parent)
  expect_equal(c(run$id, run$pathspec, run$parent), c(run_id, fixture$foreach, "ClientForeachFlow"))
  expect_equal(c(step$id, step$pathspec, step$parent), c("square", paste0(fixture$foreach, "/square"), run_id))
  expect_equal(task$pathspec, paste0(fixture$foreach, "/square/", task$id))
  expect_equal(task$parent, "square")
})

test_that("tags and creation times come from the run", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  expect_true(all(c("alpha", "beta", "user:mf_tester", "runtime:dev") %in% run$tags))
  expect_false(is.unsorted(run$tags))
  step <- run$step("start")
  task <- step$task(step$a_task)
  expect_equal(step$tags, run$tags)
  expect_equal(task$tags, run$tags)
  expect_identical(new_flow("ClientLinearFlow")$tags, character())

  for (object in list(new_flow("ClientLinearFlow"), run, step, task)) {
    expect_s3_class(object$created_at, "POSIXct")
    expect_lt(abs(as.numeric(difftime(Sys.time(), object$created_at, units = "hours"))), 24)
  }
  expect_lte(as.numeric(run$created_at), as.numeric(step$created_at))
  expect_lte(as.numeric(step$created_at), as.numeric(task$created_at))
})

test_that("get_values() lists the children's ids", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$foreach)
  expect_setequal(run$get_values(), c("start", "square", "join", "end"))
  expect_length(run$step("square")$get_values(), 3)
  end <- run$step("end")
  expect_equal(end$task(end$a_task)$get_values(), "values")
})

test_that("is_in_namespace() follows the current namespace", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  expect_true(run$is_in_namespace())
  set_namespace("user:mf_other")
  expect_false(run$is_in_namespace())
  set_namespace(NULL)
  expect_true(run$is_in_namespace())
})

test_that("fields are read-only", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  expect_error(run$id <- "1", class = "metaflow_error_usage")
  expect_error(run$successful <- FALSE, class = "metaflow_error_usage")
  expect_equal(run$pathspec, fixture$linear)
})

test_that("metaflow_object wraps only refs of the client", {
  expect_error(metaflow_object$new("HelloFlow"), class = "metaflow_error_usage")
})

test_that("summary() works as a method and as the S3 generic", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  expect_equal(capture.output(summary(run)), capture.output(run$summary()))
  expect_invisible(run$summary())
  expect_invisible(print(run))
})

test_that("ids may be given as numbers and must be single ids", {
  fixture <- local_client_fixture()
  flow <- new_flow("ClientLinearFlow")
  run_id <- sub("^ClientLinearFlow/", "", fixture$linear)
  expect_equal(flow$run(as.numeric(run_id))$id, run_id)
  expect_error(flow$run(c("1", "2")), class = "metaflow_error_usage")
  expect_error(flow$run(NA_character_), class = "metaflow_error_usage")
  expect_error(flow$run("a/b"), class = "metaflow_error_usage")
  expect_snapshot(flow$run(TRUE), error = TRUE)
})

test_that("a malformed pathspec or id is an error naming the bad part, in every entry point", {
  fixture <- local_client_fixture()
  run_id <- sub("^ClientForeachFlow/", "", fixture$foreach)
  pathspec_cases <- list(
    quote(new_flow("..")),
    quote(flow_client$new("..")),
    quote(run_client$new("ClientForeachFlow/..")),
    quote(new_run("ClientForeachFlow/..")),
    quote(new_step(paste0(fixture$foreach, "/.."))),
    quote(new_task(paste0(fixture$foreach, "/square/.."))),
    quote(new_task(paste0(fixture$foreach, "/./1"))),
    quote(new_task(paste0(fixture$foreach, "/square/", strrep("9", 101))))
  )
  for (case in pathspec_cases) {
    err <- expect_error(eval(case), class = "metaflow_error_pathspec")
    expect_match(conditionMessage(err), "^The (flow name|run id|step name|task id) .* of pathspec .* is not valid")
    expect_no_match(conditionMessage(err), "KeyError|Traceback|File \"")
  }
  run <- new_run(fixture$foreach)
  step <- run$step("square")
  task <- step$task(step$a_task)
  id_cases <- list(
    quote(new_run("ClientForeachFlow", "..")),
    quote(run_client$new("ClientForeachFlow", "..")),
    quote(new_flow("ClientForeachFlow")$run("..")),
    quote(new_step("ClientForeachFlow", run_id, ".")),
    quote(new_task("ClientForeachFlow", run_id, "square", "..")),
    quote(run$step("..")),
    quote(run$step("a/b")),
    quote(step$task("..")),
    quote(step$task("")),
    quote(task$artifact("..")),
    quote(run$artifact(strrep("y", 101)))
  )
  for (case in id_cases) {
    err <- expect_error(eval(case), class = "metaflow_error_usage")
    expect_match(conditionMessage(err), "must be a non-empty id without \"/\", and not \".\" or \"..\"", fixed = TRUE)
    expect_no_match(conditionMessage(err), "KeyError|Traceback|File \"")
  }
})
