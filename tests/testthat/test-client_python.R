# The client's crossing into Python, its process: started lazily, replaced
# when it ends, errors as classed R errors, the R session's environment and
# working directory followed.

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

test_that("library(metaflow) starts no Python; the first client call starts its process, not reticulate", {
  fixture <- client_fixture()
  lines <- rscript_lines(
    paste(
      "suppressMessages(library(metaflow))",
      "alive <- function() { p <- metaflow:::client_state$process; !is.null(p) && p$is_alive() }",
      "cat('after library:', 'reticulate' %in% loadedNamespaces(), alive(), '\\n')",
      "client <- mf_client$new()",
      "cat('after mf_client:', 'reticulate' %in% loadedNamespaces(), alive(), '\\n')",
      "run <- new_run('ClientLinearFlow', 'latest_run')",
      "cat('after new_run:', 'reticulate' %in% loadedNamespaces(), alive(), '\\n')",
      "x <- run$artifact('x')",
      "cat('after artifact:', 'reticulate' %in% loadedNamespaces(), alive(), '\\n')",
      sep = "\n"
    ),
    env = c(METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$root, METAFLOW_USER = fixture$user)
  )
  expect_equal(trimws(lines), c(
    "after library: FALSE FALSE", "after mf_client: FALSE FALSE",
    "after new_run: FALSE TRUE", "after artifact: FALSE TRUE"
  ))
})

test_that("the client runs on the engine's Python, one process for the session", {
  local_client_fixture()
  hello <- client_request("hello")
  expect_equal(normalizePath(hello$python), normalizePath(metaflow_python()))
  expect_equal(client_request("hello")$pid, hello$pid)
  expect_equal(hello$pid, client_state$process$get_pid())
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
    client_request("object", list(cls = "Run", pathspec = "just-a-flow")),
    class = "metaflow_error_pathspec"
  )
})

test_that("other Python exceptions are client errors naming the Python type", {
  local_client_fixture()
  err <- expect_error(client_request("object", list(cls = "Run")), class = "metaflow_error_client")
  expect_match(conditionMessage(err), "^TypeError: .*pathspec")
  expect_equal(err$python_type, "TypeError")
  err <- expect_error(client_request("no_such_request"), class = "metaflow_error_client")
  expect_match(conditionMessage(err), "Unknown request 'no_such_request'", fixed = TRUE)
})

test_that("no Python traceback reaches the user", {
  local_client_fixture()
  err <- expect_error(new_run("ClientLinearFlow", "999"), class = "metaflow_error_not_found")
  expect_no_match(conditionMessage(err), "Traceback|File \"|client\\.py")
  expect_snapshot(new_run("ClientLinearFlow", "999"), error = TRUE, transform = scrub_client_output)
})

test_that("a deferred client's first use, inside another request, gets its own reply", {
  fixture <- local_client_fixture()
  # As run() returns it: the ref is asked for while the first request's
  # arguments are evaluated.
  run <- run_client$new(deferred_ref(function() ref_at(fixture$linear, "Run", call = NULL)))
  expect_true(run$successful)
  expect_identical(run$artifact("x"), 42L)
})

test_that("a client process that ended is replaced by the next call", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  old <- client_state$process
  old$kill()
  expect_false(old$is_alive())
  expect_identical(run$artifact("x"), 42L)
  expect_true(client_state$process$is_alive())
  expect_false(identical(client_state$process$get_pid(), old$get_pid()))
})

test_that("forked R sessions each read through a process of their own", {
  fixture <- local_client_fixture()
  expect_identical(new_run(fixture$linear)$artifact("x"), 42L)
  parent_pid <- client_state$process$get_pid()
  read <- parallel::mclapply(1:2, function(i) {
    list(x = new_run(fixture$linear)$artifact("x"), pid = client_request("hello")$pid)
  }, mc.cores = 2)
  expect_equal(vapply(read, function(r) r$x, 0L), c(42L, 42L))
  expect_false(parent_pid %in% vapply(read, function(r) r$pid, 0L))
  expect_equal(client_request("hello")$pid, parent_pid)
})

