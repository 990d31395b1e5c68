# Previews of R artifacts for the engine's `dump` command (inst/PROTOCOL.md,
# section 4): a request with `previews`, the paths of blobs, is answered with
# the first lines of str() of each value, so that `Rscript flow.R dump` shows
# what an R artifact holds. The engine sends all of a dump's R values at once,
# to one Rscript.

# One preview per blob at `paths`, a string each; a blob R can't read gets a
# line that says so, not an error.
artifact_previews <- function(paths) {
  vapply(paths, function(path) {
    tryCatch(
      preview_text(blob_value(path)),
      error = function(err) sprintf("<an R object R can't read: %s>", conditionMessage(err))
    )
  }, "", USE.NAMES = FALSE)
}

# str() of `value`, at most `max_lines` lines of at most `width` characters.
preview_text <- function(value, max_lines = 10L, width = 100L) {
  lines <- utils::capture.output(utils::str(
    value,
    max.level = 2L, list.len = 8L, vec.len = 3L, nchar.max = 60L, give.attr = FALSE,
    width = width, strict.width = "cut"
  ))
  if (length(lines) > max_lines) {
    omitted <- length(lines) - max_lines + 1L
    lines <- c(lines[seq_len(max_lines - 1L)], sprintf("... (%d more lines)", omitted))
  }
  paste(lines, collapse = "\n")
}
