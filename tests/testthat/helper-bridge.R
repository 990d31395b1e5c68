# Stand-ins for what the Python engine gives an R step: datastore blobs, a
# functions.rds and a request.rds in a temporary directory. The bridge runs in
# a real Rscript against the installed package.

# A datastore blob of `value` (encoding "rds"), as the engine writes it: "MFB",
# the codec byte, the payload. Returns the request's reference to it.
local_blob <- function(value, dir, codec = "z") {
  payload <- serialize(value, NULL)
  body <- switch(codec,
    n = payload,
    z = memCompress(payload, "gzip"),
    g = gzip_bytes(payload)
  )
  blob_ref(c(charToRaw("MFB"), charToRaw(codec), body), dir, "rds")
}

# A blob of bytes R can't read, as a Python step's artifact.
local_pickle_blob <- function(dir) {
  blob_ref(c(charToRaw("MFBn"), as.raw(c(0x80, 0x04, 0x4b, 0x01, 0x2e))), dir, "pickle")
}

blob_ref <- function(blob, dir, encoding) {
  data_dir <- file.path(dir, "data")
  dir.create(data_dir, showWarnings = FALSE)
  staged <- tempfile(tmpdir = data_dir)
  writeBin(blob, staged)
  sha <- unname(tools::md5sum(staged))
  path <- file.path(data_dir, sha)
  file.rename(staged, path)
  list(path = path, sha = sha, encoding = encoding)
}

gzip_bytes <- function(payload) {
  path <- tempfile()
  on.exit(unlink(path))
  connection <- gzfile(path, "wb")
  writeBin(payload, connection)
  close(connection)
  readBin(path, "raw", file.size(path))
}

# Refs for a named list of values.
local_blobs <- function(values, dir, codec = "z") {
  lapply(values, local_blob, dir = dir, codec = codec)
}

# Writes functions.rds and request.rds for one step into a new temporary
# directory and returns the request's path. `fun` is the step function (or
# NULL); like the flow script's, it and the function `globals` live in the
# global environment.
local_step_request <- function(fun, step = "start", artifacts = list(), inputs = list(),
                               join = NULL, parameters = list(), foreach_stack = list(),
                               foreach_var = NULL, globals = list(), packages = character(),
                               options = list(), current = NULL, dir = NULL,
                               keep_source = FALSE, env = parent.frame()) {
  dir <- dir %||% withr::local_tempdir(.local_envir = env)
  output_dir <- file.path(dir, "out")
  dir.create(output_dir, showWarnings = FALSE)
  # Without their source, as functions of a flow under Rscript are unless the
  # flow file is found: tracebacks then show calls without `at file:line`.
  to_global <- function(x) {
    if (is.function(x) && !is.primitive(x)) {
      if (!keep_source) x <- utils::removeSource(x)
      environment(x) <- globalenv()
    }
    x
  }
  steps <- if (is.null(fun)) list() else stats::setNames(list(to_global(fun)), step)
  functions_rds <- file.path(dir, "functions.rds")
  saveRDS(
    list(steps = steps, globals = lapply(globals, to_global), packages = packages, options = options),
    functions_rds
  )
  request <- list(
    version = 1L,
    functions_rds = functions_rds,
    `function` = if (is.null(fun)) NULL else step,
    step = step,
    output_dir = output_dir,
    join = join,
    self = list(artifacts = json_map(artifacts)),
    inputs = inputs,
    parameters = json_map(parameters),
    foreach_stack = foreach_stack,
    foreach_var = foreach_var,
    current = current %||% test_current(step, names(parameters))
  )
  path <- file.path(dir, "request.rds")
  saveRDS(request, path, compress = FALSE)
  path
}

# A join input as the request lists it.
request_input <- function(step, artifacts, task = paste0("TestFlow/1/", step, "/2")) {
  list(step = step, task = task, artifacts = json_map(artifacts))
}

foreach_frame <- function(var, index, num_splits, value = NULL, step = "start") {
  list(step = step, var = var, num_splits = num_splits, index = index, value = value)
}

test_current <- function(step, parameter_names = character()) {
  list(
    flow_name = "TestFlow", run_id = "1", step_name = step, task_id = "2",
    retry_count = 0L, origin_run_id = NULL, pathspec = paste0("TestFlow/1/", step, "/2"),
    namespace = "user:tester", username = "tester", is_running_flow = TRUE,
    parameter_names = as.list(as.character(parameter_names))
  )
}

# A named list, as the engine writes a dict, also when empty.
json_map <- function(x) {
  if (length(x) == 0L) structure(list(), names = character()) else x
}

# Runs the installed package's bridge on a request, as the engine does.
run_bridge_process <- function(request) {
  processx::run(
    file.path(R.home("bin"), "Rscript"),
    c("--no-save", "--no-restore", "-e", "metaflow:::bridge_main()", request),
    error_on_status = FALSE
  )
}

# Runs a step and returns what came back: status, stdout, stderr, the parsed
# result.json and the output artifacts read back from their files.
run_step <- function(...) {
  request <- local_step_request(..., env = parent.frame())
  process <- run_bridge_process(request)
  output_dir <- file.path(dirname(request), "out")
  result_path <- file.path(output_dir, "result.json")
  result <- if (file.exists(result_path)) jsonlite::read_json(result_path)
  artifacts <- lapply(result$artifacts, function(file) read_blob_file(file.path(output_dir, file)))
  list(
    status = process$status, stdout = process$stdout, stderr = process$stderr,
    result = result, artifacts = artifacts, output_dir = output_dir
  )
}

# The value in a blob file R wrote: the header `MFBn`, then serialize()'s bytes.
read_blob_file <- function(path) {
  bytes <- readBin(path, "raw", file.size(path))
  stopifnot(identical(bytes[1:4], charToRaw("MFBn")))
  unserialize(bytes[-(1:4)])
}

# Fails with the step's stderr when a step that should succeed didn't.
expect_step_ok <- function(ran) {
  expect(
    identical(ran$status, 0L) && isTRUE(ran$result$ok),
    sprintf("The step failed (status %s):\n%s", ran$status, ran$stderr)
  )
  invisible(ran)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
