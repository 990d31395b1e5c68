# Card components are plain data (a list with a `type`), handed to the engine
# as card.json next to the step's outputs (inst/PROTOCOL.md, section 5); the
# engine renders them. They are made in the step process, so they use base R
# only, like the rest of the bridge. A component that can't be made is an
# "error" component: a card never fails the step.

new_card_component <- function(type, ...) {
  structure(list(type = type, ...), class = c(paste0("metaflow_card_", type), "metaflow_card_component"))
}

card_error_component <- function(what, err) {
  message <- sprintf("%s failed: %s", what, conditionMessage(err))
  message("card: ", message)
  new_card_component("error", message = message)
}

# Runs `code`; an error becomes an error component for `what`.
card_component_or_error <- function(what, code) {
  tryCatch(code, error = function(err) card_error_component(what, err))
}

#' Card components: what a step puts in its card
#'
#' Inside a step with [card()], [card_append()] adds these to the step's card,
#' in order. Each is made when it is called, in the step's process: a plot is
#' drawn to an image file then, with no display. None of them fails the step:
#' a component that can't be made (a plot whose code errors, a table that
#' isn't one) shows its error in the card instead, and the message goes to the
#' task's log.
#'
#' * `card_markdown()`: text in Markdown (headings, paragraphs, lists, `code`,
#'   **bold**, *italics*, links).
#' * `card_table()`: a data frame (or anything `as.data.frame()` takes), with
#'   its row names as the first column unless they are `1, 2, 3, ...`; long
#'   tables are shown in pages of 15 rows, up to 1000 rows.
#' * `card_plot()`: a ggplot object, or base-R plotting code, drawn to PNG
#'   (`grDevices::png(type = "cairo")`) or SVG (`grDevices::svg()`).
#' * `card_image()`: a PNG, JPEG, GIF or SVG image, from a file or raw bytes.
#' * `card_artifact()`: an artifact of the task, by name: its type, size and
#'   a short preview, as the task stored it.
#'
#' @param text Markdown text: a character vector, its elements joined by
#'   newlines.
#' @param df A data frame.
#' @param digits Significant digits of the table's floating-point numbers.
#' @param plot A ggplot object, or code that draws a base-R plot, e.g.
#'   `card_plot(hist(self$x))` or `card_plot({plot(x, y); abline(fit)})`. The
#'   code is run when `card_plot()` is called, in the caller's environment.
#'   A function (called with no arguments) or a `recordedplot` also works.
#' @param width,height The image's size in inches.
#' @param format `"png"` or `"svg"`.
#' @param dpi The PNG's resolution, in pixels per inch.
#' @param label A caption shown under the image, or `NULL`.
#' @param image The path of an image file, or its bytes (a raw vector).
#' @param name The artifact's name.
#' @return A card component: a list of class `metaflow_card_component`.
#' @family cards
#' @name card_components
#' @examples
#' card_markdown("# Model report\nTrained on **1000** rows.")
#' card_table(head(mtcars), digits = 3)
#' card_plot(plot(cars), width = 5, height = 4)
#' card_artifact("model")
NULL

#' @rdname card_components
#' @export
card_markdown <- function(text) {
  card_component_or_error("card_markdown()", {
    if (!is.character(text) || anyNA(text)) {
      stop("`text` must be a character vector without NA, not ", show_value(text), ".", call. = FALSE)
    }
    new_card_component("markdown", text = paste(text, collapse = "\n"))
  })
}

#' @rdname card_components
#' @export
card_table <- function(df, digits = 4L) {
  card_component_or_error("card_table()", {
    if (!is.numeric(digits) || length(digits) != 1L || is.na(digits) || digits < 1) {
      stop("`digits` must be a whole number, at least 1, not ", show_value(digits), ".", call. = FALSE)
    }
    df <- as.data.frame(df, stringsAsFactors = FALSE)
    if (.row_names_info(df) > 0L) {
      # Row names that say something (mtcars' models), not 1, 2, 3: the first column.
      df <- cbind(data.frame(" " = row.names(df), check.names = FALSE, stringsAsFactors = FALSE), df)
    }
    digits <- as.integer(digits)
    columns <- lapply(df, card_table_column, digits = digits)
    rows <- lapply(seq_len(nrow(df)), function(i) lapply(columns, function(column) column[[i]]))
    new_card_component(
      "table",
      headers = as.list(names(df)),
      rows = lapply(rows, unname),
      digits = digits
    )
  })
}

