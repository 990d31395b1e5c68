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
