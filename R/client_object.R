#' What every client object has
#'
#' `metaflow_object` is the R6 class that [flow_client], [run_client],
#' [step_client] and [task_client] inherit from. It names one object of the
#' package's Python client (a `Flow`, `Run`, `Step` or `Task` of
#' `metaflow_core.client`, which runs in a Python process of its own) and
#' gives the fields and methods they share. Make objects with the subclasses
#' or with [new_flow()], [new_run()], [new_step()] and [new_task()], not with
#' `metaflow_object$new()`.
#'
#' An object keeps reading the datastore and namespace that were in force
#' when it was made, even after [setwd()], [set_metadata()] or
#' [set_namespace()]; make a new object to follow them. Fields are read
#' afresh each time, so a running run's `status` changes as it goes.
#'
#' @section Fields:
#' * `id`: the object's id, a string: the flow's name, the run's id, the
#'   step's name or the task's id.
#' * `pathspec`: the object's path, `"Flow/run/step/task"` up to its level.
#' * `parent`: the id of the object it belongs to, or `NULL` for a flow.
#' * `tags`: the tags of its run (user and system tags, sorted); a flow's are
#'   empty.
#' * `created_at`: when it was created, a `POSIXct`.
#'
#' @section Methods:
#' * `is_in_namespace()`: whether it is in the current namespace
#'   ([get_namespace()]).
#' * `get_values()`: the ids of its children: a flow's run ids (newest
#'   first), a run's step names, a step's task ids, a task's artifact names.
#' * `get_obj()`: the object of the Python client itself, through
#'   reticulate, for anything this class doesn't offer. The first call
#'   loads reticulate and starts Python inside R, which takes seconds.
#' * `verify()`: checks every stored artifact the object refers to (every
#'   attempt of every task of a run or step; for a flow, every run and every
#'   blob file of the flow, including those no task refers to) against the
#'   hash it is named by, and returns the damaged ones as a data frame (see
#'   [verify_frame()]): no rows when all are intact. It reads no values.
#' * `print()`: what a person wants to know first: status, times, counts.
#' * `summary()`: that and a table of its children.
#'
#' @family client
#' @keywords internal
metaflow_object <- R6::R6Class(
  "metaflow_object",
  public = list(
    #' @description Name an object of the Python client (internal).
    #' @param ref What the client's Python process calls the object.
    initialize = function(ref) {
      if (inherits(ref, "metaflow_deferred")) {
        private$deferred <- ref
        return(invisible(self))
      }
      if (!inherits(ref, "metaflow_ref")) {
        metaflow_abort(c(
          "{.arg ref} must name an object of the metaflow client.",
          i = "Make client objects with {.fn new_flow}, {.fn new_run}, {.fn new_step} or {.fn new_task}."
        ), "usage")
      }
      private$obj <- ref
    },

    #' @description Whether the object is in the current namespace.
    is_in_namespace = function() {
      isTRUE(private$ask("is_in_namespace"))
    },

    #' @description The Python client's object, through reticulate.
    get_obj = function() {
      python_client_object(private$ref())
    },

    #' @description The ids of the object's children.
    get_values = function() {
      as_strings(private$ask("children"))
    },

    #' @description Check the object's stored artifacts against their hashes.
    #' @return A data frame of the damaged ones, no rows when all are intact.
    verify = function() {
      verify_frame(private$ask("verify"))
    },

    #' @description Print the object's status, times and counts.
    #' @param ... Ignored.
    print = function(...) {
      cli::cat_rule(left = paste(private$noun, self$pathspec))
      cat_facts(private$facts())
      invisible(self)
    },

    #' @description Print the object and a table of its children.
    #' @param ... Ignored.
    summary = function(...) {
      self$print()
      private$details()
      invisible(self)
    }
  ),
  active = read_only_fields(
    #' @field id The object's id.
    id = function() {
      components <- strsplit(self$pathspec, "/", fixed = TRUE)[[1]]
      components[[length(components)]]
    },
    #' @field pathspec The object's pathspec.
    pathspec = function() {
      private$ref()$pathspec
    },
    #' @field parent The id of the object this one belongs to.
    parent = function() {
      components <- strsplit(self$pathspec, "/", fixed = TRUE)[[1]]
      if (length(components) > 1L) components[[length(components) - 1L]]
    },
    #' @field tags The tags of the object's run.
    tags = function() {
      as_strings(private$field("tags"))
    },
    #' @field created_at When the object was created.
    created_at = function() {
      as_time(private$field("created_at"))
    }
  ),
  private = list(
    obj = NULL,
    deferred = NULL,
    noun = "Object",

    # The object's ref, asked for on first use when the client was deferred.
    ref = function() {
      if (is.null(private$obj)) {
        private$obj <- private$deferred$make()
        private$deferred <- NULL
      }
      private$obj
    },

    # The reply to request `op` about this object.
    ask = function(op, ..., call = parent.frame()) {
      client_request(op, list(ref = private$ref(), ...), call = call)
    },

    # Fields of the object, a named list; one request however many.
    fields = function(names, call = parent.frame()) {
      private$ask("fields", names = as.list(names), call = call)
    },

    field = function(name, call = parent.frame()) {
      private$fields(name, call = call)[[name]]
    },

    # Label -> value, the lines print() shows.
    facts = function() character(),

    # What summary() shows after print().
    details = function() invisible()
  )
)

