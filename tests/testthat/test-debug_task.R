# Real runs of one flow script under Rscript: run `failed` fails in `square`
# on the split whose value is `bad` (3), run `passed` (bad = 0) succeeds.
# The script's helpers and constant are only in the script.
debug_flow_script <- c(
  "library(metaflow)",
  "scale_by <- 10",
  "describe <- function(x) paste('value', x)",
  "check_value <- function(x, bad) if (x == bad) stop('bad value ', x) else describe(x)",
  "flow <- metaflow('DebugTaskFlow') %>%",
  "  parameter('bad', default = 3) %>%",
  "  step(step = 'start', foreach = 'numbers', next_step = 'square', r_function = function(self) {",
  "    self$numbers <- c(1, 3, 5)",
  "    self$greeting <- 'hi'",
  "  }) %>%",
  "  step(step = 'square', next_step = 'join', r_function = function(self) {",
  "    self$label <- check_value(self$input, self$bad)",
  "    self$value <- self$input * scale_by",
  "    self$where <- current('pathspec')",
  "  }) %>%",
  "  step(step = 'join', join = TRUE, next_step = 'end', r_function = function(self, inputs) {",
  "    self$total <- sum(unlist(gather_inputs(inputs, 'value'))) + scale_by",
  "  }) %>%",
  "  step(step = 'end')",
  "run(flow)"
)

debug_fixture_cache <- new.env(parent = emptyenv())

debug_fixture <- function() {
  if (is.null(debug_fixture_cache$fixture)) {
    dir <- normalizePath(withr::local_tempdir("metaflow-debug-", .local_envir = teardown_env()))
    script <- file.path(dir, "debug_flow.R")
    writeLines(debug_flow_script, script)
    run_script <- function(...) {
      id_file <- tempfile("run-id-")
      result <- processx::run(
        file.path(R.home("bin"), "Rscript"), c(script, "run", "--run-id-file", id_file, ...),
        wd = dir, error_on_status = FALSE,
        env = c("current", METAFLOW_DATASTORE_SYSROOT_LOCAL = dir, METAFLOW_USER = "mf_tester")
      )
      list(status = result$status, run = paste0("DebugTaskFlow/", readLines(id_file, warn = FALSE)))
    }
    failed <- run_script()
    passed <- run_script("--bad", "0")
    if (failed$status == 0L || passed$status != 0L) {
      stop("DebugTaskFlow's runs did not end as the tests need.", call. = FALSE)
    }
    debug_fixture_cache$fixture <- list(dir = dir, failed = failed$run, passed = passed$run)
  }
  debug_fixture_cache$fixture
}

local_debug_fixture <- function(env = parent.frame()) {
  fixture <- debug_fixture()
  withr::local_envvar(
    METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$dir, METAFLOW_USER = "mf_tester",
    .local_envir = env
  )
  reset_default_metadata()
  set_default_namespace()
  withr::defer(reset_default_metadata(), envir = env)
  fixture
}

# The task of `step` in `run` whose foreach index is `index` (or the only one).
task_of <- function(run, step, index = NULL) {
  tasks <- tasks_table(step_client$new(paste0(run, "/", step)))
  row <- if (is.null(index)) 1L else which(tasks$index == index)
  task_client$new(paste0(run, "/", step, "/", tasks$id[[row]]))
}

test_that("debug_task() of the failed split raises the step's error again", {
  fixture <- local_debug_fixture()
  failed <- task_of(fixture$failed, "square", index = 1L)
  expect_false(failed$successful)
  debugger <- debug_task(failed$pathspec)
  expect_s3_class(debugger, "metaflow_debug_task")
  expect_equal(debugger$self$input, 3)
  expect_equal(debugger$self$index, 1L)
  expect_equal(debugger$self$numbers, c(1, 3, 5))
  expect_equal(debugger$self$greeting, "hi")
  expect_equal(debugger$self$bad, 3)
  expect_null(debugger$inputs)
  err <- expect_error(debugger$run(), class = "simpleError")
  expect_equal(conditionMessage(err), failed$exception$message)
  status <- jsonlite::read_json(file.path(
    fixture$dir, ".metaflow", ".metaflow_core", fixture$failed, "_meta", "status.json"
  ))
  expect_equal(class(err), unlist(status$failed_tasks[[1]]$error$r_class))
  expect_equal(conditionMessage(err), "bad value 3")
  expect_equal(format_call(conditionCall(err)), "check_value(self$input, self$bad)")
})

