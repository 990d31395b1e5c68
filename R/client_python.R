# The client's one crossing into Python ----------------------------------------
#
# Client objects (flow_client, run_client, ...) read runs through the bundled
# Python client, `metaflow_core.client`, running in a Python process of their
# own (metaflow_core.r.client_server), started on the first
# request of the session and kept for the next. R writes one JSON request per
# line to its stdin and reads one JSON reply per line from its stdout
# (inst/PROTOCOL.md, section 7).
#
# Why a process and not reticulate: loading reticulate takes R about two
# seconds on Debian (it loads Matrix), this process starts in a tenth of one,
# and `library(metaflow)` stays free of Python either way. reticulate remains
# for `get_obj()` (R/client_reticulate.R), the one place that needs the
# Python objects themselves in R.
#
# The process holds no state R depends on: every request carries R's context
# (working directory, the environment variables the client reads, namespace,
# metadata location), so `setwd()` and `Sys.setenv()` take effect at once and
# a restarted process answers as the old one would have. An object is named
# by a *ref*, a list the process gives back and R sends again unchanged.

# `process`: the processx process, started by R process `owner`, running
# `python`; `stderr`: the file it writes errors to; `next_id`: the id of the
# last request; `namespace_set`, `namespace`: the
# namespace set_namespace() chose (unset: the user's own); `root`: the
# metadata location set_metadata() chose (NULL: found from the working
# directory at each request).
client_state <- new.env(parent = emptyenv())
client_state$next_id <- 0L
client_state$namespace_set <- FALSE
client_state$root <- NULL

# Variables the Python client reads from its environment.
client_environment_variables <- c(
  "METAFLOW_DATASTORE_SYSROOT_LOCAL", "METAFLOW_DATASTORE_COMPRESSION",
  # Where an S3 run lives and how S3 is reached (plugins/aws/aws_config.py).
  "METAFLOW_DEFAULT_DATASTORE", "METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_S3_ENDPOINT_URL",
  "METAFLOW_AWS_PROFILE", "METAFLOW_AWS_REGION", "METAFLOW_S3_RETRY_COUNT", "METAFLOW_S3_WORKERS",
  "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS",
  "METAFLOW_USER", "SUDO_USER", "USERNAME", "USER"
)

#' Ask the client's Python process
#'
#' Starts the process if it isn't running (the first request of a session,
#' or after it died), sends the request with R's current context and waits
#' for the reply. Errors the client raises become classed R errors (see
#' [abort_client_error()]), without a Python traceback.
#'
#' @param op The request, e.g. `"fields"`.
#' @param args Its arguments, a named list.
#' @param context R's state to answer in; by default what it is now.
#' @param call The call to report errors for.
#' @return The reply's value, as [jsonlite::parse_json()] reads it.
#' @noRd
client_request <- function(op, args = list(), context = client_context(), call = parent.frame()) {
  client_receive(client_send(op, args, context, call), call)
}

# The two halves of client_request(), for a request answered while R does
# something else (verify_blob, R/bridge_blob.R): client_send() writes the
# request and returns its id, client_receive() waits for its reply.
client_send <- function(op, args = list(), context = client_context(), call = parent.frame()) {
  # First: forcing the arguments may make requests of its own (a deferred
  # client's first ref), which must have come and gone before this one's id.
  args <- request_args(args)
  force(context)
  process <- client_process(call)
  id <- client_state$next_id <- client_state$next_id + 1L
  request <- list(id = id, op = op, context = context, args = args)
  line <- paste0(jsonlite::toJSON(request, auto_unbox = TRUE, null = "null", digits = NA), "\n")
  send_line(process, line)
  id
}

client_receive <- function(id, call = parent.frame()) {
  # Before the process is looked up: `id` may be client_send()'s promise yet.
  force(id)
  # The process the request went to: one started since would never answer it.
  reply <- read_reply(client_state$process, id, call)
  if (!is.null(reply$error)) {
    abort_client_error(reply$error, call)
  }
  reply$value
}

# R's state the reply depends on, as the request's `context`.
client_context <- function() {
  env <- Sys.getenv(client_environment_variables, unset = NA, names = TRUE)
  namespace_set <- client_state$namespace_set
  namespace <- client_state$namespace
  task <- running_task$current
  if (!namespace_set && !is.null(task)) {
    # Inside a running step the client starts in the run's namespace, as
    # Metaflow's does.
    namespace_set <- TRUE
    namespace <- task$namespace
  }
  list(
    cwd = getwd(),
    env = lapply(as.list(env), function(value) if (is.na(value)) NULL else value),
    namespace_set = namespace_set,
    namespace = namespace,
    root = client_state$root
  )
}

# `{}` for an empty list: Python takes the arguments as keywords. Refs go
# back as the plain lists they came as.
request_args <- function(args) {
  if (length(args) == 0L) {
    return(structure(list(), names = character()))
  }
  lapply(args, function(arg) if (inherits(arg, "metaflow_ref")) unclass(arg) else arg)
}

client_process <- function(call) {
  process <- client_state$process
  # A forked R (parallel::mclapply) shares its parent's pipes: interleaved
  # requests would mix up replies, so a fork starts a process of its own.
  if (!is.null(process) && identical(client_state$owner, Sys.getpid()) && process$is_alive()) {
    return(process)
  }
  start_client_process(call)
}