test_that("a process that stops mid-request is a python error saying so", {
  local_client_fixture()
  # A real process in the client's place that reads the request and dies.
  stderr <- withr::local_tempfile(fileext = ".log")
  client_state$process <- processx::process$new(
    metaflow_python(),
    c("-c", "import sys; sys.stdin.readline(); sys.exit('lost my way')"),
    stdin = "|", stdout = "|", stderr = stderr
  )
  client_state$stderr <- stderr
  client_state$python <- metaflow_python()
  err <- expect_error(client_request("hello"), class = "metaflow_error_python")
  expect_match(conditionMessage(err), "stopped", fixed = TRUE)
  expect_match(conditionMessage(err), "lost my way", fixed = TRUE)
  expect_null(client_state$process)
  expect_equal(normalizePath(client_request("hello")$python), normalizePath(metaflow_python()))
})

test_that("a reply left unread by an interrupted call is not taken for the next", {
  fixture <- local_client_fixture()
  process <- client_state$process %||% {
    client_request("hello")
    client_state$process
  }
  # As if R was interrupted while waiting: the reply to request -1 is never read.
  process$write_input(paste0(jsonlite::toJSON(list(id = -1L, op = "flows"), auto_unbox = TRUE), "\n"))
  Sys.sleep(0.2)
  expect_equal(client_request("hello")$pid, process$get_pid())
  expect_identical(new_run(fixture$linear)$artifact("x"), 42L)
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

test_that("a malformed id that reaches the client's Python is a pathspec error, not a KeyError", {
  fixture <- local_client_fixture()
  run <- as_ref(client_request("object", list(cls = "Run", pathspec = fixture$foreach)))
  for (bad in c("..", ".", "a/b")) {
    err <- expect_error(client_request("child", list(ref = run, id = bad)), class = "metaflow_error_pathspec")
    expect_equal(err$python_type, "MetaflowInvalidPathspec")
    expect_match(conditionMessage(err), "The step name", fixed = TRUE)
  }
})

test_that("a damaged metadata file is a metadata error naming the file and its run, no Python shown", {
  dir <- withr::local_tempdir()
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = dir, METAFLOW_USER = "mf_tester")
  reset_default_metadata()
  withr::defer(reset_default_metadata())
  set_namespace(NULL)
  withr::defer(set_default_namespace())
  pathspec <- run_python_flow(file.path(dir, "code"), "ClientDamagedFlow", sysroot = dir)
  run_id <- sub("^ClientDamagedFlow/", "", pathspec)
  run <- new_run(pathspec)
  record <- file.path(dir, ".metaflow", ".metaflow_core", "ClientDamagedFlow", run_id, "start", "_meta", "_self.json")
  writeBin(utils::head(readBin(record, "raw", 1000), 12), record)

  err <- expect_error(new_run(pathspec)$step("start"), class = "metaflow_error_metadata")
  expect_equal(err$python_type, "MetadataCorrupt")
  expect_match(conditionMessage(err), record, fixed = TRUE)
  expect_match(conditionMessage(err), paste("of step", paste0(pathspec, "/start")), fixed = TRUE)
  expect_match(conditionMessage(err), "not valid JSON", fixed = TRUE)
  expect_no_match(conditionMessage(err), "JSONDecodeError|Traceback|File \"")

  index <- file.path(dir, ".metaflow", ".metaflow_core", "ClientDamagedFlow", run_id, "end")
  index <- file.path(list.files(index, pattern = "^[0-9]+$", full.names = TRUE)[[1]], "0.data.json")
  writeBin(raw(), index)
  err <- expect_error(run$artifact("number"), class = "metaflow_error_metadata")
  expect_match(conditionMessage(err), index, fixed = TRUE)
  expect_match(conditionMessage(err), "it is empty", fixed = TRUE)
})
