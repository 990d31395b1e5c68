# `self` and join inputs, built directly on real blob files.
local_self <- function(values = list(), parameters = list(), foreach_stack = list(), env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  new_metaflow_self("start", local_blobs(values, dir), parameters, foreach_stack)
}

test_that("`$` and `[[` read an inherited artifact once, then from memory", {
  self <- local_self(list(x = 1:3, y = "why"))
  path <- self_field(self, "artifacts")$refs$x$path

  expect_identical(self$x, 1:3)
  unlink(path)
  expect_identical(self[["x"]], 1:3)
  expect_identical(self[["y"]], "why")
})

test_that("assigning stores the value and shadows the inherited one, NULL included", {
  self <- local_self(list(x = 1))
  self$x <- 2
  self[["gone"]] <- NULL

  expect_identical(self$x, 2)
  expect_null(self$gone)
  expect_identical(self_field(self, "values"), list(x = 2, gone = NULL))
  expect_identical(names(self), c("x", "gone"))
})

test_that("assignments made in a function are seen by the caller", {
  self <- local_self()
  step <- function(self) self$made <- "here"
  step(self)

  expect_identical(self$made, "here")
})

test_that("parameters are readable and read-only", {
  self <- local_self(parameters = list(alpha = 0.5))

  expect_identical(self$alpha, 0.5)
  expect_snapshot(self$alpha <- 1, error = TRUE)
  expect_error(self[["alpha"]] <- 1, class = "metaflow_error_artifact")
})

test_that("the foreach names can't be assigned", {
  self <- local_self()

  expect_error(self$input <- 1, class = "metaflow_error_artifact")
  expect_error(self$index <- 1, class = "metaflow_error_artifact")
  expect_snapshot(self[["foreach_stack"]] <- 1, error = TRUE)
})

test_that("self and join inputs can't be assigned as artifacts", {
  self <- local_self()

  expect_snapshot(self$me <- self, error = TRUE)
})

test_that("reading an artifact that doesn't exist names the step and the artifacts there are", {
  self <- local_self(list(a = 1, b = 2), parameters = list(alpha = 1))
  self$c <- 3

  expect_snapshot(self$missing, error = TRUE)
  err <- expect_error(self[["missing"]], class = "metaflow_error_artifact")
  expect_identical(err$artifact, "missing")
  expect_identical(err$call, quote(self[["missing"]]))
})

test_that("the list of available artifacts is cut at ten", {
  self <- local_self()
  for (i in 1:12) self[[paste0("a", i)]] <- i

  expect_snapshot(self$missing, error = TRUE)
})

test_that("artifact names must be single strings", {
  self <- local_self()

  expect_snapshot(self[[1]], error = TRUE)
  expect_error(self[[""]] <- 1, class = "metaflow_error_artifact")
  expect_error(self[[c("a", "b")]], class = "metaflow_error_artifact")
})

test_that("an artifact written by Python can't be read and says so", {
  dir <- withr::local_tempdir()
  self <- new_metaflow_self("train", list(model = local_pickle_blob(dir)))

  expect_snapshot(self$model, error = TRUE)
})

test_that("a Python None, as catch(var =) stores it on success, reads as NULL", {
  dir <- withr::local_tempdir()
  none <- function(bytes, codec = "n") {
    body <- if (codec == "z") memCompress(as.raw(bytes), "gzip") else as.raw(bytes)
    blob_ref(c(charToRaw(paste0("MFB", codec)), body), dir, "pickle")
  }
  self <- new_metaflow_self("end", list(
    p4 = none(c(0x80, 0x04, 0x4e, 0x2e)), p4z = none(c(0x80, 0x04, 0x4e, 0x2e), "z"),
    p0 = none(c(0x4e, 0x2e)), model = local_pickle_blob(dir)
  ))
  expect_null(self$p4)
  expect_null(self$p4z)
  expect_null(self$p0)
  expect_error(self$model, "written by Python", class = "metaflow_error_artifact")
})

test_that("reading a Python artifact in a step fails the step clearly", {
  dir <- withr::local_tempdir()
  ran <- run_step(function(self) self$copy <- self$model, artifacts = list(model = local_pickle_blob(dir)), dir = dir)

  expect_identical(ran$status, 1L)
  expect_match(ran$result$error$message, "Can't read artifact `model` of step `start` in R.", fixed = TRUE)
  expect_match(ran$result$error$message, "written by Python (encoding `pickle`)", fixed = TRUE)
})

test_that("a missing or damaged blob is an artifact error naming the artifact", {
  dir <- withr::local_tempdir()
  refs <- local_blobs(list(gone = 1, damaged = 2, headless = 3), dir)
  unlink(refs$gone$path)
  writeBin(c(charToRaw("MFBz"), as.raw(1:10)), refs$damaged$path)
  writeBin(charToRaw("plain"), refs$headless$path)
  self <- new_metaflow_self("start", refs)

  err <- expect_error(self$gone, class = "metaflow_error_artifact")
  expect_match(conditionMessage(err), "Can't read artifact `gone` of step `start`.\n.*datastore file is missing")
  err <- expect_error(self$damaged, class = "metaflow_error_artifact")
  expect_s3_class(err$parent, "error")
  err <- expect_error(self$headless, class = "metaflow_error_artifact")
  expect_match(conditionMessage(err), "no `MFB` header", fixed = TRUE)
})

