#' Find the Python interpreter that runs flows
#'
#' Flows run on `metaflow_core`, the Python engine bundled with this package.
#' `metaflow_python()` returns the interpreter that runs it:
#'
#' 1. the one the `METAFLOW_PYTHON` environment variable names, if it is set;
#' 2. else the package's own Python environment, in
#'    `tools::R_user_dir("metaflow", "data")` (which honours
#'    `R_USER_DATA_DIR`), made by [install_metaflow()].
#'
#' When neither exists, the first call that needs Python (a [run()], a client
#' call, or this function) makes the package's environment, once: a virtual
#' environment of `python3` on the `PATH` with the engine's two dependencies
#' from the Python Package Index. That takes a few seconds and says so. To
#' turn it off, set `options(metaflow.auto_install = FALSE)` or the
#' environment variable `METAFLOW_AUTO_INSTALL=false`; then a missing
#' environment is an error that says what to run.
#'
#' The engine itself is not installed into that Python: the package puts its
#' own copy on `PYTHONPATH` whenever it starts Python. Python is started with
#' the environment of the shell R was started from: R prepends its own
#' library directories to `LD_LIBRARY_PATH`, which would make a Python built
#' with a shared `libpython` (pyenv's, for one) load the system's instead.
#' The interpreter needs Python >= 3.9 with `click` and `cloudpickle`; that is
#' checked once per R session for each interpreter. [metaflow_status()] shows
#' which interpreter is in use and why.
#'
#' @return The path of the Python interpreter, a string.
#' @family python setup
#' @export
#' @examples
#' metaflow_python()
metaflow_python <- function() {
  python <- find_python()
  check_python(python)
  python
}

#' Environment variables every Python process of the package gets
#'
#' The whole environment, for processx's `env` (which can't unset a variable
#' when given `"current"`): R's session environment with `LD_LIBRARY_PATH` as
#' it was before R's start-up script prepended R's directories, `PYTHONPATH`
#' with the bundled engine first, and `extra` on top.
#'
#' @param extra A named character vector of further variables.
#' @return A named character vector.
#' @noRd
python_env <- function(extra = character()) {
  session <- Sys.getenv()
  env <- structure(as.vector(session), names = names(session))
  library_path <- shell_library_path(Sys.getenv("LD_LIBRARY_PATH"))
  env <- env[names(env) != "LD_LIBRARY_PATH"]
  if (nzchar(library_path)) {
    env[["LD_LIBRARY_PATH"]] <- library_path
  }
  bundled <- system.file("python", package = "metaflow", mustWork = TRUE)
  existing <- Sys.getenv("PYTHONPATH")
  env[["PYTHONPATH"]] <- paste(c(bundled, existing[nzchar(existing)]), collapse = .Platform$path.sep)
  env[names(extra)] <- extra
  env
}

# LD_LIBRARY_PATH as the shell that started R had it: without the prefix R's
# start-up script (`R_HOME/etc/ldpaths`) put in front, once per R in the chain
# (an Rscript started from R has it twice; left in, its system library
# directory gives Python the system's libpython, and `ssl` fails to load).
shell_library_path <- function(current) {
  prefix <- r_library_path_prefix()
  if (!nzchar(prefix)) {
    return(current)
  }
  repeat {
    if (identical(current, prefix)) {
      return("")
    }
    if (!startsWith(current, paste0(prefix, ":"))) {
      return(current)
    }
    current <- substring(current, nchar(prefix) + 2L)
  }
}

# The prefix itself, R_LD_LIBRARY_PATH, which the script computes but doesn't
# export: read by sourcing the script in a shell, once per session.
r_library_path_prefix <- function() {
  if (is.null(python_state$ld_prefix)) {
    script <- file.path(R.home("etc"), "ldpaths")
    python_state$ld_prefix <- if (.Platform$OS.type == "unix" && file.exists(script)) {
      tryCatch(
        processx::run(
          "/bin/sh", c("-c", '. "$1" && printf %s "$R_LD_LIBRARY_PATH"', "sh", script),
          env = c("current", LD_LIBRARY_PATH = "")
        )$stdout,
        error = function(err) ""
      )
    } else {
      ""
    }
  }
  python_state$ld_prefix
}

