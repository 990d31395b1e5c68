#' The damaged artifacts a client's `verify()` found, as a data frame
#'
#' What `$verify()` of a [flow_client], [run_client], [step_client] or
#' [task_client] returns: one row per damaged item, no rows when everything
#' checked is intact. Columns: `artifact` (its name; `NA` for a blob file no
#' task refers to, or for a task whose artifact index can't be read), `task`
#' (the task's pathspec, `Flow/run/step/task`), `attempt`, `file` (the blob's
#' file in the datastore) and `reason` (what is wrong: missing, or its
#' content hashes to another sha1). The attributes `blobs` (how many distinct
#' blobs were checked) and `summary` (one line saying so) describe the check.
#'
#' From the command line the same check is `Rscript flow.R verify [RUN_ID]`,
#' which exits with status 1 when anything is damaged.
#'
#' @param reply The client's reply to a `verify` request: `blobs`, `summary`
#'   and `damaged`, columns of the damaged items.
#' @return A data frame.
#' @keywords internal
#' @examples
#' frame <- verify_frame(list(blobs = 3, summary = "All 3 blobs of run F/1 are intact.",
#'                            damaged = list()))
#' nrow(frame)
#' attr(frame, "summary")
#' @export
verify_frame <- function(reply) {
  damaged <- reply$damaged
  column <- function(name, type) {
    values <- damaged[[name]]
    vapply(values %||% list(), function(v) if (is.null(v)) type(NA) else type(v), type(1))
  }
  frame <- data.frame(
    artifact = column("artifact", as.character),
    task = column("pathspec", as.character),
    attempt = column("attempt", as.integer),
    file = column("file", as.character),
    reason = column("reason", as.character),
    stringsAsFactors = FALSE
  )
  attr(frame, "blobs") <- as.integer(reply$blobs %||% 0L)
  attr(frame, "summary") <- reply$summary %||% ""
  frame
}
