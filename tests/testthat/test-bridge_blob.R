# bridge_blob: blob files as R writes and reads them, and the check of what it reads.

# The sha1 of `bytes`, by Python's hashlib (R has no SHA-1 of its own).
python_sha1 <- function(bytes) {
  input <- withr::local_tempfile()
  writeBin(bytes, input)
  out <- processx::run(metaflow_python(), c("-c", paste(
    "import hashlib, sys;",
    "print(hashlib.sha1(open(sys.argv[1], 'rb').read()).hexdigest())"
  ), input))
  trimws(out$stdout)
}

test_that("write_blob() writes the header and the value's bytes, which blob_value() reads back", {
  path <- withr::local_tempfile(fileext = ".blob")
  value <- list(a = 1:3, b = "two", c = runif(10))

  write_blob(value, path)

  expect_identical(readBin(path, "raw", 4L), charToRaw("MFBn"))
  expect_identical(blob_value(path), value)
})

test_that("a cut-short, headless or unknown-codec blob is an error, never a value", {
  path <- withr::local_tempfile(fileext = ".blob")
  write_blob(runif(1000), path)
  bytes <- readBin(path, "raw", file.size(path))
  writeBin(bytes[seq_len(length(bytes) - 100L)], path)
  expect_error(blob_value(path), "error reading|truncat|input")

  writeBin(c(charToRaw("XYZn"), bytes[-(1:4)]), path)
  expect_error(blob_value(path), "no `MFB` header", class = "metaflow_error_artifact")

  writeBin(c(charToRaw("MFBq"), bytes[-(1:4)]), path)
  expect_error(blob_value(path), "unknown codec", class = "metaflow_error_artifact")

  writeBin(c(charToRaw("MFBs"), bytes[-(1:4)]), path)
  expect_error(blob_value(path), "zstd, which R can't read", class = "metaflow_error_artifact")

  expect_error(blob_value(file.path(tempdir(), "no-such.blob")), "missing", class = "metaflow_error_artifact")
})

test_that("the client's process verifies a read: a flipped byte is `damaged`, an intact blob its value", {
  local_run_dir()
  path <- withr::local_tempfile(fileext = ".blob")
  write_blob(c(2100000, 1), path)
  payload <- readBin(path, "raw", file.size(path))[-(1:4)]
  sha <- python_sha1(payload)

  expect_identical(read_verified_blob(path, sha, via = "client"), list(value = c(2100000, 1)))

  bytes <- readBin(path, "raw", file.size(path))
  bytes[length(bytes) - 2L] <- xor(bytes[length(bytes) - 2L], as.raw(1L))
  writeBin(bytes, path)
  read <- read_verified_blob(path, sha, via = "client")
  expect_named(read, "damaged")
  expect_match(read$damaged, sprintf("hashes to [0-9a-f]{40}, not to the %s", sha))

  unlink(path)
  read <- read_verified_blob(path, sha, via = "client")
  expect_named(read, "error")
  expect_match(conditionMessage(read$error), "missing")
})

test_that("without a verifier (a bridge run by hand) a read is not checked", {
  path <- withr::local_tempfile(fileext = ".blob")
  write_blob("x", path)
  use_step_verifier(NULL)
  expect_identical(read_verified_blob(path, "0000", via = "step"), list(value = "x"))
})
