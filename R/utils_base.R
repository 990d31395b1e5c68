# Small base-R helpers of the kind rlang provides, kept here so that step
# processes (the bridge) can use them without loading another package.

`%||%` <- function(x, y) {
  if (is.null(x)) y else x
}

names2 <- function(x) {
  if (is.null(names(x))) rep("", length(x)) else names(x)
}
