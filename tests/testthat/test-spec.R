# Assigns `values` in the global environment (where a flow script's objects
# live) until the calling test ends.
local_globals <- function(values, env = parent.frame()) {
  values <- lapply(values, function(value) {
    if (is.function(value)) environment(value) <- globalenv()
    value
  })
  list2env(values, envir = globalenv())
  withr::defer(rm(list = names(values), envir = globalenv()), envir = env)
}

read_spec <- function(dir) {
  jsonlite::fromJSON(file.path(dir, "flow.json"), simplifyVector = FALSE)
}

spec_text <- function(dir) {
  rawToChar(readBin(file.path(dir, "flow.json"), "raw", file.size(file.path(dir, "flow.json"))))
}

test_that("flow.json holds the flow as PROTOCOL.md section 1 describes", {
  flow <- metaflow("StatsFlow", decorator("schedule", daily = TRUE)) %>%
    parameter("alpha", help = "Learning rate", default = 0.1) %>%
    parameter("genres", type = "json", default = list("Drama", "Sci-Fi"), required = TRUE) %>%
    parameter("sep", separator = ",", default = "a,b") %>%
    parameter("verbose", is_flag = TRUE) %>%
    step(retry(times = 3), step = "start", r_function = function(self) self$genres <- c("a", "b"),
         next_step = "stats", foreach = "genres") %>%
    step(step = "stats", r_function = function(self) self$n <- 1, next_step = "join") %>%
    step(step = "join", r_function = function(self, inputs) NULL, join = TRUE, next_step = "end") %>%
    step(decorator("plain"), step = "end")
  dir <- withr::local_tempdir()
  paths <- write_flow_spec(flow, dir)
  expect_equal(paths, c(flow = file.path(dir, "flow.json"), functions = file.path(dir, "functions.rds")))
  spec <- read_spec(dir)

  expect_equal(spec$version, 1)
  expect_equal(spec$flow_name, "StatsFlow")
  expect_null(spec$doc)
  expect_equal(spec$flow_decorators, list(list(name = "schedule", attributes = list(daily = TRUE))))

  expect_equal(spec$parameters[[1]], list(
    name = "alpha", type = "float", default = 0.1, help = "Learning rate",
    required = FALSE, separator = NULL, is_flag = FALSE
  ))
  expect_equal(spec$parameters[[2]]$default, "[\"Drama\",\"Sci-Fi\"]")
  expect_true(spec$parameters[[2]]$required)
  expect_equal(spec$parameters[[3]]$separator, ",")
  expect_equal(spec$parameters[[4]][c("type", "default", "is_flag")], list(type = "bool", default = FALSE, is_flag = TRUE))

  expect_equal(vapply(spec$steps, function(s) s$name, ""), c("start", "stats", "join", "end"))
  expect_equal(spec$steps[[1]], list(
    name = "start", "function" = "start", source = function_source(flow$get_steps()$start$r_function),
    "next" = list("stats"), foreach = "genres",
    join = FALSE, decorators = list(list(name = "retry", attributes = list(times = 3, minutes_between_retries = 2)))
  ))
  expect_true(spec$steps[[3]]$join)
  expect_equal(spec$steps[[4]][c("function", "next", "foreach")], list("function" = NULL, "next" = list(), foreach = NULL))

  expect_equal(spec$r$rscript, file.path(R.home("bin"), "Rscript"))
  expect_equal(unlist(spec$r$lib_paths), .libPaths())
  expect_equal(spec$r$r_version, as.character(getRversion()))
  expect_equal(spec$r$package_version, as.character(utils::packageVersion("metaflow")))
})