start_client_process <- function(call) {
  # Not metaflow_python(): its check starts a Python process of its own.
  # check_python() runs only if this one fails, to say why.
  python <- find_python(call = call)
  # Both under R's tempdir(), which R removes when the session ends.
  stderr <- tempfile("metaflow-client-", fileext = ".log")
  scratch <- tempfile("metaflow-client-")
  process <- tryCatch(
    processx::process$new(
      # Not `-m`: unpickling a Python flow's class must find `__main__`
      # empty, as in any other process, not this module.
      python, c("-c", "from metaflow_core.r.client_server import main; main()", scratch),
      stdin = "|", stdout = "|", stderr = stderr,
      env = python_env(), cleanup = TRUE
    ),
    error = function(err) {
      metaflow_abort("Can't start Python at {.path {python}}.", "python", parent = err, call = call)
    }
  )
  client_state$process <- process
  client_state$owner <- Sys.getpid()
  client_state$stderr <- stderr
  client_state$python <- python
  process
}

send_line <- function(process, line) {
  pending <- line
  repeat {
    pending <- process$write_input(pending)
    if (length(pending) == 0L) {
      break
    }
    process$poll_io(100L)
  }
}

# Reads lines until the reply to request `id`. A reply to an earlier request,
# left unread when R was interrupted while waiting, is dropped.
read_reply <- function(process, id, call) {
  repeat {
    # Checked before reading: a reply written just before the process ended
    # is still read.
    alive <- process$is_alive()
    for (text in process$read_output_lines()) {
      reply <- jsonlite::parse_json(text, simplifyVector = FALSE)
      if (identical(reply$id, id)) {
        return(reply)
      }
    }
    if (!alive) {
      abort_client_died(process, call)
    }
    process$poll_io(1000L)
  }
}

abort_client_died <- function(process, call) {
  python <- client_state$python
  problem <- utils::tail(readLines(client_state$stderr, warn = FALSE), 5L)
  client_state$process <- NULL
  check_python(python, call = call)
  metaflow_abort(c(
    "The metaflow client's Python process ({.path {python}}) stopped.",
    x = if (length(problem) > 0L) "{problem[length(problem)]}" else "It exited with status {process$get_exit_status()}.",
    i = "The next client call starts a new one."
  ), "python", call = call)
}

# Client errors ------------------------------------------------------------------

python_error_kinds <- c(
  MetaflowNotFound = "not_found",
  MetaflowNamespaceMismatch = "namespace",
  MetaflowInvalidPathspec = "pathspec",
  MetaflowDataMissing = "datastore",
  MetaflowDataCorrupt = "data_corrupt",
  DatastoreAccessError = "datastore",
  MetadataCorrupt = "metadata",
  ArtifactUnreadable = "artifact",
  RValueError = "artifact",
  CardError = "card"
)

#' Turn a client error into a classed R error
#'
#' `MetaflowNotFound` is `metaflow_error_not_found`,
#' `MetaflowNamespaceMismatch` is `metaflow_error_namespace`,
#' `MetaflowInvalidPathspec` is `metaflow_error_pathspec`,
#' `MetaflowDataMissing` and `DatastoreAccessError` are `metaflow_error_datastore`,
#' `MetadataCorrupt` (a damaged JSON file) is `metaflow_error_metadata`, a blob
#' that doesn't match its hash is `metaflow_error_data_corrupt` (with the
#' `artifact`, the task's `pathspec` and the blob's `path` as fields), an artifact with
#' no R value is `metaflow_error_artifact`, a card that isn't there
#' (`CardError`) is `metaflow_error_card`, and any other is
#' `metaflow_error_client`. The message is the client's, which names what is
#' missing and lists what exists nearby; the Python type is the condition's
#' `python_type`.
#'
#' @param error The reply's `error`: `type`, `message`, `metaflow` and, for
#'   artifacts, `python_type` and `inner_type`.
#' @noRd
abort_client_error <- function(error, call) {
  type <- error$type %||% "Exception"
  message <- error$message %||% ""
  kind <- if (type %in% names(python_error_kinds)) python_error_kinds[[type]] else "client"
  if (kind == "namespace") {
    message <- sub(" *Use namespace\\(None\\) to see every user's runs\\.", "", message)
    metaflow_abort(c(
      "{message}",
      i = "Call {.code set_namespace(NULL)} to see every user's runs."
    ), kind, python_type = type, call = call)
  }
  if (kind == "artifact") {
    metaflow_abort("{message}", kind,
      client_type = type, python_type = error$python_type %||% type,
      inner_type = error$inner_type, call = call
    )
  }
  if (kind == "data_corrupt") {
    message <- gsub("*", "", message, fixed = TRUE)
    metaflow_abort(c(
      "{message}",
      i = "Run {.code $verify()} on the run to list every damaged artifact; a resume runs the task again."
    ), kind,
      python_type = type, artifact = error$artifact, pathspec = error$pathspec,
      path = error$path, call = call
    )
  }
  if (!isTRUE(error$metaflow)) {
    message <- paste0(type, ": ", message)
  }
  metaflow_abort("{message}", kind, python_type = type, call = call)
}

# Replies to R values ----------------------------------------------------------------

# Epoch seconds (or NULL) as a POSIXct (or NULL).
as_time <- function(seconds) {
  if (is.null(seconds)) NULL else .POSIXct(seconds)
}

# A JSON array of strings as a character vector.
as_strings <- function(values) {
  as.character(unlist(values, use.names = FALSE))
}

# A column of a table reply as an R vector of `type`, NA where it is null.
as_column <- function(values, type) {
  vapply(values, function(value) if (is.null(value)) type else as.vector(value, typeof(type)), type)
}

as_time_column <- function(values) {
  .POSIXct(as_column(values, NA_real_))
}
