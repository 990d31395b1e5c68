# Predicates for checking arguments. Base R only: the bridge uses them too.

is_string <- function(x) {
  is.character(x) && length(x) == 1 && !is.na(x)
}

is_true_or_false <- function(x) {
  is.logical(x) && length(x) == 1 && !is.na(x)
}

is_scalar_atomic <- function(x) {
  is.atomic(x) && !is.object(x) && length(x) == 1 && !is.na(x) &&
    (is.character(x) || is.logical(x) || is.numeric(x))
}

# A Python-compatible identifier in ASCII: flow, decorator and artifact names.
is_identifier <- function(x) {
  is_string(x) && grepl("^[A-Za-z_][A-Za-z0-9_]*$", x)
}

is_identifier_vector <- function(x) {
  grepl("^[A-Za-z_][A-Za-z0-9_]*$", x)
}

# Names become directories and keys of the datastore: with at most this many
# characters every path component stays far below the 255 bytes a filesystem
# allows and every S3 key below 1024. The engine uses the same limit
# (inst/python/metaflow_core/names.py).
max_name_length <- 100L

is_too_long <- function(x) {
  is_string(x) && nchar(x, type = "bytes") > max_name_length
}

# A name shortened for a message, which must stay readable.
shown_name <- function(x, width = 40L) {
  if (nchar(x) <= width) x else paste0(substr(x, 1L, width), "...")
}

# What is wrong with `id` as the `level` ("run id", "step name", ...) of a
# pathspec, or NULL: "." and ".." would name another object's files.
id_problem <- function(id, level) {
  if (!nzchar(id)) {
    sprintf("a %s can't be empty", level)
  } else if (id %in% c(".", "..")) {
    sprintf("a %s can't be \".\" or \"..\"", level)
  } else if (grepl("/", id, fixed = TRUE)) {
    sprintf("a %s can't contain \"/\"", level)
  } else if (is_too_long(id)) {
    sprintf("it is %d characters long, and no %s is longer than %d", nchar(id), level, max_name_length)
  }
}
