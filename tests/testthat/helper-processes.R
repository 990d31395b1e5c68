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

# The processes of the run started from `dir`: all there, but this session's
# own client (the Python server R's client talks to, started from `dir` too).
run_processes <- function(dir) {
  found <- processes_in_dir(dir)
  clients <- live_processes("metaflow_core[.]r[.]client_server")
  setdiff(found, clients$pid[clients$ppid == Sys.getpid()])
}

# Waits up to 15 s for the run started from `dir` to leave no process; what is
# left then is killed, and listed in the failure.
expect_no_process_left <- function(dir) {
  deadline <- Sys.time() + 15
  while (length(run_processes(dir)) > 0 && Sys.time() < deadline) Sys.sleep(0.1)
  left <- run_processes(dir)
  described <- live_processes(".")
  described <- described[described$pid %in% left, ]
  tools::pskill(left, tools::SIGKILL)
  expect_equal(left, integer(), info = paste(described$pid, described$ppid, described$args, collapse = "\n"))
}
