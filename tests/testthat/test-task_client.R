# task_client: a task's artifacts, logs, metadata and outcome.

first_task <- function(pathspec, step) {
  step <- new_run(pathspec)$step(step)
  step$task(step$a_task)
}

test_that("a task is made from a step and an id, or from its pathspec", {
  fixture <- local_client_fixture()
  step <- new_run(fixture$linear)$step("start")
  pathspec <- paste0(fixture$linear, "/start/", step$a_task)
  for (task in list(task_client$new(step, step$a_task), task_client$new(pathspec), step$task(step$a_task))) {
    expect_s3_class(task, c("TaskClient", "metaflow_object"))
    expect_equal(task$pathspec, pathspec)
  }
  expect_error(task_client$new(paste0(fixture$linear, "/start")), class = "metaflow_error_pathspec")
})

test_that("a successful task's outcome, logs and metadata", {
  fixture <- local_client_fixture()
  task <- first_task(fixture$linear, "start")
  expect_true(task$finished)
  expect_true(task$successful)
  expect_null(task$exception)
  expect_null(task$index)
  expect_gte(as.numeric(task$finished_at), as.numeric(task$created_at))
  expect_match(task$stdout, "hello from start", fixed = TRUE)
  expect_match(task$stderr, "a note on stderr", fixed = TRUE)
  metadata <- task$metadata_dict
  expect_type(metadata, "list")
  expect_equal(metadata$task_id, task$id)
  expect_equal(metadata$step_name, "start")
  expect_equal(metadata$attempt, "0")
  expect_equal(task$runtime_name, "dev")
})

test_that("code is the R function of the task's step", {
  fixture <- local_client_fixture()
  start <- first_task(fixture$linear, "start")$code
  expect_type(start, "character")
  expect_match(start, "^function \\(self\\)")
  expect_match(start, "self$df <- data.frame(a = 1:3", fixed = TRUE)
  expect_match(first_task(fixture$linear, "end")$code, "self$y <- self$x + 1L", fixed = TRUE)
  expect_match(first_task(fixture$foreach, "join")$code, "^function \\(self, inputs\\)")
  expect_null(first_task(fixture$foreach, "end")$code)
  expect_null(first_task(fixture$python, "start")$code)
})

test_that("artifacts come back as the identical R objects", {
  fixture <- local_client_fixture()
  task <- first_task(fixture$linear, "start")
  values <- client_linear_values()
  expect_equal(task$artifacts, sort(names(values)))
  for (name in names(values)) {
    expect_identical(task$artifact(name), values[[name]], label = name)
  }
})

test_that("foreach tasks know their index", {
  fixture <- local_client_fixture()
  step <- new_run(fixture$foreach)$step("square")
  tasks <- lapply(rev(step$tasks), step$task)
  expect_equal(lapply(tasks, function(task) task$index), list(0L, 1L, 2L))
  expect_equal(vapply(tasks, function(task) task$artifact("value"), ""), c("a0", "b1", "c2"))
  expect_equal(first_task(fixture$foreach, "join")$artifact("values"), c("a0", "b1", "c2"))
  expect_null(first_task(fixture$foreach, "start")$index)
})

