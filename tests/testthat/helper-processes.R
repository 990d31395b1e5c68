# The process table, for tests that check what a run leaves running.

# The live (not zombie) processes whose command line matches `pattern` (a
# regex; by default every one), as a data frame of pid, ppid, sid and args.
live_processes <- function(pattern = "") {
  lines <- system2("ps", c("-eo", "pid=,ppid=,sid=,stat=,args="), stdout = TRUE)
  fields <- regmatches(lines, regexec("^\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)\\s+(.*)$", lines))
  table <- do.call(rbind, lapply(fields, function(f) {
    data.frame(pid = as.integer(f[2]), ppid = as.integer(f[3]), sid = as.integer(f[4]),
               stat = f[5], args = f[6])
  }))
  table[grepl(pattern, table$args) & !startsWith(table$stat, "Z"), c("pid", "ppid", "sid", "args")]
}

# A step body (as code) that starts `sleep <seconds>` in the background with
# system2(wait = FALSE), the shell of which exits at once, and then waits.
# The unusual number of seconds names the sleeper in the process table.
background_sleeper_code <- function(seconds = "301.5", then = "Sys.sleep(60)") {
  sprintf('system2("sleep", "%s", wait = FALSE); %s', seconds, then)
}

# The live processes whose working directory is `dir` (Linux: from /proc), as
# pids: what a run started from `dir` is made of, and nothing of other tests.
processes_in_dir <- function(dir) {
  pids <- suppressWarnings(as.integer(list.files("/proc")))
  pids <- pids[!is.na(pids) & pids != Sys.getpid()]
  cwd <- suppressWarnings(Sys.readlink(file.path("/proc", pids, "cwd")))
  target <- normalizePath(dir)
  found <- pids[!is.na(cwd) & cwd == target]
  live <- vapply(found, function(pid) {
    stat <- tryCatch(readLines(file.path("/proc", pid, "stat"), warn = FALSE), error = function(e) "")
    nzchar(stat[1]) && !grepl("^[0-9]+ \\(.*\\) Z ", stat[1])
  }, logical(1))
  found[live]
}
