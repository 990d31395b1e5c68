#' Client for a task: its artifacts, logs and outcome
#'
#' A `task_client` reads one task of a step. Make one from a [step_client]
#' and a task id (`task_client$new(step, "3")`, or `step$task("3")`) or from
#' the task's pathspec (`task_client$new("HelloFlow/1712345/start/3")`).
#'
#' # Artifacts
#'
#' `artifact(name)` reads one artifact's value, and only then: listing
#' artifacts (`artifacts`, `artifacts_table()`) reads the task's index of
#' names, types and sizes, never the values.
#'
#' * An artifact an R step stored comes back as the identical R object: its
#'   stored bytes are those of [serialize()], which [unserialize()] reads.
#' * An artifact a Python step stored is converted by reticulate when it is a
#'   plain value: `None` (`NULL`), numbers, strings, booleans, lists, tuples
#'   and dicts of them (lists, named lists), `bytes` (a raw vector), and
#'   whatever else reticulate converts (numpy arrays, pandas data frames).
#'   Anything else, such as an object of a Python class or a set, is an error
#'   of class `metaflow_error_artifact` naming the artifact and its Python
#'   type.
#'
#' @section Fields:
#' * `id`, `pathspec`, `parent` (the step's name), `tags`, `created_at`: see
#'   [metaflow_object].
#' * `finished`: `TRUE` once an attempt of the task completed.
#' * `successful`: `TRUE` if it succeeded.
#' * `finished_at`: when it finished, or `NULL`.
#' * `exception`: `NULL`, or for a failed task the error that failed it, a
#'   `metaflow_exception`: a list of `type`, `message`, `traceback` (the
#'   Python traceback, if any), `language` (`"R"` or `"Python"`) and, for an
#'   error in an R step, the R `call` (a string) and `r_traceback` (the
#'   calls, a character vector).
#' * `index`: the task's 0-based index in its foreach (as `self$index` was in
#'   the step), or `NULL` outside a foreach.
#' * `artifacts`: the names of its artifacts.
#' * `stdout`, `stderr`: what it printed, a string.
#' * `metadata_dict`: its metadata, a named list of strings.
#' * `runtime_name`: where it ran (`"dev"` for a local run).
#' * `code`: the code its run stored (see [run_client]).
#'
#' @section Methods:
#' * `artifact(name)`: the value of an artifact.
#' * `artifacts_table()`: the artifacts as a data frame (see
#'   [artifacts_table()]).
#' * `is_in_namespace()`, `get_values()`, `get_obj()`, `print()`,
#'   `summary()`: see [metaflow_object].
#'
#' @examples
#' \dontrun{
#' task <- task_client$new("HelloFlow/1712345/start/1")
#' task$artifacts
#' task$artifact("items")
#' if (!task$successful) print(task$exception)
#' }
#' @family client
#' @export
task_client <- R6::R6Class(
  "TaskClient",
  inherit = metaflow_object,
  lock_class = TRUE,
  public = list(
    #' @description Read a task.
    #' @param step A [step_client], with `task_id`; or the task's pathspec
    #'   (`"Flow/RunID/StepName/TaskID"`) alone.
    #' @param task_id The task's id.
    initialize = function(step, task_id = NULL) {
      super$initialize(resolve_task(step, task_id, call = sys.call(-1)))
    },

    #' @description The value of an artifact.
    #' @param name The artifact's name.
    artifact = function(name) {
      call <- environment()
      artifact_value(private$py(), as_client_id(name, "name", call), call)
    },

    #' @description The artifacts as a data frame, one row per artifact.
    artifacts_table = function() {
      artifacts_table(self)
    }
  ),
  active = list(
    #' @field finished Whether an attempt of the task completed.
    finished = function(value) {
      assert_read_only(value, "finished")
      py_logical(with_python_errors(private$py()$finished))
    },
    #' @field successful Whether the task succeeded.
    successful = function(value) {
      assert_read_only(value, "successful")
      py_logical(with_python_errors(private$py()$successful))
    },
    #' @field finished_at When the task finished.
    finished_at = function(value) {
      assert_read_only(value, "finished_at")
      py_time(with_python_errors(private$py()$finished_at))
    },
    #' @field exception The error that failed the task.
    exception = function(value) {
      assert_read_only(value, "exception")
      task_exception(private$py())
    },
    #' @field index The task's 0-based index in its foreach.
    index = function(value) {
      assert_read_only(value, "index")
      reticulate::py_to_r(with_python_errors(private$py()$index))
    },
    #' @field artifacts The names of the task's artifacts.
    artifacts = function(value) {
      assert_read_only(value, "artifacts")
      artifact_names(private$py())
    },
    #' @field stdout What the task printed to standard output.
    stdout = function(value) {
      assert_read_only(value, "stdout")
      py_string(with_python_errors(private$py()$stdout))
    },
    #' @field stderr What the task printed to standard error.
    stderr = function(value) {
      assert_read_only(value, "stderr")
      py_string(with_python_errors(private$py()$stderr))
    },
    #' @field metadata_dict The task's metadata.
    metadata_dict = function(value) {
      assert_read_only(value, "metadata_dict")
      reticulate::py_to_r(with_python_errors(private$py()$metadata_dict))
    },
    #' @field runtime_name Where the task ran.
    runtime_name = function(value) {
      assert_read_only(value, "runtime_name")
      runtime <- sub("^runtime:", "", grep("^runtime:", self$tags, value = TRUE))
      if (length(runtime) > 0L) runtime[[1L]]
    },
    #' @field code The code the task's run stored.
    code = function(value) {
      assert_read_only(value, "code")
      run_code(with_python_errors(private$py()$parent$parent))
    }
  ),
  private = list(
    noun = "Task",

    facts = function() {
      finished <- self$finished
      successful <- self$successful
      created_at <- self$created_at
      artifacts <- self$artifacts
      facts <- c(
        Status = format_status(successful, finished = finished),
        Index = foreach_position(private$py()),
        Created = format_time(created_at),
        Finished = format_finished(created_at, self$finished_at),
        Artifacts = format_count_list(artifacts)
      )
      exception <- self$exception
      if (!is.null(exception)) {
        facts <- c(facts, Error = format_exception_headline(exception))
      }
      facts
    },

    details = function() {
      artifacts <- self$artifacts_table()
      cat_table(
        "Artifacts",
        data.frame(
          name = artifacts$name,
          type = artifacts$type,
          size = vapply(artifacts$size, format_bytes, "")
        ),
        empty = "none"
      )
      exception <- self$exception
      if (!is.null(exception)) {
        cli::cat_line()
        print(exception)
      }
    }
  )
)

