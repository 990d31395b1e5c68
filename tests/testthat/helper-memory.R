# Peak memory of every process of a run, from the process table.

# Runs `Rscript <script>` in the background with `marker` (a unique string,
# such as the run's datastore directory) in its environment, and samples the
# peak resident size (VmHWM) of every process whose environment holds it until
# the script ends. Returns the script's status and a data frame of pid, peak
# MB and command line. VmHWM only grows, so a sample taken late in a
# process's life has its peak up to then.
run_script_sampling_peaks <- function(script, marker) {
  process <- processx::process$new(
    rscript_path(), script, env = c(script_env(), METAFLOW_TEST_MARKER = marker),
    stdout = "|", stderr = "2>&1"
  )
  peaks <- list()
  output <- character()
  while (process$is_alive()) {
    peaks <- sample_peaks(peaks, marker)
    output <- c(output, process$read_output_lines())
    Sys.sleep(0.01)
  }
  output <- c(output, process$read_all_output_lines())
  table <- do.call(rbind, lapply(names(peaks), function(pid) {
    data.frame(pid = as.integer(pid), mb = peaks[[pid]]$kb / 1024, args = peaks[[pid]]$args)
  }))
  list(status = process$get_exit_status(), output = output, peaks = table)
}

sample_peaks <- function(peaks, marker) {
  needle <- charToRaw(paste0("METAFLOW_TEST_MARKER=", marker))
  for (pid in list.files("/proc", pattern = "^[0-9]+$")) {
    env <- tryCatch(suppressWarnings(readBin(file.path("/proc", pid, "environ"), "raw", 1e6)), error = function(e) raw())
    if (length(env) == 0L || !contains_bytes(env, needle)) next
    kb <- process_peak_kb(pid)
    if (is.na(kb) || kb <= (peaks[[pid]]$kb %||% 0)) next
    args <- tryCatch(suppressWarnings(readBin(file.path("/proc", pid, "cmdline"), "raw", 1e4)), error = function(e) raw())
    args[args == as.raw(0)] <- charToRaw(" ")
    peaks[[pid]] <- list(kb = kb, args = rawToChar(args))
  }
  peaks
}

process_peak_kb <- function(pid) {
  status <- tryCatch(suppressWarnings(readLines(file.path("/proc", pid, "status"))), error = function(e) character())
  line <- grep("^VmHWM:", status, value = TRUE)
  if (length(line) == 0L) NA_real_ else as.numeric(strsplit(trimws(sub("VmHWM:", "", line)), " ")[[1]][1])
}

# Whether the environment block `environ` (NUL-separated) has the variable `needle`.
contains_bytes <- function(environ, needle) {
  environ[environ == as.raw(0)] <- charToRaw("\n")
  needle <- rawToChar(needle)
  needle %in% strsplit(rawToChar(environ), "\n", fixed = TRUE)[[1]]
}