test_that("debug_task() of a run or step is its one failed task", {
  fixture <- local_debug_fixture()
  failed <- task_of(fixture$failed, "square", index = 1L)
  expect_equal(debug_task(fixture$failed)$pathspec, failed$pathspec)
  by_step <- debug_task(step_client$new(paste0(fixture$failed, "/square")))
  expect_equal(by_step$self$input, 3)
  expect_error(debug_task(fixture$passed), class = "metaflow_error_not_found")
  expect_snapshot(
    debug_task(fixture$passed),
    error = TRUE, transform = function(lines) gsub("[0-9]{10,}", "<run>", lines)
  )
})

test_that("debug_task() of a start task has the parameters", {
  fixture <- local_debug_fixture()
  debugger <- debug_task(task_of(fixture$passed, "start"))
  expect_equal(debugger$self$bad, 0)
  expect_equal(names(debugger$self), character())
  debugger$run()
  expect_equal(debugger$self$numbers, c(1, 3, 5))
})

test_that("debug_task() takes a task client, and helpers and current() work", {
  fixture <- local_debug_fixture()
  ok <- task_of(fixture$failed, "square", index = 0L)
  debugger <- debug_task(ok)
  expect_equal(debugger$self$input, 1)
  expect_named(formals(debugger$fn), "self")
  debugger$run()
  expect_equal(debugger$self$label, "value 1")
  expect_equal(debugger$self$value, 10)
  expect_equal(debugger$self$where, ok$pathspec)
  # The helpers stay out of the session's global environment.
  expect_false(exists("check_value", envir = globalenv()))
  expect_error(current("pathspec"), class = "metaflow_error_current")
})

test_that("debug_task() of a join gives its inputs; self is a sandbox", {
  fixture <- local_debug_fixture()
  join <- task_of(fixture$passed, "join")
  debugger <- debug_task(join)
  expect_s3_class(debugger$inputs, "metaflow_inputs")
  expect_length(debugger$inputs, 3L)
  expect_equal(debugger$inputs[[2]]$value, 30)
  expect_equal(debugger$inputs[[3]]$label, "value 5")
  debugger$self$total <- -1
  debugger$run()
  expect_equal(debugger$self$total, 100)
  stored <- task_client$new(join$pathspec)
  expect_equal(stored$artifact("total"), 100)
  expect_equal(sort(stored$artifacts), sort(join$artifacts))
  expect_snapshot(print(debugger), transform = function(lines) {
    gsub("[0-9]{10,}/join/[0-9]+", "<run>/join/<task>", lines)
  })
})

local_file_with <- function(lines, env = parent.frame()) {
  path <- withr::local_tempfile(.local_envir = env)
  writeLines(lines, path)
  path
}

test_that("debug_task(browse = TRUE) stops in the browser at the step's start", {
  fixture <- local_debug_fixture()
  failed <- task_of(fixture$failed, "square", index = 1L)
  session <- c(
    sprintf("debugger <- metaflow::debug_task('%s', browse = TRUE)", failed$pathspec),
    "cat('input in browser:', self$input, '\\n')",
    "c",
    "cat('kept:', class(debugger), '\\n')",
    "q('no')"
  )
  result <- processx::run(
    file.path(R.home("bin"), "R"), c("--no-save", "--no-restore", "--quiet", "--interactive"),
    stdin = local_file_with(session), wd = fixture$dir, error_on_status = FALSE,
    env = c("current", METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$dir, METAFLOW_USER = "mf_tester")
  )
  output <- paste(result$stdout, result$stderr)
  expect_match(output, "debugging in: square(self)", fixed = TRUE)
  expect_match(output, "Browse[", fixed = TRUE)
  expect_match(output, "input in browser: 3", fixed = TRUE)
  expect_match(output, "failed again: bad value 3", fixed = TRUE)
  expect_match(output, "kept: metaflow_debug_task", fixed = TRUE)
})

test_that("debug_task() says what it can't debug", {
  fixture <- local_debug_fixture()
  expect_error(debug_task("DebugTaskFlow"), class = "metaflow_error_pathspec")
  expect_error(debug_task(flow_client$new("DebugTaskFlow")), class = "metaflow_error_pathspec")
  expect_error(debug_task(42), class = "metaflow_error_pathspec")
  expect_error(debug_task(paste0(fixture$failed, "/square/999")), class = "metaflow_error_not_found")
  expect_error(debug_task(task_of(fixture$failed, "square", 0L), browse = NA), class = "metaflow_error_usage")
  end <- task_of(fixture$passed, "end")
  expect_error(debug_task(end), class = "metaflow_error_not_r_step")
})

