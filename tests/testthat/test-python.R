test_that("metaflow_python() returns METAFLOW_PYTHON when it can run the engine", {
  python <- Sys.getenv("METAFLOW_PYTHON")
  skip_if_not(nzchar(python), "METAFLOW_PYTHON is not set (make test sets it to .venv/bin/python)")
  expect_equal(metaflow_python(), python)
  expect_true(file.exists(metaflow_python()))
})

test_that("python_env() makes the bundled engine importable", {
  python <- Sys.getenv("METAFLOW_PYTHON")
  skip_if_not(nzchar(python), "METAFLOW_PYTHON is not set (make test sets it to .venv/bin/python)")
  result <- processx::run(
    python, c("-c", "import metaflow_core; print(metaflow_core.__file__)"),
    env = c("current", python_env())
  )
  bundled <- normalizePath(system.file("python", "metaflow_core", package = "metaflow"))
  expect_equal(normalizePath(dirname(trimws(result$stdout))), bundled)
})

test_that("python_env() puts the bundled engine before an existing PYTHONPATH", {
  withr::local_envvar(PYTHONPATH = "/somewhere/else")
  bundled <- system.file("python", package = "metaflow")
  expect_equal(
    python_env(),
    c(PYTHONPATH = paste(bundled, "/somewhere/else", sep = .Platform$path.sep))
  )
  withr::local_envvar(PYTHONPATH = NA)
  expect_equal(python_env(), c(PYTHONPATH = bundled))
})

test_that("a METAFLOW_PYTHON that does not exist is an error", {
  withr::local_envvar(METAFLOW_PYTHON = "/nonexistent/bin/python")
  expect_error(metaflow_python(), class = "metaflow_error_python")
  expect_snapshot(metaflow_python(), error = TRUE)
})

test_that("a Python without the engine's dependencies is an error that says how to fix it", {
  skip_on_os("windows")
  python <- local_fake_python("echo \"ModuleNotFoundError: No module named 'click'\" >&2; exit 1")
  withr::local_envvar(METAFLOW_PYTHON = python)
  err <- expect_error(metaflow_python(), class = "metaflow_error_python")
  expect_snapshot(
    cat(conditionMessage(err)),
    transform = function(lines) gsub(python, "<python>", lines, fixed = TRUE)
  )
})

test_that("a Python that passed the check is not started again in the session", {
  skip_on_os("windows")
  starts <- withr::local_tempfile()
  python <- local_fake_python(sprintf("echo started >> '%s'", starts))
  withr::local_envvar(METAFLOW_PYTHON = python)
  expect_equal(metaflow_python(), python)
  expect_equal(metaflow_python(), python)
  expect_equal(readLines(starts), "started")
})

test_that("without METAFLOW_PYTHON, the environment made by install_metaflow() comes first", {
  skip_on_os("windows")
  withr::local_envvar(METAFLOW_PYTHON = NA, R_USER_DATA_DIR = withr::local_tempdir())
  installed <- venv_python(default_venv_dir())
  dir.create(dirname(installed), recursive = TRUE)
  file.copy(local_fake_python("exit 0"), installed)
  expect_equal(metaflow_python(), installed)
})

test_that("install_metaflow() checks its arguments before starting any process", {
  expect_error(install_metaflow(python = ""), class = "metaflow_error_python")
  expect_error(install_metaflow(python = "/nonexistent/bin/python"), class = "metaflow_error_python")
  python <- Sys.which("python3")
  skip_if_not(nzchar(python), "no python3 on the PATH")
  expect_error(install_metaflow(python, envname = c("a", "b")), class = "metaflow_error_python")
  expect_error(install_metaflow(python, aws = "yes"), class = "metaflow_error_python")
})
