stats_flow <- function() {
  metaflow("StatsFlow", decorator("schedule", daily = TRUE)) %>%
    parameter("genre", help = "Filter movies for a genre.", default = "Sci-Fi") %>%
    parameter("top_k", default = 5L) %>%
    parameter("alpha", type = "float", required = TRUE) %>%
    parameter("weights", type = "json", default = list(rating = 0.7, year = 0.3)) %>%
    parameter("verbose", is_flag = TRUE) %>%
    parameter("owner", default = function(context) context$user_name) %>%
    step(
      step = "start",
      r_function = function(self) self$genres <- c("Drama", "Sci-Fi"),
      next_step = "stats",
      foreach = "genres"
    ) %>%
    step(
      retry(times = 2), catch(var = "failure"),
      step = "stats",
      r_function = function(self) {
        self$internal_marker <- "never printed"
      },
      next_step = "join"
    ) %>%
    step(
      step = "join",
      r_function = function(self, inputs) self$n <- length(inputs),
      join = TRUE,
      next_step = "end"
    ) %>%
    step(step = "end")
}

test_that("verbs change the flow in place and return it invisibly", {
  flow <- metaflow("InPlace")
  expect_invisible(flow %>% parameter("alpha", default = 0.1))
  expect_invisible(flow %>% step(step = "start", next_step = "end"))
  returned <- step(flow, step = "end")
  expect_identical(returned, flow)
  expect_equal(names(flow$get_steps()), c("start", "end"))
  expect_equal(names(flow$get_parameters()), "alpha")
})

test_that("steps are kept in the order they were added, with their fields", {
  start <- function(self) self$x <- 1
  flow <- metaflow("Fields") %>%
    step(retry(), step = "start", r_function = start, next_step = "end") %>%
    step(step = "end")
  steps <- flow$get_steps()
  expect_equal(names(steps), c("start", "end"))
  expect_equal(steps$start, list(
    name = "start", r_function = start, next_step = "end", foreach = NULL,
    join = FALSE, decorators = list(retry())
  ))
  expect_equal(steps$end$next_step, character())
  expect_null(steps$end$r_function)
})

test_that("get_functions() lists only the steps that have a function", {
  flow <- stats_flow()
  functions <- flow$get_functions()
  expect_equal(names(functions), c("start", "stats", "join"))
  expect_true(all(vapply(functions, is.function, TRUE)))
  expect_identical(functions$join, flow$get_steps()$join$r_function)
})

test_that("get_parameters() holds normalized parameters by name", {
  parameters <- stats_flow()$get_parameters()
  expect_equal(names(parameters), c("genre", "top_k", "alpha", "weights", "verbose", "owner"))
  expect_equal(
    vapply(parameters, function(p) p$type %||% NA_character_, ""),
    c(genre = "str", top_k = "int", alpha = "float", weights = "json", verbose = "bool", owner = NA)
  )
})

test_that("printing a flow shows its parameters, steps in graph order and decorators", {
  flow <- stats_flow()
  expect_snapshot(print(flow))
  expect_snapshot(print(metaflow("EmptyFlow")))
  expect_false(any(grepl("internal_marker|never printed|self\\$|genres <-", format(flow))))
})

test_that("graph order lists parents before children and branches in next_step order", {
  flow <- metaflow("Order") %>%
    step(step = "end") %>%
    step(step = "join", join = TRUE, next_step = "end", r_function = function(self, inputs) NULL) %>%
    step(step = "b", next_step = "join") %>%
    step(step = "a", next_step = "join") %>%
    step(step = "start", next_step = c("a", "b")) %>%
    step(step = "unreachable", next_step = "end")
  expect_equal(graph_order(flow$get_steps()), c("start", "a", "b", "join", "end", "unreachable"))
})

test_that("graph order copes with graphs validation would reject", {
  looped <- metaflow("Loop") %>%
    step(step = "start", next_step = "a") %>%
    step(step = "a", next_step = c("start", "missing"))
  expect_equal(graph_order(looped$get_steps()), c("start", "a"))
  no_start <- metaflow("NoStart") %>% step(step = "b", next_step = "end") %>% step(step = "end")
  expect_equal(graph_order(no_start$get_steps()), c("b", "end"))
})
