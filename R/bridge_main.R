#' Run one R step for the Python engine
#'
#' The single entry point the engine runs through Rscript:
#' `Rscript --no-save --no-restore -e "metaflow:::bridge_main()" REQUEST_RDS`
#' (inst/PROTOCOL.md, sections 4 to 6), for every attempt of an R step and for
#' the previews of R values that `dump` shows (R/bridge_preview.R). For a
#' step, it reads the request, prepares the process the way the flow script
#' had it (attached packages, global objects, options), calls the step
#' function with `self` (and `inputs` in a join), writes the artifacts the
#' step assigned and `result.json` to the request's output directory, and
#' quits with status 0, or 1 if the step failed.
#'
#' The step process starts as any `Rscript` does, with R's default packages,
#' so a step sees what the same code sees in a plain `Rscript`. Every R step
#' pays for R's start-up and for this function, so it and what it calls use
#' base R only and load no other namespace than metaflow's (and magrittr,
#' which it imports).
#'
#' @param request The path of the request file (RDS).
#' @noRd
bridge_main <- function(request = commandArgs(trailingOnly = TRUE)[1]) {
  quit(save = "no", status = run_bridge(request))
}

# Everything bridge_main() does but quitting; returns the exit status.
run_bridge <- function(request) {
  # Print warnings as they happen: a deferred warning would be lost when
  # bridge_main() quits.
  options(warn = 1L)
  parsed <- attempt(read_request(request))
  if (!is.null(parsed$error)) {
    report_error("Error in the R step bridge", parsed$error)
    return(1L)
  }
  request <- parsed$value
  if (!is.null(request$previews)) {
    previews <- artifact_previews(as.character(unlist(request$previews)))
    write_result_file(request$output_dir, list(ok = TRUE, previews = as.list(previews)))
    return(0L)
  }
  outcome <- run_task(request)
  # The engine prints a step's error to the task's log (or, under catch(),
  # as the decorator says), so it is not printed here.
  if (!is.null(outcome$error)) {
    outcome$error$caught <- write_caught_error(outcome, request)
  }
  write_result(request$output_dir, outcome)
  if (is.null(outcome$error)) 0L else 1L
}

read_request <- function(request) {
  if (!is.character(request) || length(request) != 1L || is.na(request)) {
    bridge_abort(
      "The R step bridge needs a request: the path of a request file.", "bridge", call = NULL
    )
  }
  if (!file.exists(request)) {
    bridge_abort(sprintf("Can't find the step request %s.", request), "bridge", call = NULL)
  }
  parsed <- readRDS(request)
  if (!identical(parsed$version, 1L)) {
    bridge_abort(c(
      "This version of the metaflow R package reads step requests of version 1.",
      x = sprintf("The request is of version %s.", show_value(parsed$version)),
      i = "Install the same version of the R package and of its Python engine."
    ), "bridge", call = NULL)
  }
  # Parameters arrive as typed JSON values; simplified, a JSON parameter's
  # arrays become R vectors, matrices and data frames.
  parsed["parameters"] <- list(simplify_json(parsed$parameters))
  parsed
}

# Runs the step in three stages, each of which may fail with an R error:
# preparing the process, calling the step function, writing the outputs.
# Returns attempt()'s list(value = <outputs>) or list(error = <record>).
run_task <- function(request) {
  prepared <- attempt(prepare_task(request))
  if (!is.null(prepared$error)) {
    return(prepared)
  }
  task <- prepared$value
  called <- attempt(call_step(task), step_function = task$fun)
  write_card_components(request$output_dir)
  if (!is.null(called$error)) {
    # A failed attempt keeps the artifacts assigned before the error, as a
    # Python step's does: they show what the step had got to.
    called$artifacts <- attempt(write_artifacts(task$self, request$output_dir))$value
    return(called)
  }
  attempt(write_outputs(task$self, request))
}

prepare_task <- function(request) {
  functions <- readRDS(request$functions_rds)
  # Before attaching, so that the packages' load hooks see them, and after,
  # in case one of them set an option of its own.
  restore_options(functions$options)
  attach_packages(union(functions$packages, "metaflow"))
  restore_options(functions$options)
  list2env(as.list(functions$globals), envir = globalenv())
  set_running_task(request$current)
  use_step_verifier(request$verifier)
  inputs <- join_inputs(request)
  self <- request_self(request, inputs)
  list(name = request$step, fun = step_function(functions, request), self = self, inputs = inputs)
}

