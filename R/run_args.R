# The engine's command line, built from run()'s `...` and from the command
# line of the R script (`Rscript flow.R run --alpha 0.2`).
#
# The engine takes `[top-level options] COMMAND [command arguments]`. Both
# sources are read into the same shape, "engine args":
#
#   top           list of entries: the top-level options (`--datastore local`)
#   command       the command (`"run"`, `"show"`, ...), or NULL if not given
#   command_args  list of entries: the command's options and positional
#                 arguments (`--tag x`, the step of `resume`)
#
# An entry is the argv tokens of one option or argument plus a key naming what
# it sets: the option's long name (`"tag"`, `"quiet"` for both `--quiet` and
# `--not-quiet`, a parameter's name for `--flag` and `--no-flag`), `""` for a
# positional argument. Keys are what lets options typed on the command line
# replace the ones run()'s `...` gave; tokens are never split, joined or
# quoted, so every value reaches the engine as one argv element, unchanged.

# The engine's own table of its command line (inst/engine_options.json, made
# from its click definitions by `make engine-options`): for the top level and
# for each command, the options that take a value (`value_options`; every other
# option is a flag) and the negative spellings of flags (`negations`, e.g.
# `not-quiet` for `quiet`). A run's parameters are added from the flow (flag
# parameters take none). Read once per session.
engine_options <- function() {
  if (is.null(engine_options_cache$table)) {
    path <- system.file("engine_options.json", package = "metaflow", mustWork = TRUE)
    engine_options_cache$table <- jsonlite::read_json(path, simplifyVector = TRUE)
  }
  engine_options_cache$table
}

engine_options_cache <- new.env(parent = emptyenv())

top_value_options <- function() {
  engine_options()$value_options
}

top_negations <- function() {
  unlist(engine_options()$negations)
}

command_value_options <- function(command) {
  engine_options()$commands[[command]]$value_options
}

# The engine's commands, as `Rscript flow.R help` lists them.
engine_commands <- function() {
  names(engine_options()$commands)
}

# run()'s own keys in `...`. Every other name is a flow parameter.
run_option_keys <- list(
  top = c("package_suffixes", "datastore", "datastore_root", "metadata", "batch", "with", "quiet"),
  command = c("resume", "show", "check", "logs", "dump", "verify", "help", "step_functions", "only_json"),
  run = c(
    "origin_run_id", "tag", "max_workers", "max_num_splits", "max_log_size", "namespace",
    "run_id_file"
  ),
  other = "other_args"
)

# The commands run()'s run options apply to.
run_option_commands <- list(
  origin_run_id = "resume", namespace = "run", tag = c("run", "resume"),
  max_workers = c("run", "resume"), max_num_splits = c("run", "resume"),
  max_log_size = c("run", "resume"), run_id_file = c("run", "resume")
)

arg_entry <- function(key, tokens) {
  list(key = key, tokens = tokens)
}

option_entry <- function(option, value = NULL) {
  arg_entry(option, c(paste0("--", option), value))
}

new_engine_args <- function(top = list(), command = NULL, command_args = list()) {
  list(top = top, command = command, command_args = command_args)
}

# Engine args from run()'s `...` --------------------------------------------

#' @noRd
#' @param options The named list of run()'s `...`.
#' @param parameters The flow's parameters, by name (`Flow$get_parameters()`).
#' @param flow_name The flow's name, for messages.
engine_args_from_options <- function(options, parameters, flow_name, call = parent.frame()) {
  check_option_names(options, parameters, flow_name, call)
  options <- options[!vapply(options, is.null, TRUE)]
  keys <- names(options)
  command <- option_command(options, call)
  top <- unlist(
    lapply(intersect(run_option_keys$top, keys), function(key) top_option_entries(key, options[[key]], call)),
    recursive = FALSE
  )
  run_keys <- intersect(run_option_keys$run, keys)
  parameter_keys <- setdiff(keys, unlist(run_option_keys, use.names = FALSE))
  check_options_apply(command$name, run_keys, parameter_keys, call)
  command_args <- c(
    command$args,
    unlist(lapply(run_keys, function(key) run_option_entries(key, options[[key]], call)), recursive = FALSE),
    lapply(parameter_keys, function(key) parameter_entry(parameters[[key]], options[[key]], call)),
    if (!is.null(options[["other_args"]])) other_args_entries(options[["other_args"]], call)
  )
  new_engine_args(top, command$name, command_args)
}

