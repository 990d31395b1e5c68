test_that("step() adds a step with its function stored as is", {
  braceless <- function(self) self$x <- 3
  flow <- metaflow("Steps") %>%
    step(step = "start", r_function = braceless, next_step = "end") %>%
    step(step = "end")
  expect_identical(flow$get_functions()$start, braceless)
  expect_identical(flow$get_steps()$start$r_function, braceless)
})

test_that("step() records splits, foreach and joins", {
  flow <- metaflow("Shapes") %>%
    step(step = "start", next_step = c("a", "b")) %>%
    step(step = "a", next_step = "fan", foreach = "items") %>%
    step(step = "join", join = TRUE, r_function = function(self, inputs) NULL, next_step = "end")
  steps <- flow$get_steps()
  expect_equal(steps$start$next_step, c("a", "b"))
  expect_equal(steps$a$foreach, "items")
  expect_true(steps$join$join)
})

test_that("step() keeps its decorators", {
  flow <- metaflow("Decorated") %>% step(retry(times = 1), timeout(minutes = 2), step = "start", next_step = "end")
  expect_equal(flow$get_steps()$start$decorators, list(retry(times = 1), timeout(minutes = 2)))
})

test_that("the step name must be given by name", {
  flow <- metaflow("Positional")
  expect_error(step(flow, "start"), class = "metaflow_error_step")
  expect_snapshot(step(flow, "start", next_step = "end"), error = TRUE)
  expect_error(step(flow), class = "metaflow_error_step")
  expect_error(step(flow, next_step = "end"), class = "metaflow_error_step")
})

test_that("step() needs a flow", {
  expect_error(step(step = "start"), class = "metaflow_error_flow")
  expect_error(step("HelloFlow", step = "start"), class = "metaflow_error_flow")
})

test_that("step() rejects invalid step names", {
  flow <- metaflow("Names")
  bad <- list("Start", "1st", "my-step", "my step", "_start", "", "stép", NA_character_, c("a", "b"), 1, NULL)
  for (name in bad) {
    expect_error(step(flow, step = name), class = "metaflow_error_step")
  }
})

test_that("step names can't smuggle Python code", {
  flow <- metaflow("Smuggle")
  smuggled <- c(
    "start(self):\n        import os", "a; import os", "x__import__('os')",
    "a\nimport os", "a #", "a\"", "a'", "a)", "eval('1')"
  )
  for (name in smuggled) {
    expect_error(step(flow, step = name), class = "metaflow_error_step")
    expect_error(step(flow, step = "start", next_step = name), class = "metaflow_error_step")
  }
  expect_snapshot(step(flow, step = "start(self):\n        import os"), error = TRUE)
  expect_length(flow$get_steps(), 0)
})

test_that("step() rejects reserved words and Python keywords", {
  flow <- metaflow("Reserved")
  for (name in c("name", "next", "input", "index", "cmd", "foreach_stack", "merge_artifacts",
                 "class", "def", "import", "pass", "lambda", "return", "yield", "None", "True")) {
    expect_error(step(flow, step = name), class = "metaflow_error_step")
  }
  expect_snapshot(step(flow, step = "class"), error = TRUE)
})

test_that("step() takes only decorators in `...`", {
  flow <- metaflow("Dots")
  expect_error(step(flow, 3, step = "start"), class = "metaflow_error_step")
  expect_error(step(flow, list(name = "retry"), step = "start"), class = "metaflow_error_step")
  expect_error(step(flow, retry, step = "start"), class = "metaflow_error_step")
  expect_error(step(flow, retry(), retry(times = 1), step = "start"), class = "metaflow_error_decorator")
})

test_that("r_function must be a function or NULL", {
  flow <- metaflow("Functions")
  for (bad in list("start", 1, list(function(self) NULL), quote(f))) {
    expect_error(step(flow, step = "start", r_function = bad), class = "metaflow_error_step")
  }
  expect_snapshot(step(flow, step = "start", r_function = "start_function"), error = TRUE)
})

