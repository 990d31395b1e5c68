# These make real virtual environments, with packages from the Python
# Package Index (or pip's configured mirror).

test_that("install_metaflow() checks its arguments before starting any process", {
  expect_error(install_metaflow(python = ""), class = "metaflow_error_python")
  expect_error(install_metaflow(python = "/nonexistent/bin/python"), class = "metaflow_error_python")
  expect_error(install_metaflow(python = c("a", "b")), class = "metaflow_error_python")
  expect_error(install_metaflow(envname = c("a", "b")), class = "metaflow_error_python")
  expect_error(install_metaflow(aws = "yes"), class = "metaflow_error_python")
})

test_that("the first run() makes the package's environment, says so, and the flow succeeds", {
  data_dir <- withr::local_tempdir()
  run_dir <- withr::local_tempdir()
  script <- file.path(run_dir, "flow.R")
  writeLines(c(
    "library(metaflow)",
    "metaflow('FirstFlow') %>%",
    "  step(step = 'start', r_function = function(self) self$x <- 42L, next_step = 'end') %>%",
    "  step(step = 'end') %>%",
    "  run()"
  ), script)
  env <- clean_python_env(R_USER_DATA_DIR = data_dir)
  first <- processx::run(
    file.path(R.home("bin"), "Rscript"), c(script, "run"),
    env = env, wd = run_dir, error_on_status = FALSE
  )
  expect_equal(first$status, 0, info = first$stderr)
  expect_match(first$stderr, "Setting up metaflow's Python (first use only)", fixed = TRUE)
  envdir <- file.path(data_dir, "R", "metaflow", "venv")
  expect_true(file.exists(venv_python(envdir)))
  expect_equal(list.files(dirname(envdir)), "venv")

  second <- processx::run(
    file.path(R.home("bin"), "Rscript"), c(script, "run"),
    env = env, wd = run_dir, error_on_status = FALSE
  )
  expect_equal(second$status, 0, info = second$stderr)
  expect_no_match(second$stderr, "Setting up")
})

test_that("an unreachable package index is an error that says what to do, and leaves nothing behind", {
  envdir <- file.path(withr::local_tempdir(), "venv")
  dir.create(envdir)
  writeLines("the old environment", file.path(envdir, "marker"))
  local_offline_pip()
  err <- expect_error(
    suppressMessages(install_metaflow(envname = envdir)),
    class = "metaflow_error_python"
  )
  expect_match(conditionMessage(err), "Can't install the engine's Python packages", fixed = TRUE)
  expect_match(conditionMessage(err), "PIP_INDEX_URL", fixed = TRUE)
  expect_match(conditionMessage(err), "install_metaflow()", fixed = TRUE)
  expect_equal(list.files(dirname(envdir)), "venv")
  expect_equal(readLines(file.path(envdir, "marker")), "the old environment")
})

test_that("with no python3 on the PATH, the error says what to install", {
  withr::local_envvar(PATH = withr::local_tempdir())
  err <- expect_error(
    install_metaflow(envname = file.path(withr::local_tempdir(), "venv")),
    class = "metaflow_error_python"
  )
  expect_snapshot(cat(conditionMessage(err)))
})

test_that("a Python older than 3.9 is an error that names its version", {
  python <- local_fake_python("echo 3.8.10")
  envdir <- file.path(withr::local_tempdir(), "venv")
  err <- expect_error(install_metaflow(python, envname = envdir), class = "metaflow_error_python")
  expect_snapshot(
    cat(conditionMessage(err)),
    transform = function(lines) gsub(python, "<python>", lines, fixed = TRUE)
  )
  expect_false(dir.exists(envdir))
})

test_that("a first use that another R process beat to it keeps that process's environment, quietly", {
  envdir <- file.path(withr::local_tempdir(), "venv")
  dir.create(dirname(venv_python(envdir)), recursive = TRUE)
  writeLines("the other process's", venv_python(envdir))
  expect_no_warning(
    made <- suppressMessages(create_python_env(envdir, first_use = TRUE))
  )
  expect_equal(made, venv_python(envdir))
  expect_equal(readLines(venv_python(envdir)), "the other process's")
  expect_equal(list.files(dirname(envdir)), "venv")
})