check_option_names <- function(options, parameters, flow_name, call) {
  keys <- names(options) %||% rep("", length(options))
  unnamed <- as.character(which(keys == ""))
  if (length(unnamed) > 0) {
    metaflow_abort(c(
      "Every argument in {.arg ...} of {.fn run} must be named.",
      x = "Argument{?s} {unnamed} {?is/are} not named.",
      i = "Name run options ({.code max_workers = 4}) and parameters ({.code alpha = 0.2})."
    ), "usage", call = call)
  }
  repeated <- unique(keys[duplicated(keys)])
  if (length(repeated) > 0) {
    metaflow_abort(c(
      "Each argument in {.arg ...} of {.fn run} can be given only once.",
      x = "{.arg {repeated}} {?is/are} given more than once."
    ), "usage", call = call)
  }
  unknown <- setdiff(keys, c(unlist(run_option_keys, use.names = FALSE), names(parameters)))
  if (length(unknown) > 0) {
    known <- names(parameters)
    metaflow_abort(c(
      "Arguments in {.arg ...} of {.fn run} must be run options or parameters of the flow.",
      x = "{.arg {unknown}} {?is/are} neither.",
      i = if (length(known) > 0) {
        "The parameters of {flow_name} are {.arg {known}}."
      } else {
        "{flow_name} has no parameters."
      },
      i = "See {.help metaflow::run} for the run options."
    ), "usage", call = call)
  }
}

# The command `...` asks for, and its positional arguments: "run" unless one
# of resume, show, check, logs, dump, verify or help is given.
option_command <- function(options, call) {
  chosen <- list()
  if (!is.null(options[["resume"]])) {
    resume <- options[["resume"]]
    if (is_string(resume) && nzchar(resume)) {
      chosen$resume <- list(name = "resume", args = list(arg_entry("", resume)))
    } else if (!is_true_or_false(resume)) {
      metaflow_abort(c(
        "{.arg resume} must be {.code TRUE}, {.code FALSE} or the name of the step to resume from.",
        x = "Got {show_value(resume)}."
      ), "usage", call = call)
    } else if (resume) {
      chosen$resume <- list(name = "resume", args = list())
    }
  }
  for (key in c("show", "check", "help")) {
    if (!is.null(options[[key]])) {
      check_flag_option(options[[key]], key, call)
      if (options[[key]]) {
        chosen[[key]] <- list(name = key, args = list())
      }
    }
  }
  if (!is.null(options[["verify"]])) {
    verify <- options[["verify"]]
    if (is_string(verify) && nzchar(verify)) {
      chosen$verify <- list(name = "verify", args = list(arg_entry("", verify)))
    } else if (!is_true_or_false(verify)) {
      metaflow_abort(c(
        "{.arg verify} must be {.code TRUE} (every run of the flow) or the id of a run.",
        x = "Got {show_value(verify)}."
      ), "usage", call = call)
    } else if (verify) {
      chosen$verify <- list(name = "verify", args = list())
    }
  }
  for (key in c("logs", "dump")) {
    if (!is.null(options[[key]])) {
      value <- options[[key]]
      if (!is_string(value) || !nzchar(value)) {
        metaflow_abort(c(
          "{.arg {key}} must be the pathspec of a step or task, e.g. {.val 1712345/start}.",
          x = "Got {show_value(value)}."
        ), "usage", call = call)
      }
      chosen[[key]] <- list(name = key, args = list(arg_entry("", value)))
    }
  }
  if (!is.null(options[["step_functions"]])) {
    chosen$step_functions <- step_functions_command(options, call)
  } else if (!is.null(options[["only_json"]])) {
    metaflow_abort(c(
      "{.arg only_json} applies only to {.code step_functions = \"create\"}.",
      x = "{.arg step_functions} is not given."
    ), "usage", call = call)
  }
  if (length(chosen) > 1) {
    metaflow_abort(c(
      "{.fn run} can run only one command at a time.",
      x = "{.arg {names(chosen)}} each choose a command."
    ), "usage", call = call)
  }
  if (length(chosen) == 0) list(name = "run", args = list()) else chosen[[1]]
}

