# The client's crossing into Python: started lazily, errors as classed R
# errors, the R session's environment and working directory followed.

# Runs `code` in a fresh Rscript with the installed package; returns its
# stdout lines.
rscript_lines <- function(code, env = character()) {
  result <- processx::run(
    file.path(R.home("bin"), "Rscript"), c("-e", code),
    env = c("current", METAFLOW_PYTHON = metaflow_python(), env), error_on_status = FALSE
  )
  if (result$status != 0) {
    stop("Rscript failed:\n", result$stderr, call. = FALSE)
  }
  strsplit(trimws(result$stdout), "\n", fixed = TRUE)[[1]]
}

test_that("library(metaflow) starts no Python; the first client call does", {
  fixture <- client_fixture()
  lines <- rscript_lines(
    paste(
      "suppressMessages(library(metaflow))",
      "cat('after library:', 'reticulate' %in% loadedNamespaces(), '\\n')",
      "client <- mf_client$new()",
      "cat('after mf_client:', 'reticulate' %in% loadedNamespaces(), '\\n')",
      "run <- new_run('ClientLinearFlow', 'latest_run')",
      "cat('after new_run:', reticulate::py_available(), '\\n')",
      sep = "\n"
    ),
    env = c(METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$root, METAFLOW_USER = fixture$user)
  )
  expect_equal(trimws(lines), c("after library: FALSE", "after mf_client: FALSE", "after new_run: TRUE"))
})

test_that("the client runs on the engine's Python", {
  local_client_fixture()
  mf_py()
  expect_equal(
    normalizePath(reticulate::py_config()$python),
    normalizePath(metaflow_python())
  )
  expect_identical(mf_py(), mf_py())
})

test_that("client exceptions become classed R errors with the Python message", {
  fixture <- local_client_fixture()
  err <- expect_error(new_flow("NoSuchFlow"), class = "metaflow_error_not_found")
  expect_s3_class(err, "metaflow_error")
  expect_equal(err$python_type, "MetaflowNotFound")
  expect_match(conditionMessage(err), "ClientLinearFlow", fixed = TRUE)

  err <- expect_error(new_run(fixture$other), class = "metaflow_error_namespace")
  expect_equal(err$python_type, "MetaflowNamespaceMismatch")

  expect_error(
    with_python_errors(mf_py()$Run("just-a-flow")),
    class = "metaflow_error_pathspec"
  )
})

test_that("other Python exceptions are client errors naming the Python type", {
  local_client_fixture()
  err <- expect_error(
    with_python_errors(client_python$builtins$int("not a number")),
    class = "metaflow_error_client"
  )
  expect_match(conditionMessage(err), "^ValueError: invalid literal")
  expect_equal(err$python_type, "ValueError")
})

test_that("no Python traceback reaches the user", {
  local_client_fixture()
  err <- expect_error(new_run("ClientLinearFlow", "999"), class = "metaflow_error_not_found")
  expect_no_match(conditionMessage(err), "Traceback|File \"|client\\.py")
  expect_snapshot(new_run("ClientLinearFlow", "999"), error = TRUE, transform = scrub_client_output)
})

test_that("R errors inside with_python_errors() pass through unchanged", {
  local_client_fixture()
  err <- expect_error(with_python_errors(stop("plain R")), "plain R")
  expect_false(inherits(err, "metaflow_error"))
})

test_that("environment variables set in R after Python started reach the client", {
  fixture <- local_client_fixture()
  expect_true("ClientLinearFlow" %in% list_flows())
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$here)
  expect_equal(list_flows(), "ClientHereFlow")
  withr::local_envvar(METAFLOW_USER = "somebody_else")
  expect_equal(set_default_namespace(), "user:somebody_else")
})

test_that("the client follows setwd() when no datastore root is set", {
  fixture <- local_client_fixture()
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = NA)
  withr::local_dir(fixture$here)
  expect_equal(list_flows(), "ClientHereFlow")
  here_run <- new_run("ClientHereFlow", "latest_run")
  setwd(fixture$there)
  expect_equal(list_flows(), "ClientThereFlow")
  expect_equal(new_run("ClientThereFlow", "latest_run")$artifact("number"), 1L)
  expect_error(new_flow("ClientHereFlow"), class = "metaflow_error_not_found")
  # An object made before keeps reading where it was made.
  expect_equal(here_run$artifact("number"), 1L)
})

test_that("the client works inside a running step", {
  fixture <- local_client_fixture()
  reader <- new_run(fixture$reader)
  expect_true(reader$successful)
  task <- reader$step("start")$task(reader$step("start")$a_task)
  expect_identical(task$artifact("read_x"), 42L)
  expect_identical(task$artifact("read_df"), client_linear_values()$df)
  expect_equal(task$artifact("read_pathspec"), fixture$linear)
  expect_equal(task$artifact("read_namespace"), paste0("user:", fixture$user))
  expect_true("ClientLinearFlow" %in% task$artifact("read_flows"))
  expect_equal(task$artifact("read_runs"), 1L)
})
