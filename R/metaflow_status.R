#' Show how metaflow is set up
#'
#' Tells what Python Metaflow's `metaflow status` tells: the Python that runs
#' flows and why it is that one, the versions of the package and of its engine,
#' the datastore and metadata a run started here would use, the client's
#' namespace, and whether each optional part can be used. It only looks: it
#' makes no Python environment and no datastore. The same report comes from
#' `Rscript flow.R status` for any flow script, and, for the engine alone,
#' from `python -m metaflow_core status`.
#'
#' @return A `metaflow_status` object, a list that prints as the report, with
#'   elements `package`, `python` (`path`, `source`, `problem`), `engine` (the
#'   engine's own report, or `NULL` when Python can't run it), `namespace`,
#'   `metadata` and `optional`.
#' @family python setup
#' @export
#' @examples
#' metaflow_status()
metaflow_status <- function() {
  choice <- tryCatch(python_choice(), metaflow_error_python = function(err) {
    list(path = Sys.getenv("METAFLOW_PYTHON"), source = "METAFLOW_PYTHON", problem = conditionMessage(err))
  })
  engine <- NULL
  if (!is.null(choice$path) && is.null(choice$problem)) {
    engine <- engine_status(choice$path)
    if (is.character(engine)) {
      choice$problem <- engine
      engine <- NULL
    }
  }
  structure(list(
    package = list(
      version = as.character(utils::packageVersion("metaflow")),
      r_version = as.character(getRversion()),
      library = dirname(system.file(package = "metaflow"))
    ),
    python = choice,
    engine = engine,
    namespace = if (isTRUE(client_state$namespace_set)) {
      client_state$namespace %||% "global (every user's runs)"
    } else {
      engine$namespace
    },
    metadata = if (!is.null(client_state$root)) {
      paste0("local@", client_state$root, " (set by set_metadata())")
    } else {
      engine$datastore$metadata
    },
    optional = c(engine$optional, list(reticulate = reticulate_status()))
  ), class = "metaflow_status")
}

# The engine's report (`python -m metaflow_core status --json`) as a list, or
# a string saying why the Python can't give it.
engine_status <- function(python) {
  result <- tryCatch(
    processx::run(
      python, c("-m", "metaflow_core", "status", "--json"),
      env = python_env(), error_on_status = FALSE
    ),
    error = function(err) conditionMessage(err)
  )
  if (is.character(result)) {
    return(result)
  }
  if (result$status != 0) {
    return(python_problem(python) %||% paste("It exited with status", result$status))
  }
  jsonlite::parse_json(result$stdout, simplifyVector = FALSE)
}

reticulate_status <- function() {
  installed <- requireNamespace("reticulate", quietly = TRUE)
  list(
    name = "reticulate",
    usable = installed,
    detail = if (installed) {
      paste(utils::packageVersion("reticulate"), "for get_obj()")
    } else {
      "not installed: get_obj() needs it; everything else works without it"
    }
  )
}

python_source_text <- function(python) {
  if (identical(python$source, "METAFLOW_PYTHON")) {
    return("named by METAFLOW_PYTHON")
  }
  if (is.null(python$path)) {
    where <- managed_env_dir()
    return(if (auto_install_enabled()) {
      paste("none yet: the first run() makes the package's environment in", where)
    } else {
      paste0("none: there is no environment in ", where, " and making one is off (", auto_install_setting(), ")")
    })
  }
  "the package's own environment (install_metaflow())"
}

#' @export
format.metaflow_status <- function(x, ...) {
  python <- x$python
  engine <- x$engine
  python_line <- if (is.null(python$path)) "-" else python$path
  if (!is.null(engine)) {
    python_line <- paste(python_line, engine$python$version)
  }
  lines <- c(
    sprintf(
      "metaflow %s (R %s), engine %s", x$package$version, x$package$r_version,
      if (is.null(engine)) "unavailable" else paste(engine$engine$name, engine$engine$version)
    ),
    sprintf("Python     %s", python_line),
    sprintf("           %s", python_source_text(python)),
    if (!is.null(python$problem)) sprintf("           can't run the engine: %s", cli::ansi_strip(python$problem))
  )
  if (!is.null(engine)) {
    store <- engine$datastore
    lines <- c(
      lines,
      sprintf("Datastore  %s at %s (%s)", store$type, store$root, store$found_by),
      sprintf("Metadata   %s", x$metadata),
      sprintf("Namespace  %s", if (is.list(x$namespace)) x$namespace$error else x$namespace)
    )
  }
  parts <- vapply(x$optional, function(part) {
    sprintf("  %-14s %s: %s", part$name, if (isTRUE(part$usable)) "yes" else "no", part$detail)
  }, "")
  c(lines, "Optional parts", unname(parts))
}

#' @export
print.metaflow_status <- function(x, ...) {
  cat(format(x), sep = "\n")
  invisible(x)
}
