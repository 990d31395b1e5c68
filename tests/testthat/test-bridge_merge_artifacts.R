# A join `self` over inputs whose artifacts are given as named lists of values.
local_join <- function(..., parameters = list(), join = "branch", env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  artifacts <- list(...)
  inputs <- new_metaflow_inputs(lapply(seq_along(artifacts), function(i) {
    step <- names(artifacts)[i]
    new_metaflow_input(step, paste0("F/1/", step, "/", i), i - 1L, local_blobs(artifacts[[i]], dir), parameters)
  }))
  names(inputs) <- names(artifacts)
  list(self = new_metaflow_self("join", parameters = parameters, join = join, inputs = inputs), inputs = inputs)
}

test_that("merge_artifacts() takes the artifacts the inputs agree on, without reading them", {
  join <- local_join(a = list(x = 1, only_a = "a"), b = list(x = 1, only_b = "b"))
  self <- join$self
  unlink(input_store(join$inputs$b)$refs$only_b$path)

  merge_artifacts(self, join$inputs)

  expect_identical(merge_result(self), list(x = 0L, only_a = 0L, only_b = 1L))
  expect_identical(self$x, 1)
  expect_identical(self$only_a, "a")
  expect_identical(names(self), c("x", "only_a", "only_b"))
})

test_that("conflicting artifacts fail the merge, naming them", {
  join <- local_join(a = list(x = 1, y = 1, same = 0), b = list(x = 2, y = 2, same = 0))

  expect_snapshot(merge_artifacts(join$self, join$inputs), error = TRUE)
  err <- expect_error(merge_artifacts(join$self, join$inputs), class = "metaflow_error_merge")
  expect_identical(err$artifacts, c("x", "y"))
  expect_identical(merge_result(join$self), structure(list(), names = character()))
})

test_that("artifacts set in the join, excluded ones and parameters aren't merged", {
  join <- local_join(
    a = list(x = 1, scratch = 1, alpha = 0.1, kept = "k"),
    b = list(x = 2, scratch = 2, alpha = 0.1),
    parameters = list(alpha = 0.5)
  )
  self <- join$self
  self$x <- 3

  merge_artifacts(self, join$inputs, exclude = list("scratch"))

  expect_identical(merge_result(self), list(kept = 0L))
  expect_identical(self$x, 3)
  expect_identical(self$alpha, 0.5)
  expect_error(self$scratch, class = "metaflow_error_artifact")
})

test_that("assigning a merged artifact takes it out of the merge", {
  join <- local_join(a = list(x = 1), b = list(x = 1))
  merge_artifacts(join$self, join$inputs)
  join$self$x <- 5

  expect_identical(merge_result(join$self), structure(list(), names = character()))
  expect_identical(join$self$x, 5)
})

test_that("merge_artifacts() only works in a join", {
  self <- new_metaflow_self("train")

  expect_snapshot(merge_artifacts(self, list()), error = TRUE)
  expect_error(merge_artifacts(list(), list()), class = "metaflow_error_merge")
})

test_that("a join reports merged artifacts by input index and reads them", {
  dir <- withr::local_tempdir()
  ran <- run_step(
    function(self, inputs) {
      self$x <- max(unlist(gather_inputs(inputs, "x")))
      merge_artifacts(self, inputs, exclude = "tmp")
      self$sum <- self$x + self$only_b
    },
    step = "join", join = "branch",
    inputs = list(
      request_input("a", local_blobs(list(x = 1, shared = "s", tmp = 1), dir)),
      request_input("b", local_blobs(list(x = 2, shared = "s", tmp = 2, only_b = 10), dir))
    ),
    dir = dir
  )

  expect_step_ok(ran)
  expect_identical(ran$result$merge, list(shared = 0L, only_b = 1L))
  expect_identical(ran$artifacts, list(x = 2, sum = 12))
})

test_that("a conflict in a join fails the step with Metaflow's advice", {
  dir <- withr::local_tempdir()
  ran <- run_step(
    function(self, inputs) merge_artifacts(self, inputs),
    step = "join", join = "branch",
    inputs = list(
      request_input("a", local_blobs(list(x = 1), dir)),
      request_input("b", local_blobs(list(x = 2), dir))
    ),
    dir = dir
  )

  expect_identical(ran$status, 1L)
  expect_match(ran$result$error$message, "Step `join` cannot merge the following artifacts", fixed = TRUE)
  expect_match(ran$result$error$message, "[x].", fixed = TRUE)
  expect_identical(ran$result$error$call, "merge_artifacts(self, inputs)")
})