# The Python task `task_id` of `step` (a step_client or a step's pathspec);
# or, with `task_id` NULL, `step` is the task's pathspec (or the Python task).
resolve_task <- function(step, task_id, call) {
  if (is.null(task_id)) {
    return(python_object_at(step, "Task", call))
  }
  task_id <- as_client_id(task_id, "task_id", call)
  step_obj <- if (inherits(step, "StepClient")) step$get_obj() else python_object_at(step, "Step", call)
  python_child(step_obj, task_id, "Task", call)
}

# "2 of 3" for a task in a foreach; NULL (no line) outside one.
foreach_position <- function(task_obj) {
  stack <- reticulate::py_to_r(with_python_errors(task_obj$foreach_stack))
  if (length(stack) == 0L) {
    return(NULL)
  }
  frame <- stack[[length(stack)]]
  paste0(frame$index, " (of ", frame$num_splits, " splits of ", frame$var %||% "a foreach", ")")
}

# Artifacts -------------------------------------------------------------------------

# The names of a task's artifacts, from its index alone.
artifact_names <- function(task_obj) {
  with_python_errors(py_strings(task_obj$data))
}

# The R value of the artifact `name` of a Python task.
artifact_value <- function(task_obj, name, call) {
  artifact <- python_child(task_obj, name, "DataArtifact", call)
  encoding <- with_python_errors(py_string(artifact$encoding), call = call)
  if (identical(encoding, "rds")) {
    return(rds_artifact_value(artifact, name, call))
  }
  python_artifact_value(artifact, name, call)
}

