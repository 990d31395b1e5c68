#' Check a flow's graph before it runs
#'
#' The R counterpart of Metaflow's graph linter, run before any process
#' starts so that a broken flow fails with a message about its steps, not
#' about generated Python. The checks run in Metaflow's order and the first
#' problem found is an error of class `metaflow_error_graph` naming the step,
#' with fields `rule`, the rule's id (the same as the engine's lint gives it,
#' see `inst/graph_cases.json`), and `step`, the step it concerns (`NULL` for
#' a missing start or end).
#'
#' @param flow A Flow.
#' @param call The call errors are reported for.
#' @return `flow`, invisibly.
#' @noRd
validate_flow <- function(flow, call = parent.frame()) {
  check_flow(flow, "validate_flow", call = call)
  steps <- flow$get_steps()
  for (check in graph_checks) {
    check(steps, call)
  }
  check_parameter_names_against_steps(flow, call)
  invisible(flow)
}

check_start_and_end <- function(steps, call) {
  for (required in c("start", "end")) {
    if (!required %in% names(steps)) {
      role <- if (required == "start") "begins" else "finishes"
      metaflow_abort(c(
        "A flow must have a step named {.val {required}}.",
        x = if (length(steps) == 0) "The flow has no steps." else "The flow has step{?s} {.val {names(steps)}}.",
        i = "Every flow {role} with its {.val {required}} step: add {.code step(step = \"{required}\", ...)}."
      ), "graph", rule = "start_and_end", step = NULL, call = call)
    }
  }
}

check_end_is_end <- function(steps, call) {
  end <- steps$end
  if (length(end$next_step) > 0) {
    metaflow_abort(c(
      "The {.val end} step can't have a {.arg next_step}.",
      x = "It goes to {.val {end$next_step}}.",
      i = "The flow finishes at {.val end}: remove its {.arg next_step}."
    ), "graph", rule = "end_is_end", step = "end", call = call)
  }
  if (end$join) {
    metaflow_abort(c(
      "The {.val end} step can't be a join step.",
      i = "Add a join step before {.val end} and make it go to {.val end}."
    ), "graph", rule = "end_is_end", step = "end", call = call)
  }
}

check_next_steps_given <- function(steps, call) {
  for (step in steps) {
    if (step$name != "end" && length(step$next_step) == 0) {
      metaflow_abort(c(
        "Step {.val {step$name}} must have a {.arg next_step}.",
        i = "Every step but {.val end} says where the flow goes next, e.g. {.code next_step = \"end\"}."
      ), "graph", rule = "next_step_given", step = step$name, call = call)
    }
  }
}

check_next_steps_exist <- function(steps, call) {
  for (step in steps) {
    unknown <- setdiff(step$next_step, names(steps))
    if (length(unknown) > 0) {
      target <- unknown[[1]]
      closest <- closest_name(target, names(steps))
      metaflow_abort(c(
        "{.arg next_step} must name a step of the flow.",
        x = "Step {.val {step$name}} goes to {.val {target}}, but there is no such step.",
        i = if (!is.null(closest)) "Did you mean {.val {closest}}?" else "The flow has step{?s} {.val {names(steps)}}."
      ), "graph", rule = "next_step_exists", step = step$name, call = call)
    }
  }
}

check_start_has_no_parents <- function(steps, call) {
  parents <- step_parents(steps)$start
  if (length(parents) > 0) {
    metaflow_abort(c(
      "No step can go back to the {.val start} step.",
      x = "{.val {parents}} go{?es/} to {.val start}."
    ), "graph", rule = "start_has_no_parents", step = "start", call = call)
  }
}

check_no_loops <- function(steps, call) {
  loop <- find_loop(steps)
  if (!is.null(loop)) {
    shown <- paste(loop, collapse = paste0(" ", arrow(), " "))
    metaflow_abort(c(
      "A flow can't have loops.",
      x = "It has the loop {shown}.",
      i = "Change the {.arg next_step} of {?/one of} {.val {unique(loop)}}."
    ), "graph", rule = "no_loops", step = loop[[length(loop) - 1L]], call = call)
  }
}

