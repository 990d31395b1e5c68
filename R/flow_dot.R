#' A flow's graph in Graphviz's DOT language
#'
#' Text for Graphviz (`dot -Tsvg flow.dot > flow.svg`) or any tool that reads
#' DOT: the steps top to bottom, start and end as ovals, linear steps as
#' boxes, static splits as diamonds, foreach steps as parallelograms, joins
#' as hexagons, and each foreach edge dashed and labelled with the artifact
#' it fans out over. The text is the same, byte for byte, as
#' `Rscript flow.R show --dot` prints (and, for a Python flow,
#' `python flow.py show --dot`). Nodes are the steps' names, quoted.
#'
#' @inheritParams flow_graph
#' @return A string of class `metaflow_dot`, without a final newline, that
#'   prints as the text.
#' @family graph
#' @export
#' @examples
#' flow <- metaflow("BranchFlow") %>%
#'   step(step = "start", next_step = c("a", "b")) %>%
#'   step(step = "a", next_step = "join") %>%
#'   step(step = "b", next_step = "join") %>%
#'   step(step = "join", join = TRUE, next_step = "end") %>%
#'   step(step = "end")
#' flow_dot(flow)
flow_dot <- function(flow) {
  graph <- graph_data(flow, "flow_dot", environment())
  nodes <- graph$nodes
  edges <- graph$edges
  node_lines <- paste0(
    graph_text_indent, dot_string(nodes$step), " [shape=", dot_shapes[node_shapes(nodes)], "];"
  )
  foreach <- nodes$foreach[match(edges$from, nodes$step)]
  attributes <- ifelse(
    edges$kind == "foreach",
    paste0(" [style=dashed, label=", dot_string(foreach_label(foreach)), "]"),
    ""
  )
  edge_lines <- paste0(
    graph_text_indent, dot_string(edges$from), " -> ", dot_string(edges$to), attributes, ";"
  )
  new_graph_text(c(
    paste("digraph", dot_string(flow$get_name()), "{"),
    paste0(graph_text_indent, "rankdir=TB;"),
    paste0(graph_text_indent, "node [fontname=\"Helvetica\"];"),
    node_lines,
    edge_lines,
    "}"
  ), "dot")
}

# Graphviz's name of each shape (graph_text.py's DOT_SHAPES).
dot_shapes <- c(
  start = "oval", end = "oval", linear = "box", split = "diamond",
  foreach = "parallelogram", join = "hexagon"
)

dot_string <- function(text) {
  paste0("\"", gsub("\"", "\\\"", gsub("\\", "\\\\", text, fixed = TRUE), fixed = TRUE), "\"")
}
