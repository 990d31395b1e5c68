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
#' * An artifact a Python step stored comes back as its R equivalent, by
#'   the rules reticulate uses: `None` is `NULL`; `bool`, `int`, `float` and
#'   `str` are vectors of length 1; a list of scalars of one type is a
#'   vector (`[1, 2]` is `1:2`), any other list or a tuple an R list; a dict
#'   with string keys a named list; `bytes` a raw vector; `date` and
#'   `datetime` `Date` and `POSIXct`; numpy arrays vectors or arrays; pandas
#'   data frames data frames. Anything else, such as an object of a Python
#'   class or a set, is an error of class `metaflow_error_artifact` naming
#'   the artifact and its Python type.
#'
#' @section Fields:
#' * `id`, `pathspec`, `parent` (the step's name), `tags`, `created_at`: see
#'   [metaflow_object].
#' * `finished`: `TRUE` once an attempt of the task completed, or ended
#'   stopped by the runtime (a sibling failed, the run was interrupted); its
#'   `metadata_dict` then has `status` `"killed"` and the `reason`.
#' * `successful`: `TRUE` if it succeeded.
#' * `finished_at`: when it finished, or `NULL`.
#' * `exception`: `NULL`, or for a failed task the error that failed it, as
#'   an R condition of class `metaflow_task_error` (which prints the error
#'   and its traceback) with fields `message`, `call`, `traceback`, `step`
#'   and `pathspec` (the task's). An R step's error keeps its own classes
#'   (such as `simpleError`), its call and the R traceback: the calls from
#'   the step function down to the error, each with `at file:line` where R
#'   kept the flow file's source. A failure the engine saw in an R step has
#'   the class `metaflow_error_timeout` (a [timeout()]), `metaflow_error_rscript`
#'   (the R process died) or `metaflow_error_engine`. A Python step's error is
#'   a `metaflow_python_error` with the Python `type` and `traceback`.
#' * `index`: the task's 0-based index in its foreach (as `self$index` was in
#'   the step, or would have been for a task stopped early), or `NULL` outside
#'   a foreach.
#' * `artifacts`: the names of its artifacts.
#' * `current_attempt`: the number of its last attempt, `0` for the first
#'   (see [retry()]).
#' * `resources`: what its step asked for with [resources()], as the attempt
#'   recorded it: a list of `cpu`, `memory` (MB) and `gpu`; `NULL` for a step
#'   without [resources()].
#' * `stdout`, `stderr`: what it printed, a string.
#' * `metadata_dict`: its metadata, a named list of strings.
#' * `runtime_name`: where it ran (`"dev"` for a local run).
#' * `code`: the R function of its step, as a string: the source as written
#'   when R kept it (`options(keep.source = TRUE)`, the default in an
#'   interactive session), else deparsed (as under `Rscript`). `NULL` for a
#'   step without a function and for a task of a Python flow. The run's whole
#'   code is `run$code` (see [run_client]).
#' * `origin_pathspec`: for a task a resume cloned instead of running it
#'   again (see [run()]), the pathspec of the task it was cloned from, else
#'   `NULL`. A clone has the origin's artifacts and logs.
#'
#' @section Methods:
#' * `artifact(name)`: the value of an artifact.
#' * `artifacts_table()`: the artifacts as a data frame (see
#'   [artifacts_table()]).
#' * `card(id = NULL)`: the HTML card [card()] rendered for the task (failed
#'   or not), as a `metaflow_card`; `id` picks a card by its id. A task whose
#'   step has no card is an error of class `metaflow_error_card`. Open it
#'   with [card_view()].
#' * `verify(artifact = NULL)`: checks the stored artifacts of every attempt
#'   of the task (or the one named) against their hashes; the damaged ones as
#'   a data frame (see [verify_frame()]). Reading a damaged artifact with
#'   `artifact()` is an error of class `metaflow_error_data_corrupt`.
#' * `is_in_namespace()`, `get_values()`, `get_obj()`, `print()`,
#'   `summary()`: see [metaflow_object].
#'
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' hello <- new_run("HelloFlow", "latest_run")
#' task <- task_client$new(paste0(hello$pathspec, "/start"), hello$step("start")$a_task)
#' task
#' task$artifacts
#' task$artifact("numbers")
#' task$artifacts_table()
#' task$verify()
#'
#' # A failed task keeps its error:
#' broken <- metaflow("BrokenFlow") %>%
#'   step(step = "start", r_function = function(self) stop("no data today"), next_step = "end") %>%
#'   step(step = "end")
#' try(run(broken, quiet = TRUE))
#' start <- new_step("BrokenFlow", "latest_run", "start")
#' failed <- start$task(start$a_task)
#' failed$successful
#' failed$exception
#' @template example-project-end
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
      artifact_value(private$ref(), as_client_id(name, "name", call), call)
    },

    #' @description The card [card()] rendered for the task.
    #' @param id `NULL` for the task's card, or the id of a card.
    #' @return A `metaflow_card`: the card's HTML, with its `type`, `id` and
    #'   `pathspec` as attributes; `as.character()` gives the HTML. See
    #'   [card_view()].
    card = function(id = NULL) {
      call <- environment()
      if (!is.null(id)) {
        id <- as_client_id(id, "id", call)
      }
      cards <- private$ask("cards", id = id, call = call)
      if (length(cards) == 0L) {
        metaflow_abort(c(
          "Task {.val {self$pathspec}} has no card.",
          i = "Give its step {.fn card}, or run the flow with {.code with = \"card\"}."
        ), "card", call = call)
      }
      new_metaflow_card(cards[[1L]])
    },

    #' @description The artifacts as a data frame, one row per artifact.
    artifacts_table = function() {
      artifacts_table(self)
    },

    #' @description Check the task's stored artifacts against their hashes.
    #' @param artifact `NULL` for all of them, or the name of one.
    #' @return A data frame of the damaged ones, no rows when all are intact.
    verify = function(artifact = NULL) {
      call <- environment()
      if (is.null(artifact)) {
        return(super$verify())
      }
      verify_frame(private$ask("verify", artifact = as_client_id(artifact, "artifact", call), call = call))
    }
  ),
  active = read_only_fields(
    #' @field finished Whether an attempt of the task completed.
    finished = function() {
      isTRUE(private$field("finished"))
    },
    #' @field successful Whether the task succeeded.
    successful = function() {
      isTRUE(private$field("successful"))
    },
    #' @field finished_at When the task finished.
    finished_at = function() {
      as_time(private$field("finished_at"))
    },
    #' @field exception The error that failed the task.
    exception = function() {
      task_error_condition(private$field("exception"), self$pathspec, self$parent)
    },
    #' @field index The task's 0-based index in its foreach.
    index = function() {
      private$field("index")
    },
    #' @field current_attempt The number of the task's last attempt.
    current_attempt = function() {
      private$field("current_attempt")
    },
    #' @field resources What the task's step asked for with [resources()].
    resources = function() {
      private$field("resources")
    },
    #' @field artifacts The names of the task's artifacts.
    artifacts = function() {
      self$get_values()
    },
    #' @field stdout What the task printed to standard output.
    stdout = function() {
      private$field("stdout")
    },
    #' @field stderr What the task printed to standard error.
    stderr = function() {
      private$field("stderr")
    },
    #' @field metadata_dict The task's metadata.
    metadata_dict = function() {
      private$field("metadata_dict")
    },
    #' @field runtime_name Where the task ran.
    runtime_name = function() {
      runtime <- sub("^runtime:", "", grep("^runtime:", self$tags, value = TRUE))
      if (length(runtime) > 0L) runtime[[1L]]
    },
    #' @field code The source of the task's R step function.
    code = function() {
      step_source(read_run_code(private$ask("code")), self$parent)
    },
    #' @field origin_pathspec The pathspec of the task this one was cloned
    #'   from by a resume, or `NULL`.
    origin_pathspec = function() {
      private$field("origin_pathspec")
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
        Index = foreach_position(private$field("foreach_stack")),
        Created = format_time(created_at),
        Finished = format_finished(created_at, self$finished_at),
        Artifacts = format_count_list(artifacts)
      )
      attempt <- self$current_attempt
      if (isTRUE(attempt > 0)) {
        facts <- c(facts, Attempt = paste0(attempt, " (retried ", attempt, " time",
                                           if (attempt > 1) "s", ")"))
      }
      resources <- self$resources
      if (!is.null(resources)) {
        facts <- c(facts, Resources = format_resources(resources))
      }
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

# The ref of the task `task_id` of `step` (a step_client, a step's ref or
# its pathspec); or, with `task_id` NULL, `step` is the task's pathspec (or
# ref).
resolve_task <- function(step, task_id, call) {
  if (is.null(task_id)) {
    return(ref_at(step, "Task", call))
  }
  task_id <- as_client_id(task_id, "task_id", call)
  step <- ref_at(step, "Step", call)
  child_ref(step, task_id, call)
}

# The source of step `step`'s R function in a run's code (read_run_code()),
# or NULL.
step_source <- function(code, step) {
  for (spec_step in code$spec$steps) {
    if (identical(spec_step$name, step)) {
      return(spec_step$source)
    }
  }
  NULL
}

# "2 (of 3 splits of items)" for a task in a foreach (its foreach stack, as
# the client reads it); NULL (no line) outside one.
foreach_position <- function(stack) {
  if (length(stack) == 0L) {
    return(NULL)
  }
  frame <- stack[[length(stack)]]
  paste0(frame$index, " (of ", frame$num_splits, " splits of ", frame$var %||% "a foreach", ")")
}

# Artifacts -------------------------------------------------------------------------

# The R value of the artifact `name` of the task `task` (a ref). The client's
# process says which file holds its serialized bytes: the datastore's blob
# for an R value, a file it wrote for a Python value it converted.
artifact_value <- function(task, name, call) {
  pathspec <- task$pathspec
  where <- tryCatch(
    client_request("artifact", list(ref = task, name = name), call = call),
    metaflow_error_artifact = function(err) abort_python_artifact(err, name, pathspec, call)
  )
  if (isTRUE(where$temporary)) {
    on.exit(unlink(where$path), add = TRUE)
  }
  read <- read_verified_blob(where$path, where$sha, via = "client")
  # A blob from S3 is read from a local copy; the message names the original.
  stored_at <- where$stored_at %||% where$path
  if (!is.null(read$damaged)) {
    metaflow_abort(c(
      "Artifact {.val {name}} of task {.val {pathspec}} is damaged: its value can't be trusted.",
      x = "{read$damaged}",
      i = "Its datastore file is {.path {stored_at}}.",
      i = "Run {.code $verify()} on the run to list every damaged artifact; a resume runs the task again."
    ), "data_corrupt", artifact = name, pathspec = pathspec, path = stored_at, call = call)
  }
  if (!is.null(read$error)) {
    metaflow_abort(
      "Can't read artifact {.val {name}} of {.val {pathspec}}: its stored bytes are damaged.",
      "artifact", artifact = name, parent = read$error, call = call
    )
  }
  read$value
}

abort_python_artifact <- function(err, name, pathspec, call) {
  type <- err$python_type
  if (identical(err$client_type, "ArtifactUnreadable")) {
    metaflow_abort(c(
      "Can't load artifact {.val {name}} of {.val {pathspec}}, a Python {.cls {type}}.",
      x = "{conditionMessage(err)}"
    ), "artifact", artifact = name, python_type = type, call = call)
  }
  metaflow_abort(c(
    "Can't read artifact {.val {name}} of {.val {pathspec}} in R.",
    x = "{conditionMessage(err)}",
    i = "Read it in Python: {.code Task(\"{pathspec}\").data.{name}}."
  ), "artifact", artifact = name, python_type = type, inner_type = err$inner_type, call = call)
}

# Exceptions --------------------------------------------------------------------------

# The error record a task stored (see the engine's exception_record()), as an R
# condition, or NULL. An R step's error keeps its own classes (but rlang's,
# whose methods need fields the record doesn't keep), message, call and
# traceback; a Python step's is a `metaflow_python_error` with the Python
# type and traceback. Both have the task's `pathspec` and `step`, and class
# `metaflow_task_error` in front, which prints them.
task_error_condition <- function(record, pathspec, step) {
  if (is.null(record)) {
    return(NULL)
  }
  if (identical(record$language, "R")) {
    classes <- as.character(unlist(record$r_class)) %||% c("simpleError", "error", "condition")
    return(structure(
      class = unique(c("metaflow_task_error", setdiff(classes, "rlang_error"), "error", "condition")),
      list(
        message = record$message %||% "", call = parse_call(record$call),
        traceback = as.character(unlist(record$r_traceback)), step = step, pathspec = pathspec
      )
    ))
  }
  structure(
    class = c("metaflow_task_error", "metaflow_python_error", "error", "condition"),
    list(
      message = record$message %||% "", call = NULL, type = record$type %||% "Exception",
      traceback = record$traceback, step = step, pathspec = pathspec
    )
  )
}

# "2 CPUs, 1000 MB memory, 1 GPU": what a step asked for, as far as it said.
format_resources <- function(resources) {
  parts <- c(
    if (!is.null(resources$cpu)) paste(resources$cpu, if (resources$cpu == 1) "CPU" else "CPUs"),
    if (!is.null(resources$memory)) paste(resources$memory, "MB memory"),
    if (!is.null(resources$gpu) && resources$gpu > 0) {
      paste(resources$gpu, if (resources$gpu == 1) "GPU" else "GPUs")
    }
  )
  paste(parts, collapse = ", ")
}

# The call an error record shows, as a call again; NULL if it doesn't parse.
parse_call <- function(text) {
  if (is.null(text)) {
    return(NULL)
  }
  tryCatch(str2lang(text), error = function(err) NULL)
}

#' @export
conditionMessage.metaflow_python_error <- function(c) {
  paste0(c$type, ": ", c$message)
}

format_exception_headline <- function(exception) {
  if (inherits(exception, "metaflow_python_error")) {
    return(first_line(conditionMessage(exception)))
  }
  call <- conditionCall(exception)
  where <- if (!is.null(call)) paste0(" in ", format_call(call)) else ""
  paste0("Error", where, ": ", first_line(exception$message))
}

#' @export
format.metaflow_task_error <- function(x, ...) {
  lines <- format_exception_headline(x)
  if (inherits(x, "metaflow_python_error")) {
    # A Python traceback ends with the whole message.
    if (is.null(x$traceback)) {
      return(c(lines, strsplit(x$message, "\n", fixed = TRUE)[[1]][-1L]))
    }
    return(c(lines, strsplit(sub("\n$", "", x$traceback), "\n", fixed = TRUE)[[1]]))
  }
  # The headline has the message's first line; the rest follows (a
  # merge_artifacts conflict names the artifacts on its second line).
  lines <- c(lines, strsplit(x$message, "\n", fixed = TRUE)[[1]][-1L])
  if (length(x$traceback) > 0L) {
    lines <- c(lines, "R traceback:", paste0("  ", seq_along(x$traceback), ". ", x$traceback))
  }
  lines
}

#' @export
print.metaflow_task_error <- function(x, ...) {
  cli::cat_line("<error of step ", x$step, " in task ", x$pathspec, ">")
  cli::cat_line(format(x))
  invisible(x)
}

format_bytes <- function(size) {
  if (is.na(size)) {
    return("-")
  }
  format(structure(size, class = "object_size"), units = "auto", standard = "SI")
}
