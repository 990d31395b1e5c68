#' @examples
#' # Work in a new temporary directory: runs are stored in its .metaflow/.
#' project <- tempfile("metaflow-example-")
#' dir.create(project)
#' old_wd <- setwd(project)
