#' Add a parameter to a flow
#'
#' A parameter is a value given when the flow starts, read in every step as
#' `self$<name>` (and never assigned: parameters are read-only). Give it on
#' the command line, `Rscript flow.R run --alpha 0.5`, or to `run()`,
#' `run(flow, alpha = 0.5)`.
#'
#' @param flow A flow made by [metaflow()].
#' @param parameter The parameter's name: letters, digits and underscores,
#'   starting with a letter. Names the command line uses for itself (such as
#'   `tag`, `with`, `run_id`, `datastore`, `help`) are reserved.
#' @param required Whether the parameter must be given when the flow runs.
#' @param help `NULL` or a string describing the parameter, shown by
#'   `--help`. It can hold any text.
#' @param separator `NULL`, or a string that splits the value into several
#'   values, each of the parameter's type, which a step reads as a vector:
#'   with `separator = ","`, `--genres a,b` on the command line (or
#'   `run(flow, genres = c("a", "b"))`) gives `self$genres` the character
#'   vector `c("a", "b")`, and `--sizes 1,2` of an `"int"` parameter gives
#'   `c(1L, 2L)`. One value gives a vector of length one. A default is a single
#'   value, or for a `"str"` parameter text that is split the same way.
#' @param default `NULL`, or the value used when the parameter is not given.
#'   Either a single value of the parameter's type; for a `"json"` parameter,
#'   any value JSON can hold (vectors, lists) or a string of JSON text. Or a
#'   function, called when the flow starts (before any step runs) with one
#'   argument, a list with elements `flow_name`, `user_name` and
#'   `parameter_name`, and returning the default value.
#' @param type `NULL`, to take the type from `default` (character: `"str"`,
#'   integer: `"int"`, double: `"float"`, logical: `"bool"`, list: `"json"`;
#'   `"str"` when there is no default), or one of `"str"` (also `"string"`,
#'   `"character"`), `"int"` (`"integer"`), `"float"` (`"double"`,
#'   `"numeric"`), `"bool"` (`"logical"`) and `"json"` (`"list"`).
#' @param is_flag Whether the parameter is a flag: `--name` on the command
#'   line sets it to `TRUE`, `--no-name` to `FALSE`. A flag's type is
#'   `"bool"`; without a `default` (and not `required`) it is `FALSE`.
#' @return The flow, invisibly, with the parameter added.
#' @family flow definition
#' @export
#' @examples
#' flow <- metaflow("PlayListFlow")
#' flow %>%
#'   parameter("genre", help = "Filter movies for a genre.", default = "Sci-Fi") %>%
#'   parameter("top_k", help = "How many movies to pick.", default = 5L) %>%
#'   parameter("weights", type = "json", default = list(rating = 0.7, year = 0.3)) %>%
#'   parameter("verbose", is_flag = TRUE) %>%
#'   parameter("owner", default = function(context) context$user_name)
#' flow
parameter <- function(flow, parameter, required = FALSE, help = NULL, separator = NULL,
                      default = NULL, type = NULL, is_flag = FALSE) {
  check_flow(if (!missing(flow)) flow, "parameter")
  if (missing(parameter)) {
    metaflow_abort(c(
      "{.arg parameter} is missing: every parameter needs a name.",
      i = "Write e.g. {.code parameter(flow, \"alpha\", default = 0.1)}."
    ), "parameter")
  }
  check_parameter_name(parameter)
  if (parameter %in% names(flow$get_parameters())) {
    metaflow_abort(c(
      "Each parameter of a flow must have its own name.",
      x = "Flow {.val {flow$get_name()}} already has a parameter {.val {parameter}}."
    ), "parameter")
  }
  for (arg in c("required", "is_flag")) {
    if (!is_true_or_false(get(arg))) {
      metaflow_abort(c(
        "{.arg {arg}} of parameter {.val {parameter}} must be {.code TRUE} or {.code FALSE}.",
        x = "Got {show_value(get(arg))}."
      ), "parameter")
    }
  }
  if (!is.null(help) && !is_string(help)) {
    metaflow_abort(c(
      "{.arg help} of parameter {.val {parameter}} must be {.code NULL} or a string.",
      x = "Got {show_value(help)}."
    ), "parameter")
  }
  if (!is.null(separator) && !(is_string(separator) && nzchar(separator))) {
    metaflow_abort(c(
      "{.arg separator} of parameter {.val {parameter}} must be {.code NULL} or a non-empty string.",
      x = "Got {show_value(separator)}."
    ), "parameter")
  }
  if (is.factor(default)) {
    default <- as.character(default)
  }
  if (is_flag && is.null(default) && !required) {
    # A flag that isn't given is off.
    default <- FALSE
  }
  type <- if (!is.null(type)) {
    normalize_parameter_type(type, parameter)
  } else if (is_flag && is.null(default)) {
    "bool"
  } else {
    infer_parameter_type(default, parameter)
  }
  if (is_flag && !identical(type, "bool")) {
    metaflow_abort(c(
      "Flag parameter {.val {parameter}} must have type {.val bool}.",
      x = "Its type is {.val {type}}."
    ), "parameter")
  }
  if (is.function(default)) {
    if (!can_take_arguments(default, 1L)) {
      metaflow_abort(c(
        "The default function of parameter {.val {parameter}} must take one argument.",
        i = "It is called with a list with {.field flow_name}, {.field user_name} and {.field parameter_name}."
      ), "parameter")
    }
  } else {
    check_parameter_default(default, type, parameter)
  }
  flow$add_parameter(list(
    name = parameter,
    type = type,
    default = default,
    help = help,
    required = required,
    separator = separator,
    is_flag = is_flag
  ))
}

