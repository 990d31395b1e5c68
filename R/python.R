#' Find the Python interpreter that runs flows
#'
#' Flows run on `metaflow_core`, the Python engine bundled with this package.
#' `metaflow_python()` returns the interpreter that runs it, the first of:
#'
#' 1. the `METAFLOW_PYTHON` environment variable, if it is set;
#' 2. the virtual environment made by [install_metaflow()];
#' 3. `python3` (or `python`) on the `PATH`.
#'
#' The engine itself is not installed into that Python: the package puts its
#' own copy on `PYTHONPATH` whenever it starts Python. The interpreter only
#' needs Python >= 3.9 with the engine's dependencies, `click` and
#' `cloudpickle`. That is checked once per R session for each interpreter.
#'
#' @return The path of the Python interpreter, a string.
#' @family python setup
#' @export
#' @examples
#' tryCatch(metaflow_python(), metaflow_error_python = conditionMessage)
metaflow_python <- function() {
  python <- find_python()
  check_python(python)
  python
}

#' Environment variables every Python process of the package gets
#'
#' @return A named character vector: `PYTHONPATH` with the bundled engine's
#'   directory before any `PYTHONPATH` already set.
#' @noRd
python_env <- function() {
  bundled <- system.file("python", package = "metaflow", mustWork = TRUE)
  existing <- Sys.getenv("PYTHONPATH")
  c(PYTHONPATH = paste(c(bundled, existing[nzchar(existing)]), collapse = .Platform$path.sep))
}

find_python <- function(call = parent.frame()) {
  configured <- Sys.getenv("METAFLOW_PYTHON")
  if (nzchar(configured)) {
    if (!file.exists(configured) || dir.exists(configured)) {
      metaflow_abort(c(
        "{.envvar METAFLOW_PYTHON} must be the path of a Python interpreter.",
        x = "There is no file {.path {configured}}.",
        i = "Point it at a Python >= 3.9, or unset it to use the one {.fn install_metaflow} makes."
      ), "python", call = call)
    }
    return(path.expand(configured))
  }
  installed <- venv_python(default_venv_dir())
  if (file.exists(installed)) {
    return(installed)
  }
  on_path <- Sys.which(c("python3", "python"))
  if (any(nzchar(on_path))) {
    return(unname(on_path[nzchar(on_path)][[1]]))
  }
  metaflow_abort(c(
    "Can't find a Python interpreter.",
    i = "Run {.code install_metaflow(python = \"/path/to/python3\")} or set {.envvar METAFLOW_PYTHON}."
  ), "python", call = call)
}

# Interpreters that passed check_python() in this session, by path. Failures
# are not remembered, so a fix (e.g. install_metaflow()) takes effect at once.
python_checked <- new.env(parent = emptyenv())

python_probe <- paste(
  "import sys",
  "if sys.version_info < (3, 9): sys.exit('metaflow_core needs Python >= 3.9, not ' + sys.version.split()[0])",
  "import click, cloudpickle",
  sep = "\n"
)

check_python <- function(python, call = parent.frame()) {
  if (isTRUE(python_checked[[python]])) {
    return(invisible(python))
  }
  result <- tryCatch(
    processx::run(
      python, c("-c", python_probe),
      env = c("current", python_env()), error_on_status = FALSE
    ),
    error = function(err) {
      metaflow_abort("Can't start Python at {.path {python}}.", "python", parent = err, call = call)
    }
  )
  if (result$status != 0) {
    problem <- utils::tail(strsplit(trimws(result$stderr), "\n", fixed = TRUE)[[1]], 1)
    metaflow_abort(c(
      "The Python at {.path {python}} can't run the metaflow engine.",
      x = "{problem}",
      i = "Run {.code install_metaflow()} to make a Python environment that can, or set {.envvar METAFLOW_PYTHON} to one."
    ), "python", call = call)
  }
  python_checked[[python]] <- TRUE
  invisible(python)
}

default_venv_dir <- function() {
  file.path(tools::R_user_dir("metaflow", "data"), "venv")
}

venv_python <- function(envdir) {
  if (.Platform$OS.type == "windows") {
    file.path(envdir, "Scripts", "python.exe")
  } else {
    file.path(envdir, "bin", "python")
  }
}