test_that("a failed task holds the R error that failed it", {
  fixture <- local_client_fixture()
  task <- first_task(fixture$failed, "start")
  expect_true(task$finished)
  expect_false(task$successful)
  exception <- task$exception
  expect_s3_class(exception, c("metaflow_task_error", "simpleError", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(exception), "boom from R")
  expect_identical(conditionCall(exception), quote(explode()))
  expect_identical(exception$traceback, c("start(self)", "explode()", "stop(\"boom from R\")"))
  expect_identical(c(exception$step, exception$pathspec), c("start", task$pathspec))
  # The failed attempt keeps what the step assigned before the error.
  expect_identical(task$artifacts, "before")
  expect_identical(task$artifact("before"), 1)
  expect_snapshot(print(exception), transform = scrub_client_output)
})

test_that("a Python step's error record becomes a metaflow_python_error", {
  record <- list(type = "ValueError", message = "bad value", traceback = "Traceback ...\nValueError: bad value\n")
  err <- task_error_condition(record, "PyFlow/1/start/2", "start")
  expect_s3_class(err, c("metaflow_task_error", "metaflow_python_error", "error", "condition"), exact = TRUE)
  expect_identical(conditionMessage(err), "ValueError: bad value")
  expect_identical(err$type, "ValueError")
  expect_identical(format(err), c("ValueError: bad value", "Traceback ...", "ValueError: bad value"))
})

test_that("Python values come back as R values", {
  fixture <- local_client_fixture()
  task <- first_task(fixture$python, "start")
  expect_identical(task$artifact("number"), 3L)
  expect_identical(task$artifact("ratio"), 0.5)
  expect_identical(task$artifact("label"), "py")
  expect_identical(task$artifact("flag"), TRUE)
  expect_null(task$artifact("nothing"))
  expect_identical(task$artifact("items"), 1:3)
  expect_identical(task$artifact("mixed"), list(1L, "a", NULL))
  expect_identical(task$artifact("mapping"), list(a = 1L, b = 1:2))
  expect_identical(task$artifact("pair"), list(1L, "b"))
  expect_identical(task$artifact("blob"), as.raw(c(0, 1)))
  expect_identical(task$artifact("day"), as.Date("2024-01-02"))
  expect_identical(task$artifact("grid"), matrix(1:6, nrow = 2, byrow = TRUE))
  expect_identical(task$artifact("frame"), data.frame(a = c(1.5, NaN), b = c("x", "y")))
  expect_match(task$stdout, "hello from python", fixed = TRUE)
})

test_that("Python values without an R equivalent are errors naming their type", {
  fixture <- local_client_fixture()
  task <- first_task(fixture$python, "start")
  err <- expect_error(task$artifact("numbers"), class = "metaflow_error_artifact")
  expect_equal(err$python_type, "set")
  expect_equal(err$artifact, "numbers")
  err <- expect_error(task$artifact("amount"), class = "metaflow_error_artifact")
  expect_equal(err$python_type, "decimal.Decimal")
  # A class of the flow's own script can't even be loaded outside it.
  err <- expect_error(task$artifact("point"), class = "metaflow_error_artifact")
  expect_equal(err$python_type, "__main__.Point")
  err <- expect_error(task$artifact("codes"), class = "metaflow_error_artifact")
  expect_equal(err$python_type, "numpy.ndarray")
  expect_match(conditionMessage(err), "complex128", fixed = TRUE)
  expect_snapshot(task$artifact("holder"), error = TRUE, transform = scrub_client_output)
  expect_snapshot(task$artifact("point"), error = TRUE, transform = scrub_client_output)
})

test_that("listing artifacts reads only the index, never the values", {
  local_client_fixture()
  root <- withr::local_tempdir("metaflow-lazy-")
  pathspec <- run_python_flow(root, "ClientLazyFlow", c("        self.a = 1", "        self.b = [2]"), sysroot = root)
  blobs <- list.files(file.path(root, ".metaflow", ".metaflow_core", "ClientLazyFlow", "data"), recursive = TRUE, full.names = TRUE)
  expect_gt(length(blobs), 0)
  for (blob in blobs) {
    writeBin(charToRaw("not a blob"), blob)
  }
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = root)
  task <- first_task(pathspec, "end")
  expect_equal(task$artifacts, c("a", "b"))
  table <- task$artifacts_table()
  expect_equal(table$name, c("a", "b"))
  expect_equal(table$encoding, c("pickle", "pickle"))
  expect_equal(new_run(pathspec)$artifacts, c("a", "b"))
  expect_error(task$artifact("a"), class = "metaflow_error_data_corrupt")
})

test_that("an unknown artifact is an error listing the task's artifacts", {
  fixture <- local_client_fixture()
  task <- first_task(fixture$linear, "start")
  err <- expect_error(task$artifact("z"), class = "metaflow_error_not_found")
  expect_match(conditionMessage(err), "artifacts: df, l, m, when, x", fixed = TRUE)
  expect_error(task$artifact(c("x", "y")), class = "metaflow_error_usage")
})

test_that("print() shows status, times and artifacts; summary() adds the table and error", {
  fixture <- local_client_fixture()
  expect_snapshot(print(first_task(fixture$linear, "start")), transform = scrub_client_output)
  square <- new_run(fixture$foreach)$step("square")
  expect_snapshot(print(square$task(square$tasks[[1]])), transform = scrub_client_output)
  expect_snapshot(first_task(fixture$failed, "start")$summary(), transform = scrub_client_output)
  expect_snapshot(first_task(fixture$python, "start")$summary(), transform = scrub_client_output)
})