# The `self` a step request describes, reading its artifacts lazily.
request_self <- function(request, inputs) {
  new_metaflow_self(
    step = request$step,
    artifacts = as.list(request$self$artifacts),
    parameters = as.list(request$parameters),
    foreach_stack = as.list(request$foreach_stack),
    join = request$join,
    inputs = inputs
  )
}

step_function <- function(functions, request) {
  key <- request[["function"]]
  if (is.null(key)) {
    return(NULL)
  }
  fun <- functions$steps[[key]]
  if (!is.function(fun)) {
    bridge_abort(c(
      sprintf("Step `%s` has no R function `%s`.", request$step, key),
      i = sprintf(
        "The functions file %s has: %s.",
        request$functions_rds, format_names(names(functions$steps))
      )
    ), "bridge", call = NULL)
  }
  fun
}

# `packages` is in search() order, so attaching them from last to first
# rebuilds the flow script's search path (those already attached, such as R's
# default packages, keep their place). metaflow is attached even when the
# script only called `metaflow::run()`: step functions call its exports, such
# as current(), without `metaflow::`.
attach_packages <- function(packages) {
  for (package in rev(as.character(packages))) {
    tryCatch(
      suppressPackageStartupMessages(
        library(package, character.only = TRUE, quietly = TRUE, warn.conflicts = FALSE)
      ),
      packageNotFoundError = function(err) {
        bridge_abort(c(
          sprintf("Can't attach package `%s`, which the flow script attached.", package),
          x = sprintf(
            "It is not installed in the step's library paths: %s.",
            paste(.libPaths(), collapse = ", ")
          ),
          i = "Install it there, or stop attaching it in the flow script."
        ), "bridge", package = package, parent = err, call = NULL)
      }
    )
  }
}

# The options of the flow's session (carried_options(), R/spec.R). A warning R
# would defer (`warn = 0`, R's default) would be lost when bridge_main() quits,
# so those are printed as they happen.
restore_options <- function(carried) {
  options(carried)
  if (getOption("warn") == 0L) {
    options(warn = 1L)
  }
}

join_inputs <- function(request) {
  if (is.null(request$join)) {
    return(NULL)
  }
  parameters <- as.list(request$parameters)
  inputs <- lapply(seq_along(request$inputs), function(i) {
    input <- request$inputs[[i]]
    new_metaflow_input(input$step, input$task, i - 1L, as.list(input$artifacts), parameters)
  })
  if (identical(request$join, "branch")) {
    names(inputs) <- vapply(request$inputs, function(input) input$step, "")
  }
  new_metaflow_inputs(inputs)
}

# Calls the step as `<step>(self)` or `<step>(self, inputs)`, so that its name,
# not the bridge's variables, shows in error calls and tracebacks. The function
# is bound in an enclosing environment so that a step named like an argument
# (`self`) still finds it. The call is made from an environment whose parent
# is the global one, as a call at a script's top level is: what looks things
# up in its caller's frame (`match.fun("sd")`) sees the search path.
call_step <- function(task) {
  if (is.null(task$fun)) {
    return(invisible())
  }
  function_env <- new.env(parent = globalenv())
  assign(task$name, task$fun, envir = function_env)
  argument_env <- new.env(parent = function_env)
  argument_env$self <- task$self
  argument_env$inputs <- task$inputs
  arguments <- if (is.null(task$inputs)) list(quote(self)) else list(quote(self), quote(inputs))
  eval(as.call(c(as.name(task$name), arguments)), argument_env)
  invisible()
}

# Outputs -------------------------------------------------------------------------

write_outputs <- function(self, request) {
  list(
    foreach = foreach_result(self, request$foreach_var),
    artifacts = write_artifacts(self, request$output_dir),
    merge = merge_result(self)
  )
}

# Files are named by position, so any artifact name is safe. Each is a
# datastore blob file, which the engine moves into the store as it is.
write_artifacts <- function(self, output_dir) {
  values <- self_field(self, "values")
  files <- sprintf("%d.blob", seq_along(values))
  for (i in seq_along(values)) {
    write_blob(values[[i]], file.path(output_dir, files[[i]]))
  }
  json_object(as.list(files), names(values))
}

# A blob file (header `MFBn`, then the payload), the payload streamed by
# serialize() straight to the file: no copy of the bytes is ever in memory.
# In native byte order (`xdr = FALSE`), which R writes and reads several
# times faster than XDR's; unserialize() reads either, on any machine.
# The step's verifier hashes the file as it grows (announce_write()), so the
# engine needn't read it again to name it.
write_blob <- function(value, path) {
  connection <- file(path, open = "wb")
  open <- TRUE
  on.exit(if (open) close(connection))
  announce_write("write", path)
  writing_in_full(path, {
    writeBin(blob_magic_none, connection)
    serialize(value, connection, xdr = FALSE)
    open <- FALSE
    close(connection)
  })
  announce_write("written", path)
  invisible()
}

