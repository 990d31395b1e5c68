# The client's one crossing into Python --------------------------------------
#
# Every client object (flow_client, run_client, ...) holds an object of the
# bundled Python client, `metaflow_core.client`, which R reaches in-process
# through reticulate. Python starts on the first use of the client, never when
# the package loads: `library(metaflow)` doesn't even load reticulate.
#
# Everything Python is reached through `mf_py()`, and every Python call that
# can fail is made inside `with_python_errors()`, which turns the client's
# exceptions into classed R errors, without a Python traceback.

# The started client: `client` (the module), `builtins`, `operator`, `os`,
# `timestamp` (a Python function: datetime or None -> epoch seconds or None)
# and `environment` (the variables last given to Python's os.environ).
client_python <- new.env(parent = emptyenv())

# Variables the Python client reads from os.environ. Python copies the
# process environment once, when it starts, so a later Sys.setenv() in R is
# passed on by sync_python_environment().
client_environment_variables <- c(
  "METAFLOW_DATASTORE_SYSROOT_LOCAL", "METAFLOW_DATASTORE_COMPRESSION",
  "METAFLOW_USER", "SUDO_USER", "USERNAME", "USER"
)

#' The Python client module, started on first use
#'
#' On the first call: finds the engine's Python ([metaflow_python()]), makes
#' it reticulate's interpreter, and imports `metaflow_core.client` from the
#' package's bundled copy. Inside a running step the client starts in the
#' step's namespace, as Metaflow's does. On every call: passes on to Python
#' the environment variables the client reads, so `Sys.setenv()` and
#' `setwd()` in R take effect for the next object made.
#'
#' @param call The call to report errors for.
#' @return The module, a reticulate object that doesn't convert to R.
#' @noRd
mf_py <- function(call = parent.frame()) {
  if (is.null(client_python$client)) {
    start_client_python(call)
  }
  sync_python_environment()
  client_python$client
}

start_client_python <- function(call) {
  # Not metaflow_python(): its check starts a Python process, which costs
  # more than the client's own start. check_python() runs only if the import
  # fails, to say why.
  python <- find_python(call = call)
  bundled <- system.file("python", package = "metaflow", mustWork = TRUE)
  if (!reticulate::py_available(initialize = FALSE)) {
    # RETICULATE_PYTHON would win over use_python(): point it at the
    # engine's Python while reticulate starts, then put it back.
    previous <- Sys.getenv("RETICULATE_PYTHON", unset = NA)
    Sys.setenv(RETICULATE_PYTHON = python)
    on.exit(restore_envvar("RETICULATE_PYTHON", previous), add = TRUE)
    reticulate::use_python(python, required = TRUE)
  }
  client <- tryCatch(
    reticulate::import_from_path("metaflow_core.client", path = bundled, convert = FALSE),
    error = function(err) abort_client_import(python, err, call)
  )
  client_python$builtins <- reticulate::import_builtins(convert = FALSE)
  client_python$operator <- reticulate::import("operator", convert = FALSE)
  client_python$os <- reticulate::import("os", convert = FALSE)
  client_python$timestamp <- reticulate::py_eval(
    "lambda when: None if when is None else when.timestamp()",
    convert = FALSE
  )
  # Python may have started before (reticulate used elsewhere in the
  # session), with other values: pass every variable on at the first sync.
  client_python$environment <- NULL
  task <- running_task$current
  if (!is.null(task)) {
    client$namespace(task$namespace)
  }
  client_python$client <- client
  invisible(client)
}

abort_client_import <- function(python, err, call) {
  problem <- python_error_text(err)
  active <- tryCatch(reticulate::py_config()$python, error = function(e) python)
  if (!identical(normalizePath(active, mustWork = FALSE), normalizePath(python, mustWork = FALSE))) {
    metaflow_abort(c(
      "Can't start the metaflow client in this R session.",
      x = "R is already running Python {.path {active}}, and the client needs {.path {python}}.",
      i = "Restart R and use the client before anything else starts Python."
    ), "python", call = call)
  }
  check_python(python, call = call)
  metaflow_abort(c(
    "Can't start the metaflow client in Python {.path {python}}.",
    x = "{problem}"
  ), "python", call = call)
}

restore_envvar <- function(name, value) {
  if (is.na(value)) {
    Sys.unsetenv(name)
  } else {
    do.call(Sys.setenv, stats::setNames(list(value), name))
  }
}

python_environment_now <- function() {
  Sys.getenv(client_environment_variables, unset = NA, names = TRUE)
}

sync_python_environment <- function() {
  now <- python_environment_now()
  synced <- client_python$environment
  changed <- if (is.null(synced)) names(now) else names(now)[!mapply(identical, now, synced)]
  if (length(changed) == 0L) {
    return(invisible())
  }
  environ <- client_python$os$environ
  for (name in changed) {
    if (is.na(now[[name]])) {
      environ$pop(name, NULL)
    } else {
      reticulate::py_set_item(environ, name, now[[name]])
    }
  }
  client_python$environment <- now
  invisible()
}

# Python errors -------------------------------------------------------------------

