# inst/graph_cases.json: the graphs both the R package and the engine are
# tested on, good ones (`shapes`) and bad ones (`cases`).
read_graph_cases <- function() {
  jsonlite::read_json(system.file("graph_cases.json", package = "metaflow", mustWork = TRUE))
}

# The flow of a shape or case: every step a function that does nothing.
graph_case_flow <- function(case, name = "GraphCaseFlow") {
  flow <- metaflow(name)
  for (s in case$steps) {
    join <- isTRUE(s$join)
    step(
      flow,
      step = s$name,
      next_step = unlist(s[["next"]]),
      join = join,
      foreach = s$foreach,
      r_function = if (join) function(self, inputs) NULL else function(self) NULL
    )
  }
  flow
}

# The shape of inst/graph_cases.json called `shape`, as a flow.
graph_shape_flow <- function(shape) {
  shapes <- read_graph_cases()$shapes
  found <- Filter(function(s) identical(s$shape, shape), shapes)
  stopifnot(length(found) == 1)
  graph_case_flow(found[[1]], name = "ShapeFlow")
}

graph_shape_names <- function() {
  vapply(read_graph_cases()$shapes, function(shape) shape$shape, "")
}

# Every shape of inst/graph_cases.json as a flow, named by shape.
graph_shape_flows <- function() {
  shapes <- graph_shape_names()
  names(shapes) <- shapes
  lapply(shapes, graph_shape_flow)
}
