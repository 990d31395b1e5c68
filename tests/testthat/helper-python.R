# A stand-in interpreter: a shell script that runs `body` whatever its
# arguments, deleted when the calling test ends.
local_fake_python <- function(body, env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  path <- file.path(dir, "python")
  writeLines(c("#!/bin/sh", body), path)
  Sys.chmod(path, "0755")
  path
}