# `step_functions = "create"` (with `only_json = TRUE`), `"trigger"` or `"list-runs"`: the
# engine's `step-functions <sub>`, as Netflix's run() passed it.
step_functions_command <- function(options, call) {
  sub <- options[["step_functions"]]
  subs <- c("create", "trigger", "list-runs")
  if (!is_string(sub) || !sub %in% c(subs, "list_runs")) {
    metaflow_abort(c(
      "{.arg step_functions} must be one of {.or {.val {subs}}}.",
      x = "Got {show_value(sub)}."
    ), "usage", call = call)
  }
  sub <- sub("_", "-", sub, fixed = TRUE)
  args <- list(arg_entry("", sub))
  only_json <- options[["only_json"]]
  if (!is.null(only_json)) {
    check_flag_option(only_json, "only_json", call)
    if (only_json && sub != "create") {
      metaflow_abort(c(
        "{.arg only_json} applies only to {.code step_functions = \"create\"}.",
        x = "{.arg step_functions} is {.val {sub}}."
      ), "usage", call = call)
    }
    if (only_json) args <- c(args, list(option_entry("only-json")))
  }
  list(name = "step-functions", args = args)
}

# Run options and parameters only make sense for the commands that take them:
# an error says so instead of the engine's "no such option".
check_options_apply <- function(command, run_keys, parameter_keys, call) {
  for (key in run_keys) {
    commands <- run_option_commands[[key]]
    if (!command %in% commands) {
      metaflow_abort(c(
        "{.arg {key}} applies only to {.or {.code {commands}}}.",
        x = "The command is {.code {command}}."
      ), "usage", call = call)
    }
  }
  if (length(parameter_keys) > 0 && !command %in% c("run", "step-functions")) {
    metaflow_abort(c(
      "Parameters can be given only to a new run.",
      x = "The command is {.code {command}}, and {.arg {parameter_keys}} {?is a parameter/are parameters}.",
      i = if (command == "resume") "A resumed run keeps the parameter values of the run it resumes."
    ), "usage", call = call)
  }
}

top_option_entries <- function(key, value, call) {
  switch(key,
    package_suffixes = {
      check_strings_option(value, key, call)
      list(option_entry("package-suffixes", paste(value, collapse = ",")))
    },
    datastore = ,
    datastore_root = ,
    metadata = {
      check_string_option(value, key, call)
      list(option_entry(gsub("_", "-", key, fixed = TRUE), value))
    },
    batch = {
      check_flag_option(value, key, call)
      if (value) list(option_entry("with", "batch"))
    },
    with = {
      check_strings_option(value, key, call)
      lapply(value, function(spec) option_entry("with", spec))
    },
    quiet = {
      check_flag_option(value, key, call)
      if (value) list(arg_entry("quiet", "--quiet"))
    }
  )
}

run_option_entries <- function(key, value, call) {
  option <- gsub("_", "-", key, fixed = TRUE)
  switch(key,
    tag = {
      check_strings_option(value, key, call)
      lapply(value, function(tag) option_entry(option, tag))
    },
    max_workers = ,
    max_num_splits = ,
    max_log_size = {
      if (!is.numeric(value) || length(value) != 1 || is.na(value) || value < 1 || value != trunc(value)) {
        metaflow_abort(c(
          "{.arg {key}} must be a whole number, at least 1.",
          x = "Got {show_value(value)}."
        ), "usage", call = call)
      }
      list(option_entry(option, number_text(value)))
    },
    origin_run_id = {
      if (is.numeric(value) && length(value) == 1 && !is.na(value) && value == trunc(value)) {
        value <- number_text(value)
      }
      check_string_option(value, key, call)
      list(option_entry(option, value))
    },
    namespace = ,
    run_id_file = {
      check_string_option(value, key, call, allow_empty = key == "namespace")
      list(option_entry(option, value))
    }
  )
}

