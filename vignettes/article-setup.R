# Sourced by every article: its chunks run for real, in a temporary directory
# of its own that is removed when the article is done; shell chunks show
# their output as it is, and run Rscript with this session's library paths.
# R CMD check also runs an article's R code alone, without its shell chunks,
# so R chunks that read what a shell chunk made have purl = FALSE.
knitr::opts_chunk$set(collapse = TRUE, comment = "#>")
knitr::opts_hooks$set(engine = function(options) {
  if (options$engine != "R") options$comment <- ""
  options
})
project <- tempfile("metaflow-article-")
dir.create(project)
knitr::opts_knit$set(root.dir = project)
knitr::knit_hooks$set(document = function(x) {
  unlink(project, recursive = TRUE)
  x
})
Sys.setenv(R_LIBS = paste(.libPaths(), collapse = .Platform$path.sep))
