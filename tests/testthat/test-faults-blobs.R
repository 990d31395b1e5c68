# Fault injection on stored blobs, for real: an R flow run with `Rscript
# flow.R`, the blob of a finished artifact flipped, truncated or deleted, then
# read through `dump`, `verify` (the command and the client's `$verify()`),
# a fresh run and a resume. Each case checks that no process of the run is
# left, that intact artifacts still read, that the damaged one is an error
# naming the artifact, the task and the file, and that resume re-runs the
# damaged task to the correct result. (R's own reading of a blob in a step
# or the client is the bridge's, tested with it.)

total_flow_code <- c(
  'note <- function(what) cat(what, "\\n", sep = "", file = "executions.txt", append = TRUE)',
  'flow <- metaflow("BlobFaultsRFlow") %>%',
  '  parameter("alpha", default = 1) %>%',
  '  step(step = "start", r_function = function(self) {',
  '    note("start")',
  '    self$total <- 2100000',
  '    self$label <- "intact"',
  '  }, next_step = "middle") %>%',
  '  step(step = "middle", r_function = function(self) {',
  '    note("middle")',
  '    self$scaled <- self$total * self$alpha + 1',
  '  }, next_step = "end") %>%',
  '  step(step = "end", r_function = function(self) {',
  '    note("end")',
  '    cat("TOTAL", format(self$total, scientific = FALSE), "\\n")',
  '  })'
)

# The blob file (under `dir`'s datastore) whose bytes hold `value` serialized
# (R steps write native byte order, `serialize(xdr = FALSE)`).
blob_holding <- function(dir, value) {
  files <- list.files(file.path(dir, ".metaflow", ".metaflow_core", "BlobFaultsRFlow", "data"), recursive = TRUE, full.names = TRUE)
  pattern <- writeBin(value, raw(), endian = .Platform$endian)
  found <- Filter(function(f) length(grepRaw(pattern, readBin(f, "raw", file.size(f)), fixed = TRUE)) > 0, files)
  expect_length(found, 1L)
  normalizePath(found[[1]])
}

damage_blob <- function(path, fault) {
  Sys.chmod(path, "0644")
  bytes <- readBin(path, "raw", file.size(path))
  if (fault == "flip") {
    # 2100000 becomes 4200000: still a valid value, only the hash can tell.
    at <- grepRaw(writeBin(2100000, raw(), endian = .Platform$endian), bytes, fixed = TRUE)
    bytes[at:(at + 7L)] <- writeBin(4200000, raw(), endian = .Platform$endian)
    writeBin(bytes, path)
  } else if (fault == "truncate") {
    writeBin(bytes[seq_len(length(bytes) - 3L)], path)
  } else {
    unlink(path)
  }
}

script_output <- function(result) paste(result$stdout, result$stderr)

run_total_flow <- function(dir, args = "run") {
  result <- run_script(file.path(dir, "flow.R"), args)
  expect_equal(result$status, 0L, info = script_output(result))
  id <- regmatches(result$stderr, regexpr("(?<=run-id )[0-9]+", result$stderr, perl = TRUE))
  list(result = result, id = id[length(id)])
}

