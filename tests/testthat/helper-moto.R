# moto's S3 (and other AWS) server on a free loopback port, for the tests of a
# file, as pytests/moto_server.py is for Python's. Start it once at the top of a
# test file, then take a clean state in each test:
#
#   moto <- local_moto_server()          # stopped when the file's tests end
#   test_that("...", {
#     local_moto_env(moto)               # empty server, bucket made, env set
#     ...
#   })
#
# A server that can't start is an error: the tests that need it fail, never skip.

moto_python <- function() {
  metaflow_python()
}

# Runs `code` (Python) on the tests' interpreter and returns its stdout.
moto_python_run <- function(code, args = character()) {
  out <- processx::run(moto_python(), c("-c", code, args), env = python_env(),
    error_on_status = TRUE, timeout = 60
  )
  trimws(out$stdout)
}

moto_answers <- function(endpoint) {
  con <- url(paste0(endpoint, "/moto-api/"))
  on.exit(close(con))
  tryCatch({
    suppressWarnings(readLines(con, warn = FALSE))
    TRUE
  }, error = function(e) FALSE)
}

local_moto_server <- function(env = parent.frame(), startup_seconds = 60) {
  for (try in 1:5) {
    port <- moto_python_run(paste(
      "import socket", "s = socket.socket()", "s.bind(('127.0.0.1', 0))",
      "print(s.getsockname()[1])", sep = "\n"
    ))
    log <- tempfile("moto-", fileext = ".log")
    proc <- processx::process$new(
      moto_python(), c("-m", "moto.server", "-H", "127.0.0.1", "-p", port),
      stdout = log, stderr = "2>&1", env = python_env(), cleanup = TRUE
    )
    endpoint <- paste0("http://127.0.0.1:", port)
    deadline <- Sys.time() + startup_seconds
    up <- FALSE
    while (Sys.time() < deadline && proc$is_alive()) {
      up <- moto_answers(endpoint)
      if (up) break
      Sys.sleep(0.1)
    }
    if (up) {
      withr::defer({
        if (proc$is_alive()) {
          proc$kill_tree()
        }
        unlink(log)
      }, envir = env)
      return(list(endpoint = endpoint, process = proc))
    }
    if (proc$is_alive()) proc$kill_tree()
  }
  lines <- if (file.exists(log)) readLines(log, warn = FALSE) else character()
  stop(paste(c(
    "moto's server did not start on the tests' Python (is moto[server] installed? ",
    "pip install -r requirements-dev.txt). Its log:", utils::tail(lines, 20)
  ), collapse = "\n"), call. = FALSE)
}

# The environment a process needs to use `moto`: fake credentials, the endpoint
# in Metaflow's and boto3's variables and the datastore root in its bucket.
moto_env <- function(moto, bucket = "metaflow-test", prefix = "metaflow") {
  c(
    AWS_ACCESS_KEY_ID = "testing", AWS_SECRET_ACCESS_KEY = "testing",
    AWS_SESSION_TOKEN = "testing", AWS_DEFAULT_REGION = "us-east-1",
    METAFLOW_S3_ENDPOINT_URL = moto$endpoint, AWS_ENDPOINT_URL = moto$endpoint,
    METAFLOW_DATASTORE_SYSROOT_S3 = paste0("s3://", bucket, "/", prefix)
  )
}

# For the rest of the calling test: `moto` emptied (POST /moto-api/reset), the
# bucket made, and the environment pointing at it; returns that environment.
local_moto_env <- function(moto, bucket = "metaflow-test", env = parent.frame()) {
  moto_python_run(paste(
    "import sys, urllib.request",
    "def call(url, method):",
    "    urllib.request.urlopen(urllib.request.Request(url, data=b'', method=method), timeout=10).read()",
    "call(sys.argv[1] + '/moto-api/reset', 'POST')",
    "call(sys.argv[1] + '/' + sys.argv[2], 'PUT')",
    sep = "\n"
  ), c(moto$endpoint, bucket))
  vars <- moto_env(moto, bucket)
  withr::local_envvar(
    c(as.list(vars), AWS_PROFILE = NA, METAFLOW_AWS_PROFILE = NA, AWS_ENDPOINT_URL_S3 = NA,
      AWS_REGION = NA, METAFLOW_AWS_REGION = NA),
    .local_envir = env
  )
  invisible(vars)
}
