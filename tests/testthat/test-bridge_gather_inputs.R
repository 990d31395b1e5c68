test_that("a foreach join gathers an artifact from its unnamed inputs in split order", {
  dir <- withr::local_tempdir()
  inputs <- lapply(1:3, function(i) {
    request_input("inner", local_blobs(list(score = i * 10, label = letters[i]), dir), task = paste0("F/1/inner/", i))
  })
  ran <- run_step(
    function(self, inputs) {
      self$scores <- gather_inputs(inputs, "score")
      self$labels <- vapply(inputs, function(input) input$label, "")
      self$named <- names(inputs)
    },
    step = "join", join = "foreach", inputs = inputs, dir = dir
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$scores, list(10, 20, 30))
  expect_identical(ran$artifacts$labels, c("a", "b", "c"))
  expect_null(ran$artifacts$named)
})

test_that("gather_inputs() returns an unnamed list from any list of inputs", {
  inputs <- list(a = list(x = 1), b = list(x = "two"))

  expect_identical(gather_inputs(inputs, "x"), list(1, "two"))
  expect_identical(gather_inputs(list(), "x"), list())
})

test_that("gather_inputs() needs the name of one artifact", {
  expect_snapshot(gather_inputs(list(), c("x", "y")), error = TRUE)
})
