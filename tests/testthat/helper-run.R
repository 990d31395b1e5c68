# Real runs from tests: a datastore of their own, and flow scripts run with
# `Rscript` (used by test-run.R and test-run_resume.R).

# A fresh directory holding the local datastore, made the working directory
# for the rest of the calling test.
local_run_dir <- function(env = parent.frame()) {
  dir <- tempfile("metaflow-run-test-")
  dir.create(dir)
  old_wd <- setwd(dir)
  old_root <- Sys.getenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", unset = NA)
  Sys.setenv(METAFLOW_DATASTORE_SYSROOT_LOCAL = dir)
  restore <- bquote({
    setwd(.(old_wd))
    if (is.na(.(old_root))) {
      Sys.unsetenv("METAFLOW_DATASTORE_SYSROOT_LOCAL")
    } else {
      Sys.setenv(METAFLOW_DATASTORE_SYSROOT_LOCAL = .(old_root))
    }
    unlink(.(dir), recursive = TRUE)
  })
  do.call(on.exit, list(restore, add = TRUE), envir = env)
  # Runs the tests read back may belong to any user (Rscript picks its own).
  old_namespace <- get_namespace()
  set_namespace(NULL)
  do.call(on.exit, list(bquote(set_namespace(.(old_namespace))), add = TRUE), envir = env)
  normalizePath(dir)
}

rscript_path <- function() {
  rscript <- file.path(R.home("bin"), if (.Platform$OS.type == "windows") "Rscript.exe" else "Rscript")
  if (!file.exists(rscript)) {
    stop("These tests need Rscript, and there is none at ", rscript, call. = FALSE)
  }
  rscript
}

# The environment of an `Rscript flow.R ...` started by a test: this
# session's libraries, engine and datastore.
script_env <- function() {
  c(
    "current",
    R_LIBS = paste(.libPaths(), collapse = .Platform$path.sep),
    METAFLOW_PYTHON = metaflow_python()
  )
}

# Runs `Rscript <script> <args>` and returns processx::run()'s result.
run_script <- function(script, args = character()) {
  processx::run(rscript_path(), c(script, args), env = script_env(), error_on_status = FALSE)
}

# Writes a flow script: `library(metaflow)`, the code, then `run(flow)`.
write_flow_script <- function(code, dir = getwd()) {
  path <- file.path(dir, "flow.R")
  writeLines(c("library(metaflow)", code, "run(flow)"), path)
  path
}

# Evaluates `expr` and collects its messages instead of showing them.
collect_messages <- function(expr) {
  messages <- character()
  value <- withCallingHandlers(
    expr,
    message = function(m) {
      messages <<- c(messages, sub("\n$", "", conditionMessage(m)))
      invokeRestart("muffleMessage")
    }
  )
  list(value = value, messages = messages)
}


# The flow a script of `code` defines, made the way a script makes it: in an
# environment of its own whose parent is the global environment.
flow_from_code <- function(code) {
  env <- new.env(parent = globalenv())
  eval(parse(text = code), envir = env)
  env$flow
}

# Makes `dir` read-only for real until the calling test ends. Tests run as
# root, whom mode bits don't stop, so `dir` is bind-mounted onto itself
# read-only (and unmounted afterwards). Where that can't be done the test fails.
local_read_only <- function(dir, env = parent.frame()) {
  mount <- function(args) {
    status <- system2("mount", args, stdout = FALSE, stderr = FALSE)
    if (status != 0) stop("Could not run mount ", paste(args, collapse = " "), call. = FALSE)
  }
  mount(c("--bind", dir, dir))
  # First of the test's exit handlers, before local_run_dir() deletes `dir`;
  # lazily, since the test's working directory may still be inside it.
  do.call(on.exit, list(bquote(system2("umount", c("-l", .(dir)))), add = TRUE, after = FALSE),
          envir = env)
  mount(c("-o", "remount,bind,ro", dir))
  if (file.create(file.path(dir, ".write-probe"), showWarnings = FALSE)) {
    stop(dir, " is still writable after a read-only bind mount", call. = FALSE)
  }
  invisible(dir)
}