# Options of the engine's command line, which parameters share a namespace
# with; compared case-insensitively with `-` read as `_`.
reserved_parameter_names <- c(
  "params", "with", "tag", "namespace", "obj", "tags", "decospecs", "run_id_file", "event_file",
  "max_num_splits", "max_workers", "max_log_size", "user_namespace", "run_id", "task_id",
  "runner_attribute_file", "quiet", "debug", "datastore", "datastore_root", "metadata",
  "environment", "package_suffixes", "help",
  # keys of run(...) that aren't engine options
  "show", "check", "logs", "dump", "resume", "batch", "other_args", "origin_run_id"
)

parameter_type_names <- c(
  str = "str", string = "str", character = "str",
  int = "int", integer = "int",
  float = "float", double = "float", numeric = "float",
  bool = "bool", logical = "bool",
  json = "json", list = "json"
)

check_parameter_name <- function(name, call = parent.frame()) {
  if (!is_string(name) || !grepl("^[A-Za-z][A-Za-z0-9_]*$", name)) {
    metaflow_abort(c(
      "Parameter names must use letters, digits and underscores, and start with a letter.",
      x = "Got {show_value(name)}."
    ), "parameter", call = call)
  }
  check_name_length(name, "parameter", call = call)
  folded <- tolower(gsub("-", "_", name, fixed = TRUE))
  if (folded %in% reserved_parameter_names) {
    metaflow_abort(c(
      "{.val {name}} can't be a parameter name: the command line uses {.code --{gsub('_', '-', folded)}} itself.",
      i = "Choose another name."
    ), "parameter", call = call)
  }
  if (name %in% c(python_keywords, reserved_step_names)) {
    metaflow_abort(c(
      "{.val {name}} can't be a parameter name: it is reserved.",
      i = "Choose another name."
    ), "parameter", call = call)
  }
}

normalize_parameter_type <- function(type, parameter, call = parent.frame()) {
  if (!is_string(type) || !tolower(type) %in% names(parameter_type_names)) {
    metaflow_abort(c(
      "{.arg type} of parameter {.val {parameter}} must be {.code NULL} or one of {.val {unique(parameter_type_names)}}.",
      x = "Got {show_value(type)}."
    ), "parameter", call = call)
  }
  parameter_type_names[[tolower(type)]]
}

# The type a default implies; NULL for a function (its value decides later).
infer_parameter_type <- function(default, parameter, call = parent.frame()) {
  if (is.null(default)) {
    return("str")
  }
  if (is.function(default)) {
    return(NULL)
  }
  if (is.list(default) && !is.object(default)) {
    return("json")
  }
  if (is.atomic(default) && !is.object(default) && length(default) == 1) {
    type <- if (is.character(default)) {
      "str"
    } else if (is.logical(default)) {
      "bool"
    } else if (is.integer(default)) {
      "int"
    } else if (is.double(default)) {
      "float"
    }
    if (!is.null(type)) {
      return(type)
    }
  }
  metaflow_abort(c(
    "The default of parameter {.val {parameter}} must be a single string, number or logical, a list, or a function.",
    x = "Got {show_value(default)}.",
    i = if (is.atomic(default) && length(default) > 1) "For a vector, use {.code type = \"json\"}."
  ), "parameter", call = call)
}

