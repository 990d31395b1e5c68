# The flow under construction: what metaflow() returns and step() and
# parameter() add to. Mutable on purpose: the original package's users write
# `flow %>% step(...)` without reassigning, so every verb changes the flow in
# place and returns it invisibly.
#
# A step is a list with
#   name        the step's name
#   r_function  its R function, or NULL for a step without a body
#   next_step   character: the steps it goes to (character(0) for end)
#   foreach     NULL, or the artifact a foreach split fans out over
#   join        TRUE for a join step (its function takes `self, inputs`)
#   decorators  list of decorator() objects
# A parameter is a list with
#   name, help, required, separator, is_flag  as given to parameter()
#   type     "str", "int", "float", "bool" or "json"; NULL when the default is
#            a function and no type was given (the type then comes from the
#            value the function returns)
#   default  NULL, a value of the type, or a function of a context list
Flow <- R6::R6Class(
  "Flow",
  public = list(
    initialize = function(name, flow_decorators = list()) {
      private$name <- name
      private$flow_decorators <- flow_decorators
    },

    add_step = function(step) {
      private$steps[[step$name]] <- step
      invisible(self)
    },

    add_parameter = function(parameter) {
      private$parameters[[parameter$name]] <- parameter
      invisible(self)
    },

    has_step = function(name) {
      name %in% names(private$steps)
    },

    get_name = function() {
      private$name
    },

    # Steps by name, in the order they were added.
    get_steps = function() {
      private$steps
    },

    # Parameters by name, in the order they were added.
    get_parameters = function() {
      private$parameters
    },

    # Step name -> R function, for the steps that have one.
    get_functions = function() {
      functions <- lapply(private$steps, function(step) step$r_function)
      functions[!vapply(functions, is.null, TRUE)]
    },

    get_flow_decorators = function() {
      private$flow_decorators
    },

    format = function(...) {
      c(
        cli::rule(left = paste("Flow", cli::style_bold(private$name))),
        vapply(private$flow_decorators, format, ""),
        format_parameters(private$parameters),
        format_steps(private$steps)
      )
    }
  ),
  private = list(
    name = NULL,
    flow_decorators = list(),
    steps = list(),
    parameters = list()
  )
)

format_parameters <- function(parameters) {
  if (length(parameters) == 0) {
    return(character())
  }
  parameter_names <- names(parameters)
  types <- vapply(parameters, function(p) p$type %||% "type from default", "")
  defaults <- vapply(parameters, format_parameter_default, "")
  c(
    cli::style_bold("Parameters:"),
    paste0("  ", format(parameter_names), "  ", format(types), "  ", defaults)
  )
}

format_parameter_default <- function(parameter) {
  default <- parameter$default
  shown <- if (is.null(default)) {
    if (parameter$required) "required" else "no default"
  } else if (is.function(default)) {
    "default computed by a function at run time"
  } else if (identical(parameter$type, "json")) {
    paste("default", truncate_text(parameter_json_text(default), 40))
  } else if (is.character(default)) {
    paste("default", truncate_text(encodeString(default, quote = "\""), 40))
  } else {
    paste("default", format(default, digits = 15))
  }
  if (parameter$required && !is.null(default)) {
    shown <- paste0("required, ", shown)
  }
  shown
}

format_steps <- function(steps) {
  if (length(steps) == 0) {
    return(c(cli::style_bold("Steps:"), "  none yet: add them with `step()`"))
  }
  lines <- lapply(steps[graph_order(steps)], function(step) {
    line <- cli::col_blue(step$name)
    if (step$join) {
      line <- paste(line, "(join)")
    }
    if (length(step$next_step) > 0) {
      line <- paste(line, arrow(), paste(step$next_step, collapse = ", "))
    }
    if (!is.null(step$foreach)) {
      line <- paste0(line, " (foreach ", step$foreach, ")")
    }
    decorators <- vapply(step$decorators, format, "")
    c(
      paste0("  ", line),
      if (length(decorators) > 0) paste0("    ", cli::col_grey(paste(decorators, collapse = " ")))
    )
  })
  c(cli::style_bold("Steps:"), unlist(lines, use.names = FALSE))
}

# Step names from start in the order a run can reach them, each after all its
# parents, sibling branches in next_step order (as Metaflow's `show` lists
# them); then any steps not reachable from start, in the order they were
# added. Works on invalid graphs too: unknown steps are skipped, loops cut.
graph_order <- function(steps) {
  if (!"start" %in% names(steps)) {
    return(names(steps))
  }
  children <- function(name) rev(intersect(steps[[name]]$next_step, names(steps)))
  visited <- "start"
  postorder <- character()
  path <- "start"
  pending <- list(children("start"))
  while (length(path) > 0) {
    top <- length(path)
    unvisited <- setdiff(pending[[top]], visited)
    if (length(unvisited) == 0) {
      postorder <- c(postorder, path[[top]])
      path <- path[-top]
      pending <- pending[-top]
    } else {
      child <- unvisited[[1]]
      pending[[top]] <- unvisited[-1]
      visited <- c(visited, child)
      path <- c(path, child)
      pending <- c(pending, list(children(child)))
    }
  }
  c(rev(postorder), setdiff(names(steps), postorder))
}

arrow <- function() {
  if (cli::is_utf8_output()) cli::symbol$arrow_right else "->"
}