#' Evaluate Python calls, turning Python exceptions into R errors
#'
#' The client's exceptions become errors of the `metaflow_error` family:
#' `MetaflowNotFound` is `metaflow_error_not_found`, `MetaflowNamespaceMismatch`
#' is `metaflow_error_namespace`, `MetaflowInvalidPathspec` is
#' `metaflow_error_pathspec`, and any other is `metaflow_error_client`. The
#' message is the Python message, which names what is missing and lists what
#' exists nearby; the Python type is the condition's `python_type`. R errors
#' raised in `expr` pass through unchanged.
#'
#' @param expr Code that calls into Python.
#' @param call The call to report errors for.
#' @noRd
with_python_errors <- function(expr, call = parent.frame()) {
  # Only once Python runs: clearing would start it, on whatever Python
  # reticulate finds first, before `expr` could start the engine's.
  if (reticulate::py_available(initialize = FALSE)) {
    reticulate::py_clear_last_error()
  }
  withCallingHandlers(
    expr,
    error = function(err) {
      if (!is.null(reticulate::py_last_error())) {
        abort_python_error(err, call)
      }
    }
  )
}

python_error_kinds <- c(
  MetaflowNotFound = "not_found",
  MetaflowNamespaceMismatch = "namespace",
  MetaflowInvalidPathspec = "pathspec"
)

abort_python_error <- function(err, call) {
  last <- reticulate::py_last_error()
  type <- python_error_type(last)
  message <- python_error_text(err)
  reticulate::py_clear_last_error()
  kind <- if (type %in% names(python_error_kinds)) python_error_kinds[[type]] else "client"
  if (kind == "namespace") {
    message <- sub(" *Use namespace\\(None\\) to see every user's runs\\.", "", message)
    metaflow_abort(c(
      "{message}",
      i = "Call {.code set_namespace(NULL)} to see every user's runs."
    ), kind, python_type = type, call = call)
  }
  if (kind == "client" && !is_metaflow_exception(last)) {
    message <- paste0(type, ": ", message)
  }
  metaflow_abort("{message}", kind, python_type = type, call = call)
}

python_error_type <- function(last) {
  type <- if (is.list(last)) last$type
  if (is.character(type) && length(type) == 1L) type else "Exception"
}

# The message of a Python exception, without reticulate's "Type: " prefix or
# any traceback.
python_error_text <- function(err) {
  last <- reticulate::py_last_error()
  value <- if (is.list(last)) last$value
  if (is.character(value) && length(value) == 1L && nzchar(value)) {
    return(trimws(value))
  }
  text <- trimws(conditionMessage(err))
  text <- sub("^[A-Za-z_][A-Za-z0-9_.]*: ", "", text)
  strsplit(text, "\n", fixed = TRUE)[[1]][[1]]
}

is_metaflow_exception <- function(last) {
  exception <- attr(last, "exception")
  if (is.null(exception) || is.null(client_python$client)) {
    return(FALSE)
  }
  isTRUE(reticulate::py_to_r(
    client_python$builtins$isinstance(exception, client_python$client$MetaflowException)
  ))
}

# Python values to R --------------------------------------------------------------
#
# Each helper forces its argument first: the argument may be the first call
# into a deferred client (see deferred_python()), which must start the
# engine's Python before reticulate starts one of its own choosing.

# A Python str or None as a string or NULL.
py_string <- function(x) {
  force(x)
  value <- reticulate::py_to_r(x)
  if (is.null(value)) NULL else as.character(value)
}

py_logical <- function(x) {
  force(x)
  isTRUE(reticulate::py_to_r(x))
}

# A Python datetime (naive, local, as the client makes them) or None as a
# POSIXct or NULL.
py_time <- function(x) {
  force(x)
  seconds <- reticulate::py_to_r(reticulate::py_call(client_python$timestamp, x))
  if (is.null(seconds)) NULL else .POSIXct(seconds)
}

# A Python iterable of strings as a character vector.
py_strings <- function(x) {
  force(x)
  values <- reticulate::py_to_r(client_python$builtins$list(x))
  as.character(unlist(values, use.names = FALSE))
}

# A Python set of strings (tags) as a sorted character vector.
py_sorted_strings <- function(x) {
  force(x)
  py_strings(client_python$builtins$sorted(x))
}

# The attribute `name` of each of `objects` (a Python list), as a Python list;
# one call into Python however many objects there are.
py_attribute_of_each <- function(objects, name) {
  force(objects)
  builtins <- client_python$builtins
  builtins$list(builtins$map(client_python$operator$attrgetter(name), objects))
}

py_length <- function(x) {
  force(x)
  reticulate::py_to_r(client_python$builtins$len(x))
}

# A Python list as an R list of its elements, unconverted.
py_elements <- function(objects) {
  force(objects)
  reticulate::iterate(objects, simplify = FALSE)
}

# Columns of a table from a Python list: each element's attribute `name`
# as an R vector of `type`, NA where Python has None.
py_column <- function(objects, name, type) {
  force(objects)
  values <- reticulate::py_to_r(py_attribute_of_each(objects, name))
  na_for_null(values, type)
}

py_time_column <- function(objects, name) {
  force(objects)
  builtins <- client_python$builtins
  seconds <- reticulate::py_to_r(
    builtins$list(builtins$map(client_python$timestamp, py_attribute_of_each(objects, name)))
  )
  .POSIXct(na_for_null(seconds, NA_real_))
}

py_tags_column <- function(objects, name = "tags") {
  force(objects)
  builtins <- client_python$builtins
  sorted <- builtins$list(builtins$map(builtins$sorted, py_attribute_of_each(objects, name)))
  lapply(reticulate::py_to_r(sorted), function(tags) as.character(unlist(tags)))
}

na_for_null <- function(values, type) {
  if (length(values) == 0L) {
    return(type[0])
  }
  if (is.atomic(values)) {
    return(as.vector(values, typeof(type)))
  }
  vapply(values, function(value) if (is.null(value)) type else as.vector(value, typeof(type)), type)
}
