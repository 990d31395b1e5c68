#' Choose where the client reads runs from
#'
#' The client reads runs from a local metadata location: a directory holding
#' the `.metaflow` directory that runs write. By default that is
#' `METAFLOW_DATASTORE_SYSROOT_LOCAL` if it is set, else the nearest
#' `.metaflow` in the working directory or above it, found again each time a
#' flow or run is read, so the client follows [setwd()].
#'
#' * `set_metadata(ms)` reads from `ms` from now on, whatever the working
#'   directory: a directory (holding `.metaflow`, or the `.metaflow`
#'   directory itself), `"local@<directory>"`, an S3 datastore root
#'   (`"s3://bucket/prefix"`, where runs made with `datastore = "s3"` live), or
#'   `"local"` for the default.
#' * `get_metadata()` is the location in use, as `"local@<directory>"` (or
#'   the `s3://` root).
#'
#' Runs made on S3 from this machine are found with no setting: the local
#' `.metaflow` keeps a small record pointing at their datastore. On another
#' machine, `METAFLOW_DEFAULT_DATASTORE=s3` reads from
#' `METAFLOW_DATASTORE_SYSROOT_S3`.
#' * `reset_default_metadata()` goes back to the default.
#'
#' Only the local metadata provider is supported; a service URL is an
#' error.
#'
#' @param ms The location: a directory, `"local@<directory>"` or `"local"`.
#' @return The location in use, `"local@<directory>"`: invisibly from
#'   `set_metadata()` and `reset_default_metadata()`.
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' get_metadata()
#'
#' # Read this project's runs from any working directory:
#' set_metadata(project)
#' elsewhere <- setwd(tempdir())
#' list_flows()
#' setwd(elsewhere)
#' reset_default_metadata()
#' @template example-project-end
#' @family client
#' @export
set_metadata <- function(ms) {
  if (!is.character(ms) || length(ms) != 1L || is.na(ms) || !nzchar(ms)) {
    metaflow_abort(c(
      "{.arg ms} must be a directory, {.val local@<directory>} or {.val local}.",
      x = "Got {.obj_type_friendly {ms}}."
    ), "usage")
  }
  location <- client_request("set_metadata", list(ms = path.expand(ms)))
  client_state$root <- location$root
  invisible(location$metadata)
}

#' @rdname set_metadata
#' @export
get_metadata <- function() {
  client_request("get_metadata")
}

#' @rdname set_metadata
#' @export
reset_default_metadata <- function() {
  client_state$root <- NULL
  invisible(client_request("get_metadata"))
}
