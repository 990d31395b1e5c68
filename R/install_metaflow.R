#' Install the package's Python environment
#'
#' Makes the Python virtual environment that runs flows, with the engine's
#' dependencies from the Python Package Index (`click` and `cloudpickle`, and
#' `boto3` with `aws = TRUE`). The engine itself comes with this package and
#' is not installed into the environment.
#'
#' There is rarely a need to call it: the first [run()] makes the environment
#' when there is none (see [metaflow_python()]). Call it to make the
#' environment ahead of time, to make it again from another Python, or to add
#' `boto3`. The new environment is built next to the old one and takes its
#' place only once it works, so a failed install leaves the old one as it was.
#'
#' @param python Path of the Python interpreter (>= 3.9) to make the
#'   environment from; `NULL`, the default, is `python3` on the `PATH`.
#' @param envname Directory of the environment. `NULL`, the default, is the
#'   package's own, the one [metaflow_python()] uses: in
#'   `tools::R_user_dir("metaflow", "data")`. For any other directory, set
#'   the `METAFLOW_PYTHON` environment variable to the interpreter it returns.
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
install_metaflow <- function(python = NULL, envname = NULL, aws = FALSE) {
  if (!is.null(python)) {
    check_python_path(python)
  }
  if (!is.null(envname) && !(is.character(envname) && length(envname) == 1 && !is.na(envname) && nzchar(envname))) {
    metaflow_abort("{.arg envname} must be a directory path or {.code NULL}.", "python")
  }
  if (!isTRUE(aws) && !isFALSE(aws)) {
    metaflow_abort("{.arg aws} must be {.code TRUE} or {.code FALSE}.", "python")
  }
  envdir <- if (is.null(envname)) managed_env_dir() else path.expand(envname)
  env_python <- create_python_env(envdir, python = python, aws = aws)
  if (!is.null(envname)) {
    cli::cli_inform(c(i = "Set {.envvar METAFLOW_PYTHON} to {.path {env_python}} to use it."))
  }
  invisible(env_python)
}

check_python_path <- function(python, call = parent.frame()) {
  if (!is.character(python) || length(python) != 1 || is.na(python)) {
    metaflow_abort("{.arg python} must be a string, the path of a Python interpreter.", "python", call = call)
  }
  if (!nzchar(python) || !file.exists(python) || dir.exists(python)) {
    metaflow_abort(c(
      "{.arg python} must be the path of a Python interpreter.",
      x = "There is no file {.path {python}}."
    ), "python", call = call)
  }
}

# Builds the environment in a directory next to `envdir` and moves it into
# place once it passes check_python(): a failed or interrupted install leaves
# nothing behind, and a reader never sees half an environment. Returns the
# interpreter's path.
create_python_env <- function(envdir, python = NULL, aws = FALSE, first_use = FALSE,
                              call = parent.frame()) {
  python <- python %||% base_python(call)
  check_python_version(python, call)
  parent <- dirname(envdir)
  dir.create(parent, recursive = TRUE, showWarnings = FALSE)
  staging <- tempfile(paste0(basename(envdir), "-partial-"), tmpdir = parent)
  on.exit(unlink(staging, recursive = TRUE), add = TRUE)
  cli::cli_progress_step(
    if (first_use) "Setting up metaflow's Python (first use only)" else "Making a Python environment",
    msg_done = "Made metaflow's Python in {.path {envdir}}."
  )
  run_setup_command(python, c("-m", "venv", staging), "venv", call)
  requirements <- system.file("python", "requirements.txt", package = "metaflow", mustWork = TRUE)
  run_setup_command(venv_python(staging), c(
    "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet",
    "-r", requirements, if (aws) "boto3"
  ), "pip", call)
  problem <- python_problem(venv_python(staging), call)
  if (!is.null(problem)) {
    metaflow_abort(c(
      "The new Python environment can't run the metaflow engine.",
      x = "{problem}"
    ), "python", call = call)
  }
  move_env_into_place(staging, envdir, replace = !first_use)
  cli::cli_progress_done()
  venv_python(envdir)
}

