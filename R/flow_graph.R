#' A flow's graph as data frames
#'
#' The steps of a flow and the transitions between them, one row each, in
#' the order `Rscript flow.R show` lists the steps: from `start`, each step
#' after all the steps that go to it, the branches of a split in
#' `next_step` order. The flow is checked first, as [run()] checks it, so a
#' broken graph is an error of class `metaflow_error_graph` naming the step.
#' No Python is started.
#'
#' A node's `type` is Metaflow's: `"start"`, `"linear"` (one next step),
#' `"split"` (a static split: several next steps), `"foreach"`, `"join"` or
#' `"end"`; a `start` that splits is a `"split"` or a `"foreach"`. An edge's
#' `kind` is `"foreach"` out of a foreach step, `"branch"` out of a static
#' split, `"join"` into a join step, else `"linear"`.
#'
#' @param flow A flow made by [metaflow()].
#' @return A list of two data frames:
#'   * `nodes`: `step`, `type`, `join` (logical), `foreach` (the artifact a
#'     foreach step fans out over, else `NA`) and `decorators` (the step's
#'     decorators as `show` prints them, e.g. `"@retry(times=2)"`, separated
#'     by spaces; `""` for none).
#'   * `edges`: `from`, `to` and `kind`, each step's in `next_step` order.
#' @family graph
#' @export
#' @examples
#' flow <- metaflow("HelloFlow") %>%
#'   step(step = "start", r_function = function(self) self$numbers <- 1:3,
#'        next_step = "square", foreach = "numbers") %>%
#'   step(retry(times = 2), step = "square",
#'        r_function = function(self) self$value <- self$input^2, next_step = "join") %>%
#'   step(step = "join", join = TRUE,
#'        r_function = function(self, inputs) self$total <- sum(gather_inputs(inputs, "value")),
#'        next_step = "end") %>%
#'   step(step = "end")
#' flow_graph(flow)
flow_graph <- function(flow) {
  graph_data(flow, "flow_graph", environment())
}

# flow_graph() for `verb`, whose errors are reported for `call`.
graph_data <- function(flow, verb, call) {
  check_flow(flow, verb, call = call)
  validate_flow(flow, call = call)
  steps <- flow$get_steps()[graph_order(flow$get_steps())]
  types <- vapply(steps, node_type, "", USE.NAMES = FALSE)
  nodes <- data.frame(
    step = names(steps),
    type = types,
    join = vapply(steps, function(step) step$join, TRUE, USE.NAMES = FALSE),
    foreach = vapply(steps, function(step) step$foreach %||% NA_character_, "", USE.NAMES = FALSE),
    decorators = vapply(steps, function(step) {
      paste(vapply(step$decorators, format, ""), collapse = " ")
    }, "", USE.NAMES = FALSE)
  )
  from <- rep(names(steps), lengths(lapply(steps, function(step) step$next_step)))
  to <- unlist(lapply(steps, function(step) step$next_step), use.names = FALSE)
  edges <- data.frame(
    from = from,
    to = to,
    kind = edge_kind(types[match(from, nodes$step)], types[match(to, nodes$step)])
  )
  list(nodes = nodes, edges = edges)
}

# The engine's node type (graph.py): validate_flow()'s step types, with a
# start step that goes to one step as "start".
node_type <- function(step) {
  type <- step_type(step)
  if (type == "linear" && step$name == "start") "start" else type
}

# The kind of each edge from a step of type `from` to one of type `to`, as
# graph_text.py's edge_kind() gives it.
edge_kind <- function(from, to) {
  kind <- rep("linear", length(from))
  kind[to == "join"] <- "join"
  kind[from == "split"] <- "branch"
  kind[from == "foreach"] <- "foreach"
  kind
}

# Text of a graph in `format` ("mermaid" or "dot"): one string, lines joined
# without a final newline, exactly as the engine's graph_text.py writes it.
new_graph_text <- function(lines, format) {
  structure(
    paste(lines, collapse = "\n"),
    class = c(paste0("metaflow_", format), "metaflow_graph_text", "character")
  )
}

#' @export
print.metaflow_graph_text <- function(x, ...) {
  cat(x, "\n", sep = "")
  invisible(x)
}

# The shape each node is drawn as: start and end as themselves, whatever
# their type (a start step may split), other steps by type.
node_shapes <- function(nodes) {
  ifelse(nodes$step %in% c("start", "end"), nodes$step, nodes$type)
}

# The label of a foreach edge, in both formats.
foreach_label <- function(foreach) {
  paste("foreach", foreach)
}
