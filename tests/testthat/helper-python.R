# A stand-in interpreter: a shell script that runs `body` whatever its
# arguments, deleted when the calling test ends.
local_fake_python <- function(body, env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  path <- file.path(dir, "python")
  writeLines(c("#!/bin/sh", body), path)
  Sys.chmod(path, "0755")
  path
}

# The environment of a new user's shell: this session's, without any of the
# variables that choose a Python (and with this session's R libraries, so the
# package under test is the one found), plus `...`.
clean_python_env <- function(...) {
  env <- Sys.getenv()
  env <- structure(as.vector(env), names = names(env))
  env <- env[!names(env) %in% c("METAFLOW_PYTHON", "PYTHONPATH", "RETICULATE_PYTHON")]
  env[["R_LIBS"]] <- paste(.libPaths(), collapse = .Platform$path.sep)
  extra <- c(...)
  env[names(extra)] <- extra
  env
}

# pip, for the rest of the calling test, with a package index that refuses
# connections (a closed port on this machine) and no other source of packages.
local_offline_pip <- function(env = parent.frame()) {
  withr::local_envvar(
    PIP_CONFIG_FILE = "/dev/null", PIP_INDEX_URL = "http://127.0.0.1:9/simple",
    PIP_EXTRA_INDEX_URL = NA, PIP_FIND_LINKS = NA, PIP_RETRIES = "0", PIP_DEFAULT_TIMEOUT = "2",
    .local_envir = env
  )
}