# Checks a (non-function) default against the parameter's type.
check_parameter_default <- function(default, type, parameter, call = parent.frame()) {
  if (is.null(default)) {
    return(invisible())
  }
  if (identical(type, "json")) {
    if (is.character(default) && length(default) == 1 && !is.na(default)) {
      if (!jsonlite::validate(default)) {
        metaflow_abort(c(
          "The default of json parameter {.val {parameter}} is a string, so it must be JSON text.",
          x = "Got {show_value(default)}.",
          i = "Give the value itself (e.g. a list) to have it converted to JSON."
        ), "parameter", call = call)
      }
    } else if (!is_json_able(default)) {
      metaflow_abort(c(
        "The default of json parameter {.val {parameter}} must be a value JSON can hold.",
        x = "Got {show_value(default)}.",
        i = "Use {.code NULL}, strings, finite numbers and logicals without {.code NA}, and lists of them."
      ), "parameter", call = call)
    }
    return(invisible())
  }
  fits <- is_scalar_atomic(default) && switch(type,
    str = is.character(default),
    int = is.numeric(default) && is.finite(default) && default == round(default) && abs(default) < 2^53,
    float = is.numeric(default) && is.finite(default),
    bool = is.logical(default)
  )
  if (!fits) {
    expected <- c(
      str = "a single string", int = "a single whole number",
      float = "a single finite number", bool = "TRUE or FALSE"
    )[[type]]
    metaflow_abort(c(
      "The default of {type} parameter {.val {parameter}} must be {expected}.",
      x = "Got {show_value(default)}.",
      i = if (is.atomic(default) && length(default) > 1) "For a vector, use {.code type = \"json\"}."
    ), "parameter", call = call)
  }
}

#' Call the parameters' default functions
#'
#' Each function default is called with one argument, `list(flow_name,
#' user_name, parameter_name)`, and its value is checked against the
#' parameter's type (or, with no type given, decides it).
#'
#' @param flow A Flow.
#' @param user_name The user the run belongs to; by default the one the
#'   engine would choose (`METAFLOW_USER`, `SUDO_USER`, `USERNAME`, `USER`,
#'   skipping `root`).
#' @param call The call errors are reported for.
#' @return A named list, parameter name -> value, for the parameters whose
#'   default is a function: what [write_flow_spec()] takes as
#'   `parameter_defaults`.
#' @noRd
evaluate_parameter_defaults <- function(flow, user_name = default_user_name(),
                                        call = parent.frame()) {
  with_functions <- Filter(function(p) is.function(p$default), flow$get_parameters())
  lapply(with_functions, function(parameter) {
    context <- list(
      flow_name = flow$get_name(),
      user_name = user_name,
      parameter_name = parameter$name
    )
    value <- tryCatch(
      parameter$default(context),
      error = function(err) {
        metaflow_abort(
          "The default function of parameter {.val {parameter$name}} failed.",
          "parameter",
          parent = err, call = call
        )
      }
    )
    if (is.factor(value)) {
      value <- as.character(value)
    }
    type <- parameter$type %||% infer_parameter_type(value, parameter$name, call = call)
    check_parameter_default(value, type, parameter$name, call = call)
    value
  })
}

default_user_name <- function() {
  for (var in c("METAFLOW_USER", "SUDO_USER", "USERNAME", "USER")) {
    user <- Sys.getenv(var)
    if (nzchar(user) && user != "root") {
      return(user)
    }
  }
  Sys.info()[["user"]]
}

# A json parameter's default as JSON text: a string is taken to be JSON text
# already, any other value is converted.
parameter_json_text <- function(default) {
  if (is.character(default) && length(default) == 1) {
    return(default)
  }
  json <- jsonlite::toJSON(exact_numbers(default), auto_unbox = TRUE, null = "null", json_verbatim = TRUE)
  as.character(json)
}
