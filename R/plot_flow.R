#' Draw a flow's graph
#'
#' Draws the steps of a flow top to bottom with base graphics, on any device
#' (a window, or `png()` and `pdf()` without a display): each step a shape
#' holding its name, one row per depth (the longest path from `start`),
#' with an arrow for each transition. Shapes are those of [flow_mermaid()]
#' and [flow_dot()]: start and end ovals, linear steps boxes, static splits
#' diamonds, foreach steps parallelograms, joins hexagons; foreach edges are
#' dashed and labelled with the artifact they fan out over.
#'
#' @param x A flow made by [metaflow()].
#' @param y Not used; it is part of the signature of [plot()].
#' @param ... Graphical parameters for the steps' names, passed to
#'   [graphics::text()], e.g. `col` or `font`.
#' @param main The title; the flow's name by default, `NULL` for none.
#' @return The layout, invisibly: a data frame with one row per step, in
#'   [flow_graph()]'s order, with `step`, `type`, `depth` (0 for `start`),
#'   and `x`, `y`, the centre of the step's shape in the plot's coordinates
#'   (a step's `y` is below those of every step that goes to it).
#' @family graph
#' @export
#' @examples
#' flow <- metaflow("HelloFlow") %>%
#'   step(step = "start", r_function = function(self) self$numbers <- 1:3,
#'        next_step = "square", foreach = "numbers") %>%
#'   step(step = "square", r_function = function(self) self$value <- self$input^2,
#'        next_step = "join") %>%
#'   step(step = "join", join = TRUE,
#'        r_function = function(self, inputs) self$total <- sum(gather_inputs(inputs, "value")),
#'        next_step = "end") %>%
#'   step(step = "end")
#' plot(flow)
plot.Flow <- function(x, y, ..., main = x$get_name()) {
  graph <- graph_data(x, "plot", environment())
  layout <- graph_layout(graph)
  old <- graphics::par(mar = c(0.5, 0.5, if (is.null(main)) 0.5 else 2.5, 0.5))
  on.exit(graphics::par(old), add = TRUE)
  graphics::plot.new()
  graphics::plot.window(
    xlim = range(layout$x) + c(-0.6, 0.6),
    ylim = range(layout$y) + c(-0.5, 0.5)
  )
  if (!is.null(main)) {
    graphics::title(main = main)
  }
  # Names shrink to fit a shape a little narrower than a column.
  cex <- min(1, 0.7 / max(graphics::strwidth(layout$step, cex = 1)))
  half_height <- 0.18
  draw_graph_edges(graph$edges, graph$nodes, layout, half_height, cex)
  shapes <- node_shapes(layout)
  for (i in seq_len(nrow(layout))) {
    outline <- shape_outline(shapes[[i]], layout$x[[i]], layout$y[[i]], 0.4, half_height)
    graphics::polygon(outline$x, outline$y, col = shape_fill[[shapes[[i]]]], border = "grey30")
  }
  graphics::text(layout$x, layout$y, layout$step, cex = cex, ...)
  invisible(layout)
}

# One row per step: its depth (the longest path from start), its row (-depth)
# and its column: under the mean of its parents' columns, so that a branch
# stays in its lane, pushed apart from its neighbours by at least one column.
graph_layout <- function(graph) {
  nodes <- graph$nodes
  depth <- numeric(nrow(nodes))
  names(depth) <- nodes$step
  # Nodes are in graph order, every step after all its parents, so one pass
  # over the edges in that order settles each depth before it is used.
  for (i in seq_len(nrow(graph$edges))) {
    from <- graph$edges$from[[i]]
    to <- graph$edges$to[[i]]
    depth[[to]] <- max(depth[[to]], depth[[from]] + 1)
  }
  x <- numeric(nrow(nodes))
  names(x) <- nodes$step
  for (level in sort(unique(depth))) {
    at_level <- which(depth == level)
    wanted <- vapply(nodes$step[at_level], function(step) {
      parents <- graph$edges$from[graph$edges$to == step]
      if (length(parents) == 0) 0 else mean(x[parents])
    }, numeric(1))
    ordered <- order(wanted)
    placed <- cumulative_spread(wanted[ordered])
    x[at_level[ordered]] <- placed + mean(wanted) - mean(placed)
  }
  data.frame(step = nodes$step, type = nodes$type, depth = unname(depth), x = unname(x),
             y = -unname(depth))
}

# Sorted wanted positions, each moved right as far as needed to be at least 1
# from the one before.
cumulative_spread <- function(wanted) {
  placed <- wanted
  for (i in seq_along(placed)[-1]) {
    placed[[i]] <- max(placed[[i]], placed[[i - 1]] + 1)
  }
  unname(placed)
}

draw_graph_edges <- function(edges, nodes, layout, half_height, cex) {
  from <- match(edges$from, layout$step)
  to <- match(edges$to, layout$step)
  foreach <- edges$kind == "foreach"
  graphics::arrows(
    layout$x[from], layout$y[from] - half_height, layout$x[to], layout$y[to] + half_height,
    length = 0.08, lty = ifelse(foreach, 2, 1), col = "grey30"
  )
  if (any(foreach)) {
    labels <- foreach_label(nodes$foreach[match(edges$from[foreach], nodes$step)])
    graphics::text(
      (layout$x[from[foreach]] + layout$x[to[foreach]]) / 2,
      (layout$y[from[foreach]] + layout$y[to[foreach]]) / 2,
      labels, pos = 4, cex = 0.8 * cex, col = "grey30", font = 3
    )
  }
}

# The outline of a shape (node_shapes()) centred on (x, y), `w` and `h` its half
# width and half height.
shape_outline <- function(shape, x, y, w, h) {
  unit <- switch(shape,
    start = ,
    end = {
      angle <- seq(0, 2 * pi, length.out = 60)
      list(x = cos(angle), y = sin(angle))
    },
    linear = list(x = c(-1, 1, 1, -1), y = c(-1, -1, 1, 1)),
    split = list(x = c(-1, 0, 1, 0), y = c(0, -1, 0, 1)),
    foreach = list(x = c(-1, 0.8, 1, -0.8), y = c(-1, -1, 1, 1)),
    join = list(x = c(-1, -0.8, 0.8, 1, 0.8, -0.8), y = c(0, -1, -1, 0, 1, 1))
  )
  list(x = x + w * unit$x, y = y + h * unit$y)
}

shape_fill <- c(
  start = "#d9ead3", end = "#d9ead3", linear = "#dae8fc", split = "#fff2cc",
  foreach = "#ffe6cc", join = "#e1d5e7"
)
