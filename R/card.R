#' Give a step an HTML card
#'
#' A step with `card()` gets a card: one self-contained HTML file (inline
#' styles and images, nothing loaded from the network) that the engine
#' renders when each of its tasks ends and stores with the task, in the
#' datastore. The `"default"` card shows the task's pathspec, status and
#' timing, the parameters, the artifacts (name, type, size and a short
#' preview) and the flow's graph with this step outlined and every step
#' coloured by how its tasks were doing; then what the step added with
#' [card_append()]. A `"blank"` card shows only what the step added.
#'
#' A failed task gets its card too, with its error. Nothing about a card ever
#' fails a task: a component that can't be made or rendered, or a card that
#' takes longer than `timeout` to render, shows the error in the card and in
#' the task's log.
#'
#' `run(flow, with = "card")` (`Rscript flow.R run --with card`) gives every
#' step a default card. Read cards back with `task$card()`, open one with
#' [card_view()], or from the shell with `Rscript flow.R card view <step>` and
#' `card get <step> [file]`.
#'
#' @param type `"default"` or `"blank"`.
#' @param id `NULL`, or the card's id (letters, digits, underscores), to tell
#'   it apart when reading it back.
#' @param timeout Seconds rendering the card may take.
#' @return A [decorator()].
#' @family cards
#' @export
#' @examples
#' card()
#' card(type = "blank", id = "report")
#'
#' # A step whose card has a heading, a table and a plot; run(flow) renders it.
#' flow <- metaflow("ReportFlow") %>%
#'   step(
#'     step = "start", card(),
#'     r_function = function(self) {
#'       self$fit <- stats::lm(mpg ~ wt, data = mtcars)
#'       card_append(
#'         card_markdown("# Fuel use by weight"),
#'         card_table(head(mtcars[, c("mpg", "wt")])),
#'         card_plot(plot(mtcars$wt, mtcars$mpg))
#'       )
#'     },
#'     next_step = "end"
#'   ) %>%
#'   step(step = "end")
card <- function(type = "default", id = NULL, timeout = 45) {
  if (!is_string(type) || !type %in% c("default", "blank")) {
    metaflow_abort(c(
      "{.arg type} of {.fn card} must be {.val default} or {.val blank}.",
      x = "Got {show_value(type)}."
    ), "decorator")
  }
  if (!is.null(id) && (!is_string(id) || !grepl("^[A-Za-z0-9_]+$", id))) {
    metaflow_abort(c(
      "{.arg id} of {.fn card} must be {.code NULL} or letters, digits and underscores.",
      x = "Got {show_value(id)}."
    ), "decorator")
  }
  check_positive_number(timeout, "timeout", "card")
  decorator("card", type = type, id = id, timeout = timeout)
}

#' Add to the running step's card
#'
#' Adds card components ([card_markdown()], [card_table()], [card_plot()],
#' [card_image()], [card_artifact()]) to the card of the step that is running,
#' in order; `current("card")$append()` does the same. A step without [card()]
#' keeps nothing of them (the task's log says so). Text given as is becomes
#' Markdown. Something that is not a component shows as an error in the card;
#' it never fails the step.
#'
#' @param ... Card components, or character vectors of Markdown.
#' @return The components, invisibly.
#' @family cards
#' @export
#' @examples
#' # In a step with card():
#' start <- function(self) {
#'   self$x <- stats::rnorm(100)
#'   card_append(card_markdown("## The sample"), card_plot(hist(self$x)))
#' }
card_append <- function(...) {
  if (is.null(running_task$current)) {
    bridge_abort(c(
      "`card_append()` only works inside a running step.",
      i = "Call it in a step function with `card()`; `run()` runs the flow's steps."
    ), "card", call = sys.call())
  }
  components <- lapply(list(...), as_card_component)
  running_task$card <- c(running_task$card, components)
  invisible(components)
}

as_card_component <- function(x) {
  if (inherits(x, "metaflow_card_component")) {
    return(x)
  }
  if (is.character(x)) {
    return(card_markdown(x))
  }
  card_error_component(
    "card_append()",
    simpleError(sprintf("it takes card components (card_markdown(), card_table(), ...), not %s", show_value(x)))
  )
}

# What `current("card")` returns: `$append()` adds to the card.
card_collector <- function() {
  structure(list(append = card_append), class = "metaflow_card_collector")
}

#' @export
print.metaflow_card_collector <- function(x, ...) {
  cat(sprintf("<the running step's card: %d components>\n", length(running_task$card)))
  invisible(x)
}

# card.json (inst/PROTOCOL.md, section 5): the components the step appended,
# each image's bytes in a file of its own beside it. Written whether the step
# succeeded or not, since a failed task gets its card too; an error writing it
# only loses the card.
write_card_components <- function(output_dir) {
  components <- running_task$card
  if (length(components) == 0L) {
    return(invisible())
  }
  tryCatch(
    {
      items <- Map(function(component, i) card_json_item(component, i, output_dir), components, seq_along(components))
      text <- json_text(list(version = 1L, components = unname(items)))
      writeLines(text, file.path(output_dir, "card.json"), useBytes = TRUE)
    },
    error = function(err) message("card: the step's card components could not be written: ", conditionMessage(err))
  )
  invisible()
}

card_json_item <- function(component, i, output_dir) {
  item <- unclass(component)
  if (identical(item$type, "image")) {
    item$file <- sprintf("card-%d.%s", i, item$format)
    writeBin(item$bytes, file.path(output_dir, item$file))
    item$bytes <- NULL
  }
  item[!vapply(item, is.null, TRUE)]
}
