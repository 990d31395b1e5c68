# verify_frame(): the client's verify reply as a data frame. (Real damage, read
# through $verify() of real runs, is in test-faults-blobs.R.)

test_that("an intact check is a data frame with no rows and says what it checked", {
  frame <- verify_frame(list(blobs = 4, summary = "All 4 blobs of run F/1 are intact.",
                             damaged = list(artifact = list(), pathspec = list(), attempt = list(),
                                            file = list(), reason = list())))
  expect_s3_class(frame, "data.frame")
  expect_equal(nrow(frame), 0L)
  expect_named(frame, c("artifact", "task", "attempt", "file", "reason"))
  expect_equal(attr(frame, "blobs"), 4L)
  expect_equal(attr(frame, "summary"), "All 4 blobs of run F/1 are intact.")
})

test_that("a stray blob file has no artifact nor task, and keeps its row", {
  frame <- verify_frame(list(blobs = 2, summary = "2 damaged items", damaged = list(
    artifact = list("total", NULL), pathspec = list("F/1/start/1", NULL), attempt = list(0L, NULL),
    file = list("/d/ab/ab1", "/d/cd/junk"), reason = list("missing", "not a blob")
  )))
  expect_equal(frame$artifact, c("total", NA))
  expect_equal(frame$task, c("F/1/start/1", NA))
  expect_identical(frame$attempt, c(0L, NA))
  expect_equal(frame$file, c("/d/ab/ab1", "/d/cd/junk"))
})

test_that("an intact run verified through the client has no damaged rows", {
  dir <- local_run_dir()
  flow <- metaflow("VerifyIntactFlow") %>%
    step(step = "start", r_function = function(self) self$x <- 1:3, next_step = "end") %>%
    step(step = "end")
  run <- collect_messages(run(flow, quiet = TRUE))$value
  report <- run$verify()
  expect_equal(nrow(report), 0L)
  expect_match(attr(report, "summary"), paste0("of run ", run$pathspec, " are intact"), fixed = TRUE)
  expect_equal(nrow(new_flow("VerifyIntactFlow")$verify()), 0L)
  expect_equal(nrow(run$step("start")$task(run$step("start")$a_task)$verify("x")), 0L)
})