rds_artifact_value <- function(artifact, name, call) {
  bytes <- with_python_errors(
    reticulate::py_to_r(client_python$builtins$bytearray(artifact$raw_bytes())),
    call = call
  )
  tryCatch(
    unserialize(bytes),
    error = function(err) {
      pathspec <- task_pathspec_of(artifact)
      metaflow_abort(
        "Can't read R artifact {.val {name}} of {.val {pathspec}}: its stored bytes are damaged.",
        "artifact", artifact = name, parent = err, call = call
      )
    }
  )
}

python_artifact_value <- function(artifact, name, call) {
  type <- with_python_errors(py_string(artifact$type), call = call)
  pathspec <- task_pathspec_of(artifact)
  value <- tryCatch(
    with_python_errors(artifact$data, call = call),
    metaflow_error = function(err) {
      metaflow_abort(c(
        "Can't load artifact {.val {name}} of {.val {pathspec}}, a Python {.cls {type}}.",
        x = "{conditionMessage(err)}"
      ), "artifact", artifact = name, python_type = type, call = call)
    }
  )
  if (inherits(value, "python.builtin.bytes")) {
    return(reticulate::py_to_r(client_python$builtins$bytearray(value)))
  }
  converted <- reticulate::py_to_r(value)
  leftover <- python_object_in(converted)
  if (!is.null(leftover)) {
    inner <- python_type_name(leftover)
    metaflow_abort(c(
      "Artifact {.val {name}} of {.val {pathspec}} is a Python {.cls {type}}, which has no R equivalent.",
      i = if (!identical(inner, type)) "It holds a Python {.cls {inner}}.",
      i = "Read it in Python: {.code Task(\"{pathspec}\").data.{name}}."
    ), "artifact", artifact = name, python_type = type, call = call)
  }
  converted
}

task_pathspec_of <- function(artifact) {
  sub("/[^/]*$", "", py_string(artifact$pathspec))
}

# The first Python object left in a value reticulate converted, or NULL.
python_object_in <- function(x) {
  if (inherits(x, "python.builtin.object")) {
    return(x)
  }
  if (is.list(x) && !is.data.frame(x)) {
    for (element in x) {
      found <- python_object_in(element)
      if (!is.null(found)) {
        return(found)
      }
    }
  }
  NULL
}

python_type_name <- function(x) {
  type <- client_python$builtins$type(x)
  module <- py_string(type$`__module__`)
  name <- py_string(type$`__qualname__`)
  if (identical(module, "builtins")) name else paste0(module, ".", name)
}

# Exceptions --------------------------------------------------------------------------

task_exception <- function(task_obj) {
  exception <- with_python_errors(task_obj$exception)
  if (inherits(exception, "python.builtin.NoneType")) {
    return(NULL)
  }
  record <- reticulate::py_to_r(exception$record)
  structure(
    list(
      type = record$type %||% "Exception",
      message = record$message %||% "",
      traceback = record$traceback,
      language = record$language %||% "Python",
      call = record$call,
      r_traceback = as.character(unlist(record$r_traceback))
    ),
    class = "metaflow_exception"
  )
}

format_exception_headline <- function(exception) {
  if (identical(exception$language, "R")) {
    where <- if (!is.null(exception$call)) paste0(" in ", exception$call) else ""
    return(paste0("R error", where, ": ", first_line(exception$message)))
  }
  paste0(exception$type, ": ", first_line(exception$message))
}

#' @export
format.metaflow_exception <- function(x, ...) {
  lines <- format_exception_headline(x)
  if (identical(x$language, "R")) {
    if (length(x$r_traceback) > 0L) {
      lines <- c(lines, "R traceback:", paste0("  ", seq_along(x$r_traceback), ". ", x$r_traceback))
    }
  } else if (!is.null(x$traceback)) {
    lines <- c(lines, strsplit(sub("\n$", "", x$traceback), "\n", fixed = TRUE)[[1]])
  }
  lines
}

#' @export
print.metaflow_exception <- function(x, ...) {
  lines <- format(x)
  cli::cat_line("<metaflow exception> ", lines[[1L]])
  if (length(lines) > 1L) {
    cli::cat_line(lines[-1L])
  }
  invisible(x)
}

format_bytes <- function(size) {
  if (is.na(size)) {
    return("-")
  }
  format(structure(size, class = "object_size"), units = "auto", standard = "SI")
}
