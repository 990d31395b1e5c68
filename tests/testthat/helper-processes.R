# Real runs that start processes, and the process table after them.

# A fresh directory holding the local datastore, made the working directory
# for the rest of the calling test; the namespace is the global one, since
# the runs read back may be any user's.
local_flow_dir <- function(env = parent.frame()) {
  dir <- normalizePath(withr::local_tempdir("metaflow-flow-", .local_envir = env))
  withr::local_dir(dir, .local_envir = env)
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = dir, .local_envir = env)
  old_namespace <- get_namespace()
  set_namespace(NULL)
  withr::defer(set_namespace(old_namespace), envir = env)
  dir
}

# The live processes whose command line matches `pattern` (a regex), as a
# data frame of pid, sid and args.
live_processes <- function(pattern) {
  lines <- system2("ps", c("-eo", "pid=,sid=,stat=,args="), stdout = TRUE)
  fields <- regmatches(lines, regexec("^\\s*(\\d+)\\s+(\\d+)\\s+(\\S+)\\s+(.*)$", lines))
  table <- do.call(rbind, lapply(fields, function(f) {
    data.frame(pid = as.integer(f[2]), sid = as.integer(f[3]), stat = f[4], args = f[5])
  }))
  table[grepl(pattern, table$args) & !startsWith(table$stat, "Z"), c("pid", "sid", "args")]
}

# A step body (as code) that starts `sleep <seconds>` in the background with
# system2(wait = FALSE), the shell of which exits at once, and then waits.
# The unusual number of seconds names the sleeper in the process table.
background_sleeper_code <- function(seconds = "301.5", then = "Sys.sleep(60)") {
  sprintf('system2("sleep", "%s", wait = FALSE); %s', seconds, then)
}

# The flow `code` defines, made the way a script makes it: in an environment
# of its own whose parent is the global environment.
flow_of_code <- function(code) {
  env <- new.env(parent = globalenv())
  eval(parse(text = code), envir = env)
  env$flow
}