#' @export
summary.metaflow_object <- function(object, ...) {
  object$summary(...)
}

# Refs: what the client's Python process calls an object -----------------------------

as_ref <- function(value) {
  structure(value, class = "metaflow_ref")
}

# A client whose ref is asked for only when first needed: run() returns one,
# so that a script that never reads its run never starts the client's Python.
deferred_ref <- function(make) {
  structure(list(make = make), class = "metaflow_deferred")
}

# The ref of the object of `class_name` that `x` names: a client object of
# that class (e.g. a FlowClient for "Flow"), a ref (how a client hands over
# its children), or a pathspec; for "Flow", also a flow built with metaflow(),
# which names the flow of its name.
ref_at <- function(x, class_name, call, check = TRUE, context = client_context()) {
  if (inherits(x, paste0(class_name, "Client"))) {
    return(ref_of(x))
  }
  if (class_name == "Flow" && inherits(x, "Flow")) {
    x <- x$get_name()
  }
  if (inherits(x, "metaflow_ref") && identical(x$class, class_name)) {
    return(x)
  }
  check_pathspec(x, class_name, call = call)
  as_ref(client_request("object", list(cls = class_name, pathspec = x, check = check),
    context = context, call = call
  ))
}

# The ref of the child `id` of the object `parent` (a ref). A missing child
# is the client's not-found error, which lists the children that do exist.
child_ref <- function(parent, id, call) {
  as_ref(client_request("child", list(ref = parent, id = id), call = call))
}

# The ref a client object holds. R6 has no friend access: ref_at(), for the
# package's functions that take client objects, reaches the ref through the
# object's enclosing environment rather than a public method users would see.
ref_of <- function(client) {
  client$.__enclos_env__$private$ref()
}

pathspec_depths <- c(Flow = 1L, Run = 2L, Step = 3L, Task = 4L)
pathspec_forms <- c(
  Flow = "FlowName", Run = "FlowName/RunID", Step = "FlowName/RunID/StepName",
  Task = "FlowName/RunID/StepName/TaskID"
)

check_pathspec <- function(x, class_name, arg = "pathspec", call = parent.frame()) {
  form <- pathspec_forms[[class_name]]
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    metaflow_abort(c(
      "The {tolower(class_name)} must be given as a pathspec {.val {form}}.",
      x = "Got {.obj_type_friendly {x}}."
    ), "pathspec", call = call)
  }
  components <- strsplit(x, "/", fixed = TRUE)[[1]]
  if (length(components) != pathspec_depths[[class_name]] || !all(nzchar(components)) ||
      endsWith(x, "/")) {
    metaflow_abort(c(
      "A {tolower(class_name)} pathspec must look like {.val {form}}.",
      x = "Got {.val {x}}."
    ), "pathspec", call = call)
  }
  invisible(x)
}

# An id given to a client (`run_id`, `step_id`, ...) as a string: a string,
# or a whole number such as a run id typed without quotes.
as_client_id <- function(id, arg, call) {
  if (is.numeric(id) && length(id) == 1L && !is.na(id) && id == trunc(id) && id >= 0) {
    return(sprintf("%.0f", id))
  }
  if (!is.character(id) || length(id) != 1L || is.na(id)) {
    metaflow_abort(c(
      "{.arg {arg}} must be a single id, a string.",
      x = "Got {.obj_type_friendly {id}}."
    ), "usage", call = call)
  }
  if (!nzchar(id) || grepl("/", id, fixed = TRUE)) {
    metaflow_abort(c(
      "{.arg {arg}} must be a non-empty id without {.val /}.",
      x = "Got {.val {id}}."
    ), "usage", call = call)
  }
  id
}

# Printing ---------------------------------------------------------------------------

cat_facts <- function(facts) {
  if (length(facts) == 0L) {
    return(invisible())
  }
  labels <- format(names(facts))
  cli::cat_line(labels, "  ", facts)
  invisible()
}

# "2024-04-05 10:00:04 (3.2s)": when something finished and how long it took.
format_finished <- function(created_at, finished_at, status = "running") {
  if (is.null(finished_at)) {
    return(if (identical(status, "running")) "not yet" else "never")
  }
  paste0(format_time(finished_at), " (", format_elapsed(difftime(finished_at, created_at, units = "secs")), ")")
}

format_status <- function(successful, finished = TRUE, status = NULL) {
  if (isTRUE(successful)) {
    return(paste(cli::col_green(cli::symbol$tick), "succeeded"))
  }
  if (identical(status, "running") || !isTRUE(finished)) {
    return(paste(cli::col_cyan(cli::symbol$circle), "running"))
  }
  paste(cli::col_red(cli::symbol$cross), "failed")
}

# Prints a data frame under a heading, without row names.
cat_table <- function(title, table, empty) {
  cli::cat_line()
  cli::cat_line(title)
  if (nrow(table) == 0L) {
    cli::cat_line("  ", empty)
    return(invisible())
  }
  lines <- utils::capture.output(print(table, row.names = FALSE, right = FALSE))
  cli::cat_line("  ", lines)
  invisible()
}
