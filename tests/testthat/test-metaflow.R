test_that("metaflow() returns an empty flow with its name and decorators", {
  flow <- metaflow("HelloFlow", decorator("schedule", daily = TRUE))
  expect_s3_class(flow, "Flow")
  expect_equal(flow$get_name(), "HelloFlow")
  expect_equal(flow$get_flow_decorators(), list(decorator("schedule", daily = TRUE)))
  expect_length(flow$get_steps(), 0)
  expect_length(flow$get_parameters(), 0)
})

test_that("metaflow() doesn't assign the flow into the global environment", {
  metaflow("MetaflowTestNotGlobal")
  expect_false(exists("MetaflowTestNotGlobal", envir = globalenv(), inherits = FALSE))
  # the original package made `metaflow("sqrt")` mask base::sqrt
  metaflow("sqrt")
  expect_identical(get("sqrt", envir = globalenv()), base::sqrt)
})

test_that("metaflow() accepts names that are Python identifiers", {
  for (name in c("A", "_private", "Flow_2", "snake_case_flow")) {
    expect_equal(metaflow(name)$get_name(), name)
  }
})

test_that("metaflow() rejects invalid flow names", {
  bad <- list(
    "1Flow", "my flow", "my-flow", "", "Flöw", NA_character_, c("A", "B"), 1, NULL,
    "X(FlowSpec):\n    import os", "A; import os", "x__import__('os')"
  )
  for (name in bad) {
    expect_error(metaflow(name), class = "metaflow_error_flow")
  }
  expect_error(metaflow(), class = "metaflow_error_flow")
  expect_snapshot(metaflow("X(FlowSpec):\n    import os"), error = TRUE)
})

test_that("metaflow() takes only decorators in `...`, each once", {
  expect_error(metaflow("A", "schedule"), class = "metaflow_error_flow")
  expect_error(metaflow("A", list(name = "retry")), class = "metaflow_error_flow")
  expect_error(metaflow("A", retry(), retry(times = 1)), class = "metaflow_error_decorator")
  expect_snapshot(metaflow("A", decorator("schedule", daily = TRUE), "daily"), error = TRUE)
})

test_that("a flow name too long for the datastore's paths is refused with the limit", {
  err <- expect_error(metaflow(strrep("F", 101)), class = "metaflow_error_flow")
  expect_match(conditionMessage(err), "A flow name can have at most 100 characters.", fixed = TRUE)
  expect_match(conditionMessage(err), paste0(strrep("F", 40), "..."), fixed = TRUE)
  expect_s3_class(metaflow(strrep("F", 100)), "Flow")
})

test_that("a too long name's error shows the start of the name and the limit", {
  expect_snapshot(metaflow(strrep("F", 120)), error = TRUE)
})
