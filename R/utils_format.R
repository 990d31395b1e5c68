# Text for messages and printed objects: values, lists of names, times.
# Base R only: error messages of the bridge (step processes) use them too.

# A short, escaped rendering of any value for error messages: strings keep
# their quotes and show newlines as \n, so smuggled code is visible as such.
show_value <- function(x) {
  if (is.null(x)) {
    return("NULL")
  }
  if (is.function(x)) {
    return("a function")
  }
  if (is.character(x) && !is.object(x) && length(x) >= 1 && length(x) <= 5) {
    shown <- paste(vapply(encodeString(x, quote = "\""), truncate_text, "", width = 60), collapse = ", ")
    return(if (length(x) == 1) shown else paste0("c(", shown, ")"))
  }
  if (is.atomic(x) && !is.object(x) && length(x) == 1) {
    return(paste(deparse(x), collapse = " "))
  }
  if (is.object(x)) {
    return(paste0("an object of class ", class(x)[[1]]))
  }
  paste0("a ", typeof(x), " vector of length ", length(x))
}

truncate_text <- function(text, width) {
  if (nchar(text) <= width) text else paste0(substr(text, 1, width - 3), "...")
}

# "`a`, `b`, `c` and 4 more": at most `max` names, then how many more; in
# backticks for a message (`quote = TRUE`), bare for a printed object.
format_names <- function(names, max = 10L, quote = TRUE) {
  if (length(names) == 0L) {
    return("none")
  }
  shown <- utils::head(names, max)
  if (quote) {
    shown <- paste0("`", shown, "`")
  }
  shown <- paste(shown, collapse = ", ")
  if (length(names) > max) {
    shown <- sprintf("%s and %d more", shown, length(names) - max)
  }
  shown
}

# "3: a, b, c", or "none".
format_count_list <- function(names) {
  if (length(names) == 0L) "none" else paste0(length(names), ": ", format_names(names, max = 8L, quote = FALSE))
}

# "12.3s" or "4m 05s".
format_elapsed <- function(seconds) {
  seconds <- as.numeric(seconds)
  if (seconds < 60) {
    return(sprintf("%.1fs", seconds))
  }
  sprintf("%dm %02ds", as.integer(seconds %/% 60), as.integer(round(seconds %% 60)))
}

format_duration <- function(duration) {
  if (is.na(duration)) "-" else format_elapsed(duration)
}

format_time <- function(time) {
  if (is.null(time) || is.na(time)) {
    return("-")
  }
  format(time, "%Y-%m-%d %H:%M:%S")
}