test_that("print() shows the step, artifacts and parameters, not internals", {
  self <- local_self(list(x = 1), parameters = list(alpha = 1))
  self$y <- 2

  expect_snapshot(print(self))
})

test_that("a join input reads lazily, lists its names and is read-only", {
  dir <- withr::local_tempdir()
  input <- new_metaflow_input("a", "F/1/a/3", 0L, local_blobs(list(x = 1, y = "b"), dir), list(alpha = 2))

  expect_identical(input$x, 1)
  expect_identical(input[["y"]], "b")
  expect_identical(input$alpha, 2)
  expect_identical(names(input), c("x", "y"))
  expect_snapshot(input$x <- 2, error = TRUE)
  expect_error(input[["x"]] <- 2, class = "metaflow_error_artifact")
  expect_snapshot(input$nope, error = TRUE)
  expect_snapshot(print(input))
})

test_that("asking a join for a step it has no input from is an error", {
  dir <- withr::local_tempdir()
  branch <- new_metaflow_inputs(list(
    a = new_metaflow_input("a", "F/1/a/3", 0L, list()),
    b = new_metaflow_input("b", "F/1/b/4", 1L, list())
  ))
  foreach <- new_metaflow_inputs(list(new_metaflow_input("a", "F/1/a/3", 0L, list())))

  expect_identical(branch$b, branch[[2]])
  expect_snapshot(branch$c, error = TRUE)
  expect_snapshot(foreach[["a"]], error = TRUE)
})

test_that("an artifact name that is no identifier is refused when assigned, naming the step", {
  self <- local_self()
  for (name in c("../../evil", "a b", "1x", "x-y", "_mine", strrep("a", 101))) {
    err <- expect_error(self[[name]] <- 1, class = "metaflow_error_artifact")
    expect_match(conditionMessage(err), "Can't assign artifact .* in step `start`: it is not a valid artifact name.")
    expect_identical(err$artifact, name)
  }
  expect_match(conditionMessage(expect_error(self[["_mine"]] <- 1)), "metaflow's own", fixed = TRUE)
  expect_match(conditionMessage(expect_error(self[[strrep("a", 101)]] <- 1)), "at most 100", fixed = TRUE)
  expect_identical(names(self), character())
  self[[strrep("a", 100)]] <- 1
  self$ok_name2 <- 2
  expect_identical(names(self), c(strrep("a", 100), "ok_name2"))
})

test_that("an invalid artifact name's error names the step, the name and what is wrong", {
  self <- local_self()
  expect_snapshot(self[["../../evil"]] <- 1, error = TRUE)
  expect_snapshot(self[["_mine"]] <- 1, error = TRUE)
})

test_that("a step reading an artifact whose blob has a flipped byte fails naming artifact, task and file, with no value", {
  dir <- local_run_dir()
  flow <- flow_from_code(c(
    'flip <- function(path) {',
    '  bytes <- readBin(path, "raw", file.size(path)); at <- length(bytes) - 3L',
    '  bytes[at] <- xor(bytes[at], as.raw(1L)); writeBin(bytes, path)',
    '}',
    'flow <- metaflow("FlippedFlow") %>%',
    '  step(step = "start", r_function = function(self) { self$total <- 2100000; self$alpha <- 1 },',
    '       next_step = "damage") %>%',
    # The test's way to the stored file: what the step was told about it.
    '  step(step = "damage", r_function = function(self) {',
    '    flip(metaflow:::self_field(self, "artifacts")$refs$total$path)',
    '  }, next_step = "use") %>%',
    '  step(step = "use", r_function = function(self) {',
    '    self$alpha_seen <- self$alpha',
    '    self$doubled <- self$total * 2',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))

  err <- expect_error(run(flow, quiet = TRUE))
  run <- new_run("FlippedFlow", "latest_run")
  use <- run$step("use")
  task <- use$task(use$a_task)
  # `use` inherits `total` from `damage`, which passed it down from `start`.
  damage <- run$step("damage")
  from_pathspec <- paste0(run$pathspec, "/damage/", damage$a_task)

  exception <- task$exception
  expect_s3_class(exception, "metaflow_error_data_corrupt")
  message <- conditionMessage(exception)
  expect_match(message, sprintf("Artifact `total` of task %s is damaged", from_pathspec), fixed = TRUE)
  expect_match(message, "hashes to", fixed = TRUE)
  expect_match(message, file.path(dir, ".metaflow", ".metaflow_core", "FlippedFlow", "data"), fixed = TRUE)
  # The intact artifact was read; the damaged one gave no value.
  expect_setequal(intersect(task$artifacts, c("alpha_seen", "doubled")), "alpha_seen")
  expect_identical(task$artifact("alpha_seen"), 1)
  expect_equal(list.files(file.path(dir, ".metaflow", ".metaflow_core", ".staging"), all.files = TRUE, no.. = TRUE), character())
})