test_that("a task shows the resources its step asked for; without resources() it has none", {
  local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("ResourcesRFlow") %>%',
    '  step(step = "start", resources(cpu = 1, memory = 100, gpu = 0), next_step = "end") %>%',
    '  step(step = "end")'
  ))
  run <- run(flow, quiet = TRUE)
  start <- run$step("start")$task(run$step("start")$a_task)
  expect_equal(start$resources, list(cpu = 1L, memory = 100L, gpu = 0L))
  expect_match(paste(capture.output(print(start)), collapse = "\n"), "Resources +1 CPU, 100 MB memory")
  end <- run$step("end")$task(run$step("end")$a_task)
  expect_null(end$resources)
  expect_no_match(paste(capture.output(print(end)), collapse = "\n"), "\\nResources ")
})

test_that("a step asking for more cores than the machine has gets a one-line warning, even in a quiet run", {
  local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("BigRFlow") %>%',
    '  step(step = "start", resources(cpu = 1000), next_step = "end") %>%',
    '  step(step = "end")'
  ))
  warning <- "Warning: step start asks for more than this machine has: 1000 CPUs \\(the machine has [0-9]+\\)"
  output <- paste(capture.output(run(flow), type = "message"), collapse = "\n")
  expect_match(output, warning)
  quiet <- capture.output(run(flow, quiet = TRUE), type = "message")
  expect_length(grep(warning, quiet), 1L)
  # The warning and the end line, nothing else.
  expect_length(quiet, 2L)
  expect_match(quiet[[2]], "BigRFlow/[0-9]+ done: 2 steps, 2 tasks in")
})

test_that("an artifact whose blob has a flipped byte is an error naming artifact, task and file, never a value", {
  dir <- local_run_dir()
  flow <- metaflow("ClientFlippedFlow") %>%
    step(step = "start", r_function = function(self) {
      self$total <- 2100000
      self$alpha <- 1
    }, next_step = "end") %>%
    step(step = "end")
  run(flow, quiet = TRUE)
  task <- new_run("ClientFlippedFlow", "latest_run")$step("start")$task("1")
  expect_identical(task$artifact("total"), 2100000)
  # The stored file of `total`: the blob whose payload is its serialized bytes.
  blobs <- list.files(file.path(dir, ".metaflow", ".metaflow_core", "ClientFlippedFlow", "data"), recursive = TRUE, full.names = TRUE)
  payload <- c(charToRaw("MFBn"), serialize(2100000, NULL, xdr = FALSE))
  path <- Filter(function(p) identical(readBin(p, "raw", file.size(p) + 1), payload), blobs)[[1]]
  bytes <- readBin(path, "raw", file.size(path))
  bytes[length(bytes) - 2L] <- xor(bytes[length(bytes) - 2L], as.raw(1L))
  writeBin(bytes, path)

  err <- expect_error(task$artifact("total"), class = "metaflow_error_data_corrupt")
  message <- cli::ansi_strip(conditionMessage(err))
  expect_match(message, "Artifact \"total\" of task \"ClientFlippedFlow/[0-9]+/start/1\" is damaged")
  expect_match(message, "hashes to", fixed = TRUE)
  expect_match(gsub("\n", "", message), normalizePath(path), fixed = TRUE)
  expect_identical(err$artifact, "total")
  expect_identical(err$path, path)
  # Each read checks again: still an error, and the intact artifact still reads.
  expect_error(task$artifact("total"), class = "metaflow_error_data_corrupt")
  expect_identical(task$artifact("alpha"), 1)
})

test_that("the client reads a 100 MB artifact with its own and its Python process's peak under 2.5 times its size", {
  dir <- local_run_dir()
  flow <- metaflow("ClientBigFlow") %>%
    step(step = "start", r_function = function(self) self$x <- runif(12.5e6), next_step = "end") %>%
    step(step = "end")
  run(flow, quiet = TRUE)
  reader <- file.path(dir, "read.R")
  writeLines(c(
    'library(metaflow)',
    'task <- new_run("ClientBigFlow", "latest_run")$step("start")$task("1")',
    'stopifnot(length(task$artifact("x")) == 12.5e6)',
    'peak <- function(pid) as.numeric(strsplit(trimws(sub("VmHWM:", "", grep("^VmHWM", readLines(sprintf("/proc/%s/status", pid)), value = TRUE))), " ")[[1]][1]) / 1024',
    'cat(peak("self"), peak(metaflow:::client_state$process$get_pid()), "\\n")'
  ), reader)

  ran <- run_script(reader)

  expect_identical(ran$status, 0L, info = ran$stderr)
  peaks <- as.numeric(strsplit(trimws(ran$stdout), " ")[[1]])
  expect_length(peaks, 2L)
  expect_lte(peaks[[1]], 2.5 * 100, label = "the R session's peak (MB)")
  expect_lte(peaks[[2]], 2.5 * 100, label = "the client process's peak (MB)")
})