other_args_entries <- function(value, call) {
  if (!is.character(value) || anyNA(value)) {
    metaflow_abort(c(
      "{.arg other_args} must be a character vector of command-line arguments.",
      x = "Got {show_value(value)}."
    ), "usage", call = call)
  }
  lapply(value, function(token) arg_entry("other_args", token))
}

# Parameters -----------------------------------------------------------------

# The argument for a parameter value given in R: `--name VALUE`, or for a flag
# `--name` / `--no-name`. The name is used exactly as declared.
parameter_entry <- function(parameter, value, call = parent.frame()) {
  name <- parameter$name
  if (isTRUE(parameter$is_flag)) {
    if (!is_true_or_false(value)) {
      metaflow_abort(c(
        "Parameter {.arg {name}} is a flag, so its value must be {.code TRUE} or {.code FALSE}.",
        x = "Got {show_value(value)}."
      ), "usage", call = call)
    }
    return(arg_entry(name, paste0(if (value) "--" else "--no-", name)))
  }
  arg_entry(name, c(paste0("--", name), parameter_text(parameter, value, call)))
}

# A parameter value as the engine reads it from the command line: JSON text
# for a `json` parameter, otherwise the text of one value (or of each value,
# joined by the parameter's separator).
parameter_text <- function(parameter, value, call = parent.frame()) {
  name <- parameter$name
  type <- parameter$type %||% "any"
  if (type == "json") {
    if (is_string(value) && !inherits(value, "AsIs")) {
      return(value)
    }
    json <- jsonlite::toJSON(
      exact_numbers(value),
      auto_unbox = TRUE, digits = NA, null = "null", json_verbatim = TRUE
    )
    return(as.character(json))
  }
  if (is.factor(value)) {
    value <- as.character(value)
  }
  fits <- is.atomic(value) && !is.object(value) && length(value) >= 1 && !anyNA(value) &&
    switch(type,
      int = is_text_of(value, type, parameter$separator) ||
        (is.numeric(value) && all(value == trunc(value))),
      float = is_text_of(value, type, parameter$separator) || is.numeric(value),
      bool = is_text_of(value, type, parameter$separator) || is.logical(value),
      is.character(value) || is.numeric(value) || is.logical(value)
    )
  if (!fits) {
    expected <- switch(type,
      int = "a whole number",
      float = "a number",
      bool = "TRUE or FALSE",
      "a string, number or logical"
    )
    metaflow_abort(c(
      "Parameter {.arg {name}} must be {expected}{if (type != 'any') paste0(' (type ', type, ')')}.",
      x = "Got {show_value(value)}."
    ), "usage", call = call)
  }
  if (length(value) > 1 && is.null(parameter$separator)) {
    metaflow_abort(c(
      "Parameter {.arg {name}} takes a single value.",
      x = "Got {length(value)} values.",
      i = "Give the parameter a {.arg separator} to pass several values, or make it a {.code json} parameter."
    ), "usage", call = call)
  }
  texts <- vapply(value, scalar_text, "", type = type, USE.NAMES = FALSE)
  paste(texts, collapse = parameter$separator %||% "")
}

# Whether strings given for a parameter of `type` read as values of it, each
# split by `separator` as the engine splits it, so that a value the engine
# would reject is an error about run()'s argument before Python starts. As
# loose as int(), float() and convert_bool() in the engine's parameters.py;
# the engine checks again.
is_text_of <- function(value, type, separator) {
  if (!is.character(value)) {
    return(FALSE)
  }
  if (!is.null(separator)) {
    value <- unlist(strsplit(value, separator, fixed = TRUE))
  }
  texts <- trimws(value)
  all(switch(type,
    int = grepl("^[+-]?[0-9]+(_[0-9]+)*$", texts),
    float = !is.na(suppressWarnings(as.numeric(gsub("_", "", texts, fixed = TRUE)))),
    bool = tolower(texts) %in% c("true", "1", "yes", "y", "t", "false", "0", "no", "n", "f")
  ))
}

scalar_text <- function(x, type) {
  if (is.character(x)) {
    x
  } else if (is.logical(x)) {
    if (type == "str") as.character(x) else if (x) "true" else "false"
  } else {
    number_text(x)
  }
}

