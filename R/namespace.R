#' Choose whose runs the client sees
#'
#' Every run is tagged with its user (`"user:alice"`), and the client shows
#' only the runs of the current namespace: a tag every run it shows must
#' carry. By default that is your own user's tag, so you see your runs and
#' not your colleagues'. Objects of another namespace are errors of class
#' `metaflow_error_namespace`, and flows and runs listings leave them out.
#'
#' * `set_namespace(ns)` switches to namespace `ns`: a tag such as
#'   `"user:bob"` or any tag runs carry, or `NULL` for the global namespace,
#'   where every run is seen.
#' * `get_namespace()` is the current namespace.
#' * `set_default_namespace()` switches back to your own, `"user:<you>"`
#'   (your user name is `METAFLOW_USER`, else `USER` or `USERNAME`).
#'
#' The namespace holds for the R session. Inside a running step it starts as
#' the run's namespace. Objects already made keep the namespace they were
#' made in.
#'
#' @param ns A tag, a string; or `NULL` for the global namespace.
#' @return `set_namespace()` and `set_default_namespace()`: the new
#'   namespace, invisibly. `get_namespace()`: the namespace, a string, or
#'   `NULL` for the global one.
#' @template example-project-start
#' @template example-hello-flow
#' @examples
#'
#' get_namespace()
#' new_run("HelloFlow", "latest_run")$tags
#'
#' # Another user's namespace holds none of your runs:
#' set_namespace("user:someone_else")
#' list_flows()
#' try(new_run("HelloFlow", "latest_run"))
#'
#' # The global namespace holds every run:
#' set_namespace(NULL)
#' list_flows()
#' set_default_namespace()
#' @template example-project-end
#' @family client
#' @export
set_namespace <- function(ns = NULL) {
  if (!is.null(ns) && (!is.character(ns) || length(ns) != 1L || is.na(ns) || !nzchar(ns))) {
    metaflow_abort(c(
      "{.arg ns} must be a tag such as {.val user:alice}, or {.code NULL} for the global namespace.",
      x = "Got {.obj_type_friendly {ns}}."
    ), "usage")
  }
  client_state$namespace_set <- TRUE
  client_state$namespace <- ns
  invisible(ns)
}

#' @rdname set_namespace
#' @export
get_namespace <- function() {
  client_request("get_namespace")
}

#' @rdname set_namespace
#' @export
set_default_namespace <- function() {
  ns <- client_request("default_namespace")
  client_state$namespace_set <- TRUE
  client_state$namespace <- ns
  invisible(ns)
}