test_that("a step's function takes self, and a join's self and inputs", {
  flow <- metaflow("Arity")
  expect_error(step(flow, step = "a", r_function = function() NULL), class = "metaflow_error_step")
  expect_error(step(flow, step = "b", r_function = function(self, inputs) NULL), class = "metaflow_error_step")
  expect_error(step(flow, step = "c", join = TRUE, r_function = function(self) NULL), class = "metaflow_error_step")
  expect_error(step(flow, step = "d", join = TRUE, r_function = function(self, inputs, x) NULL), class = "metaflow_error_step")
  expect_snapshot(step(flow, step = "e", r_function = function(self, inputs) NULL), error = TRUE)

  step(flow, step = "f", r_function = function(self, verbose = TRUE) NULL)
  step(flow, step = "g", r_function = function(...) NULL)
  step(flow, step = "h", join = TRUE, r_function = function(self, ...) NULL)
  step(flow, step = "i", r_function = identity)
  expect_equal(names(flow$get_functions()), c("f", "g", "h", "i"))
})

test_that("next_step must be step names, each once", {
  flow <- metaflow("Next")
  for (bad in list(1, NA_character_, character(), "a b", c("a", NA), TRUE, list("a"))) {
    expect_error(step(flow, step = "start", next_step = bad), class = "metaflow_error_step")
  }
  expect_error(step(flow, step = "start", next_step = c("a", "a")), class = "metaflow_error_step")
})

test_that("foreach names an artifact and needs exactly one next step", {
  flow <- metaflow("Foreach")
  for (bad in list(1, "a b", "1x", c("a", "b"), NA_character_, "x)")) {
    expect_error(step(flow, step = "start", next_step = "a", foreach = bad), class = "metaflow_error_step")
  }
  expect_error(step(flow, step = "start", next_step = c("a", "b"), foreach = "items"), class = "metaflow_error_step")
  expect_error(step(flow, step = "start", foreach = "items"), class = "metaflow_error_step")
  expect_snapshot(step(flow, step = "start", next_step = c("a", "b"), foreach = "items"), error = TRUE)
})

test_that("join must be TRUE or FALSE, and a join can't also split", {
  flow <- metaflow("Joins")
  for (bad in list(NA, "TRUE", 1, c(TRUE, FALSE))) {
    expect_error(step(flow, step = "j", join = bad, next_step = "end"), class = "metaflow_error_step")
  }
  expect_error(step(flow, step = "j", join = TRUE, next_step = c("a", "b")), class = "metaflow_error_step")
  expect_error(step(flow, step = "j", join = TRUE, next_step = "a", foreach = "xs"), class = "metaflow_error_step")
})

test_that("a step name can be used only once", {
  flow <- metaflow("Duplicates") %>% step(step = "start", next_step = "end")
  expect_error(step(flow, step = "start", next_step = "end"), class = "metaflow_error_step")
  expect_snapshot(step(flow, step = "start", next_step = "end"), error = TRUE)
  expect_length(flow$get_steps(), 1)
})

test_that("step and foreach names too long for the datastore's paths are refused with the limit", {
  long <- strrep("s", 101)
  err <- expect_error(metaflow("F") %>% step(step = long), class = "metaflow_error_step")
  expect_match(conditionMessage(err), "A step name can have at most 100 characters.", fixed = TRUE)
  err <- expect_error(metaflow("F") %>% step(step = "start", next_step = long), class = "metaflow_error_step")
  expect_match(conditionMessage(err), "at most 100 characters", fixed = TRUE)
  err <- expect_error(
    metaflow("F") %>% step(step = "start", foreach = strrep("x", 101), next_step = "each"),
    class = "metaflow_error_step"
  )
  expect_match(conditionMessage(err), "A foreach name can have at most 100 characters.", fixed = TRUE)
  expect_match(conditionMessage(err), "of step \"start\"", fixed = TRUE)
  expect_s3_class(metaflow("F") %>% step(step = strrep("s", 100)), "Flow")
})