# The bytes of serialize(value, NULL), streamed to the file.
write_serialized <- function(value, path) {
  connection <- file(path, open = "wb")
  open <- TRUE
  on.exit(if (open) close(connection))
  writing_in_full(path, {
    serialize(value, connection)
    open <- FALSE
    close(connection)
  })
}

# Evaluates `expr`, which writes the file `path`. R reports a write that
# failed (a full disk) only as a warning, mostly when the connection closes;
# a file cut short must never pass for the value, so any warning is an error.
writing_in_full <- function(path, expr) {
  withCallingHandlers(expr, warning = function(w) {
    bridge_abort(c(
      sprintf("Can't write the file %s.", path),
      x = conditionMessage(w)
    ), "datastore", call = NULL)
  })
}

merge_result <- function(self) {
  merged <- self_field(self, "merged")
  indexes <- lapply(merged, function(input) get("index", envir = input))
  json_object(indexes, names(merged))
}

foreach_result <- function(self, var) {
  if (is.null(var)) {
    return(NULL)
  }
  if (self_source(self, var) == "missing") {
    bridge_abort(c(
      sprintf(
        "Step `%s` splits over `%s`, which is not an artifact.", self_field(self, "step"), var
      ),
      i = sprintf("Assign the values to split over in the step: `self$%s <- c(\"a\", \"b\")`.", var)
    ), "foreach", artifact = var, call = NULL)
  }
  values <- self_get(self, var, call = NULL)
  num_splits <- length(values)
  list(
    var = var,
    num_splits = num_splits,
    values = if (num_splits <= max_foreach_labels) as.list(split_labels(values))
  )
}

# As the engine: above this many splits the values aren't listed.
max_foreach_labels <- 10000L

# Short labels of the items of a foreach, for display: atomic items as text,
# other items as their class, at most 30 characters each.
split_labels <- function(values) {
  labels <- if (is.atomic(values)) {
    as.character(values)
  } else {
    vapply(seq_along(values), function(i) item_label(values[[i]]), "")
  }
  labels[is.na(labels)] <- "NA"
  substr(labels, 1L, 30L)
}

item_label <- function(item) {
  if (is.atomic(item) && length(item) > 0L) {
    paste(format(item[seq_len(min(length(item), 10L))], trim = TRUE), collapse = " ")
  } else {
    sprintf("<%s>", paste(class(item), collapse = "/"))
  }
}

write_result <- function(output_dir, outcome) {
  ok <- is.null(outcome$error)
  write_result_file(output_dir, list(
    ok = ok,
    artifacts = if (ok) outcome$value$artifacts else outcome$artifacts %||% json_object(list(), character()),
    merge = if (ok) outcome$value$merge else json_object(list(), character()),
    foreach = if (ok) outcome$value$foreach,
    error = outcome$error
  ))
}

# result.json is written to a temporary name and renamed into place, so the
# engine never reads half a file.
write_result_file <- function(output_dir, result) {
  temporary <- file.path(output_dir, ".result.json.partial")
  writing_in_full(temporary, writeLines(json_text(result), temporary, useBytes = TRUE))
  if (!file.rename(temporary, file.path(output_dir, "result.json"))) {
    bridge_abort(sprintf("Can't move result.json into place in %s.", output_dir), "bridge", call = NULL)
  }
}

# A list that json_text() writes as an object, `{}` when empty.
json_object <- function(values, names) {
  names(values) <- as.character(names)
  values
}

# Errors --------------------------------------------------------------------------

# Evaluates `expr`; returns list(value = <its value>) or, on an error,
# list(error = <the error as result.json records it>). When the error happens below
# `step_function`, the record's traceback shows the calls from it down.
attempt <- function(expr, step_function = NULL) {
  trace <- character()
  tryCatch(
    withCallingHandlers(
      list(value = expr),
      error = function(err) trace <<- step_traceback(step_function)
    ),
    error = function(err) list(error = error_record(err, trace), condition = err)
  )
}

error_record <- function(err, trace) {
  call <- conditionCall(err)
  list(
    message = unwrapped_message(err),
    call = if (!is.null(call)) format_call(call),
    class = as.list(class(err)),
    traceback = as.list(trace)
  )
}

