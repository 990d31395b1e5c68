# The client's objects in R's own Python, for get_obj() ---------------------------
#
# Everything else the client does goes through its Python process
# (R/client_python.R). `get_obj()` promises the Python object itself, which
# only reticulate can hand to R: this is the one place the package loads
# reticulate, on the first `get_obj()` of a session.

# `module`: metaflow_core.r.client_server, imported into reticulate's Python.
client_reticulate <- new.env(parent = emptyenv())

#' The Python client's object a ref names, through reticulate
#'
#' On the first call: makes the engine's Python ([find_python()])
#' reticulate's interpreter, unless reticulate already runs another one, and
#' imports the package's bundled `metaflow_core`. The object reads the same
#' metadata location and namespace as the R object it came from.
#'
#' @param ref A ref (see [client_request()]).
#' @param call The call to report errors for.
#' @return A reticulate object of class `metaflow_core.client.<Class>`.
#' @noRd
python_client_object <- function(ref, call = parent.frame()) {
  module <- client_reticulate$module %||% import_client_module(call)
  tryCatch(
    module$object_at(unclass(ref)),
    error = function(err) {
      metaflow_abort(c(
        "Can't make the Python object of {.val {ref$pathspec}}.",
        x = "{reticulate_error_text(err)}"
      ), "client", call = call)
    }
  )
}

import_client_module <- function(call) {
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
  module <- tryCatch(
    reticulate::import_from_path("metaflow_core.r.client_server", path = bundled, convert = FALSE),
    error = function(err) {
      active <- tryCatch(reticulate::py_config()$python, error = function(e) python)
      if (!identical(normalizePath(active, mustWork = FALSE), normalizePath(python, mustWork = FALSE))) {
        metaflow_abort(c(
          "Can't make Python objects of the metaflow client in this R session.",
          x = "R is already running Python {.path {active}}, and the client needs {.path {python}}.",
          i = "Restart R and call {.code get_obj()} before anything else starts Python."
        ), "python", call = call)
      }
      check_python(python, call = call)
      metaflow_abort(c(
        "Can't import the metaflow client in Python {.path {python}}.",
        x = "{reticulate_error_text(err)}"
      ), "python", call = call)
    }
  )
  client_reticulate$module <- module
  module
}

restore_envvar <- function(name, value) {
  if (is.na(value)) {
    Sys.unsetenv(name)
  } else {
    do.call(Sys.setenv, stats::setNames(list(value), name))
  }
}

# The first line of a Python error's message, without reticulate's
# "Type: " prefix or its traceback.
reticulate_error_text <- function(err) {
  text <- trimws(conditionMessage(err))
  text <- sub("^Error in py_call_impl[^\n]*\n *", "", text)
  strsplit(text, "\n", fixed = TRUE)[[1]][[1]]
}
