# Previews of R artifacts for `dump`: str() of each value, bounded.

test_that("a preview is the first lines of str(), each cut to the width", {
  expect_identical(preview_text(42L), " int 42")
  expect_snapshot(cat(preview_text(data.frame(a = 1:3, b = c("x", "y", "z"))), "\n"))
  long <- preview_text(stats::setNames(lapply(1:8, function(i) list(a = i, b = i)), letters[1:8]))
  expect_length(strsplit(long, "\n")[[1]], 10L)
  expect_match(long, "\\.\\.\\. \\([0-9]+ more lines\\)$")
  wide <- preview_text(strrep("x", 500))
  expect_lte(max(nchar(strsplit(wide, "\n")[[1]])), 100L)
})

test_that("a preview request answers with one preview per blob, unreadable ones said so", {
  dir <- withr::local_tempdir()
  good <- local_blob(list(x = 1, y = "two"), dir)
  broken <- file.path(dir, "broken")
  writeBin(charToRaw("MFBnnot serialized"), broken)
  request <- file.path(dir, "request.rds")
  saveRDS(list(version = 1L, previews = list(good$path, broken), output_dir = dir), request)

  process <- run_bridge_process(request)

  expect_identical(process$status, 0L, info = process$stderr)
  result <- jsonlite::read_json(file.path(dir, "result.json"))
  expect_true(result$ok)
  expect_identical(result$previews[[1]], "List of 2\n $ x: num 1\n $ y: chr \"two\"")
  expect_match(result$previews[[2]], "^<an R object R can't read: ")
})
