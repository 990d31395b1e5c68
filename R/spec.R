#' Write a flow's spec for the engine
#'
#' Writes the two files the Python engine reads (see `inst/PROTOCOL.md`,
#' sections 1 and 2): `dir/flow.json`, the flow as data, and
#' `dir/functions.rds`, its R step functions with the global objects they use,
#' the packages the script attached and the session's options. Each file is
#' written to a temporary file in `dir` and renamed into place, so a reader
#' never sees half a file.
#' The flow must be valid: [run()] validates it ([validate_flow()]) before
#' it calls this, once per run.
#'
#' @param flow A Flow.
#' @param dir The spec directory; created if it doesn't exist.
#' @param parameter_defaults `NULL`, or a named list of already evaluated
#'   defaults, parameter name -> value, as [evaluate_parameter_defaults()]
#'   returns; they replace those parameters' defaults. The default functions
#'   of parameters not in the list are called here.
#' @param call The call errors are reported for.
#' @return The paths of the two files, invisibly: a character vector with
#'   names `flow` and `functions`.
#' @noRd
write_flow_spec <- function(flow, dir, parameter_defaults = NULL, call = parent.frame()) {
  parameters <- resolve_parameters(flow, parameter_defaults, call)
  if (!dir.exists(dir)) {
    dir.create(dir, recursive = TRUE)
  }
  spec <- list(
    version = 1L,
    flow_name = flow$get_name(),
    doc = NULL,
    flow_decorators = lapply(flow$get_flow_decorators(), spec_decorator),
    parameters = unname(lapply(parameters, spec_parameter)),
    steps = unname(lapply(flow$get_steps(), spec_step)),
    r = list(
      rscript = file.path(R.home("bin"), "Rscript"),
      lib_paths = I(.libPaths()),
      r_version = as.character(getRversion()),
      package_version = as.character(utils::packageVersion("metaflow"))
    )
  )
  json <- jsonlite::toJSON(
    exact_numbers(spec),
    auto_unbox = TRUE, null = "null", na = "null", json_verbatim = TRUE, pretty = TRUE
  )
  functions <- flow$get_functions()
  flow_path <- file.path(dir, "flow.json")
  functions_path <- file.path(dir, "functions.rds")
  write_atomically(flow_path, function(path) writeBin(charToRaw(enc2utf8(paste0(json, "\n"))), path))
  write_atomically(functions_path, function(path) {
    globals <- c(find_globals(functions), s4_definitions())
    script_definitions <- script_function_definitions()
    saveRDS(
      list(
        steps = lapply(functions, with_source_reference, script_definitions),
        globals = lapply(globals, with_source_reference, script_definitions),
        packages = attached_packages(),
        options = carried_options()
      ),
      path
    )
  })
  invisible(c(flow = flow_path, functions = functions_path))
}

# The flow's parameters with function defaults replaced by their values and
# every type known.
resolve_parameters <- function(flow, parameter_defaults, call) {
  parameters <- flow$get_parameters()
  given <- parameter_defaults %||% list()
  unknown <- setdiff(names2(given), names(parameters))
  if (length(given) > 0 && (length(unknown) > 0 || any(!nzchar(names2(given))))) {
    metaflow_abort(c(
      "{.arg parameter_defaults} must be named by the flow's parameters.",
      x = "Flow {.val {flow$get_name()}} has no parameter {.val {unknown}}."
    ), "parameter", call = call)
  }
  missing_values <- Filter(
    function(p) is.function(p$default) && !p$name %in% names(given),
    parameters
  )
  if (length(missing_values) > 0) {
    evaluated <- evaluate_parameter_defaults(flow, call = call)
    given <- c(given, evaluated[names(missing_values)])
  }
  for (name in names(given)) {
    value <- given[[name]]
    if (is.factor(value)) {
      value <- as.character(value)
    }
    parameter <- parameters[[name]]
    parameter$type <- parameter$type %||% infer_parameter_type(value, name, call = call)
    check_parameter_default(value, parameter$type, name, call = call)
    parameter["default"] <- list(value)
    parameters[[name]] <- parameter
  }
  parameters
}