test_that("debug_task() of a Python flow's task points to Python", {
  fixture <- local_debug_fixture()
  python <- run_python_flow(fixture$dir, "DebugPyFlow")
  expect_snapshot(
    debug_task(paste0(python, "/start/1")),
    error = TRUE, transform = function(lines) gsub("[0-9]{10,}", "<run>", lines)
  )
  expect_error(debug_task(paste0(python, "/start/1")), class = "metaflow_error_not_r_step")
})

test_that("debug_task() of a task whose blobs are gone is a datastore error", {
  fixture <- local_debug_fixture()
  copy <- withr::local_tempdir("metaflow-debug-copy-")
  file.copy(file.path(fixture$dir, ".metaflow"), copy, recursive = TRUE)
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = copy)
  unlink(file.path(copy, ".metaflow", ".metaflow_core", "DebugTaskFlow", "data"), recursive = TRUE)
  failed <- task_of(fixture$failed, "square", index = 1L)
  expect_error(debug_task(failed$pathspec), class = "metaflow_error_datastore")
})

test_that("debug_task() of a run that saved no functions.rds is a datastore error", {
  fixture <- local_debug_fixture()
  copy <- withr::local_tempdir("metaflow-debug-copy-")
  file.copy(file.path(fixture$dir, ".metaflow"), copy, recursive = TRUE)
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = copy)
  unlink(file.path(copy, ".metaflow", ".metaflow_core", fixture$failed, "_meta", "spec", "functions.rds"))
  failed <- task_of(fixture$failed, "square", index = 1L)
  err <- expect_error(debug_task(failed$pathspec), class = "metaflow_error_datastore")
  expect_match(conditionMessage(err), "saved no functions.rds", fixed = TRUE)
})

test_that("debug_task()'s self checks each blob it reads: a flipped byte is an error, never a value", {
  dir <- local_run_dir()
  flow <- metaflow("DebugFlippedFlow") %>%
    step(step = "start", r_function = function(self) {
      self$total <- 2100000
      self$alpha <- 1
    }, next_step = "fail") %>%
    step(step = "fail", r_function = function(self) stop("to debug"), next_step = "end") %>%
    step(step = "end")
  try(run(flow, quiet = TRUE), silent = TRUE)
  blobs <- list.files(file.path(dir, ".metaflow", ".metaflow_core", "DebugFlippedFlow", "data"), recursive = TRUE, full.names = TRUE)
  payload <- c(charToRaw("MFBn"), serialize(2100000, NULL, xdr = FALSE))
  path <- Filter(function(p) identical(readBin(p, "raw", file.size(p) + 1), payload), blobs)[[1]]
  bytes <- readBin(path, "raw", file.size(path))
  bytes[length(bytes) - 2L] <- xor(bytes[length(bytes) - 2L], as.raw(1L))
  writeBin(bytes, path)

  debugger <- debug_task(new_run("DebugFlippedFlow", "latest_run")$pathspec)

  err <- expect_error(debugger$self$total, class = "metaflow_error_data_corrupt")
  expect_match(conditionMessage(err), "Artifact `total` of task DebugFlippedFlow/[0-9]+/start/1 is damaged")
  expect_match(conditionMessage(err), path, fixed = TRUE)
  expect_identical(debugger$self$alpha, 1)
})

test_that("debug_task() of a task of a run on S3 reads its inputs from S3", {
  moto <- local_moto_server()
  local_moto_env(moto)
  dir <- local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("S3DebugFlow") %>%',
    '  step(step = "start", r_function = function(self) self$items <- c(1, 3), next_step = "square", foreach = "items") %>%',
    '  step(step = "square", r_function = function(self) {',
    '    if (self$input == 3) stop("bad value ", self$input)',
    '    self$value <- self$input^2',
    '  }, next_step = "join") %>%',
    '  step(step = "join", join = TRUE, r_function = function(self, inputs) self$n <- length(inputs), next_step = "end") %>%',
    '  step(step = "end")'
  ))
  expect_error(collect_messages(run(flow, datastore = "s3", quiet = TRUE)))
  debugger <- debug_task(new_run("S3DebugFlow", "latest_run")$pathspec)
  expect_equal(debugger$self$input, 3)
  expect_equal(debugger$self$items, c(1, 3))
  err <- expect_error(debugger$run(), class = "simpleError")
  expect_equal(conditionMessage(err), "bad value 3")
  expect_equal(
    list.files(file.path(dir, ".metaflow"), recursive = TRUE, all.files = TRUE),
    ".metaflow_core/S3DebugFlow/_meta/_self.json"
  )
})
