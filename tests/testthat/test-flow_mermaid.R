# One snapshot per shape of inst/graph_cases.json: linear, branch, foreach,
# nested foreach, branch in a foreach.
for (shape in graph_shape_names()) {
  test_that(paste0("flow_mermaid() draws the shape: ", shape), {
    expect_snapshot(flow_mermaid(graph_shape_flow(shape)))
  })
}

test_that("flow_mermaid() is a classed string without a final newline", {
  text <- flow_mermaid(graph_shape_flow("linear"))
  expect_s3_class(text, c("metaflow_mermaid", "metaflow_graph_text"))
  expect_length(text, 1)
  expect_false(endsWith(text, "\n"))
})

test_that("a step named like a Mermaid keyword is only a label", {
  flow <- metaflow("KeywordFlow") %>%
    step(step = "start", next_step = "graph") %>%
    step(step = "graph", next_step = "end") %>%
    step(step = "end")
  lines <- strsplit(flow_mermaid(flow), "\n")[[1]]
  expect_identical(lines[3:5], c('    n1(["start"])', '    n2["graph"]', '    n3(["end"])'))
})

test_that("labels are written as Mermaid entities", {
  expect_identical(mermaid_string('a "b" #1 <c>'), '"a #quot;b#quot; #35;1 #lt;c#gt;"')
})

test_that("flow_mermaid() writes what `Rscript flow.R show --mermaid` prints, for every shape", {
  flows <- graph_shape_flows()
  expected <- paste0(vapply(flows, flow_mermaid, ""), "\n", collapse = "")
  expect_identical(engine_show_text(flows, "--mermaid"), expected)
})

test_that("flow_mermaid() rejects a broken graph as run() does", {
  flow <- metaflow("BrokenFlow") %>% step(step = "start", next_step = "end")
  expect_snapshot(flow_mermaid(flow), error = TRUE)
  expect_error(flow_mermaid(flow), class = "metaflow_error_graph")
  expect_error(flow_mermaid("HelloFlow"), class = "metaflow_error_flow")
})