# A column's cells: numbers stay numbers (the engine shows them with `digits`),
# anything else becomes its text; NA is null.
card_table_column <- function(x, digits) {
  if (is.numeric(x) && !is.object(x)) {
    values <- if (is.integer(x)) x else signif(x, digits)
    return(lapply(values, function(v) if (is.na(v)) NULL else v))
  }
  text <- if (is.list(x)) {
    vapply(x, function(v) paste(format(v, digits = digits), collapse = ", "), "")
  } else if (is.character(x) || is.factor(x) || is.logical(x)) {
    as.character(x)
  } else {
    # One by one, so that cells aren't padded to a common width.
    vapply(seq_along(x), function(i) format(x[i], digits = digits), "")
  }
  text[is.na(x)] <- NA
  lapply(text, function(v) if (is.na(v)) NULL else v)
}

#' @rdname card_components
#' @export
card_plot <- function(plot, width = 7, height = 4.5, format = c("png", "svg"), dpi = 110,
                      label = NULL) {
  code <- substitute(plot)
  env <- parent.frame()
  card_component_or_error("card_plot()", {
    format <- match.arg(format)
    file <- tempfile(fileext = paste0(".", format))
    on.exit(unlink(file), add = TRUE)
    draw_card_plot(code, env, file, width, height, format, dpi)
    new_card_image(readBin(file, "raw", file.size(file)), format, label)
  })
}

draw_card_plot <- function(code, env, file, width, height, format, dpi) {
  if (format == "png") {
    grDevices::png(file, width = width, height = height, units = "in", res = dpi, type = "cairo")
  } else {
    grDevices::svg(file, width = width, height = height)
  }
  device <- grDevices::dev.cur()
  on.exit(grDevices::dev.off(device))
  value <- eval(code, env)
  if (inherits(value, "ggplot")) {
    require_suggested("ggplot2", "card_plot() of a ggplot")
    print(value)
  } else if (inherits(value, "recordedplot")) {
    grDevices::replayPlot(value)
  } else if (is.function(value)) {
    value()
  }
  invisible()
}

# A package in Suggests, loaded, or an error naming what needs it.
require_suggested <- function(package, what) {
  if (!requireNamespace(package, quietly = TRUE)) {
    bridge_abort(c(
      sprintf("%s needs the package %s, which is not installed.", what, package),
      i = sprintf("On Debian: apt-get install r-cran-%s; else install.packages(\"%s\").", tolower(package), package)
    ), "card", call = NULL)
  }
  invisible(TRUE)
}

#' @rdname card_components
#' @export
card_image <- function(image, label = NULL) {
  card_component_or_error("card_image()", {
    if (is.character(image) && length(image) == 1L && !is.na(image)) {
      if (!file.exists(image)) {
        stop("the image file ", image, " does not exist.", call. = FALSE)
      }
      image <- readBin(image, "raw", file.size(image))
    }
    if (!is.raw(image)) {
      stop("`image` must be the path of an image file or a raw vector, not ", show_value(image), ".", call. = FALSE)
    }
    new_card_image(image, image_format(image), label)
  })
}

new_card_image <- function(bytes, format, label) {
  if (!is.null(label) && !is_string(label)) {
    stop("`label` must be NULL or a string.", call. = FALSE)
  }
  new_card_component("image", bytes = bytes, format = format, label = label)
}

image_format <- function(bytes) {
  starts <- function(magic) length(bytes) >= length(magic) && identical(bytes[seq_along(magic)], magic)
  if (starts(as.raw(c(0x89, 0x50, 0x4e, 0x47)))) {
    return("png")
  }
  if (starts(as.raw(c(0xff, 0xd8, 0xff)))) {
    return("jpeg")
  }
  if (starts(charToRaw("GIF8"))) {
    return("gif")
  }
  first <- bytes[seq_len(min(length(bytes), 2048L))]
  if (grepl("<svg", rawToChar(first[first != as.raw(0)]), fixed = TRUE)) {
    return("svg")
  }
  stop("the image is not a PNG, JPEG, GIF or SVG image.", call. = FALSE)
}

#' @rdname card_components
#' @export
card_artifact <- function(name) {
  card_component_or_error("card_artifact()", {
    if (!is_string(name) || !nzchar(name)) {
      stop("`name` must be the name of an artifact, not ", show_value(name), ".", call. = FALSE)
    }
    new_card_component("artifact", name = name)
  })
}

#' @export
format.metaflow_card_component <- function(x, ...) {
  detail <- switch(x$type,
    markdown = sprintf("%d characters", nchar(x$text)),
    table = sprintf("%d rows, %d columns", length(x$rows), length(x$headers)),
    image = sprintf("%s, %d bytes", x$format, length(x$bytes)),
    artifact = x$name,
    error = x$message
  )
  sprintf("<card %s: %s>", x$type, detail)
}

#' @export
print.metaflow_card_component <- function(x, ...) {
  cat(format(x, ...), "\n", sep = "")
  invisible(x)
}
