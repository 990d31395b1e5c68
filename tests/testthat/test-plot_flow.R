test_that("plot() draws a flow to a png file and returns its layout", {
  path <- withr::local_tempfile(fileext = ".png")
  grDevices::png(path, width = 600, height = 800)
  layout <- plot(graph_shape_flow("branch in a foreach"))
  grDevices::dev.off()
  expect_gt(file.size(path), 5000)
  expect_identical(layout, data.frame(
    step = c("start", "fan", "left", "right", "meet", "gather", "end"),
    type = c("foreach", "split", "linear", "linear", "join", "join", "end"),
    depth = c(0, 1, 2, 2, 3, 4, 5),
    x = c(0, 0, -0.5, 0.5, 0, 0, 0),
    y = c(0, -1, -2, -2, -3, -4, -5)
  ))
})

test_that("every step is drawn below every step that goes to it", {
  for (flow in graph_shape_flows()) {
    grDevices::png(withr::local_tempfile(fileext = ".png"))
    layout <- plot(flow, main = NULL)
    grDevices::dev.off()
    edges <- flow_graph(flow)$edges
    parent_y <- layout$y[match(edges$from, layout$step)]
    child_y <- layout$y[match(edges$to, layout$step)]
    expect_true(all(parent_y > child_y))
  }
})

test_that("a step's depth is its longest path from start", {
  flow <- metaflow("UnevenFlow") %>%
    step(step = "start", next_step = c("short", "long")) %>%
    step(step = "short", next_step = "join") %>%
    step(step = "long", next_step = "longer") %>%
    step(step = "longer", next_step = "join") %>%
    step(step = "join", join = TRUE, next_step = "end") %>%
    step(step = "end")
  grDevices::png(withr::local_tempfile(fileext = ".png"))
  layout <- plot(flow, col = "navy", font = 2)
  grDevices::dev.off()
  expect_identical(layout$depth[match(c("short", "longer", "join"), layout$step)], c(1, 2, 3))
  expect_identical(layout$x[match(c("short", "long"), layout$step)], c(-0.5, 0.5))
  # A branch keeps its lane; the join sits between its parents.
  expect_identical(layout$x[match(c("longer", "join"), layout$step)], c(0.5, 0))
})

test_that("plot() of a broken flow is the graph error run() gives", {
  flow <- metaflow("BrokenFlow") %>% step(step = "start", next_step = "end")
  grDevices::png(withr::local_tempfile(fileext = ".png"))
  on.exit(grDevices::dev.off())
  expect_error(plot(flow), class = "metaflow_error_graph")
})
