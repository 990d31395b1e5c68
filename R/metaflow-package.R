# The package's help page. Its aliases are spelled out: roxygen2 7.2 would
# also give it `metaflow`, which is the alias of ?metaflow, the function.
#' @keywords internal
#' @aliases NULL metaflow-package
#' @useDynLib metaflow, .registration = TRUE
"_PACKAGE"
