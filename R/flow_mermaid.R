#' A flow's graph as a Mermaid flowchart
#'
#' Text to paste into Markdown in a ```` ```mermaid ```` block (GitHub,
#' Quarto and many wikis draw it): the steps top to bottom, start and end as
#' rounded ovals, linear steps as boxes, static splits as diamonds, foreach
#' steps as parallelograms, joins as hexagons, and each foreach edge dashed
#' and labelled with the artifact it fans out over. The text is the same,
#' byte for byte, as `Rscript flow.R show --mermaid` prints (and, for a
#' Python flow, `python flow.py show --mermaid`).
#'
#' Nodes are named `n1`, `n2`, ... in [flow_graph()]'s order, with the step's
#' name as a quoted label, because a step's name may be one of Mermaid's
#' keywords (`end`).
#'
#' @inheritParams flow_graph
#' @return A string of class `metaflow_mermaid`, without a final newline,
#'   that prints as the text.
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
#' flow_mermaid(flow)
flow_mermaid <- function(flow) {
  graph <- graph_data(flow, "flow_mermaid", environment())
  nodes <- graph$nodes
  edges <- graph$edges
  ids <- paste0("n", seq_len(nrow(nodes)))
  names(ids) <- nodes$step
  shapes <- mermaid_shapes[node_shapes(nodes)]
  node_lines <- paste0(
    graph_text_indent, ids, vapply(shapes, `[[`, "", 1),
    mermaid_string(nodes$step), vapply(shapes, `[[`, "", 2)
  )
  foreach <- nodes$foreach[match(edges$from, nodes$step)]
  arrows <- ifelse(
    edges$kind == "foreach",
    paste0("-.->|", mermaid_string(foreach_label(foreach)), "|"),
    "-->"
  )
  edge_lines <- paste0(graph_text_indent, ids[edges$from], " ", arrows, " ", ids[edges$to])
  new_graph_text(
    c("flowchart TD", paste0(graph_text_indent, "%% ", flow$get_name()), node_lines, edge_lines),
    "mermaid"
  )
}

# Opening and closing of each shape (graph_text.py's MERMAID_SHAPES).
mermaid_shapes <- list(
  start = c("([", "])"),
  end = c("([", "])"),
  linear = c("[", "]"),
  split = c("{", "}"),
  foreach = c("[/", "/]"),
  join = c("{{", "}}")
)

graph_text_indent <- "    "

# Quoted Mermaid labels: Mermaid has no backslash escapes, only entities.
mermaid_string <- function(text) {
  text <- gsub("#", "#35;", text, fixed = TRUE)
  text <- gsub("\"", "#quot;", text, fixed = TRUE)
  text <- gsub("<", "#lt;", text, fixed = TRUE)
  text <- gsub(">", "#gt;", text, fixed = TRUE)
  paste0("\"", text, "\"")
}