# The shortest decimal text that reads back as exactly the same number, with
# "." as the decimal mark whatever the locale, and whole numbers without an
# exponent (so an `int` parameter can read them).
number_text <- function(x) {
  if (is.integer(x)) {
    return(as.character(x))
  }
  if (is.nan(x)) {
    return("nan")
  }
  if (is.infinite(x)) {
    return(if (x > 0) "inf" else "-inf")
  }
  if (x == trunc(x) && abs(x) < 1e21) {
    return(sprintf("%.0f", x))
  }
  for (digits in 15:17) {
    text <- sprintf(paste0("%.", digits, "g"), x)
    if (as.numeric(text) == x) {
      break
    }
  }
  text
}

# Engine args from the script's command line ----------------------------------

#' @noRd
#' @param argv The trailing arguments of `Rscript flow.R ...`.
#' @param parameters The flow's parameters, by name.
engine_args_from_command_line <- function(argv, parameters) {
  args <- new_engine_args()
  i <- 1L
  while (i <= length(argv)) {
    token <- argv[[i]]
    if (is.null(args$command)) {
      if (!is_option_token(token)) {
        args$command <- token
        i <- i + 1L
        next
      }
      entry <- read_option(argv, i, top_value_options(), top_negations())
      args$top <- c(args$top, list(entry))
    } else if (token == "--") {
      entry <- arg_entry("", argv[i:length(argv)])
      args$command_args <- c(args$command_args, list(entry))
    } else if (is_top_option_after_command(token, args$command)) {
      entry <- read_option(argv, i, top_value_options(), top_negations())
      args$top <- c(args$top, list(entry))
    } else if (is_option_token(token)) {
      entry <- read_option(
        argv, i,
        value_options = c(command_value_options(args$command), parameter_value_options(args$command, parameters)),
        negations = parameter_negations(args$command, parameters)
      )
      args$command_args <- c(args$command_args, list(entry))
    } else {
      entry <- arg_entry("", token)
      args$command_args <- c(args$command_args, list(entry))
    }
    i <- i + length(entry$tokens)
  }
  args
}

# A command line that puts options of `run` before any command
# (`Rscript flow.R --month 5`, `run` forgotten) or names no command the engine
# has is an error here, before Python starts: the engine would read `5` as the
# command and answer with an error about `--month`.
check_command_line <- function(argv, args, parameters, program, call) {
  command <- args$command
  commands <- engine_commands()
  unknown_command <- !is.null(command) && !command %in% commands
  flags <- parameter_names(parameters, flags = TRUE)
  run_keys <- c(names(parameters), paste0("no-", flags), command_value_options("run"))
  keys <- vapply(args$top, `[[`, "", "key")
  misplaced <- unique(keys[keys %in% run_keys])
  if (!unknown_command && length(misplaced) == 0) {
    return(invisible())
  }
  if (length(misplaced) == 0) {
    metaflow_abort(c(
      "{.val {command}} is not a command of {.code {program}}.",
      i = "Commands: {commands}."
    ), "usage", call = call)
  }
  options <- paste0("--", misplaced)
  suggestion <- paste(c(program, "run", shell_words(argv)), collapse = " ")
  metaflow_abort(c(
    "The command is missing: {.code {options}} {?is an option/are options} of {.code run}, which must come first.",
    x = if (unknown_command) "{.val {command}} is not a command.",
    i = "Did you mean {.code {suggestion}}?",
    i = "Commands: {commands}."
  ), "usage", call = call)
}

# Command-line words as a shell would need them typed.
shell_words <- function(words) {
  plain <- grepl("^[A-Za-z0-9_./:=,+-]+$", words)
  words[!plain] <- shQuote(words[!plain])
  words
}

# Where the run's data lives may also follow the command
# (`Rscript flow.R run --datastore s3`), as no command has options of that name.
top_options_after_command <- c("datastore", "datastore-root")

is_top_option_after_command <- function(token, command) {
  name <- sub("=.*$", "", sub("^--", "", token))
  startsWith(token, "--") && name %in% top_options_after_command &&
    !name %in% command_value_options(command)
}

is_option_token <- function(token) {
  startsWith(token, "-") && nchar(token) > 1
}