for (fault in c("flip", "truncate", "delete")) {
  test_that(paste("a", fault, "of a finished artifact's blob is refused by every reader, and resume repairs it"), {
    dir <- local_run_dir()
    write_flow_script(total_flow_code, dir)
    origin <- run_total_flow(dir)
    path <- blob_holding(dir, 2100000)
    damage_blob(path, fault)

    # dump: a headline naming the artifact, the task and the file; no Python frame
    dumped <- run_script(file.path(dir, "flow.R"), c("dump", paste0(origin$id, "/start/1")))
    expect_false(dumped$status == 0L)
    out <- script_output(dumped)
    expect_match(out, if (fault == "delete") "Data missing" else "Damaged artifact", fixed = TRUE)
    expect_match(out, basename(path), fixed = TRUE)
    expect_match(out, "total", fixed = TRUE)
    expect_no_match(out, "Traceback|metaflow_core/\\w+\\.py", perl = TRUE)
    expect_no_match(dumped$stdout, "4200000", fixed = TRUE)
    label <- run_script(file.path(dir, "flow.R"), c("dump", paste0(origin$id, "/start/1"), "--include", "label"))
    expect_equal(label$status, 0L, info = script_output(label))
    expect_match(script_output(label), "intact", fixed = TRUE)

    # verify, the command: each damaged reference, exit 1
    checked <- run_script(file.path(dir, "flow.R"), c("verify", origin$id))
    expect_equal(checked$status, 1L, info = script_output(checked))
    expect_length(grep(paste0("^Artifact total of task BlobFaultsRFlow/", origin$id, "/(start|middle|end)/"),
                       strsplit(checked$stdout, "\n")[[1]]), 3L)
    expect_match(checked$stdout, path, fixed = TRUE)
    expect_match(checked$stderr, "Damaged artifact", fixed = TRUE)

    # verify, the client: a data frame of what is damaged
    run <- new_run("BlobFaultsRFlow", origin$id)
    report <- run$verify()
    expect_s3_class(report, "data.frame")
    expect_setequal(report$task, paste0("BlobFaultsRFlow/", origin$id, c("/start/1", "/middle/2", "/end/3")))
    expect_equal(unique(report$artifact), "total")
    expect_equal(unique(report$file), path)
    expect_true(all(nzchar(report$reason)))
    start <- run$step("start")$task("1")
    expect_equal(nrow(start$verify("label")), 0L)
    expect_equal(nrow(start$verify("total")), 1L)
    expect_equal(start$artifact("label"), "intact")
    expect_equal(run$step("middle")$task("2")$artifact("scaled"), 2100001)
    expect_no_process_left(dir)

    # resume: the damaged task runs again instead of being cloned
    writeLines(character(), file.path(dir, "executions.txt"))
    resumed <- run_total_flow(dir, c("resume", "--origin-run-id", origin$id))
    expect_match(resumed$result$stderr, paste0("Not cloning ", origin$id, "/start/1: artifact total is damaged"),
                 fixed = TRUE)
    expect_equal(readLines(file.path(dir, "executions.txt")), "start")
    new <- new_run("BlobFaultsRFlow", resumed$id)
    expect_true(new$successful)
    expect_equal(new$artifact("total"), 2100000)
    expect_equal(nrow(new$verify()), 0L)
    expect_match(attr(new$verify(), "summary"), "are intact", fixed = TRUE)
    again <- run_script(file.path(dir, "flow.R"), c("verify", resumed$id))
    expect_equal(again$status, 0L, info = script_output(again))
    expect_no_process_left(dir)
  })
}

test_that("a fresh run replaces the damaged blob it would have reused, and prints the right total", {
  dir <- local_run_dir()
  write_flow_script(total_flow_code, dir)
  origin <- run_total_flow(dir)
  path <- blob_holding(dir, 2100000)
  damage_blob(path, "flip")
  # run()'s verify: what the command prints, then an error
  printed <- capture.output(
    checked <- collect_messages(tryCatch(run(flow_from_code(total_flow_code), verify = origin$id),
                                         error = function(e) e))
  )
  expect_length(grep("^Artifact total of task ", printed), 3L)
  expect_s3_class(checked$value, "metaflow_error")
  expect_match(conditionMessage(checked$value), "Damaged artifact", fixed = TRUE)
  fresh <- run_total_flow(dir)
  out <- script_output(fresh$result)
  expect_match(out, "TOTAL 2100000", fixed = TRUE)
  expect_no_match(out, "TOTAL 4200000", fixed = TRUE)
  expect_equal(blob_holding(dir, 2100000), path)
  expect_equal(nrow(new_run("BlobFaultsRFlow", origin$id)$verify()), 0L)
  whole <- run_script(file.path(dir, "flow.R"), "verify")
  expect_equal(whole$status, 0L, info = script_output(whole))
  expect_match(whole$stdout, "All [0-9]+ blobs of flow BlobFaultsRFlow \\(2 runs\\) are intact")
  expect_no_process_left(dir)
})

test_that("a damaged Python artifact read from R is a metaflow_error_data_corrupt naming it", {
  dir <- local_run_dir()
  pathspec <- run_python_flow(dir, "BlobFaultsPyFlow",
                              "        self.total = 2100000\n        self.label = 'intact'",
                              sysroot = dir)
  files <- list.files(file.path(dir, ".metaflow", ".metaflow_core", "BlobFaultsPyFlow", "data"), recursive = TRUE, full.names = TRUE)
  pickled <- writeBin(2100000L, raw(), endian = "little")
  path <- normalizePath(Filter(function(f) length(grepRaw(pickled, readBin(f, "raw", file.size(f)), fixed = TRUE)) > 0, files)[[1]])
  Sys.chmod(path, "0644")
  bytes <- readBin(path, "raw", file.size(path))
  at <- grepRaw(pickled, bytes, fixed = TRUE)
  bytes[at:(at + 3L)] <- writeBin(4200000L, raw(), endian = "little")
  writeBin(bytes, path)

  task <- new_task(paste0(pathspec, "/start/1"))
  err <- expect_error(task$artifact("total"), class = "metaflow_error_data_corrupt")
  expect_equal(err$artifact, "total")
  expect_equal(err$pathspec, paste0(pathspec, "/start/1"))
  expect_equal(err$path, path)
  expect_match(conditionMessage(err), path, fixed = TRUE)
  expect_no_match(conditionMessage(err), "Traceback", fixed = TRUE)
  expect_equal(task$artifact("label"), "intact")
  report <- new_run(pathspec)$verify()
  expect_true("total" %in% report$artifact)
  expect_equal(unique(report$file), path)
})
