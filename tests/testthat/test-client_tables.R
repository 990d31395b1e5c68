# runs_table(), tasks_table(), artifacts_table(): one row per thing.

test_that("runs_table() has a row per run with times, outcome and tags", {
  fixture <- local_client_fixture()
  table <- runs_table("ClientLinearFlow")
  expect_s3_class(table, "data.frame")
  expect_named(table, c("id", "created_at", "finished_at", "duration", "status", "successful", "tags"))
  expect_equal(nrow(table), 1)
  run <- new_run(fixture$linear)
  expect_equal(table$id, run$id)
  expect_equal(table$created_at, run$created_at)
  expect_equal(table$finished_at, run$finished_at)
  expect_s3_class(table$duration, "difftime")
  expect_equal(units(table$duration), "secs")
  expect_equal(as.numeric(table$duration), as.numeric(run$finished_at) - as.numeric(run$created_at))
  expect_equal(table$status, "succeeded")
  expect_true(table$successful)
  expect_type(table$tags, "list")
  expect_equal(table$tags[[1]], run$tags)
  expect_identical(runs_table(new_flow("ClientLinearFlow")), table)
})

test_that("runs_table() shows failed runs unfinished and filters by tags", {
  fixture <- local_client_fixture()
  failed <- runs_table("ClientFailFlow")
  expect_equal(failed$status, "failed")
  expect_false(failed$successful)
  expect_true(is.na(failed$finished_at))
  expect_true(is.na(failed$duration))
  expect_equal(nrow(runs_table("ClientLinearFlow", tags = c("alpha", "beta"))), 1)
  empty <- runs_table("ClientLinearFlow", tags = "gamma")
  expect_equal(nrow(empty), 0)
  expect_named(empty, names(failed))
})

test_that("runs_table() lists the namespace's runs, newest first", {
  fixture <- local_client_fixture()
  expect_equal(runs_table("ClientPyFlow")$id, sub("^ClientPyFlow/", "", fixture$python))
  set_namespace(NULL)
  expect_equal(
    runs_table("ClientPyFlow")$id,
    sub("^ClientPyFlow/", "", c(fixture$other, fixture$python))
  )
})

test_that("tasks_table() has a row per task with its index and outcome", {
  fixture <- local_client_fixture()
  step_pathspec <- paste0(fixture$foreach, "/square")
  table <- tasks_table(step_pathspec)
  expect_named(table, c("step", "id", "index", "finished", "successful", "created_at", "finished_at", "duration", "origin_pathspec"))
  expect_equal(nrow(table), 3)
  expect_identical(table$origin_pathspec, rep(NA_character_, 3))
  expect_equal(table$step, rep("square", 3))
  expect_identical(table$index, 0:2)
  expect_true(all(table$finished & table$successful))
  expect_true(all(table$duration >= 0))
  expect_setequal(table$id, new_step(step_pathspec)$tasks)
  expect_identical(tasks_table(new_step(step_pathspec)), table)
  start <- tasks_table(paste0(fixture$foreach, "/start"))
  expect_identical(start$index, NA_integer_)
  failed <- tasks_table(paste0(fixture$failed, "/start"))
  expect_true(failed$finished)
  expect_false(failed$successful)
})

test_that("tasks_table() of a run has every task of every step, steps in the order they ran", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$foreach)
  table <- tasks_table(run)
  expect_equal(table$step, c("start", "square", "square", "square", "join", "end"))
  expect_identical(table[table$step == "square", -1], tasks_table(run$step("square"))[, -1], ignore_attr = TRUE)
  expect_identical(tasks_table(fixture$foreach), table)
})

test_that("artifacts_table() of a run lists its results, the artifacts of its end task", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  table <- artifacts_table(run)
  expect_identical(table, artifacts_table(run$step("end")$task(run$end_task)))
  expect_setequal(table$name, run$artifacts)
  expect_identical(artifacts_table(fixture$linear), table)
  expect_error(artifacts_table(fixture$failed), class = "metaflow_error_not_found")
})

test_that("artifacts_table() has a row per artifact with type, size and encoding", {
  fixture <- local_client_fixture()
  linear <- new_step(paste0(fixture$linear, "/start"))
  table <- artifacts_table(linear$task(linear$a_task))
  expect_named(table, c("name", "type", "size", "encoding"))
  expect_equal(table$name, c("df", "l", "m", "when", "x"))
  expect_equal(unique(table$type), "R object")
  expect_equal(unique(table$encoding), "rds")
  expect_equal(table$size[table$name == "x"], length(serialize(42L, NULL)))

  python <- new_step(paste0(fixture$python, "/start"))
  py_table <- artifacts_table(paste0(python$pathspec, "/", python$a_task))
  types <- stats::setNames(py_table$type, py_table$name)
  expect_equal(unname(types[c("number", "label", "numbers", "amount", "point")]),
               c("int", "str", "set", "decimal.Decimal", "__main__.Point"))
  expect_equal(unique(py_table$encoding), "pickle")
})

test_that("the tables take objects or pathspecs, and check them", {
  local_client_fixture()
  expect_error(tasks_table("ClientLinearFlow"), class = "metaflow_error_pathspec")
  expect_error(artifacts_table("ClientLinearFlow/1/start"), class = "metaflow_error_pathspec")
  expect_error(runs_table("NoSuchFlow"), class = "metaflow_error_not_found")
  expect_error(runs_table("ClientLinearFlow", tags = NA_character_), class = "metaflow_error_usage")
})