spec_parameter <- function(parameter) {
  default <- parameter$default
  if (!is.null(default)) {
    default <- switch(parameter$type,
      json = parameter_json_text(default),
      int = as.integer_if_possible(default),
      float = as.double(default),
      default
    )
  }
  list(
    name = parameter$name,
    type = parameter$type,
    default = default,
    help = parameter$help,
    required = parameter$required,
    separator = parameter$separator,
    is_flag = parameter$is_flag
  )
}

spec_step <- function(step) {
  list(
    name = step$name,
    "function" = if (is.null(step$r_function)) NULL else step$name,
    source = function_source(step$r_function),
    "next" = I(step$next_step),
    foreach = step$foreach,
    join = step$join,
    decorators = lapply(step$decorators, spec_decorator)
  )
}

# A step function's code, for `task$code`: as written when R kept its source
# (in a session, or with options(keep.source = TRUE)), else deparsed.
function_source <- function(fn) {
  if (is.null(fn)) {
    return(NULL)
  }
  control <- c("keepNA", "keepInteger", "niceNames", "showAttributes", "useSource")
  paste(deparse(fn, width.cutoff = 80L, control = control), collapse = "\n")
}

spec_decorator <- function(decorator) {
  list(name = decorator$name, attributes = as_json_object(decorator$attributes))
}

# A named list that is written as an object even when it is empty.
as_json_object <- function(x) {
  structure(x, names = names2(x))
}

as.integer_if_possible <- function(x) {
  if (abs(x) <= .Machine$integer.max) as.integer(x) else x
}

# jsonlite writes at most 15 significant digits, which doesn't give back the
# same double. Every double is replaced here by its shortest text that reads
# back exactly, with a decimal point so that the engine reads a float
# (json_double(), R/bridge_json.R).
exact_numbers <- function(x) {
  if (is.list(x)) {
    x[] <- lapply(x, exact_numbers)
    return(x)
  }
  if (!is.double(x) || is.object(x) || length(x) == 0) {
    return(x)
  }
  text <- json_double(x)
  if (length(x) > 1) {
    text <- paste0("[", paste(text, collapse = ","), "]")
  }
  structure(text, class = "json")
}

write_atomically <- function(path, write) {
  temporary <- tempfile(paste0(".", basename(path), "-"), tmpdir = dirname(path))
  on.exit(unlink(temporary))
  write(temporary)
  if (!file.rename(temporary, path)) {
    metaflow_abort("Can't write {.path {path}}.", "spec")
  }
}

# Source references -------------------------------------------------------------

# Under `Rscript flow.R` R keeps no source (`keep.source` is FALSE), so the
# traceback of a step's error couldn't say where in the flow file each call
# is. The script is parsed again, with its source, for the definitions of
# functions it holds (`function(...)` expressions anywhere in it); NULL when
# not run from a script, or when it doesn't parse.
script_function_definitions <- function() {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (interactive() || length(script) != 1L || !file.exists(script)) {
    return(NULL)
  }
  exprs <- tryCatch(parse(script, keep.source = TRUE), error = function(err) NULL)
  definitions <- list()
  collect <- function(expr) {
    if (identical(expr[[1L]], as.name("function"))) {
      definitions[[length(definitions) + 1L]] <<- expr
    }
    parts <- as.list(expr)[-1L]
    # An empty argument (`x[, 1]`) is the missing argument: is.call() is the
    # one test that reads it without an error.
    for (i in seq_along(parts)) {
      if (is.call(parts[[i]])) collect(parts[[i]])
    }
  }
  for (expr in as.list(exprs)) {
    if (is.call(expr)) collect(expr)
  }
  names(definitions) <- vapply(definitions, function(d) definition_key(d[[2L]], d[[3L]]), "")
  definitions
}

definition_key <- function(arguments, body) {
  paste(c(deparse(arguments), deparse(body)), collapse = "\n")
}