check_all_reachable <- function(steps, call) {
  reachable <- "start"
  frontier <- "start"
  while (length(frontier) > 0) {
    children <- unique(unlist(lapply(steps[frontier], function(step) step$next_step)))
    frontier <- setdiff(children, reachable)
    reachable <- c(reachable, frontier)
  }
  orphans <- setdiff(names(steps), reachable)
  if (length(orphans) > 0) {
    metaflow_abort(c(
      "Every step must be reachable from {.val start}.",
      x = "Can't reach {.val {orphans}}.",
      i = "Name each step in the {.arg next_step} of another step, or remove it."
    ), "graph", rule = "all_reachable", step = orphans[[1]], call = call)
  }
}

# Every split is closed by exactly one join, which all its branches reach and
# no branch of another split does; the end step is reached with every split
# closed. Walks every path from start, keeping a stack of the splits open on
# it (Metaflow's check_split_join_balance).
check_split_join_balance <- function(steps, call) {
  parents <- step_parents(steps)
  enclosing <- enclosing_splits(steps)
  lineage <- function(name) {
    splits <- enclosing[[name]]
    if (steps[[name]]$join) utils::head(splits, -1) else splits
  }
  seen <- character()
  pending <- list(list(name = "start", open = list()))
  while (length(pending) > 0) {
    current <- pending[[length(pending)]]
    pending <- pending[-length(pending)]
    step <- steps[[current$name]]
    open <- current$open
    key <- paste(c(step$name, vapply(open, function(split) split$name, "")), collapse = "/")
    if (key %in% seen) {
      next
    }
    seen <- c(seen, key)
    type <- step_type(step)
    if (type %in% c("split", "foreach")) {
      open <- c(open, list(list(name = step$name, branches = step$next_step)))
    } else if (type == "join") {
      check_join(step, open, parents[[step$name]], lineage, call)
      open <- utils::head(open, -1)
    } else if (type == "end" && length(open) > 0) {
      split <- open[[length(open)]]$name
      metaflow_abort(c(
        "Every split must be joined before {.val end}.",
        x = "The flow reaches {.val end} before the split at step {.val {split}} is joined.",
        i = "Add a join step ({.code join = TRUE}) that gathers the branches of {.val {split}} and goes to {.val end}."
      ), "graph", rule = "split_join_balance", step = step$name, call = call)
    }
    for (child in rev(step$next_step)) {
      pending <- c(pending, list(list(name = child, open = open)))
    }
  }
}

check_join <- function(step, open, join_parents, lineage, call) {
  if (length(open) == 0) {
    metaflow_abort(c(
      "Join step {.val {step$name}} must come after a split.",
      x = "No split comes before it: a step with several {.arg next_step}s or a {.arg foreach}.",
      i = "Remove {.code join = TRUE}, or add a split whose branches {.val {step$name}} gathers."
    ), "graph", rule = "split_join_balance", step = step$name, call = call)
  }
  split <- open[[length(open)]]
  if (length(join_parents) != length(split$branches)) {
    metaflow_abort(c(
      "Join step {.val {step$name}} must gather every branch of the split at {.val {split$name}}.",
      x = "It is reached from {.val {join_parents}}, but the split has {length(split$branches)} branch{?es}: {.val {split$branches}}."
    ), "graph", rule = "split_join_balance", step = step$name, call = call)
  }
  if (length(unique(lapply(join_parents, lineage))) > 1) {
    metaflow_abort(c(
      "Join step {.val {step$name}} can't join branches of unrelated splits.",
      x = "It is reached from {.val {join_parents}}, which are inside different splits.",
      i = "Give every split its own join step."
    ), "graph", rule = "split_join_balance", step = step$name, call = call)
  }
}

