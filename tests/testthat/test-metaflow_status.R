scrub_status <- function(lines) {
  lines <- gsub(metaflow_python(), "<python>", lines, fixed = TRUE)
  lines <- gsub(Sys.getenv("METAFLOW_DATASTORE_SYSROOT_LOCAL"), "<root>", lines, fixed = TRUE)
  lines <- sub("; boto3 [^ ]+ is installed$", "", lines)
  lines <- gsub("[0-9]+\\.[0-9]+\\.[0-9]+", "<version>", lines)
  gsub("reticulate +yes: [0-9.]+", "reticulate     yes: <version>", lines)
}

# The session as if no namespace had been set, for the rest of the calling test.
local_unset_namespace <- function(env = parent.frame()) {
  old <- list(set = client_state$namespace_set, namespace = client_state$namespace)
  client_state$namespace_set <- FALSE
  client_state$namespace <- NULL
  withr::defer({
    client_state$namespace_set <- old$set
    client_state$namespace <- old$namespace
  }, envir = env)
}

test_that("metaflow_status() reports the Python, its reason, the engine, datastore and namespace", {
  local_unset_namespace()
  withr::local_envvar(
    METAFLOW_PYTHON = metaflow_python(), METAFLOW_DATASTORE_SYSROOT_LOCAL = withr::local_tempdir(),
    METAFLOW_USER = "alice"
  )
  status <- metaflow_status()
  expect_s3_class(status, "metaflow_status")
  expect_equal(status$python$source, "METAFLOW_PYTHON")
  expect_equal(status$engine$engine$version, as.character(utils::packageVersion("metaflow")))
  expect_equal(
    normalizePath(status$engine$engine$path),
    normalizePath(system.file("python", "metaflow_core", package = "metaflow"))
  )
  expect_equal(status$namespace, "user:alice")
  expect_equal(names(status$optional), c("s3", "batch", "reticulate"))
  expect_false(dir.exists(file.path(Sys.getenv("METAFLOW_DATASTORE_SYSROOT_LOCAL"), ".metaflow")))
  expect_snapshot(print(status), transform = scrub_status)
})

test_that("metaflow_status() shows the namespace the session set", {
  local_unset_namespace()
  set_namespace("team:vision")
  expect_equal(metaflow_status()$namespace, "team:vision")
  set_namespace(NULL)
  expect_match(metaflow_status()$namespace, "^global")
})

test_that("metaflow_status() makes no environment where there is none, and says what the first run will do", {
  withr::local_envvar(METAFLOW_PYTHON = NA, R_USER_DATA_DIR = withr::local_tempdir())
  status <- metaflow_status()
  expect_null(status$python$path)
  expect_null(status$engine)
  expect_match(format(status)[[3]], "the first run() makes the package's environment", fixed = TRUE)
  expect_false(dir.exists(managed_env_dir()))
  withr::local_envvar(METAFLOW_AUTO_INSTALL = "false")
  expect_match(format(metaflow_status())[[3]], "making one is off (METAFLOW_AUTO_INSTALL=false)", fixed = TRUE)
})

test_that("metaflow_status() reports a Python that can't run the engine instead of failing", {
  python <- local_fake_python("echo \"ModuleNotFoundError: No module named 'click'\" >&2; exit 1")
  withr::local_envvar(METAFLOW_PYTHON = python)
  status <- metaflow_status()
  expect_equal(status$python$problem, "ModuleNotFoundError: No module named 'click'")
  expect_match(format(status), "can't run the engine: ModuleNotFoundError", fixed = TRUE, all = FALSE)

  withr::local_envvar(METAFLOW_PYTHON = "/nonexistent/python")
  expect_match(metaflow_status()$python$problem, "must be the path of a Python interpreter")
})

test_that("`Rscript flow.R status` prints the report, as text or JSON", {
  dir <- withr::local_tempdir()
  script <- file.path(dir, "flow.R")
  writeLines(c(
    "library(metaflow)",
    "metaflow('StatusFlow') %>% step(step = 'start', next_step = 'end') %>% step(step = 'end') %>% run()"
  ), script)
  env <- c("current", R_LIBS = paste(.libPaths(), collapse = .Platform$path.sep), METAFLOW_PYTHON = metaflow_python())
  rscript <- file.path(R.home("bin"), "Rscript")
  text <- processx::run(rscript, c(script, "status"), env = env, wd = dir)
  expect_match(text$stdout, "Python     ", fixed = TRUE)
  expect_match(text$stdout, "named by METAFLOW_PYTHON", fixed = TRUE)
  json <- processx::run(rscript, c(script, "status", "--json"), env = env, wd = dir)
  parsed <- jsonlite::parse_json(json$stdout)
  expect_equal(parsed$engine$engine$name, "metaflow_core")
  expect_equal(parsed$python$source, "METAFLOW_PYTHON")
  bad <- processx::run(rscript, c(script, "status", "--bogus"), env = env, wd = dir, error_on_status = FALSE)
  expect_false(bad$status == 0)
  expect_match(bad$stderr, "`status` takes no arguments but `--json`", fixed = TRUE)
  expect_false(dir.exists(file.path(dir, ".metaflow")))
})