# A first use that finds the environment made meanwhile by another R process
# keeps that one; install_metaflow() replaces the old environment.
move_env_into_place <- function(staging, envdir, replace) {
  old <- NULL
  if (replace && dir.exists(envdir)) {
    old <- tempfile(paste0(basename(envdir), "-old-"), tmpdir = dirname(envdir))
    file.rename(envdir, old)
    on.exit(unlink(old, recursive = TRUE), add = TRUE)
  }
  # A rename onto an environment another process has just made fails, with a
  # warning that says nothing useful: that one is kept.
  if (!suppressWarnings(file.rename(staging, envdir)) && !file.exists(venv_python(envdir))) {
    if (!is.null(old)) {
      file.rename(old, envdir)
    }
    metaflow_abort("Can't move the new Python environment into {.path {envdir}}.", "python")
  }
}

# The interpreter an environment is made from when none is named.
base_python <- function(call) {
  on_path <- Sys.which(c("python3", "python"))
  on_path <- on_path[nzchar(on_path)]
  if (length(on_path) == 0) {
    metaflow_abort(c(
      "metaflow needs Python 3.9 or newer to run flows, and there is no {.code python3} on the {.envvar PATH}.",
      i = "Install Python 3 (on Debian or Ubuntu: {.code sudo apt-get install python3 python3-venv}) and try again.",
      i = "Or set {.envvar METAFLOW_PYTHON} to a Python >= 3.9 that has {.pkg click} and {.pkg cloudpickle}."
    ), "python", call = call)
  }
  unname(on_path[[1]])
}

check_python_version <- function(python, call) {
  result <- tryCatch(
    processx::run(
      python, c("-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"),
      env = python_env(), error_on_status = FALSE
    ),
    error = function(err) {
      metaflow_abort("Can't start Python at {.path {python}}.", "python", parent = err, call = call)
    }
  )
  version <- numeric_version(trimws(result$stdout), strict = FALSE)
  if (result$status != 0 || is.na(version)) {
    problem <- utils::tail(c("It printed nothing.", strsplit(trimws(result$stderr), "\n")[[1]]), 1)
    metaflow_abort(c("Can't start Python at {.path {python}}.", x = "{problem}"), "python", call = call)
  }
  if (version < "3.9") {
    metaflow_abort(c(
      "metaflow needs Python 3.9 or newer to run flows.",
      x = "{.path {python}} is Python {version}.",
      i = "Install a newer Python and run {.code metaflow::install_metaflow(python = \"/path/to/python3\")}."
    ), "python", call = call)
  }
}

# Runs one step of making an environment, its output kept in a file and shown
# only if it fails, keeping a progress spinner turning meanwhile.
run_setup_command <- function(command, args, stage, call) {
  output <- tempfile("metaflow-setup-", fileext = ".log")
  on.exit(unlink(output), add = TRUE)
  process <- processx::process$new(
    command, args, env = python_env(), stdout = output, stderr = "2>&1", cleanup_tree = TRUE
  )
  on.exit(if (process$is_alive()) process$kill_tree(), add = TRUE)
  # Where the terminal can't redraw a line, an update would print it again.
  spin <- cli::is_dynamic_tty()
  while (process$is_alive()) {
    process$wait(100)
    if (spin) cli::cli_progress_update(.envir = parent.frame())
  }
  if (process$get_exit_status() == 0) {
    return(invisible())
  }
  lines <- trimws(readLines(output, warn = FALSE))
  abort_setup_failure(stage, lines[nzchar(lines)], paste(c(command, args), collapse = " "), call)
}

abort_setup_failure <- function(stage, lines, command_line, call) {
  last <- if (length(lines) > 0) utils::tail(lines, 1) else "It printed nothing."
  if (stage == "venv") {
    metaflow_abort(c(
      "Can't make a Python virtual environment.",
      x = "{last}",
      i = if (any(grepl("ensurepip", lines))) "On Debian or Ubuntu, {.code sudo apt-get install python3-venv} adds what is missing.",
      i = "The command was {.code {command_line}}."
    ), "python", call = call)
  }
  offline <- any(grepl(
    "Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable|No matching distribution|Could not find a version",
    lines
  ))
  metaflow_abort(c(
    "Can't install the engine's Python packages {.pkg click} and {.pkg cloudpickle}.",
    x = "{last}",
    i = if (offline) "The Python Package Index can't be reached: connect to it (or set pip's {.envvar PIP_INDEX_URL} to a mirror) and run {.run metaflow::install_metaflow()}.",
    i = "Or set {.envvar METAFLOW_PYTHON} to a Python >= 3.9 that has {.pkg click} and {.pkg cloudpickle}."
  ), "python", call = call)
}
