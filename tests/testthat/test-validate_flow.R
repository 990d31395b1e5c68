# A flow from step specs: each element is a list of step() arguments,
# written shortly as `name = c(next steps)`; `join` and `foreach` optional.
graph_flow <- function(..., joins = character(), foreach = list()) {
  flow <- metaflow("GraphFlow")
  edges <- list(...)
  for (name in names(edges)) {
    is_join <- name %in% joins
    step(
      flow,
      step = name,
      next_step = edges[[name]],
      join = is_join,
      foreach = foreach[[name]],
      r_function = if (is_join) function(self, inputs) NULL else function(self) NULL
    )
  }
  flow
}

test_that("valid graphs pass: linear, branches, foreach, nested splits", {
  shapes <- list(
    linear = graph_flow(start = "a", a = "end", end = NULL),
    minimal = graph_flow(start = "end", end = NULL),
    branch = graph_flow(start = c("a", "b"), a = "join", b = "join", join = "end", end = NULL, joins = "join"),
    foreach = graph_flow(start = "a", a = "join", join = "end", end = NULL, joins = "join", foreach = list(start = "xs")),
    nested_foreach = graph_flow(
      start = "outer", outer = "inner", inner = "inner_join", inner_join = "outer_join",
      outer_join = "end", end = NULL,
      joins = c("inner_join", "outer_join"), foreach = list(start = "xs", outer = "ys")
    ),
    branch_in_foreach = graph_flow(
      start = "fan", fan = c("a", "b"), a = "branch_join", b = "branch_join",
      branch_join = "foreach_join", foreach_join = "end", end = NULL,
      joins = c("branch_join", "foreach_join"), foreach = list(start = "xs")
    ),
    uneven_branches = graph_flow(
      start = c("a", "b"), a = "a2", a2 = "join", b = "join", join = "end", end = NULL, joins = "join"
    )
  )
  for (flow in shapes) {
    expect_invisible(validate_flow(flow))
    expect_identical(validate_flow(flow), flow)
  }
})

test_that("validate_flow() needs a flow", {
  expect_error(validate_flow("not a flow"), class = "metaflow_error_flow")
})

test_that("a flow needs start and end steps", {
  expect_error(validate_flow(metaflow("Empty")), class = "metaflow_error_graph")
  expect_error(validate_flow(graph_flow(begin = "end", end = NULL)), class = "metaflow_error_graph")
  missing_end <- graph_flow(start = "a", a = "finish", finish = NULL)
  expect_error(validate_flow(missing_end), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(missing_end), error = TRUE)
})

test_that("end has no next step and isn't a join; every other step has a next step", {
  expect_error(validate_flow(graph_flow(start = "end", end = "start")), class = "metaflow_error_graph")
  end_join <- graph_flow(start = c("a", "b"), a = "end", b = "end", end = NULL, joins = "end")
  expect_error(validate_flow(end_join), class = "metaflow_error_graph")
  expect_error(validate_flow(graph_flow(start = "a", a = NULL, end = NULL)), class = "metaflow_error_graph")
})

test_that("every next_step names a step of the flow", {
  dangling <- graph_flow(start = "trian", train = "end", end = NULL)
  expect_error(validate_flow(dangling), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(dangling), error = TRUE)
  far_off <- graph_flow(start = c("end", "somewhere_else"), end = NULL)
  expect_snapshot(validate_flow(far_off), error = TRUE)
})

test_that("start has no incoming steps", {
  flow <- graph_flow(start = "a", a = c("start", "end"), end = NULL)
  expect_error(validate_flow(flow), class = "metaflow_error_graph")
})

test_that("a flow can't loop", {
  cycle <- graph_flow(start = "a", a = "b", b = "c", c = c("a", "end"), end = NULL)
  expect_error(validate_flow(cycle), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(cycle), error = TRUE)
  self_loop <- graph_flow(start = "a", a = "a", end = NULL)
  expect_error(validate_flow(self_loop), class = "metaflow_error_graph")
})

