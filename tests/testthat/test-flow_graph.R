test_that("flow_graph() gives a foreach flow's steps and transitions", {
  flow <- metaflow("SquareFlow") %>%
    step(step = "start", r_function = function(self) self$numbers <- 1:3,
         next_step = "square", foreach = "numbers") %>%
    step(retry(times = 2), catch(var = "err"), step = "square",
         r_function = function(self) self$value <- self$input^2, next_step = "join") %>%
    step(step = "join", join = TRUE, r_function = function(self, inputs) NULL, next_step = "end") %>%
    step(step = "end")
  graph <- flow_graph(flow)
  expect_identical(graph$nodes, data.frame(
    step = c("start", "square", "join", "end"),
    type = c("foreach", "linear", "join", "end"),
    join = c(FALSE, FALSE, TRUE, FALSE),
    foreach = c("numbers", NA, NA, NA),
    decorators = c("", "@retry(times=2, minutes_between_retries=2) @catch(var='err', print_exception=True)", "", "")
  ))
  expect_identical(graph$edges, data.frame(
    from = c("start", "square", "join"),
    to = c("square", "join", "end"),
    kind = c("foreach", "join", "linear")
  ))
})

test_that("flow_graph() lists steps in graph order, branches in next_step order", {
  flow <- metaflow("BranchFlow") %>%
    step(step = "end") %>%
    step(step = "join", join = TRUE, next_step = "end") %>%
    step(step = "b", next_step = "join") %>%
    step(step = "a", next_step = "join") %>%
    step(step = "start", next_step = c("b", "a"))
  graph <- flow_graph(flow)
  expect_identical(graph$nodes$step, c("start", "b", "a", "join", "end"))
  expect_identical(graph$nodes$type, c("split", "linear", "linear", "join", "end"))
  expect_identical(graph$edges, data.frame(
    from = c("start", "start", "b", "a", "join"),
    to = c("b", "a", "join", "join", "end"),
    kind = c("branch", "branch", "join", "join", "linear")
  ))
})

test_that("a start that goes to one step is of type start", {
  graph <- flow_graph(graph_shape_flow("linear"))
  expect_identical(graph$nodes$type, c("start", "linear", "end"))
  expect_identical(graph$edges$kind, c("linear", "linear"))
})

test_that("flow_graph() checks the graph as run() does", {
  flow <- metaflow("LoopFlow") %>%
    step(step = "start", next_step = "a") %>%
    step(step = "a", next_step = c("start", "end")) %>%
    step(step = "end")
  err <- expect_error(flow_graph(flow), class = "metaflow_error_graph")
  expect_identical(err$step, "start")
  expect_equal(err$call, quote(flow_graph(flow)))
  expect_snapshot(flow_graph("SquareFlow"), error = TRUE)
})

test_that("the text of a graph prints as it is, with a final newline", {
  text <- new_graph_text(c("flowchart TD", "    n1"), "mermaid")
  expect_identical(unclass(text), "flowchart TD\n    n1")
  expect_output(expect_invisible(print(text)), "^flowchart TD\n    n1$")
  expect_identical(capture.output(print(text)), c("flowchart TD", "    n1"))
})

test_that("the graph, its text and its plot start no Python", {
  started <- file.path(withr::local_tempdir(), "started")
  python <- local_fake_python(sprintf("touch '%s'", started))
  png <- withr::local_tempfile(fileext = ".png")
  code <- sprintf(paste(
    "suppressMessages(library(metaflow))",
    "flow <- metaflow('F') %%>%% step(step = 'start', next_step = 'end') %%>%% step(step = 'end')",
    "graph <- flow_graph(flow)",
    "print(flow_dot(flow))",
    "png(%s); plot(flow); invisible(dev.off())",
    sep = "; "
  ), encodeString(png, quote = "'"))
  result <- processx::run(
    file.path(R.home("bin"), "Rscript"), c("-e", code),
    env = clean_python_env(METAFLOW_PYTHON = python), error_on_status = FALSE
  )
  expect_identical(result$status, 0L, info = result$stderr)
  expect_match(result$stdout, '^digraph "F" \\{\n')
  expect_true(file.exists(png))
  expect_false(file.exists(started))
})