# `value` itself, or, for a function without a source reference whose code
# the script defines, the same function (same code, same environment) made
# from the script's definition, which has its source: calls in its body then
# carry their file and line into a traceback.
with_source_reference <- function(value, definitions) {
  if (is.null(definitions) || !is.function(value) || is.primitive(value) ||
    !is.null(attr(value, "srcref"))) {
    return(value)
  }
  definition <- definitions[[definition_key(formals(value), body(value))]]
  if (is.null(definition)) {
    return(value)
  }
  eval(definition, environment(value))
}

# The objects of the global environment the functions use, directly or
# through other such objects that are functions: name -> value. The Flow
# itself is never included (a step may mention `flow` without needing it).
find_globals <- function(functions, env = globalenv()) {
  found <- list()
  queue <- unname(functions)
  while (length(queue) > 0) {
    fn <- queue[[1]]
    queue <- queue[-1]
    for (name in setdiff(function_symbols(fn), names(found))) {
      if (!exists(name, envir = env, inherits = FALSE)) {
        next
      }
      value <- get(name, envir = env, inherits = FALSE)
      if (inherits(value, "Flow")) {
        next
      }
      found[name] <- list(value)
      if (is.function(value)) {
        queue <- c(queue, list(value))
      }
    }
  }
  found
}

# The symbols a function's body and its arguments' defaults mention,
# including those inside functions defined within it.
function_symbols <- function(fn) {
  if (is.primitive(fn)) {
    return(character())
  }
  unique(c(expression_symbols(formals(fn)), expression_symbols(body(fn))))
}

expression_symbols <- function(expr) {
  if (is.symbol(expr)) {
    name <- as.character(expr)
    return(if (nzchar(name)) name else character())
  }
  if (is.call(expr) || is.pairlist(expr) || is.expression(expr)) {
    parts <- as.list(expr)
    return(unlist(lapply(seq_along(parts), function(i) expression_symbols(parts[[i]])), use.names = FALSE))
  }
  character()
}

# Packages the script attached, in search() order, without base. R's default
# packages are among them: a step's Rscript starts with them as any Rscript
# does, and attaching them again is a no-op that keeps their place.
attached_packages <- function() {
  attached <- sub("^package:", "", grep("^package:", search(), value = TRUE))
  setdiff(attached, "base")
}

# The options of the session that its steps get (PROTOCOL.md section 2): all
# but those that describe the session rather than what the code computes, and
# those whose value belongs to the session (an environment; a function
# defined elsewhere than in a package or the global environment, such as an
# IDE's error handler).
carried_options <- function(current = options()) {
  keep <- vapply(names(current), function(name) {
    !name %in% session_option_names && !startsWith(name, "rstudio") && is_portable(current[[name]])
  }, TRUE)
  current[keep]
}

session_option_names <- c(
  # the console and how R reads code typed there
  "prompt", "continue", "width", "echo", "keep.source", "keep.source.pkgs",
  "keep.parse.data", "keep.parse.data.pkgs", "browserNLdisabled",
  # what R does at its top level, which in a step is the bridge
  "error", "warning.expression", "interrupt", "catch.script.errors",
  # the session's devices and the programs it opens
  "device", "browser", "editor", "pager", "pdfviewer",
  # start-up, which the step's R has done already
  "defaultPackages",
  # set while knitr renders the document the flow runs from
  "knitr.in.progress"
)

is_portable <- function(value) {
  if (is.function(value)) {
    env <- environment(value)
    return(is.null(env) || identical(env, globalenv()) || isNamespace(env))
  }
  if (is.list(value)) {
    return(all(vapply(value, is_portable, TRUE)))
  }
  is.atomic(value) || is.null(value)
}

# S4 classes and generics the script defined (setClass(), setGeneric(),
# setMethod() keep them in the global environment as `.__C__<class>` and
# `.__T__<generic>` objects); steps name classes as strings (`new("Point")`),
# which find_globals() can't follow, so all of them go.
s4_definitions <- function(env = globalenv()) {
  names <- grep("^\\.__[CT]__", ls(env, all.names = TRUE), value = TRUE)
  mget(names, envir = env)
}
