test_that("parameter() adds a parameter with all its fields", {
  flow <- metaflow("Params") %>%
    parameter("alpha", required = TRUE, help = "Learning rate", separator = ",", default = 0.1)
  expect_equal(flow$get_parameters()$alpha, list(
    name = "alpha", type = "float", default = 0.1, help = "Learning rate",
    required = TRUE, separator = ",", is_flag = FALSE
  ))
})

test_that("the type comes from the default when not given", {
  flow <- metaflow("Types") %>%
    parameter("s", default = "a") %>%
    parameter("i", default = 1L) %>%
    parameter("f", default = 1.5) %>%
    parameter("b", default = TRUE) %>%
    parameter("j", default = list(a = 1)) %>%
    parameter("none") %>%
    parameter("flag", is_flag = TRUE) %>%
    parameter("fn", default = function(context) 1) %>%
    parameter("fct", default = factor("x"))
  types <- lapply(flow$get_parameters(), function(p) p$type)
  expect_equal(types, list(
    s = "str", i = "int", f = "float", b = "bool", j = "json", none = "str", flag = "bool",
    fn = NULL, fct = "str"
  ))
  expect_identical(flow$get_parameters()$fct$default, "x")
})

test_that("type accepts Python and R type names", {
  aliases <- c(
    str = "str", string = "str", character = "str", int = "int", integer = "int",
    float = "float", double = "float", numeric = "float", bool = "bool", logical = "bool",
    json = "json", JSON = "json", list = "json", Integer = "int"
  )
  flow <- metaflow("Aliases")
  for (alias in names(aliases)) {
    name <- paste0("p_", tolower(alias), "_", match(alias, names(aliases)))
    parameter(flow, name, type = alias)
    expect_equal(flow$get_parameters()[[name]]$type, aliases[[alias]])
  }
  expect_error(parameter(flow, "x", type = "int64"), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "x", type = integer), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "x", type = c("int", "str")), class = "metaflow_error_parameter")
})

test_that("parameter names are validated", {
  flow <- metaflow("Names")
  for (bad in list("1a", "_a", "a-b", "a b", "", "ä", NA_character_, c("a", "b"), 1, "a'); import os")) {
    expect_error(parameter(flow, bad), class = "metaflow_error_parameter")
  }
  expect_error(parameter(flow), class = "metaflow_error_parameter")
  parameter(flow, "Alpha_2")
  expect_equal(names(flow$get_parameters()), "Alpha_2")
})

test_that("names the command line uses are reserved, compared with case and -/_ folded", {
  flow <- metaflow("Reserved")
  reserved <- c(
    "params", "with", "tag", "namespace", "obj", "tags", "decospecs", "run_id_file",
    "max_num_splits", "max_workers", "max_log_size", "user_namespace", "run_id", "task_id",
    "quiet", "debug", "datastore", "datastore_root", "metadata", "environment",
    "package_suffixes", "help", "Run_ID", "TAG", "class", "None", "next", "input"
  )
  for (name in reserved) {
    expect_error(parameter(flow, name), class = "metaflow_error_parameter")
  }
  expect_snapshot(parameter(flow, "max_workers"), error = TRUE)
})

test_that("a parameter name can be used only once", {
  flow <- metaflow("Twice") %>% parameter("alpha", default = 1)
  expect_error(parameter(flow, "alpha", default = 2), class = "metaflow_error_parameter")
  expect_equal(flow$get_parameters()$alpha$default, 1)
})

test_that("the default must fit the type", {
  flow <- metaflow("Defaults")
  bad <- list(
    list(type = "int", default = "a"), list(type = "int", default = 1.5),
    list(type = "bool", default = "TRUE"), list(type = "str", default = 1),
    list(type = "float", default = Inf), list(type = "float", default = NA_real_),
    list(type = NULL, default = c(1, 2)), list(type = "str", default = c("a", "b")),
    list(type = NULL, default = NA), list(type = NULL, default = Sys.Date()),
    list(type = "json", default = "{not json"), list(type = "json", default = list(a = NA)),
    list(type = "json", default = list(f = mean))
  )
  for (case in bad) {
    expect_error(
      parameter(flow, "p", type = case$type, default = case$default),
      class = "metaflow_error_parameter"
    )
  }
  expect_snapshot(parameter(flow, "top_k", type = "int", default = "five"), error = TRUE)

  parameter(flow, "whole", type = "int", default = 5)
  parameter(flow, "ratio", type = "float", default = 1L)
  parameter(flow, "vector", type = "json", default = c(1, 2, 3))
  parameter(flow, "text", type = "json", default = "{\"a\": [1, 2]}")
  expect_equal(length(flow$get_parameters()), 4)
})

