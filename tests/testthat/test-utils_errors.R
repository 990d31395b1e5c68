test_that("metaflow_abort() signals an error of its kind and of the metaflow family", {
  expect_error(metaflow_abort("Boom.", "graph"), class = "metaflow_error_graph")
  expect_error(metaflow_abort("Boom.", "graph"), class = "metaflow_error")
})

test_that("metaflow_abort() interpolates the caller's variables and names the caller", {
  check_next_step <- function(next_step) {
    kind <- "a variable of the caller, not metaflow_abort()'s argument"
    metaflow_abort(c(
      "{.arg next_step} must name a step of the flow.",
      x = "There is no step {.val {next_step}}.",
      i = "{kind}"
    ), "graph")
  }
  expect_snapshot(check_next_step("trian"), error = TRUE)
  err <- expect_error(check_next_step("trian"), class = "metaflow_error_graph")
  expect_equal(err$call, quote(check_next_step("trian")))
})

test_that("metaflow_abort() passes condition fields through, such as the parent error", {
  cause <- simpleError("disk full")
  err <- expect_error(metaflow_abort("Can't save.", "datastore", parent = cause), class = "metaflow_error_datastore")
  expect_identical(err$parent, cause)
})
