test_that("metaflow_python() returns METAFLOW_PYTHON when it is set and can run the engine", {
  python <- metaflow_python()
  withr::local_envvar(METAFLOW_PYTHON = python)
  expect_equal(metaflow_python(), python)
  expect_equal(python_choice()$source, "METAFLOW_PYTHON")
})

test_that("without METAFLOW_PYTHON, the package's own environment is used", {
  withr::local_envvar(METAFLOW_PYTHON = NA, R_USER_DATA_DIR = withr::local_tempdir())
  installed <- venv_python(managed_env_dir())
  expect_true(startsWith(installed, Sys.getenv("R_USER_DATA_DIR")))
  dir.create(dirname(installed), recursive = TRUE)
  file.copy(local_fake_python("exit 0"), installed)
  expect_equal(metaflow_python(), installed)
  expect_equal(python_choice()$source, "managed")
})

test_that("python_env() makes the bundled engine importable", {
  result <- processx::run(
    metaflow_python(), c("-c", "import metaflow_core; print(metaflow_core.__file__)"),
    env = python_env()
  )
  bundled <- normalizePath(system.file("python", "metaflow_core", package = "metaflow"))
  expect_equal(normalizePath(dirname(trimws(result$stdout))), bundled)
})

test_that("python_env() puts the bundled engine before an existing PYTHONPATH", {
  bundled <- system.file("python", package = "metaflow")
  withr::local_envvar(PYTHONPATH = "/somewhere/else")
  expect_equal(
    python_env()[["PYTHONPATH"]],
    paste(bundled, "/somewhere/else", sep = .Platform$path.sep)
  )
  withr::local_envvar(PYTHONPATH = NA)
  expect_equal(python_env()[["PYTHONPATH"]], bundled)
  expect_equal(python_env(c(PYTHONPATH = "mine", EXTRA = "x"))[c("PYTHONPATH", "EXTRA")], c(PYTHONPATH = "mine", EXTRA = "x"))
})

# R's start-up script prepends R's own directories to LD_LIBRARY_PATH. A
# Python built with a shared libpython (pyenv's) then loads the system's
# libpython and loses its own site-packages.
test_that("Python started from R gets LD_LIBRARY_PATH as the shell that started R had it", {
  child_library_path <- function(value) {
    env <- Sys.getenv()
    env <- structure(as.vector(env), names = names(env))
    env <- env[names(env) != "LD_LIBRARY_PATH"]
    if (!is.na(value)) env[["LD_LIBRARY_PATH"]] <- value
    code <- paste(
      "cat(grepl(R.home('lib'), Sys.getenv('LD_LIBRARY_PATH'), fixed = TRUE),",
      "metaflow:::python_env()['LD_LIBRARY_PATH'], sep = '\\n')"
    )
    result <- processx::run(file.path(R.home("bin"), "Rscript"), c("-e", code), env = env)
    strsplit(result$stdout, "\n")[[1]]
  }
  expect_equal(child_library_path(NA), c("TRUE", "NA"))
  expect_equal(child_library_path("/opt/mine/lib"), c("TRUE", "/opt/mine/lib"))
  # An Rscript started from this session: R's start-up put its prefix in twice.
  expect_equal(child_library_path(Sys.getenv("LD_LIBRARY_PATH")), c("TRUE", "NA"))
  expect_equal(child_library_path(paste0(Sys.getenv("LD_LIBRARY_PATH"), ":/opt/mine/lib")),
               c("TRUE", "/opt/mine/lib"))
})

test_that("python3 on the PATH sees from R the site-packages it sees in a shell", {
  python <- Sys.which("python3")
  expect_true(nzchar(python), label = "python3 is on the PATH")
  code <- "import site, sys; print(sys.prefix, site.getsitepackages())"
  shell_env <- python_env()
  shell_env <- shell_env[names(shell_env) != "LD_LIBRARY_PATH"]
  from_shell <- processx::run(
    "/bin/sh", c("-c", 'unset LD_LIBRARY_PATH; exec "$0" -c "$1"', python, code),
    env = shell_env
  )$stdout
  from_r <- processx::run(python, c("-c", code), env = python_env())$stdout
  expect_equal(from_r, from_shell)
})

test_that("a METAFLOW_PYTHON that does not exist is an error", {
  withr::local_envvar(METAFLOW_PYTHON = "/nonexistent/bin/python")
  expect_error(metaflow_python(), class = "metaflow_error_python")
  expect_snapshot(metaflow_python(), error = TRUE)
})

test_that("a Python without the engine's dependencies is an error that says how to fix it", {
  python <- local_fake_python("echo \"ModuleNotFoundError: No module named 'click'\" >&2; exit 1")
  withr::local_envvar(METAFLOW_PYTHON = python)
  err <- expect_error(metaflow_python(), class = "metaflow_error_python")
  expect_snapshot(
    cat(conditionMessage(err)),
    transform = function(lines) gsub(python, "<python>", lines, fixed = TRUE)
  )
})

test_that("a Python that passed the check is not started again in the session", {
  starts <- withr::local_tempfile()
  python <- local_fake_python(sprintf("echo started >> '%s'", starts))
  withr::local_envvar(METAFLOW_PYTHON = python)
  expect_equal(metaflow_python(), python)
  expect_equal(metaflow_python(), python)
  expect_equal(readLines(starts), "started")
})

test_that("with making it on first use turned off, a missing environment is an error that says what to run", {
  withr::local_envvar(
    METAFLOW_PYTHON = NA, R_USER_DATA_DIR = withr::local_tempdir(), METAFLOW_AUTO_INSTALL = "false"
  )
  err <- expect_error(metaflow_python(), class = "metaflow_error_python")
  expect_match(conditionMessage(err), "install_metaflow()", fixed = TRUE)
  expect_snapshot(
    cat(conditionMessage(err)),
    transform = function(lines) gsub(Sys.getenv("R_USER_DATA_DIR"), "<data>", lines, fixed = TRUE)
  )
  expect_false(dir.exists(managed_env_dir()))

  withr::local_envvar(METAFLOW_AUTO_INSTALL = NA)
  withr::local_options(metaflow.auto_install = FALSE)
  expect_error(metaflow_python(), "metaflow.auto_install = FALSE", class = "metaflow_error_python")
})
