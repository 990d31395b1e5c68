test_that("decorator() holds a name and named attributes", {
  deco <- decorator("resources", cpu = 16, memory = 220000, image = NULL)
  expect_s3_class(deco, "decorator")
  expect_equal(deco$name, "resources")
  expect_identical(deco$attributes, list(cpu = 16L, memory = 220000L, image = NULL))
  expect_identical(decorator("batch")$attributes, structure(list(), names = character()))
})

test_that("decorators print the way they would be written in Python", {
  expect_equal(format(decorator("batch")), "@batch")
  expect_equal(format(decorator("timeout", seconds = 5)), "@timeout(seconds=5)")
  expect_equal(
    format(decorator("resources", cpu = 16, memory = 220000, disk = 150000, network = 4000)),
    "@resources(cpu=16, memory=220000, disk=150000, network=4000)"
  )
  expect_equal(format(retry()), "@retry(times=3, minutes_between_retries=2)")
  expect_equal(format(catch()), "@catch(var=None, print_exception=True)")
  expect_equal(format(catch(var = "red_panda")), "@catch(var='red_panda', print_exception=True)")
  expect_equal(format(resources()), "@resources(cpu=1, gpu=0, memory=4096, shared_memory=None)")
  expect_equal(
    format(environment_variables(foo = "red panda", bar = "corgi")),
    "@environment(vars={'foo': 'red panda', 'bar': 'corgi'})"
  )
  expect_equal(format(environment_variables()), "@environment(vars={})")
  expect_equal(format(timeout(hours = 1)), "@timeout(seconds=0, minutes=0, hours=1)")
  expect_equal(format(decorator("x", s = "it's")), "@x(s='it\\'s')")
  expect_snapshot(print(retry(times = 1, minutes_between_retries = 0)))
})

test_that("with .convert_args = TRUE, values are scalars, converted for R users", {
  deco <- decorator("x", whole = 3, fraction = 0.5, text = "TRUE", flag = TRUE, level = factor("a"))
  expect_identical(deco$attributes, list(whole = 3L, fraction = 0.5, text = "TRUE", flag = TRUE, level = "a"))
  expect_identical(decorator("x", big = 1e12)$attributes$big, 1e12)

  for (bad in list(c(1, 2), NA, NA_character_, list(a = 1), Inf, function() 1, character())) {
    expect_error(decorator("x", value = bad), class = "metaflow_error_decorator")
  }
  expect_snapshot(decorator("x", sizes = c(1, 2)), error = TRUE)
})

test_that("with .convert_args = FALSE, JSON-able values are kept exactly", {
  deco <- decorator(
    "x",
    whole = 3, vector = c(1L, 2L), nested = list(a = list(1, "b"), c = NULL),
    code = "{'a': 1}",
    .convert_args = FALSE
  )
  expect_identical(deco$attributes$whole, 3)
  expect_identical(deco$attributes$vector, c(1L, 2L))
  expect_identical(deco$attributes$nested, list(a = list(1, "b"), c = NULL))
  expect_identical(deco$attributes$code, "{'a': 1}")
  for (bad in list(NA, Inf, mean, list(a = NA), Sys.Date(), list(1, b = 2))) {
    expect_error(decorator("x", value = bad, .convert_args = FALSE), class = "metaflow_error_decorator")
  }
  expect_error(decorator("x", .convert_args = NA), class = "metaflow_error_decorator")
})

test_that("decorator arguments must be named, once each, with valid names", {
  expect_error(decorator("retry", 3), class = "metaflow_error_decorator")
  expect_error(decorator("retry", times = 1, 3), class = "metaflow_error_decorator")
  expect_error(decorator("retry", times = 1, times = 2), class = "metaflow_error_decorator")
  expect_error(decorator("retry", `a b` = 1), class = "metaflow_error_decorator")
  expect_error(decorator("retry", `a=1)\nimport os #` = 1), class = "metaflow_error_decorator")
  expect_snapshot(decorator("retry", 3), error = TRUE)
})

test_that("decorator names are identifiers", {
  for (bad in list("retry()", "a b", "", "1x", NA_character_, c("a", "b"), 1, "retry\nimport os")) {
    expect_error(decorator(bad), class = "metaflow_error_decorator")
  }
  expect_equal(decorator("kubernetes")$name, "kubernetes")
})

test_that("the decorator helpers check their arguments", {
  expect_error(retry(times = -1), class = "metaflow_error_decorator")
  expect_error(retry(times = 5), class = "metaflow_error_decorator")
  expect_error(retry(times = 1.5), class = "metaflow_error_decorator")
  expect_error(retry(minutes_between_retries = "2"), class = "metaflow_error_decorator")
  expect_error(catch(var = "a b"), class = "metaflow_error_decorator")
  expect_error(catch(print_exception = "yes"), class = "metaflow_error_decorator")
  expect_error(resources(cpu = 0), class = "metaflow_error_decorator")
  expect_error(resources(memory = "4GB"), class = "metaflow_error_decorator")
  expect_error(resources(shared_memory = -1), class = "metaflow_error_decorator")
  expect_error(timeout(), class = "metaflow_error_decorator")
  expect_error(timeout(seconds = -5), class = "metaflow_error_decorator")
  expect_snapshot(retry(times = 10), error = TRUE)

  expect_equal(resources(cpu = 0.5)$attributes$cpu, 0.5)
  expect_identical(retry(times = 0)$attributes$times, 0L)
})

