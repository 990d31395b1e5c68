#' Open a task's card
#'
#' Writes the card [card()] rendered for a task to an HTML file and opens it:
#' in RStudio's viewer when the session runs in RStudio (through
#' `rstudioapi`), else in the browser with [utils::browseURL()] (which uses
#' `getOption("browser")`). From the shell, `Rscript flow.R card view <step>`
#' does the same.
#'
#' `task$card()` returns the card itself, a `metaflow_card`: the HTML as a
#' string (`as.character()`), with the card's `type`, `id` and `pathspec` as
#' attributes; it prints as a one-line description.
#'
#' @param task A [task_client], or a card from `task$card()`.
#' @param id `NULL` for the task's card, or the id of a card.
#' @return The path of the HTML file, invisibly.
#' @family cards
#' @export
#' @template example-project-start
#' @examples
#' flow <- metaflow("CardExampleFlow") %>%
#'   step(
#'     step = "start", card(),
#'     r_function = function(self) card_append(card_markdown("Hello from a card")),
#'     next_step = "end"
#'   ) %>%
#'   step(step = "end")
#' run(flow, quiet = TRUE)
#' start <- new_step("CardExampleFlow", "latest_run", "start")
#' task <- start$task(start$a_task)
#' task$card()
#'
#' # A browser that only says what it would open, as an example can't open one:
#' old_browser <- options(browser = function(url) cat("Would open", basename(url), "\n"))
#' card_view(task)
#' options(old_browser)
#' @template example-project-end
card_view <- function(task, id = NULL) {
  card <- if (inherits(task, "metaflow_card")) task else card_of(task, id)
  path <- file.path(tempdir(), paste0(gsub("[^A-Za-z0-9_.-]", "_", attr(card, "pathspec")), ".html"))
  writeLines(enc2utf8(as.character(card)), path, useBytes = TRUE)
  if (requireNamespace("rstudioapi", quietly = TRUE) && rstudioapi::isAvailable()) {
    rstudioapi::viewer(path)
  } else {
    utils::browseURL(path)
  }
  invisible(path)
}

card_of <- function(task, id, call = parent.frame()) {
  if (!inherits(task, "TaskClient")) {
    metaflow_abort(c(
      "{.arg task} must be a {.cls task_client} or a card from {.code task$card()}.",
      x = "Got {show_value(task)}."
    ), "usage", call = call)
  }
  task$card(id = id)
}

new_metaflow_card <- function(reply) {
  structure(reply$html, type = reply$type, id = reply$id, pathspec = reply$pathspec, class = "metaflow_card")
}

#' @export
format.metaflow_card <- function(x, ...) {
  id <- attr(x, "id")
  sprintf(
    "<metaflow card: %s%s of %s, %s of HTML>",
    attr(x, "type"), if (is.null(id)) "" else paste0(" id ", id), attr(x, "pathspec"),
    format_bytes(nchar(unclass(x), type = "bytes"))
  )
}

#' @export
print.metaflow_card <- function(x, ...) {
  cat(format(x), "\n", "Open it with card_view(); as.character() gives the HTML.\n", sep = "")
  invisible(x)
}

#' @export
as.character.metaflow_card <- function(x, ...) {
  as.vector(unclass(x))
}
