test_that("batch() has Netflix's signature and prints as the Python decorator", {
  expect_named(formals(batch), c(
    "cpu", "gpu", "memory", "image", "queue", "iam_role", "execution_role",
    "shared_memory", "max_swap", "swappiness"
  ))
  expect_equal(
    format(batch()),
    paste0(
      "@batch(cpu=1, gpu=0, memory=4096, image=None, queue=None, iam_role=None, ",
      "execution_role=None, shared_memory=None, max_swap=None, swappiness=None)"
    )
  )
  deco <- batch(cpu = 2, memory = 8000, queue = "q", image = "r-base", swappiness = 60)
  expect_equal(deco$name, "batch")
  expect_identical(deco$attributes[c("cpu", "memory", "image", "queue", "swappiness")],
                   list(cpu = 2L, memory = 8000L, image = "r-base", queue = "q", swappiness = 60L))
})

test_that("batch() checks its arguments before any process starts", {
  expect_error(batch(image = 1), class = "metaflow_error_decorator")
  expect_error(batch(queue = c("a", "b")), class = "metaflow_error_decorator")
  expect_error(batch(swappiness = 101), class = "metaflow_error_decorator")
  expect_error(batch(cpu = 0), class = "metaflow_error_decorator")
  expect_error(batch(memory = 1.5), class = "metaflow_error_decorator")
  expect_error(batch(max_swap = -1), class = "metaflow_error_decorator")
})

test_that("a batch() step goes to the engine in the spec, as data", {
  flow <- metaflow("BatchSpecFlow") %>%
    step(step = "start", batch(memory = 8000, queue = "my queue's"), next_step = "end") %>%
    step(step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  spec <- jsonlite::read_json(file.path(dir, "flow.json"))
  deco <- spec$steps[[1]]$decorators[[1]]
  expect_equal(deco$name, "batch")
  expect_equal(deco$attributes$memory, 8000)
  expect_equal(deco$attributes$queue, "my queue's")
})

test_that("run(flow, batch = TRUE) without the S3 datastore fails before the run, naming the step", {
  local_run_dir()
  flow <- metaflow("BatchLocalFlow") %>%
    step(step = "start", r_function = function(self) self$x <- 1, next_step = "end") %>%
    step(step = "end")
  withr::local_envvar(METAFLOW_BATCH_JOB_QUEUE = "q", METAFLOW_BATCH_CONTAINER_IMAGE = "img")
  err <- expect_error(run(flow, batch = TRUE, quiet = TRUE), class = "metaflow_error")
  expect_match(conditionMessage(err), "Step start runs on AWS Batch", fixed = TRUE)
  expect_match(conditionMessage(err), "needs the S3 datastore", fixed = TRUE)
  expect_length(list.files(file.path(".metaflow", "BatchLocalFlow")), 0)
})