# The error as `catch(var =)` stores it (inst/PROTOCOL.md, section 5): a
# condition of its own classes behind `metaflow_caught_error`, with plain
# fields only (no environments, no source references), so that every R
# session reads back an identical() object. Returns the file's name.
write_caught_error <- function(outcome, request) {
  err <- outcome$condition
  call <- conditionCall(err)
  if (is.call(call)) {
    attributes(call) <- NULL
  }
  caught <- structure(
    class = unique(c("metaflow_caught_error", class(err))),
    list(
      message = outcome$error$message,
      call = call,
      traceback = as.character(unlist(outcome$error$traceback)),
      step = request$step,
      pathspec = request$current$pathspec
    )
  )
  file <- "caught.rds"
  written <- attempt(write_serialized(caught, file.path(request$output_dir, file)))
  if (is.null(written$error)) file
}

# An error's message without the line breaks cli puts in to fit the console
# (an error of cli_abort(), such as the client's, formats itself when asked):
# the engine's summary of a failed step shows the message's first line, which
# must hold the whole headline.
unwrapped_message <- function(err) {
  old <- options(cli.width = 10000L)
  on.exit(options(old))
  conditionMessage(err)
}

# Called from a calling handler: the stack still holds the failing calls.
# Keeps the user's part of it: from the step function's call down to the
# call that raised the error; frames of R's condition machinery and of this
# package are cut (a call into the package shows, the package's inside doesn't).
step_traceback <- function(step_function) {
  if (is.null(step_function)) {
    return(character())
  }
  handler_frame <- sys.parent()
  frames <- seq_len(handler_frame - 1L)
  functions <- lapply(frames, sys.function)
  calls <- sys.calls()[frames]
  is_step <- vapply(functions, identical, TRUE, step_function)
  if (!any(is_step)) {
    return(character())
  }
  keep <- seq(which(is_step)[1L], length(frames))
  in_package <- vapply(functions[keep], is_package_function, TRUE)
  if (any(in_package)) {
    keep <- keep[seq_len(which(in_package)[1L])]
    # A method reached from a primitive (`self$x`) has the primitive's frame,
    # which shows the user's call, above its own.
    if (length(keep) > 1L && is.primitive(functions[[keep[length(keep) - 1L]]])) {
      keep <- keep[-length(keep)]
    }
  } else if (identical(functions[[keep[length(keep)]]], .handleSimpleError)) {
    keep <- keep[-length(keep)]
  }
  lines <- vapply(calls[keep], format_frame, "")
  # The step function is called from the bridge, whose code has no source: the
  # place shown is the function's own.
  lines[[1L]] <- format_frame(calls[[keep[[1L]]]], attr(step_function, "srcref"))
  shorten_traceback(lines)
}

# A call of the traceback, with where the flow file has it (`at flow.R:12`)
# when R kept the source of the code that made the call.
format_frame <- function(call, srcref = attr(call, "srcref")) {
  text <- format_call(call)
  if (!inherits(srcref, "srcref")) {
    return(text)
  }
  file <- utils::getSrcFilename(srcref)
  if (length(file) == 0L || !nzchar(file)) {
    return(text)
  }
  sprintf("%s at %s:%d", text, file, srcref[[1L]])
}

is_package_function <- function(fun) {
  is.function(fun) && !is.primitive(fun) &&
    identical(topenv(environment(fun)), topenv(environment(is_package_function)))
}

# A deep recursion would print thousands of frames: keep both ends. (A runaway
# one ends in a stack overflow, which leaves no room to record a traceback.)
shorten_traceback <- function(lines, keep = 50L) {
  if (length(lines) <= 2L * keep) {
    return(lines)
  }
  omitted <- length(lines) - 2L * keep
  c(
    lines[seq_len(keep)],
    sprintf("... %d frames omitted ...", omitted),
    lines[seq(length(lines) - keep + 1L, length(lines))]
  )
}

format_call <- function(call) {
  lines <- deparse(call, width.cutoff = 200L, nlines = 2L)
  if (length(lines) > 1L) paste(lines[1L], "...") else lines
}

# Prints the error for the task log: the headline, then the traceback,
# outermost call first.
report_error <- function(headline, error) {
  lines <- sprintf("%s: %s", headline, error$message)
  trace <- unlist(error$traceback)
  if (length(trace) > 0L) {
    lines <- c(
      lines, "Traceback (outermost call first):",
      sprintf("  %d: %s", seq_along(trace), trace)
    )
  }
  cat(lines, sep = "\n", file = stderr())
}
