#' Install a Python environment for metaflow
#'
#' Creates a Python virtual environment and installs the engine's dependencies
#' into it (`click` and `cloudpickle`, and `boto3` with `aws = TRUE`). This
#' downloads packages from the Python Package Index. The engine itself comes
#' with this package and is not installed into the environment.
#'
#' @param python Path of the Python interpreter (>= 3.9) to create the
#'   environment from.
#' @param envname Directory of the environment. `NULL`, the default, is the
#'   one [metaflow_python()] looks in; for any other directory, set the
#'   `METAFLOW_PYTHON` environment variable to the interpreter it returns.
#' @param aws Whether to also install `boto3`, which the S3 datastore needs.
#' @return The path of the environment's Python interpreter, invisibly.
#' @family python setup
#' @export
#' @examples
#' # Arguments are checked before anything is downloaded:
#' try(install_metaflow(python = file.path(tempdir(), "no-such-python")))
#'
#' # Making the environment downloads from the Python Package Index:
#' \dontrun{
#' install_metaflow()
#' install_metaflow(aws = TRUE)
#' }
install_metaflow <- function(python = Sys.which("python3"), envname = NULL, aws = FALSE) {
  python <- unname(python)
  if (!is.character(python) || length(python) != 1 || is.na(python)) {
    metaflow_abort("{.arg python} must be a string, the path of a Python interpreter.", "python")
  }
  if (!nzchar(python)) {
    metaflow_abort(c(
      "{.arg python} must be the path of a Python interpreter.",
      x = "There is no {.code python3} on the {.envvar PATH}."
    ), "python")
  }
  if (!file.exists(python)) {
    metaflow_abort(c(
      "{.arg python} must be the path of a Python interpreter.",
      x = "There is no file {.path {python}}."
    ), "python")
  }
  if (!is.null(envname) && !(is.character(envname) && length(envname) == 1 && nzchar(envname))) {
    metaflow_abort("{.arg envname} must be a directory path or {.code NULL}.", "python")
  }
  if (!isTRUE(aws) && !isFALSE(aws)) {
    metaflow_abort("{.arg aws} must be {.code TRUE} or {.code FALSE}.", "python")
  }
  envdir <- if (is.null(envname)) default_venv_dir() else path.expand(envname)
  env_python <- venv_python(envdir)
  requirements <- system.file("python", "requirements.txt", package = "metaflow", mustWork = TRUE)

  cli::cli_progress_step("Creating a Python environment in {.path {envdir}}")
  run_install_command(python, c("-m", "venv", envdir))
  cli::cli_progress_step("Installing the engine's Python dependencies")
  run_install_command(env_python, c(
    "-m", "pip", "install", "--disable-pip-version-check", "-r", requirements,
    if (aws) "boto3"
  ))
  cli::cli_progress_done()
  if (!is.null(envname)) {
    cli::cli_inform(c(i = "Set {.envvar METAFLOW_PYTHON} to {.path {env_python}} to use it."))
  }
  invisible(env_python)
}

run_install_command <- function(command, args, call = parent.frame()) {
  tryCatch(
    processx::run(command, args),
    error = function(err) {
      command_line <- paste(c(command, args), collapse = " ")
      metaflow_abort(
        "Can't install the Python environment: {.code {command_line}} failed.",
        "python", parent = err, call = call
      )
    }
  )
  invisible()
}