# The interpreter to run the engine with, and why it is that one:
# list(path, source), `source` "METAFLOW_PYTHON" or "managed"; `path` is NULL
# when the package's environment doesn't exist yet.
python_choice <- function(call = parent.frame()) {
  configured <- Sys.getenv("METAFLOW_PYTHON")
  if (nzchar(configured)) {
    if (!file.exists(configured) || dir.exists(configured)) {
      metaflow_abort(c(
        "{.envvar METAFLOW_PYTHON} must be the path of a Python interpreter.",
        x = "There is no file {.path {configured}}.",
        i = "Point it at a Python >= 3.9, or unset it to use the package's own environment."
      ), "python", call = call)
    }
    return(list(path = path.expand(configured), source = "METAFLOW_PYTHON"))
  }
  managed <- venv_python(managed_env_dir())
  list(path = if (file.exists(managed)) managed, source = "managed")
}

# The interpreter, without starting it: a check costs a Python start, so
# callers check only when the engine fails. Makes the package's environment
# when there is none, unless the user turned that off.
find_python <- function(call = parent.frame()) {
  choice <- python_choice(call)
  if (!is.null(choice$path)) {
    return(choice$path)
  }
  if (!auto_install_enabled()) {
    metaflow_abort(c(
      "metaflow has no Python environment to run flows in.",
      x = "There is none in {.path {managed_env_dir()}} and {.envvar METAFLOW_PYTHON} is not set.",
      i = "Run {.run metaflow::install_metaflow()} to make one (it needs Python >= 3.9 and the Python Package Index).",
      i = "Making it on first use is off: {auto_install_setting()}."
    ), "python", call = call)
  }
  create_python_env(managed_env_dir(), first_use = TRUE, call = call)
}

auto_install_enabled <- function() {
  option <- getOption("metaflow.auto_install")
  if (!is.null(option)) {
    return(!isFALSE(option))
  }
  !tolower(Sys.getenv("METAFLOW_AUTO_INSTALL")) %in% c("false", "0", "no", "off")
}

auto_install_setting <- function() {
  option <- getOption("metaflow.auto_install")
  if (!is.null(option)) {
    paste0("options(metaflow.auto_install = ", format(option), ")")
  } else {
    paste0("METAFLOW_AUTO_INSTALL=", Sys.getenv("METAFLOW_AUTO_INSTALL"))
  }
}

# State of this module for the session: interpreters that passed
# check_python(), by path (failures are not remembered, so a fix takes effect
# at once), and R's LD_LIBRARY_PATH prefix.
python_state <- new.env(parent = emptyenv())
python_state$checked <- character()

python_probe <- paste(
  "import sys",
  "if sys.version_info < (3, 9): sys.exit('metaflow_core needs Python >= 3.9, not ' + sys.version.split()[0])",
  "import click, cloudpickle",
  sep = "\n"
)

check_python <- function(python, call = parent.frame()) {
  if (python %in% python_state$checked) {
    return(invisible(python))
  }
  problem <- python_problem(python, call)
  if (!is.null(problem)) {
    managed <- identical(normalizePath(python, mustWork = FALSE), normalizePath(venv_python(managed_env_dir()), mustWork = FALSE))
    metaflow_abort(c(
      "The Python at {.path {python}} can't run the metaflow engine.",
      x = "{problem}",
      i = if (managed) {
        "Run {.run metaflow::install_metaflow()} to make the package's environment again."
      } else {
        "Point {.envvar METAFLOW_PYTHON} at a Python >= 3.9 with {.pkg click} and {.pkg cloudpickle}, or unset it to use the package's own environment."
      }
    ), "python", call = call)
  }
  python_state$checked <- c(python_state$checked, python)
  invisible(python)
}

# NULL if `python` can run the engine, else the last line it wrote: why not.
python_problem <- function(python, call = parent.frame()) {
  result <- tryCatch(
    processx::run(python, c("-c", python_probe), env = python_env(), error_on_status = FALSE),
    error = function(err) {
      metaflow_abort("Can't start Python at {.path {python}}.", "python", parent = err, call = call)
    }
  )
  if (result$status == 0) {
    return(NULL)
  }
  lines <- strsplit(trimws(result$stderr), "\n", fixed = TRUE)[[1]]
  if (length(lines) == 0) paste("It exited with status", result$status) else utils::tail(lines, 1)
}

managed_env_dir <- function() {
  file.path(tools::R_user_dir("metaflow", "data"), "venv")
}

venv_python <- function(envdir) {
  if (.Platform$OS.type == "windows") {
    file.path(envdir, "Scripts", "python.exe")
  } else {
    file.path(envdir, "bin", "python")
  }
}