check_foreach_not_empty <- function(steps, call) {
  for (step in steps) {
    if (!is.null(step$foreach) && steps[[step$next_step]]$join) {
      metaflow_abort(c(
        "A foreach step can't go straight to a join step.",
        x = "Step {.val {step$name}} fans out over {.field {step$foreach}} into join step {.val {step$next_step}}.",
        i = "Add a step between them; it runs once for each element of {.field {step$foreach}}."
      ), "graph", rule = "foreach_not_empty", step = step$name, call = call)
    }
  }
}

# Parameters and steps are both attributes of the engine's flow class.
check_parameter_names_against_steps <- function(flow, call) {
  clashes <- intersect(names(flow$get_parameters()), names(flow$get_steps()))
  if (length(clashes) > 0) {
    metaflow_abort(c(
      "A parameter can't have the name of a step.",
      x = "{.val {clashes}} {?is/are} both a parameter and a step."
    ), "parameter", call = call)
  }
}

# In lint.py's order: the rules share their ids (the `rule` of the error)
# and their cases (inst/graph_cases.json) with the engine's lint.
graph_checks <- list(
  check_start_and_end,
  check_start_has_no_parents,
  check_end_is_end,
  check_next_steps_given,
  check_next_steps_exist,
  check_no_loops,
  check_all_reachable,
  check_split_join_balance,
  check_foreach_not_empty
)

step_type <- function(step) {
  if (step$join) {
    "join"
  } else if (!is.null(step$foreach)) {
    "foreach"
  } else if (length(step$next_step) > 1) {
    "split"
  } else if (step$name == "end") {
    "end"
  } else {
    "linear"
  }
}

# Step name -> the steps that go to it, in the order the steps were added.
step_parents <- function(steps) {
  parents <- lapply(steps, function(step) character())
  for (step in steps) {
    for (child in intersect(step$next_step, names(steps))) {
      parents[[child]] <- c(parents[[child]], step$name)
    }
  }
  parents
}

# Step name -> the splits enclosing it, outermost first; a join is still
# inside the split it closes. Expects a graph without loops.
enclosing_splits <- function(steps) {
  result <- list()
  done <- character()
  pending <- list(list(name = "start", splits = character()))
  while (length(pending) > 0) {
    current <- pending[[length(pending)]]
    pending <- pending[-length(pending)]
    key <- paste(c(current$name, current$splits), collapse = "/")
    if (key %in% done) {
      next
    }
    done <- c(done, key)
    step <- steps[[current$name]]
    result[[step$name]] <- current$splits
    splits <- current$splits
    type <- step_type(step)
    if (type %in% c("split", "foreach")) {
      splits <- c(splits, step$name)
    } else if (type == "join") {
      splits <- utils::head(splits, -1)
    }
    for (child in rev(step$next_step)) {
      pending <- c(pending, list(list(name = child, splits = splits)))
    }
  }
  result
}

# The steps of a loop, first step repeated at the end (c("a", "b", "a")), or
# NULL. Depth-first from start, then from any step not visited yet.
find_loop <- function(steps) {
  state <- list()
  visit <- function(name, path) {
    state[[name]] <<- "open"
    for (child in intersect(steps[[name]]$next_step, names(steps))) {
      if (identical(state[[child]], "open")) {
        return(c(path[match(child, path):length(path)], child))
      }
      if (is.null(state[[child]])) {
        loop <- visit(child, c(path, child))
        if (!is.null(loop)) {
          return(loop)
        }
      }
    }
    state[[name]] <<- "done"
    NULL
  }
  for (root in union("start", names(steps))) {
    if (is.null(state[[root]]) && root %in% names(steps)) {
      loop <- visit(root, root)
      if (!is.null(loop)) {
        return(loop)
      }
    }
  }
  NULL
}

closest_name <- function(name, candidates) {
  if (length(candidates) == 0) {
    return(NULL)
  }
  distances <- utils::adist(name, candidates)[1, ]
  best <- which.min(distances)
  if (distances[[best]] <= max(1, nchar(name) %/% 3)) candidates[[best]] else NULL
}
