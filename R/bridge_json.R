# JSON in the step process, in base R (inst/PROTOCOL.md, sections 4 and 5).
# jsonlite imports `methods` and costs an R step 170-260 ms to load, so the
# bridge writes result.json with json_text() and gives JSON parameters the
# shape jsonlite's simplifyVector gave them with simplify_json().

# Writing -----------------------------------------------------------------------

# The JSON text of `x`: NULL is null; a named list an object (`{}` when it has
# zero-length names), any other list an array; an atomic vector of length 1 a
# scalar, of other lengths an array; NA and non-finite numbers are null.
json_text <- function(x) {
  if (is.null(x)) {
    return("null")
  }
  if (is.list(x)) {
    items <- vapply(x, json_text, "", USE.NAMES = FALSE)
    if (is.null(names(x))) {
      return(paste0("[", paste(items, collapse = ","), "]"))
    }
    members <- if (length(x) > 0L) paste0(json_string(names(x)), ":", items)
    return(paste0("{", paste(members, collapse = ","), "}"))
  }
  values <- switch(typeof(x),
    logical = ifelse(x, "true", "false"),
    integer = as.character(x),
    double = json_double(x),
    character = json_string(x),
    bridge_abort(sprintf("Can't write a value of type %s as JSON.", typeof(x)), "bridge", call = NULL)
  )
  values[is.na(x)] <- "null"
  if (length(x) == 1L) values else paste0("[", paste(values, collapse = ","), "]")
}

# Strings as JSON: quotes, backslashes and control characters escaped, other
# characters as UTF-8.
json_string <- function(x) {
  if (length(x) == 0L) {
    return(character())
  }
  x <- enc2utf8(as.character(x))
  for (i in seq_along(json_escapes)) {
    x <- gsub(names(json_escapes)[[i]], json_escapes[[i]], x, fixed = TRUE, useBytes = TRUE)
  }
  if (any(grepl("[\001-\037]", x, useBytes = TRUE))) {
    for (code in setdiff(1:31, c(9L, 10L, 13L))) {
      x <- gsub(intToUtf8(code), sprintf("\\u%04x", code), x, fixed = TRUE, useBytes = TRUE)
    }
  }
  x <- paste0("\"", x, "\"")
  Encoding(x) <- "UTF-8"
  x
}

json_escapes <- c("\\" = "\\\\", "\"" = "\\\"", "\n" = "\\n", "\r" = "\\r", "\t" = "\\t")

# The shortest text of each double that reads back as the same double, with
# a decimal point or exponent so that Python reads a float.
json_double <- function(x) {
  vapply(x, function(value) {
    if (!is.finite(value)) {
      return("null")
    }
    for (digits in 15:17) {
      text <- sprintf("%.*g", digits, value)
      if (as.double(text) == value) {
        break
      }
    }
    if (!grepl("[.eE]", text)) paste0(text, ".0") else text
  }, "", USE.NAMES = FALSE)
}

# Simplifying -------------------------------------------------------------------

# A parsed JSON value (null -> NULL, arrays -> unnamed lists, objects -> named
# lists, scalars -> vectors of length 1) simplified as
# `jsonlite::parse_json(simplifyVector = TRUE)` simplifies it: arrays of
# scalars become vectors (null -> NA; "NA", "NaN", "Inf" and "-Inf" become
# numbers unless other strings are present), arrays of equal-length arrays of
# scalars matrices, arrays of objects data frames (a `_row` field becoming
# row names). jsonlite's `$date` objects are not turned into dates.
simplify_json <- function(x, matrix = TRUE, sub_matrix = matrix) {
  if (!is.list(x) || length(x) == 0L) {
    return(x)
  }
  if (is_record_list(x)) {
    return(records_to_data_frame(x, sub_matrix))
  }
  if (is.null(names(x)) && is_scalar_list(x)) {
    return(scalars_to_vector(x))
  }
  out <- lapply(x, simplify_json, matrix = sub_matrix)
  if (matrix && is_matrix_list(out) && all(vapply(x, is_scalar_list, TRUE))) {
    return(do.call(rbind, out))
  }
  if (matrix && is_array_list(out)) {
    return(array(do.call(rbind, lapply(out, as.vector)), dim = c(length(out), dim(out[[1L]]))))
  }
  if (is.null(names(out))) {
    out <- fill_empty_lists(out)
  }
  out
}

is_record_list <- function(x) {
  is.list(x) && length(x) > 0L && is.null(names(x)) &&
    all(vapply(x, function(item) is.null(item) || (is.list(item) && !is.null(names(item))), TRUE)) &&
    any(vapply(x, is.list, TRUE))
}

is_scalar_list <- function(x) {
  is.list(x) && length(x) > 0L &&
    all(vapply(x, function(item) is.null(item) || is.atomic(item), TRUE))
}

is_matrix_list <- function(x) {
  length(x) > 0L && is.null(names(x)) && all(vapply(x, is.atomic, TRUE)) &&
    length(unique(lengths(x))) == 1L
}

is_array_list <- function(x) {
  length(x) > 0L && is.null(names(x)) && all(vapply(x, is.array, TRUE)) &&
    length(unique(vapply(x, function(item) paste(dim(item), collapse = "-"), ""))) == 1L
}

special_numbers <- c("NA" = NA, "NaN" = NaN, "Inf" = Inf, "-Inf" = -Inf)

scalars_to_vector <- function(x) {
  x[vapply(x, is.null, TRUE)] <- list(NA)
  strings <- vapply(x, is.character, TRUE)
  texts <- unlist(x[strings])
  if (any(strings) && all(texts %in% names(special_numbers))) {
    x[strings] <- lapply(texts, function(text) {
      if (text == "NA") NA else special_numbers[[text]]
    })
  }
  unlist(x, recursive = FALSE, use.names = FALSE)
}

records_to_data_frame <- function(records, sub_matrix) {
  n <- length(records)
  if (all(lengths(records) == 0L)) {
    return(data.frame(matrix(nrow = n, ncol = 0L)))
  }
  columns <- unique(unlist(lapply(records, names), use.names = FALSE))
  frame <- lapply(columns, function(column) {
    simplify_json(lapply(records, function(record) record[[column]]), matrix = FALSE, sub_matrix = sub_matrix)
  })
  names(frame) <- columns
  class(frame) <- "data.frame"
  if ("_row" %in% columns) {
    row_names <- frame[["_row"]]
    frame["_row"] <- NULL
    if (is.double(row_names)) {
      row_names <- as.integer(row_names)
    }
    missing <- is.na(row_names)
    if (any(missing)) {
      row_names[missing] <- paste0("NA_", seq_len(sum(missing)))
    }
    if (anyDuplicated(row_names)) {
      warning("Duplicate names in \"_row\" field. Data frames must have unique row names.", call. = FALSE)
      row_names <- if (is.character(row_names)) make.unique(row_names) else seq_len(n)
    }
    row.names(frame) <- row_names
  } else {
    row.names(frame) <- seq_len(n)
  }
  frame
}

# In an array of arrays, jsonlite gives an empty array the type of the others.
fill_empty_lists <- function(out) {
  empty <- vapply(out, identical, TRUE, list())
  if (!any(empty) || all(empty)) {
    return(out)
  }
  others <- out[!empty]
  if (all(vapply(others, is.data.frame, TRUE))) {
    out[empty] <- list(data.frame())
  } else if (all(vapply(others, function(item) is.vector(item) && is.atomic(item), TRUE))) {
    out[empty] <- list(vector(typeof(others[[1L]])))
  }
  out
}