test_that("a flag is a bool parameter", {
  flow <- metaflow("Flags")
  parameter(flow, "verbose", is_flag = TRUE, default = FALSE)
  expect_equal(flow$get_parameters()$verbose$type, "bool")
  expect_error(parameter(flow, "quick", is_flag = TRUE, type = "str"), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "quick", is_flag = TRUE, default = 1L), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "quick", is_flag = NA), class = "metaflow_error_parameter")
})

test_that("a flag without a default is FALSE unless it is required", {
  flow <- metaflow("Flags") %>%
    parameter("verbose", is_flag = TRUE) %>%
    parameter("confirmed", is_flag = TRUE, required = TRUE)
  expect_identical(flow$get_parameters()$verbose$default, FALSE)
  expect_null(flow$get_parameters()$confirmed$default)
})

test_that("required, help and separator are checked; help can hold any text", {
  flow <- metaflow("Options")
  expect_error(parameter(flow, "a", required = "yes"), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "a", help = c("a", "b")), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "a", help = 1), class = "metaflow_error_parameter")
  expect_error(parameter(flow, "a", separator = ""), class = "metaflow_error_parameter")
  tricky <- "It's \"quoted\",\n a \\ backslash, ''' and ü\u00e9 {braces}"
  parameter(flow, "a", help = tricky)
  expect_identical(flow$get_parameters()$a$help, tricky)
})

test_that("a default function must take the context argument", {
  flow <- metaflow("Functions")
  expect_error(parameter(flow, "a", default = function() 1), class = "metaflow_error_parameter")
  parameter(flow, "b", default = function(context) 1)
  parameter(flow, "c", default = function(...) 1)
  expect_true(is.function(flow$get_parameters()$b$default))
})

test_that("evaluate_parameter_defaults() calls default functions with the context", {
  flow <- metaflow("Evaluate") %>%
    parameter("owner", default = function(context) context$user_name) %>%
    parameter("label", default = function(context) paste(context$flow_name, context$parameter_name)) %>%
    parameter("count", type = "int", default = function(context) 3) %>%
    parameter("plain", default = 1)
  values <- evaluate_parameter_defaults(flow, user_name = "alice")
  expect_equal(values, list(owner = "alice", label = "Evaluate label", count = 3))
})

test_that("evaluate_parameter_defaults() reports failing and ill-typed functions", {
  failing <- metaflow("Failing") %>% parameter("a", default = function(context) stop("no network"))
  err <- expect_error(evaluate_parameter_defaults(failing, user_name = "u"), class = "metaflow_error_parameter")
  expect_equal(conditionMessage(err$parent), "no network")

  ill_typed <- metaflow("IllTyped") %>% parameter("a", type = "int", default = function(context) "x")
  expect_error(evaluate_parameter_defaults(ill_typed, user_name = "u"), class = "metaflow_error_parameter")
  vector <- metaflow("Vector") %>% parameter("a", default = function(context) 1:3)
  expect_error(evaluate_parameter_defaults(vector, user_name = "u"), class = "metaflow_error_parameter")
})

test_that("the default user name skips root", {
  withr::local_envvar(METAFLOW_USER = "root", SUDO_USER = "", USERNAME = "", USER = "bob")
  expect_equal(default_user_name(), "bob")
  withr::local_envvar(METAFLOW_USER = "carol")
  expect_equal(default_user_name(), "carol")
})

test_that("a parameter name too long for the datastore's paths is refused with the limit", {
  err <- expect_error(metaflow("F") %>% parameter(strrep("p", 101)), class = "metaflow_error_parameter")
  expect_match(conditionMessage(err), "A parameter name can have at most 100 characters.", fixed = TRUE)
  expect_s3_class(metaflow("F") %>% parameter(strrep("p", 100)), "Flow")
})
