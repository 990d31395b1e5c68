# One snapshot per shape of inst/graph_cases.json: linear, branch, foreach,
# nested foreach, branch in a foreach.
for (shape in graph_shape_names()) {
  test_that(paste0("flow_dot() draws the shape: ", shape), {
    expect_snapshot(flow_dot(graph_shape_flow(shape)))
  })
}

test_that("flow_dot() is a classed string without a final newline", {
  text <- flow_dot(graph_shape_flow("linear"))
  expect_s3_class(text, c("metaflow_dot", "metaflow_graph_text"))
  expect_length(text, 1)
  expect_false(endsWith(text, "\n"))
})

test_that("DOT strings escape quotes and backslashes", {
  expect_identical(dot_string('a "b" \\c'), '"a \\"b\\" \\\\c"')
})

test_that("Graphviz reads the DOT text of every shape", {
  dot <- Sys.which("dot")
  if (!nzchar(dot)) {
    stop("This test needs Graphviz's `dot` (Debian package graphviz; `make setup` installs it).")
  }
  for (flow in graph_shape_flows()) {
    input <- withr::local_tempfile(fileext = ".dot")
    writeLines(flow_dot(flow), input)
    result <- processx::run(dot, c("-Tsvg", input), error_on_status = FALSE)
    expect_identical(result$status, 0L)
    expect_identical(result$stderr, "")
    expect_match(result$stdout, "<svg", fixed = TRUE)
  }
})

test_that("flow_dot() writes what `Rscript flow.R show --dot` prints, for every shape", {
  flows <- graph_shape_flows()
  expected <- paste0(vapply(flows, flow_dot, ""), "\n", collapse = "")
  expect_identical(engine_show_text(flows, "--dot"), expected)
})

test_that("flow_dot() rejects a broken graph as run() does", {
  flow <- metaflow("BrokenFlow") %>% step(step = "start", next_step = "end")
  expect_error(flow_dot(flow), class = "metaflow_error_graph")
  expect_error(flow_dot(list()), class = "metaflow_error_flow")
})