test_that("environment_variables() makes an environment decorator of strings", {
  deco <- environment_variables(MODEL = "glm", THREADS = 4, DEBUG = TRUE)
  expect_equal(deco$name, "environment")
  expect_identical(deco$attributes, list(vars = list(MODEL = "glm", THREADS = "4", DEBUG = "TRUE")))
  expect_identical(environment_variables()$attributes$vars, structure(list(), names = character()))

  expect_error(environment_variables("glm"), class = "metaflow_error_decorator")
  expect_error(environment_variables(A = "1", "2"), class = "metaflow_error_decorator")
  expect_error(environment_variables(`A-B` = "1"), class = "metaflow_error_decorator")
  expect_error(environment_variables(A = "1", A = "2"), class = "metaflow_error_decorator")
  expect_error(environment_variables(A = c("1", "2")), class = "metaflow_error_decorator")
  expect_error(environment_variables(A = NA), class = "metaflow_error_decorator")
  expect_snapshot(environment_variables("glm"), error = TRUE)
})

# Real runs ---------------------------------------------------------------------

test_that("a step that fails twice succeeds on its third attempt under retry(times = 3)", {
  dir <- local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("FlakyRFlow") %>%',
    '  step(step = "start", retry(times = 3, minutes_between_retries = 0),',
    '       r_function = function(self) {',
    '    attempt <- current("retry_count")',
    sprintf('    writeLines(as.character(attempt), file.path("%s", paste0("attempt-", attempt)))', dir),
    '    cat("attempt", attempt, "\\n")',
    '    if (attempt < 2) stop("attempt ", attempt, " fails")',
    '    self$succeeded_on <- attempt',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  run <- run(flow, quiet = TRUE)

  expect_setequal(list.files(dir, "^attempt-"), paste0("attempt-", 0:2))
  task <- run$step("start")$task(run$step("start")$a_task)
  expect_true(task$successful)
  expect_identical(task$artifact("succeeded_on"), 2L)
  expect_identical(task$current_attempt, 2L)
  expect_equal(task$metadata_dict$attempt, "2")
  expect_match(task$stdout, "attempt 2")
  expect_match(paste(capture.output(print(task)), collapse = "\n"), "Attempt +2 \\(retried 2 times\\)")
})

test_that("run(with = 'retry:...') retries every step", {
  local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("WithRetryFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    if (current("retry_count") == 0) stop("first attempt fails")',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  expect_error(run(flow, quiet = TRUE), class = "metaflow_error_run")
  run <- run(flow, quiet = TRUE, with = "retry:times=1,minutes_between_retries=0")
  expect_identical(run$step("start")$task(run$step("start")$a_task)$current_attempt, 1L)
})

test_that("timeout() stops the step and what it started, in R's words", {
  local_run_dir()
  flow <- flow_from_code(c(
    'flow <- metaflow("TimeoutRFlow") %>%',
    '  step(step = "start", next_step = "slow") %>%',
    '  step(step = "slow", timeout(seconds = 5), r_function = function(self) {',
    sprintf('    %s', background_sleeper_code("301.5", 'writeLines("started", "sleeper-started"); Sys.sleep(120)')),
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ))
  started <- Sys.time()
  err <- expect_error(run(flow, quiet = TRUE), class = "metaflow_error_run")
  elapsed <- as.numeric(difftime(Sys.time(), started, units = "secs"))

  expect_true(file.exists("sleeper-started"))
  expect_lt(elapsed, 30)
  expect_s3_class(err$parent, "metaflow_error_timeout")
  expect_equal(conditionMessage(err$parent), "Step `slow` timed out after 5 seconds.")
  expect_equal(nrow(live_processes("sleep 301[.]5")), 0L)
  task <- new_run(err$pathspec)$step("slow")
  task <- task$task(task$a_task)
  record <- task$metadata_dict
  # Within a second or two of the limit.
  expect_lt(as.numeric(record$finished_at) - as.numeric(record$started_at), 9000)
})

test_that("a timeout is retried and caught like any failure, unless timeout(retry = FALSE)", {
  local_run_dir()
  code <- c(
    'flow <- metaflow("TimeoutRetryFlow") %>%',
    '  step(step = "start", DECORATORS, r_function = function(self) {',
    '    writeLines("", paste0("attempt-", current("retry_count")))',
    '    if (current("retry_count") == 0) Sys.sleep(120)',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  )
  retried <- flow_from_code(sub("DECORATORS", "timeout(seconds = 2), retry(times = 2, minutes_between_retries = 0)", code))
  run <- run(retried, quiet = TRUE)
  expect_identical(run$step("start")$task(run$step("start")$a_task)$current_attempt, 1L)

  unlink(list.files(pattern = "^attempt-"))
  not_retried <- flow_from_code(sub(
    "DECORATORS", "timeout(seconds = 2, retry = FALSE), retry(times = 2, minutes_between_retries = 0)", code
  ))
  err <- expect_error(run(not_retried, quiet = TRUE), class = "metaflow_error_run")
  expect_s3_class(err$parent, "metaflow_error_timeout")
  expect_equal(err$attempt, 0L)
  expect_equal(list.files(pattern = "^attempt-"), "attempt-0")

  caught <- flow_from_code(sub(
    "DECORATORS", "timeout(seconds = 2, retry = FALSE), retry(times = 2, minutes_between_retries = 0), catch()", code
  ))
  run <- run(caught, quiet = TRUE)
  expect_true(run$successful)
  expect_identical(run$step("start")$task(run$step("start")$a_task)$current_attempt, 0L)
})

test_that("timeout(retry = FALSE) is sent to the engine; retry must be TRUE or FALSE", {
  expect_equal(format(timeout(seconds = 5, retry = FALSE)), "@timeout(seconds=5, minutes=0, hours=0, retry=False)")
  expect_null(timeout(seconds = 5)$attributes$retry)
  expect_error(timeout(seconds = 5, retry = NA), class = "metaflow_error_decorator")
})