test_that("every step is reachable from start", {
  orphan <- graph_flow(start = "end", lost = "end", end = NULL)
  expect_error(validate_flow(orphan), class = "metaflow_error_graph")
  island <- graph_flow(start = "end", island_a = "island_b", island_b = "end", end = NULL)
  expect_error(validate_flow(island), class = "metaflow_error_graph")
})

test_that("branches can meet only at a join step", {
  no_join <- graph_flow(start = c("a", "b"), a = "c", b = "c", c = "end", end = NULL)
  expect_error(validate_flow(no_join), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(no_join), error = TRUE)
  into_end <- graph_flow(start = c("a", "b"), a = "end", b = "end", end = NULL)
  expect_error(validate_flow(into_end), class = "metaflow_error_graph")
})

test_that("a join comes after a split", {
  flow <- graph_flow(start = "j", j = "end", end = NULL, joins = "j")
  expect_error(validate_flow(flow), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(flow), error = TRUE)
})

test_that("every split is joined before end", {
  foreach_unjoined <- graph_flow(start = "a", a = "end", end = NULL, foreach = list(start = "xs"))
  expect_error(validate_flow(foreach_unjoined), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(foreach_unjoined), error = TRUE)
  inner_unjoined <- graph_flow(
    start = c("a", "b"), a = "c", c = "join", b = "join", join = "end", end = NULL,
    joins = "join", foreach = list(a = "xs")
  )
  expect_error(validate_flow(inner_unjoined), class = "metaflow_error_graph")
})

test_that("a join gathers exactly the branches of one split", {
  partial <- graph_flow(
    start = c("a", "b", "c"), a = "j", b = "j", c = "k", j = "k", k = "end", end = NULL,
    joins = c("j", "k")
  )
  expect_error(validate_flow(partial), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(partial), error = TRUE)
  unrelated <- graph_flow(
    start = c("a", "b"), a = c("c", "d"), c = "j", b = "j", d = "k", j = "k", k = "end", end = NULL,
    joins = c("j", "k")
  )
  expect_error(validate_flow(unrelated), class = "metaflow_error_graph")
})

test_that("a foreach can't go straight into a join", {
  empty <- graph_flow(start = "j", j = "end", end = NULL, joins = "j", foreach = list(start = "xs"))
  expect_error(validate_flow(empty), class = "metaflow_error_graph")
  expect_snapshot(validate_flow(empty), error = TRUE)
})

test_that("a parameter can't have a step's name", {
  flow <- graph_flow(start = "train", train = "end", end = NULL) %>% parameter("train", default = 1)
  expect_error(validate_flow(flow), class = "metaflow_error_parameter")
})

test_that("errors are reported for the caller", {
  run_like <- function(flow) validate_flow(flow, call = environment())
  err <- expect_error(run_like(metaflow("Empty")), class = "metaflow_error_graph")
  expect_equal(err$call, quote(run_like(metaflow("Empty"))))
})

# The bad graphs the engine's lint is tested on too (pytests/test_lint.py): R
# must find the same rule at the same step.
graph_cases <- read_graph_cases()$cases

for (case in graph_cases) {
  test_that(paste0("validate_flow() and lint agree on a bad graph: ", case$case), {
    err <- expect_error(validate_flow(graph_case_flow(case)), class = "metaflow_error_graph")
    expect_identical(err$rule, case$rule)
    expect_identical(err$step, case$step)
  })
}

test_that("the graph cases cover every rule validate_flow() checks", {
  rules <- unique(vapply(graph_cases, function(case) case$rule, ""))
  expect_length(graph_checks, length(rules))
  expect_setequal(rules, c(
    "start_and_end", "start_has_no_parents", "end_is_end", "next_step_given", "next_step_exists",
    "no_loops", "all_reachable", "split_join_balance", "foreach_not_empty"
  ))
})
