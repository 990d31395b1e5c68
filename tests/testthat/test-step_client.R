# step_client: a step's tasks, one per split of a foreach.

test_that("a step is made from a run and a name, or from its pathspec", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$foreach)
  pathspec <- paste0(fixture$foreach, "/square")
  for (step in list(step_client$new(run, "square"), step_client$new(pathspec), run$step("square"))) {
    expect_s3_class(step, c("StepClient", "metaflow_object"))
    expect_equal(step$pathspec, pathspec)
    expect_equal(step$id, "square")
  }
  expect_error(step_client$new(fixture$foreach), class = "metaflow_error_pathspec")
})

test_that("a foreach step has a task per split; a_task is one of them", {
  fixture <- local_client_fixture()
  step <- new_run(fixture$foreach)$step("square")
  expect_length(step$tasks, 3)
  expect_true(step$a_task %in% step$tasks)
  expect_equal(step$a_task, step$tasks[[1]])
  expect_s3_class(step$finished_at, "POSIXct")
  finished <- vapply(step$tasks, function(id) as.numeric(step$task(id)$finished_at), numeric(1))
  expect_equal(as.numeric(step$finished_at), max(finished))
})

test_that("task() gives a task, without an id the step's own; an unknown task lists the step's tasks", {
  fixture <- local_client_fixture()
  step <- new_run(fixture$foreach)$step("square")
  task <- step$task(step$a_task)
  expect_s3_class(task, "TaskClient")
  expect_equal(step$task()$pathspec, task$pathspec)
  err <- expect_error(step$task("999"), class = "metaflow_error_not_found")
  expect_match(conditionMessage(err), paste(sort(as.integer(step$tasks)), collapse = ", "), fixed = TRUE)
})

test_that("a step whose task failed finished when the task did", {
  fixture <- local_client_fixture()
  step <- new_run(fixture$failed)$step("start")
  expect_length(step$tasks, 1)
  expect_equal(step$finished_at, step$task(step$a_task)$finished_at)
})

test_that("tasks_table() lists the splits in order", {
  fixture <- local_client_fixture()
  table <- new_run(fixture$foreach)$step("square")$tasks_table()
  expect_equal(table$index, 0:2)
  expect_true(all(table$successful))
})

test_that("print() shows the task counts; summary() adds each task", {
  fixture <- local_client_fixture()
  step <- new_run(fixture$foreach)$step("square")
  expect_snapshot(print(step), transform = scrub_client_output)
  expect_snapshot(step$summary(), transform = scrub_client_output)
  expect_snapshot(print(new_run(fixture$failed)$step("start")), transform = scrub_client_output)
})