# The entry of the option at argv[[i]]: the option and, if it takes one and it
# isn't given as `--name=value`, the value that follows it.
read_option <- function(argv, i, value_options, negations) {
  token <- argv[[i]]
  name <- sub("=.*$", "", sub("^--?", "", token))
  key <- if (name %in% names(negations)) negations[[name]] else name
  takes_value <- name %in% value_options && !grepl("=", token, fixed = TRUE) && i < length(argv)
  arg_entry(key, argv[seq.int(i, i + takes_value)])
}

parameter_value_options <- function(command, parameters) {
  if (!identical(command, "run")) {
    return(character())
  }
  parameter_names(parameters, flags = FALSE)
}

parameter_negations <- function(command, parameters) {
  if (!identical(command, "run")) {
    return(character())
  }
  flags <- parameter_names(parameters, flags = TRUE)
  names(flags) <- sprintf("no-%s", flags)
  flags
}

parameter_names <- function(parameters, flags) {
  is_flag <- vapply(parameters, function(p) isTRUE(p$is_flag), TRUE)
  as.character(names(parameters)[is_flag == flags])
}

# Merging and reading engine args ---------------------------------------------

# The command line wins: its command replaces the one `...` chose (and then
# the `...` command's arguments, which belong to another command, are
# dropped); an option it sets drops the same option from `...`; its positional
# arguments replace those of `...`. What remains of `...` goes first, so for
# any option set twice the command line's comes last, which is the one the
# engine keeps.
merge_engine_args <- function(from_options, from_command_line) {
  command <- from_command_line$command %||% from_options$command
  own_args <- if (identical(command, from_options$command)) from_options$command_args else list()
  given <- vapply(c(from_command_line$top, from_command_line$command_args), `[[`, "", "key")
  if ("" %in% given) {
    given <- c(given, "")
  }
  keep <- function(entries) Filter(function(entry) !entry$key %in% given, entries)
  new_engine_args(
    top = c(keep(from_options$top), from_command_line$top),
    command = command,
    command_args = c(keep(own_args), from_command_line$command_args)
  )
}

# The argument vector the engine gets.
engine_argv <- function(args) {
  tokens <- function(entries) unlist(lapply(entries, `[[`, "tokens"), use.names = FALSE)
  c(tokens(args$top), args$command, tokens(args$command_args))
}

# The value the engine will use for a value option (the last one given), or
# NULL.
engine_option_value <- function(args, key) {
  entries <- Filter(function(entry) identical(entry$key, key), c(args$top, args$command_args))
  if (length(entries) == 0) {
    return(NULL)
  }
  tokens <- entries[[length(entries)]]$tokens
  if (length(tokens) == 2) tokens[[2]] else sub("^--[^=]*=", "", tokens[[1]])
}

engine_quiet <- function(args) {
  quiet <- Filter(function(entry) identical(entry$key, "quiet"), args$top)
  length(quiet) > 0 && identical(quiet[[length(quiet)]]$tokens, "--quiet")
}

# TRUE when the engine will print help or its version instead of running the
# command.
engine_shows_help <- function(args) {
  options <- Filter(function(entry) entry$key != "", c(args$top, args$command_args))
  keys <- vapply(options, `[[`, "", "key")
  identical(args$command, "help") || any(c("help", "version") %in% keys)
}

# Checks ----------------------------------------------------------------------

check_flag_option <- function(value, key, call) {
  if (!is_true_or_false(value)) {
    metaflow_abort(c(
      "{.arg {key}} must be {.code TRUE} or {.code FALSE}.",
      x = "Got {show_value(value)}."
    ), "usage", call = call)
  }
}

check_string_option <- function(value, key, call, allow_empty = FALSE) {
  if (!is_string(value) || (!allow_empty && !nzchar(value))) {
    metaflow_abort(c(
      "{.arg {key}} must be a single{if (!allow_empty) ' non-empty'} string.",
      x = "Got {show_value(value)}."
    ), "usage", call = call)
  }
}

check_strings_option <- function(value, key, call) {
  if (!is.character(value) || length(value) == 0 || anyNA(value) || !all(nzchar(value))) {
    metaflow_abort(c(
      "{.arg {key}} must be a character vector of non-empty strings.",
      x = "Got {show_value(value)}."
    ), "usage", call = call)
  }
}
