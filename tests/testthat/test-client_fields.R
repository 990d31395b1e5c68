# read_only_fields(), on a class of its own: no client process needed.

counter_class <- function() {
  R6::R6Class(
    "Counter",
    public = list(base = 1),
    active = read_only_fields(
      twice = function() 2 * self$base,
      secret = function() private$hidden
    ),
    private = list(hidden = "s")
  )
}

test_that("each getter becomes an active field that sees self and private", {
  counter <- counter_class()$new()
  expect_identical(counter$twice, 2)
  counter$base <- 5
  expect_identical(counter$twice, 10)
  expect_identical(counter$secret, "s")
})

test_that("an assignment to a read-only field is an error that names it", {
  counter <- counter_class()$new()
  expect_error(counter$twice <- 3, class = "metaflow_error_usage")
  expect_snapshot(counter$twice <- 3, error = TRUE)
  expect_identical(counter$twice, 2)
})

test_that("every field of the client classes is read-only", {
  classes <- list(metaflow_object, flow_client, run_client, step_client, task_client)
  for (class in classes) {
    for (field in names(class$active)) {
      expect_match(paste(deparse(body(class$active[[field]])), collapse = "\n"),
        sprintf("assert_read_only(value, \"%s\")", field),
        fixed = TRUE
      )
    }
  }
})
