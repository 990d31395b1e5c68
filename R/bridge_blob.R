# Datastore blob files, as R reads and writes them, and the check of what it
# reads. A blob is "MFB", a codec byte (n: none, z: zlib, g: gzip), then the
# payload: for an R value, the bytes of serialize(). An R step writes its
# artifacts as blob files (write_blob(), R/bridge_main.R) that the engine
# moves into the store unread; R reads a blob back by streaming it into
# unserialize(), so neither ever holds the bytes next to the value.
#
# A blob is named by the sha1 of its payload, and what R reads is checked
# against that name. R has no fast SHA-1, so the Python process that gave R
# the path hashes the file while R deserializes it (the step's task process
# through two named pipes, r/verifier.py; the client's process through its
# `verify_blob` request): R asks before it reads and takes the verdict after,
# and a value whose blob doesn't match is discarded. Everything here but the
# client's half runs inside a step's Rscript: base R only.

blob_magic_none <- charToRaw("MFBn")

# Set for the bench only (bench/artifact_bench.py), to measure what the check
# costs: R then reads blobs unchecked. Never set it otherwise.
skip_verify_variable <- "METAFLOW_BENCH_SKIP_READ_VERIFY"

# Reading ---------------------------------------------------------------------------

# The value serialized in the blob at `path`, streamed from the file for an
# uncompressed blob (compression is opt-in, and inflates in memory).
blob_value <- function(path) {
  connection <- open_blob(path)
  on.exit(close(connection))
  codec <- blob_codec(connection)
  if (codec == "n") {
    return(unserialize(connection))
  }
  payload <- readBin(connection, "raw", n = file.size(path) - 4L)
  unserialize(memDecompress(payload, "gzip"))
}

# The payload of a small blob, as raw bytes (a pickled None, R/bridge_self.R).
read_blob <- function(path) {
  connection <- open_blob(path)
  on.exit(close(connection))
  codec <- blob_codec(connection)
  payload <- readBin(connection, "raw", n = file.size(path) - 4L)
  if (codec == "n") payload else memDecompress(payload, "gzip")
}

open_blob <- function(path) {
  if (!file.exists(path)) {
    bridge_abort("Its datastore file is missing.", "artifact", call = NULL)
  }
  file(path, open = "rb")
}

# Reads the header; returns the codec, "n", "z" or "g".
blob_codec <- function(connection) {
  header <- readBin(connection, "raw", n = 4L)
  if (length(header) < 4L || !identical(header[1:3], charToRaw("MFB"))) {
    bridge_abort("Its datastore file is not a metaflow blob (no `MFB` header).", "artifact", call = NULL)
  }
  codec <- rawToChar(header[4L])
  if (codec == "s") {
    # zstd (METAFLOW_DATASTORE_COMPRESSION=zstd), which base R can't inflate.
    bridge_abort(c(
      "Its datastore file is compressed with zstd, which R can't read.",
      i = "Flows with R steps need METAFLOW_DATASTORE_COMPRESSION none, zlib or gzip."
    ), "artifact", call = NULL)
  }
  if (!codec %in% c("n", "z", "g")) {
    bridge_abort(
      sprintf("Its datastore file has an unknown codec byte 0x%s.", header[4L]), "artifact", call = NULL
    )
  }
  codec
}

# Reads the blob `path` named `sha` while it is verified (`via` "step": as
# the step's verifier says, "client": by the client's Python process). Returns
# list(value = ), list(error = <the read's error>), or list(damaged = <what is
# wrong>) when the file doesn't hash to its name, whether or not it read.
read_verified_blob <- function(path, sha, via) {
  ticket <- verify_start(sha, path, via)
  read <- tryCatch(list(value = blob_value(path)), error = function(err) list(error = err))
  damaged <- verify_finish(ticket)
  if (identical(damaged, "missing")) {
    # Deleted: the read's own error says so.
    damaged <- if (is.null(read$error)) "Its datastore file went missing while it was read."
  }
  if (!is.null(damaged)) {
    return(list(damaged = damaged))
  }
  read
}

# Verifying -------------------------------------------------------------------------

# Who checks the blobs a step's `self` reads: `mode` "pipes" in a step (the
# request's `verifier`: the paths of the requests and verdicts pipes, opened on
# first use), "client" in an R session debugging a task (debug_task()), NULL
# where nobody can (a bridge run by hand, without an engine).
step_verifier <- new.env(parent = emptyenv())

use_step_verifier <- function(fields) {
  step_verifier$mode <- if (!is.null(fields)) "pipes"
  step_verifier$fields <- fields
  step_verifier$requests <- NULL
  step_verifier$verdicts <- NULL
}

use_client_verifier <- function() {
  use_step_verifier(NULL)
  step_verifier$mode <- "client"
}

# Asks for the verdict on blob `path` (named `sha`); returns the ticket
# verify_finish() takes, or NULL when nobody is asked.
verify_start <- function(sha, path, via) {
  if (identical(Sys.getenv(skip_verify_variable), "1") || is.null(sha)) {
    return(NULL)
  }
  if (identical(via, "step")) {
    via <- step_verifier$mode
  }
  if (identical(via, "pipes")) {
    send_to_verifier(paste("verify", sha, path))
    return(list(via = "pipes"))
  }
  if (identical(via, "client")) {
    return(list(via = "client", id = client_send("verify_blob", list(sha = sha, path = path), call = NULL)))
  }
  NULL
}

# Tells the step's verifier that R starts ("write") or has finished and closed
# ("written") the blob file `path`; nothing without one.
announce_write <- function(what, path) {
  if (identical(step_verifier$mode, "pipes")) {
    send_to_verifier(paste(what, path))
  }
}

send_to_verifier <- function(line) {
  if (is.null(step_verifier$requests)) {
    step_verifier$requests <- fifo(step_verifier$fields$requests, open = "wb", blocking = TRUE)
    step_verifier$verdicts <- fifo(step_verifier$fields$verdicts, open = "rb", blocking = TRUE)
  }
  writeLines(line, step_verifier$requests, useBytes = TRUE)
  flush(step_verifier$requests)
}

# NULL if the blob is intact (or wasn't checked), "missing" if there is no
# file, else what is wrong with it.
verify_finish <- function(ticket) {
  if (is.null(ticket)) {
    return(NULL)
  }
  verdict <- if (identical(ticket$via, "pipes")) {
    readLines(step_verifier$verdicts, n = 1L, warn = FALSE, encoding = "UTF-8")
  } else {
    client_receive(ticket$id, call = NULL)
  }
  if (identical(verdict, "ok")) {
    return(NULL)
  }
  if (length(verdict) != 1L) {
    return("The engine gave no verdict on its datastore file.")
  }
  verdict
}