test_that("a step's source is its code as written when R kept it, else deparsed", {
  written <- "function(self) {\n  # the answer\n  self$x <- 42L\n}"
  kept <- eval(parse(text = written, keep.source = TRUE))
  expect_identical(function_source(kept), written)
  deparsed <- eval(parse(text = written, keep.source = FALSE))
  expect_identical(function_source(deparsed), "function (self) \n{\n    self$x <- 42L\n}")
  expect_null(function_source(NULL))

  flow <- metaflow("SourceFlow") %>%
    step(step = "start", r_function = kept, next_step = "end") %>%
    step(step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  spec <- read_spec(dir)
  expect_identical(spec$steps[[1]]$source, written)
  expect_null(spec$steps[[2]]$source)
})

test_that("flow.json keeps arrays, empty objects and JSON types", {
  flow <- metaflow("Shapes") %>%
    step(
      decorator("x", n = 3L, ratio = 0.5, flag = FALSE, nothing = NULL, text = "TRUE"),
      decorator("raw", whole = 3, one = list(1L), .convert_args = FALSE),
      step = "start", next_step = "end"
    ) %>%
    step(decorator("bare"), environment_variables(), step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  text <- spec_text(dir)
  expect_match(text, "\"next\": [\"end\"]", fixed = TRUE)
  expect_match(text, "\"next\": []", fixed = TRUE)
  expect_match(text, "\"attributes\": {}", fixed = TRUE)
  expect_match(text, "\"vars\": {}", fixed = TRUE)
  expect_match(text, "\"whole\": 3.0", fixed = TRUE)
  expect_match(text, "\"one\": \\[\\s*1\\s*\\]")
  attributes <- read_spec(dir)$steps[[1]]$decorators[[1]]$attributes
  expect_identical(attributes, list(n = 3L, ratio = 0.5, flag = FALSE, nothing = NULL, text = "TRUE"))
})

test_that("doubles round-trip exactly and floats stay floats", {
  values <- c(0.1, 1 / 3, pi, 1e-20, 123456789.123456789, 2^60, -0.5)
  flow <- metaflow("Numbers")
  for (i in seq_along(values)) {
    parameter(flow, paste0("p", i), default = values[[i]])
  }
  flow %>%
    parameter("whole_float", type = "float", default = 5L) %>%
    parameter("whole_int", type = "int", default = 5) %>%
    step(step = "start", next_step = "end") %>%
    step(step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  defaults <- lapply(read_spec(dir)$parameters, function(p) p$default)
  expect_identical(unlist(defaults[seq_along(values)]), values)
  text <- spec_text(dir)
  expect_match(text, "\"default\": 5.0,", fixed = TRUE)
  expect_match(text, "\"default\": 5,", fixed = TRUE)
})

test_that("a help string with quotes, backslashes, newlines and UTF-8 survives exactly", {
  tricky <- "It's \"quoted\"\n\ta \\ backslash, ''' \"\"\" {braces} %s ü \u00e9 \u4e2d \U0001F600 </script>"
  flow <- metaflow("Help") %>%
    parameter("p", help = tricky, default = tricky) %>%
    step(step = "start", next_step = "end") %>%
    step(step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  parameter <- read_spec(dir)$parameters[[1]]
  expect_identical(parameter$help, enc2utf8(tricky))
  expect_identical(parameter$default, enc2utf8(tricky))
  expect_true(validUTF8(spec_text(dir)))
})

test_that("function defaults are written as their evaluated values", {
  flow <- metaflow("Deferred") %>%
    parameter("owner", default = function(context) context$user_name) %>%
    parameter("count", default = function(context) 7L) %>%
    parameter("typed", type = "float", default = function(context) 2L) %>%
    step(step = "start", next_step = "end") %>%
    step(step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir, parameter_defaults = list(owner = "alice"))
  parameters <- read_spec(dir)$parameters
  expect_equal(parameters[[1]][c("type", "default")], list(type = "str", default = "alice"))
  expect_equal(parameters[[2]][c("type", "default")], list(type = "int", default = 7))
  expect_equal(parameters[[3]][c("type", "default")], list(type = "float", default = 2))
  expect_match(spec_text(dir), "\"default\": 2.0", fixed = TRUE)

  expect_error(
    write_flow_spec(flow, dir, parameter_defaults = list(ownr = "alice")),
    class = "metaflow_error_parameter"
  )
  expect_error(
    write_flow_spec(flow, dir, parameter_defaults = list(typed = "seven")),
    class = "metaflow_error_parameter"
  )
})

test_that("the spec files are written atomically, replacing older ones", {
  flow <- metaflow("Atomic") %>% step(step = "start", next_step = "end") %>% step(step = "end")
  dir <- file.path(withr::local_tempdir(), "new", "spec")
  write_flow_spec(flow, dir)
  write_flow_spec(flow, dir)
  expect_setequal(list.files(dir, all.files = TRUE, no.. = TRUE), c("flow.json", "functions.rds"))
})

test_that("functions.rds holds the step functions, the globals they use and attached packages", {
  local_globals(list(
    scale_factor = 10,
    unused_constant = "not referenced",
    offset = 1,
    helper_scale = function(x) x * scale_factor + add_offset(),
    add_offset = function() offset,
    default_size = 3L,
    sized = function(n = default_size) seq_len(n),
    GlobalFlowObject = metaflow("GlobalFlowObject")
  ))
  withr::local_package("tools")
  start <- function(self) {
    self$x <- helper_scale(2)
    self$flow <- GlobalFlowObject
  }
  end_step <- function(self) self$y <- sized()
  flow <- metaflow("Globals") %>%
    step(step = "start", r_function = start, next_step = "end") %>%
    step(step = "end", r_function = end_step)
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  functions <- readRDS(file.path(dir, "functions.rds"))

  expect_equal(names(functions), c("steps", "globals", "packages", "options"))
  expect_equal(names(functions$steps), c("start", "end"))
  expect_equal(deparse(functions$steps$start), deparse(start))
  # (S4 definitions other tests left in the global environment go too; see below.)
  expect_setequal(
    grep("^\\.__[CT]__", names(functions$globals), value = TRUE, invert = TRUE),
    c("helper_scale", "scale_factor", "add_offset", "offset", "sized", "default_size")
  )
  expect_equal(functions$globals$scale_factor, 10)
  expect_equal(functions$globals$default_size, 3L)
  expect_equal(functions$globals$add_offset(), 1)

  # Every package on the search path, R's default packages among them, in
  # search() order, whatever the steps' code uses.
  attached <- sub("^package:", "", grep("^package:", search(), value = TRUE))
  expect_identical(functions$packages, setdiff(attached, "base"))
  expect_true(all(c("tools", "stats", "utils", "methods") %in% functions$packages))
})

test_that("find_globals() follows functions and skips what isn't there", {
  env <- new.env(parent = emptyenv())
  env$a <- function() b()
  env$b <- function() c_value
  env$c_value <- NULL
  env$loop_one <- function() loop_two()
  env$loop_two <- function() loop_one()
  found <- find_globals(list(function(self) {
    a()
    loop_one()
    not_defined_anywhere
    inner <- function(arg = c_value) arg
  }), env = env)
  expect_setequal(names(found), c("a", "b", "c_value", "loop_one", "loop_two"))
  expect_null(found$c_value)
  expect_equal(find_globals(list(sum, function(self) 1), env = env), list())
})

test_that("functions.rds carries the session's options, not the session's own", {
  withr::local_options(digits = 3, spec.test.option = list(a = 1, f = toupper))
  dir <- withr::local_tempdir()
  write_flow_spec(
    metaflow("OptionsFlow") %>% step(step = "start", next_step = "end") %>% step(step = "end"),
    dir
  )
  options <- readRDS(file.path(dir, "functions.rds"))$options

  expect_identical(options$digits, 3L)
  expect_identical(options$spec.test.option, list(a = 1, f = toupper))
  expect_false(any(c("width", "prompt", "keep.source", "device", "defaultPackages") %in% names(options)))
})

test_that("carried_options() keeps data and package or global functions, not the session's", {
  global_function <- function(x) x
  environment(global_function) <- globalenv()
  session_function <- function(x) x
  environment(session_function) <- new.env()
  current <- list(
    digits = 4L, scipen = 100, repos = c(CRAN = "https://cloud.r-project.org"),
    str = list(strict.width = "no", formatNum = format), nothing = NULL,
    global_handler = global_function, ide_handler = session_function,
    an_env = new.env(), nested = list(list(f = session_function)),
    width = 120L, keep.source = TRUE, error = NULL, rstudio.notebook.executing = FALSE,
    knitr.in.progress = TRUE
  )
  expect_setequal(
    names(carried_options(current)),
    c("digits", "scipen", "repos", "str", "nothing", "global_handler")
  )
})

test_that("functions.rds carries the S4 classes the script defined", {
  setClass("SpecPoint", representation(x = "numeric"), where = globalenv())
  withr::defer(removeClass("SpecPoint", where = globalenv()))
  flow <- metaflow("S4Flow") %>%
    step(step = "start", r_function = function(self) self$p <- new("SpecPoint", x = 1), next_step = "end") %>%
    step(step = "end")
  dir <- withr::local_tempdir()
  write_flow_spec(flow, dir)
  functions <- readRDS(file.path(dir, "functions.rds"))

  expect_true(".__C__SpecPoint" %in% names(functions$globals))
})
