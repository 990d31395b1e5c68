# make site: the pkgdown site, from scratch, into docs/. Offline: without
# this option pkgdown looks the package up on CRAN, where "metaflow" is
# Netflix's package, not this one.
options(pkgdown.internet = FALSE)
unlink("docs", recursive = TRUE)
pkgdown::build_site(preview = FALSE)
