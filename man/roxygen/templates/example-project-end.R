#' @examples
#'
#' # Back to where we were; the temporary runs go.
#' setwd(old_wd)
#' unlink(project, recursive = TRUE)
