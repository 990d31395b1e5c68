# A flow with a parameter of every kind; only its parameters matter here.
args_test_flow <- function() {
  metaflow("ArgsFlow") %>%
    parameter("alpha", default = 0.1) %>%
    parameter("top_k", default = 5L) %>%
    parameter("message", default = "hi") %>%
    parameter("strict", type = "bool", default = FALSE) %>%
    parameter("dry_run", is_flag = TRUE) %>%
    parameter("config", type = "json", default = list(a = 1)) %>%
    parameter("genres", separator = ",", default = "Drama") %>%
    step(step = "start", next_step = "end") %>%
    step(step = "end")
}

# The argv run() would give the engine for `...` and the script's command line.
argv_for <- function(..., .command_line = character()) {
  parameters <- args_test_flow()$get_parameters()
  engine_argv(merge_engine_args(
    engine_args_from_options(list(...), parameters, "ArgsFlow"),
    engine_args_from_command_line(.command_line, parameters)
  ))
}

test_that("with nothing given, the command is a run", {
  expect_equal(argv_for(), "run")
})

test_that("engine options from `...` go before the command", {
  expect_equal(argv_for(package_suffixes = c(".R", ".csv")), c("--package-suffixes", ".R,.csv", "run"))
  expect_equal(argv_for(datastore = "local"), c("--datastore", "local", "run"))
  expect_equal(argv_for(datastore_root = "/data/mf"), c("--datastore-root", "/data/mf", "run"))
  expect_equal(argv_for(metadata = "local"), c("--metadata", "local", "run"))
  expect_equal(argv_for(with = c("retry", "catch:var=err")), c("--with", "retry", "--with", "catch:var=err", "run"))
  expect_equal(argv_for(batch = TRUE), c("--with", "batch", "run"))
  expect_equal(argv_for(batch = FALSE), "run")
  expect_equal(argv_for(quiet = TRUE), c("--quiet", "run"))
  expect_equal(argv_for(quiet = FALSE), "run")
})

test_that("where the run's data lives may follow the command on the script's command line", {
  expect_equal(argv_for(.command_line = c("run", "--datastore", "s3")), c("--datastore", "s3", "run"))
  expect_equal(argv_for(.command_line = c("resume", "--datastore=s3", "--datastore-root", "s3://b/p")),
               c("--datastore=s3", "--datastore-root", "s3://b/p", "resume"))
  expect_equal(argv_for(datastore = "local", .command_line = c("run", "--datastore", "s3", "--alpha", "1")),
               c("--datastore", "s3", "run", "--alpha", "1"))
})

test_that("`...` chooses the command", {
  expect_equal(argv_for(resume = TRUE), "resume")
  expect_equal(argv_for(resume = FALSE), "run")
  expect_equal(argv_for(resume = "train"), c("resume", "train"))
  expect_equal(
    argv_for(resume = "train", origin_run_id = "1712345"),
    c("resume", "train", "--origin-run-id", "1712345")
  )
  expect_equal(argv_for(resume = TRUE, origin_run_id = 1712345678901), c("resume", "--origin-run-id", "1712345678901"))
  expect_equal(argv_for(show = TRUE), "show")
  expect_equal(argv_for(check = TRUE), "check")
  expect_equal(argv_for(help = TRUE), "help")
  expect_equal(argv_for(logs = "17/start"), c("logs", "17/start"))
  expect_equal(argv_for(dump = "17/end/3"), c("dump", "17/end/3"))
  expect_equal(argv_for(verify = TRUE), "verify")
  expect_equal(argv_for(verify = "17"), c("verify", "17"))
  expect_equal(argv_for(verify = FALSE), "run")
  expect_error(argv_for(verify = 17), "verify", class = "metaflow_error_usage")
  expect_equal(argv_for(show = FALSE), "run")
})

test_that("run options from `...` follow the command", {
  expect_equal(argv_for(tag = c("a", "b")), c("run", "--tag", "a", "--tag", "b"))
  expect_equal(argv_for(max_workers = 4), c("run", "--max-workers", "4"))
  expect_equal(argv_for(max_num_splits = 200L), c("run", "--max-num-splits", "200"))
  expect_equal(argv_for(max_log_size = 1), c("run", "--max-log-size", "1"))
  expect_equal(argv_for(namespace = "user:alice"), c("run", "--namespace", "user:alice"))
  expect_equal(argv_for(namespace = ""), c("run", "--namespace", ""))
  expect_equal(argv_for(run_id_file = "id.txt"), c("run", "--run-id-file", "id.txt"))
  expect_equal(argv_for(resume = TRUE, tag = "again"), c("resume", "--tag", "again"))
  expect_equal(argv_for(other_args = c("--max-workers", "2")), c("run", "--max-workers", "2"))
  expect_equal(argv_for(tag = NULL), "run")
})

test_that("parameters become `--name value`, names exactly as declared", {
  expect_equal(argv_for(alpha = 0.2), c("run", "--alpha", "0.2"))
  expect_equal(argv_for(top_k = 3), c("run", "--top_k", "3"))
  expect_equal(argv_for(top_k = 3L), c("run", "--top_k", "3"))
  expect_equal(argv_for(message = "hello"), c("run", "--message", "hello"))
  expect_equal(argv_for(strict = TRUE), c("run", "--strict", "true"))
  expect_equal(argv_for(strict = FALSE), c("run", "--strict", "false"))
  expect_equal(argv_for(dry_run = TRUE), c("run", "--dry_run"))
  expect_equal(argv_for(dry_run = FALSE), c("run", "--no-dry_run"))
  expect_equal(argv_for(genres = c("Drama", "Sci-Fi")), c("run", "--genres", "Drama,Sci-Fi"))
  expect_equal(argv_for(message = factor("level")), c("run", "--message", "level"))
  expect_equal(argv_for(alpha = "0.3"), c("run", "--alpha", "0.3"))
})

test_that("json parameters take R values as JSON, or JSON text as it is", {
  expect_equal(
    argv_for(config = list(a = 1:2, b = "x", c = TRUE, d = NULL)),
    c("run", "--config", '{"a":[1,2],"b":"x","c":true,"d":null}')
  )
  expect_equal(argv_for(config = c(0.1, 1 / 3)), c("run", "--config", "[0.1,0.3333333333333333]"))
  expect_equal(argv_for(config = 2), c("run", "--config", "2.0"))
  expect_equal(argv_for(config = I("x")), c("run", "--config", '["x"]'))
  expect_equal(argv_for(config = '{"raw": [1, 2]}'), c("run", "--config", '{"raw": [1, 2]}'))
})

test_that("numbers are written so that they read back exactly", {
  numbers <- c(0.1, 1 / 3, 2 / 3, pi, 1e-10, -2.5e-300, 123456789.123456789, 1e20, -7, 0, 2^53 + 2)
  texts <- vapply(numbers, number_text, "")
  expect_identical(as.numeric(texts), numbers)
  expect_equal(texts[c(1, 5, 8, 9, 10)], c("0.1", "1e-10", "100000000000000000000", "-7", "0"))
  expect_equal(number_text(12L), "12")
  expect_equal(number_text(Inf), "inf")
  expect_equal(number_text(-Inf), "-inf")
  expect_equal(number_text(NaN), "nan")
  old <- options(OutDec = ",")
  on.exit(options(old))
  expect_equal(number_text(0.5), "0.5")
})

test_that("a value with quotes, backslashes, spaces and newlines stays one argument, unchanged", {
  tricky <- "it's \"quoted\"\\ \\n back\\slash $HOME `date` ;rm -rf\n second line\t{glue}"
  expect_equal(argv_for(message = tricky), c("run", "--message", tricky))
  expect_equal(argv_for(.command_line = c("run", "--message", tricky)), c("run", "--message", tricky))
  expect_equal(argv_for(tag = tricky), c("run", "--tag", tricky))
  expect_equal(argv_for(message = "--help"), c("run", "--message", "--help"))
  expect_equal(argv_for(message = ""), c("run", "--message", ""))
  expect_equal(argv_for(alpha = -1), c("run", "--alpha", "-1"))
  expect_equal(argv_for(config = list(text = tricky))[[3]], as.character(jsonlite::toJSON(list(text = tricky), auto_unbox = TRUE)))
})

test_that("the script's command line is used as it is", {
  expect_equal(argv_for(.command_line = c("run", "--alpha", "0.2")), c("run", "--alpha", "0.2"))
  expect_equal(argv_for(.command_line = "show"), "show")
  expect_equal(
    argv_for(.command_line = c("--quiet", "--datastore", "local", "run", "--tag", "x")),
    c("--quiet", "--datastore", "local", "run", "--tag", "x")
  )
  expect_equal(
    argv_for(.command_line = c("tag", "add", "--run-id", "17", "x")),
    c("tag", "add", "--run-id", "17", "x")
  )
})

test_that("the command line overrides `...`", {
  expect_equal(
    argv_for(alpha = 0.2, top_k = 3, .command_line = c("run", "--alpha", "0.5")),
    c("run", "--top_k", "3", "--alpha", "0.5")
  )
  expect_equal(argv_for(alpha = 0.2, .command_line = c("run", "--alpha=0.5")), c("run", "--alpha=0.5"))
  expect_equal(argv_for(dry_run = TRUE, .command_line = c("run", "--no-dry_run")), c("run", "--no-dry_run"))
  expect_equal(argv_for(dry_run = FALSE, .command_line = c("run", "--dry_run")), c("run", "--dry_run"))
  expect_equal(argv_for(tag = c("a", "b"), .command_line = c("run", "--tag", "c")), c("run", "--tag", "c"))
  expect_equal(argv_for(quiet = TRUE, .command_line = c("--not-quiet", "run")), c("--not-quiet", "run"))
  expect_equal(argv_for(with = "retry", .command_line = c("run", "--with", "catch")), c("run", "--with", "catch"))
  expect_equal(argv_for(resume = "a", .command_line = c("resume", "b")), c("resume", "b"))
  expect_equal(argv_for(resume = "a", .command_line = c("resume", "--tag", "t")), c("resume", "a", "--tag", "t"))
})

test_that("options from `...` go first, so the engine keeps the command line's", {
  expect_equal(
    argv_for(datastore = "local", max_workers = 2, .command_line = c("--quiet", "run", "--tag", "x")),
    c("--datastore", "local", "--quiet", "run", "--max-workers", "2", "--tag", "x")
  )
  expect_equal(
    argv_for(other_args = "--max-log-size=2", .command_line = c("run", "--max-workers", "3")),
    c("run", "--max-log-size=2", "--max-workers", "3")
  )
})

test_that("a command on the command line replaces the command of `...` and its arguments", {
  expect_equal(
    argv_for(alpha = 0.2, tag = "x", quiet = TRUE, .command_line = "show"),
    c("--quiet", "show")
  )
  expect_equal(argv_for(show = TRUE, .command_line = c("run", "--alpha", "1")), c("run", "--alpha", "1"))
  expect_equal(argv_for(logs = "1/start", .command_line = c("logs", "2/end")), c("logs", "2/end"))
  expect_equal(argv_for(alpha = 0.2, .command_line = c("--quiet")), c("--quiet", "run", "--alpha", "0.2"))
})

test_that("options of the command line are read with their values", {
  parameters <- args_test_flow()$get_parameters()
  args <- engine_args_from_command_line(
    c("--datastore-root", "/x", "--quiet", "run", "--message", "run", "--dry_run", "--top_k=2", "extra", "--", "--alpha"),
    parameters
  )
  expect_equal(args$command, "run")
  keys <- function(entries) vapply(entries, `[[`, "", "key")
  expect_equal(keys(args$top), c("datastore-root", "quiet"))
  expect_equal(keys(args$command_args), c("message", "dry_run", "top_k", "", ""))
  expect_equal(args$command_args[[1]]$tokens, c("--message", "run"))
  expect_equal(args$command_args[[5]]$tokens, c("--", "--alpha"))
})

test_that("run() can tell which options the engine will use", {
  parameters <- args_test_flow()$get_parameters()
  args <- function(options, command_line = character()) {
    merge_engine_args(
      engine_args_from_options(options, parameters, "ArgsFlow"),
      engine_args_from_command_line(command_line, parameters)
    )
  }
  expect_null(engine_option_value(args(list()), "run-id-file"))
  expect_equal(engine_option_value(args(list(run_id_file = "a")), "run-id-file"), "a")
  expect_equal(engine_option_value(args(list(run_id_file = "a"), c("run", "--run-id-file=b")), "run-id-file"), "b")
  expect_equal(engine_option_value(args(list(), c("run", "--run-id-file", "c")), "run-id-file"), "c")
  expect_false(engine_quiet(args(list())))
  expect_true(engine_quiet(args(list(quiet = TRUE))))
  expect_false(engine_quiet(args(list(quiet = TRUE), c("--not-quiet", "run"))))
  expect_false(engine_shows_help(args(list(alpha = 1))))
  expect_true(engine_shows_help(args(list(help = TRUE))))
  expect_true(engine_shows_help(args(list(), c("run", "--help"))))
  expect_true(engine_shows_help(args(list(), "--version")))
  expect_false(engine_shows_help(args(list(), c("run", "--", "--help"))))
})

test_that("an argument that is neither a run option nor a parameter is an error listing the parameters", {
  expect_error(argv_for(alpah = 0.2), class = "metaflow_error_usage")
  expect_snapshot(argv_for(alpah = 0.2, step_functions = "create"), error = TRUE)
  flow <- metaflow("NoParams") %>% step(step = "start", next_step = "end") %>% step(step = "end")
  expect_snapshot(engine_args_from_options(list(alpha = 1), flow$get_parameters(), "NoParams"), error = TRUE)
})

test_that("`...` must be named, once each", {
  expect_error(argv_for(0.2), class = "metaflow_error_usage")
  expect_snapshot(argv_for(0.2, tag = "x", "y"), error = TRUE)
  expect_snapshot(argv_for(tag = "x", tag = "y"), error = TRUE)
})

test_that("values of the wrong kind are errors before anything runs", {
  expect_snapshot(error = TRUE, {
    argv_for(top_k = 2.5)
    argv_for(alpha = TRUE)
    argv_for(strict = 1)
    argv_for(alpha = c(1, 2))
    argv_for(message = NA_character_)
    argv_for(message = list("a"))
    argv_for(dry_run = "yes")
    argv_for(max_workers = 0)
    argv_for(max_workers = "4")
    argv_for(tag = c("a", NA))
    argv_for(datastore = c("local", "s3"))
    argv_for(resume = 1)
    argv_for(logs = "")
    argv_for(show = "yes")
    argv_for(other_args = 1)
  })
  for (bad in list(list(top_k = 2.5), list(max_workers = 0), list(show = NA), list(package_suffixes = character()))) {
    expect_error(do.call(argv_for, bad), class = "metaflow_error_usage")
  }
})

test_that("a string for a number or logical parameter must read as one", {
  expect_equal(argv_for(alpha = " 1e-3"), c("run", "--alpha", " 1e-3"))
  expect_equal(argv_for(top_k = "1_000"), c("run", "--top_k", "1_000"))
  expect_equal(argv_for(strict = "Yes"), c("run", "--strict", "Yes"))
  expect_error(argv_for(alpha = "abc"), class = "metaflow_error_usage")
  expect_snapshot(error = TRUE, {
    argv_for(alpha = "abc")
    argv_for(top_k = "1.5")
    argv_for(strict = "maybe")
  })
})

test_that("options that don't apply to the command are errors", {
  expect_snapshot(error = TRUE, {
    argv_for(show = TRUE, check = TRUE)
    argv_for(show = TRUE, tag = "x")
    argv_for(origin_run_id = "17")
    argv_for(resume = TRUE, namespace = "x")
    argv_for(resume = TRUE, alpha = 0.3)
    argv_for(logs = "1/start", alpha = 0.3)
  })
})

test_that("a parameter whose name starts like a run option is still a parameter", {
  flow <- metaflow("PrefixFlow") %>%
    parameter("resume_from", default = "start") %>%
    parameter("other_args_too", default = "x") %>%
    step(step = "start", next_step = "end") %>%
    step(step = "end")
  args <- engine_args_from_options(list(resume_from = "train", other_args_too = "y"), flow$get_parameters(), "PrefixFlow")
  expect_equal(engine_argv(args), c("run", "--resume_from", "train", "--other_args_too", "y"))
})

# check_command_line() on the command line `Rscript flow.R <argv>`.
check_argv <- function(argv) {
  parameters <- args_test_flow()$get_parameters()
  check_command_line(
    argv, engine_args_from_command_line(argv, parameters), parameters, "Rscript flow.R",
    call = NULL
  )
}

test_that("options of run before any command say the command is missing", {
  expect_error(check_argv(c("--alpha", "5")), class = "metaflow_error_usage")
  expect_snapshot(error = TRUE, check_argv(c("--alpha", "5")))
  expect_snapshot(error = TRUE, check_argv(c("--dry_run", "--tag=x", "--message", "two words")))
})

test_that("a command the engine doesn't have is an error listing the commands", {
  expect_error(check_argv("rn"), class = "metaflow_error_usage")
  expect_snapshot(error = TRUE, check_argv(c("rn", "--alpha", "5")))
})

test_that("command lines with a command, or none, pass", {
  for (argv in list(character(), "run", c("run", "--alpha", "5"), c("--quiet", "show"),
                    c("--datastore", "local", "run"), c("resume", "--origin-run-id", "1"),
                    c("output-raw"), c("tag", "list"), "status", "--help")) {
    expect_no_error(check_argv(argv))
  }
})

test_that("the options that take a value come from the engine's own table", {
  table <- engine_options()
  expect_identical(engine_options(), table)
  expect_true(all(c("datastore", "with", "failure-file") %in% top_value_options()))
  expect_identical(top_negations()[["not-quiet"]], "quiet")
  expect_true(all(c("run-id-file", "namespace") %in% command_value_options("run")))
  expect_true("origin-run-id" %in% command_value_options("resume"))
  expect_true(all(c("run", "resume", "show", "status", "tag") %in% engine_commands()))
  args <- engine_args_from_command_line(c("--failure-file", "f.json", "run", "--max-log-size", "2"), list())
  expect_identical(args$top, list(arg_entry("failure-file", c("--failure-file", "f.json"))))
  expect_identical(args$command_args, list(arg_entry("max-log-size", c("--max-log-size", "2"))))
})

test_that("step_functions chooses the engine's step-functions command, as Netflix's run() did", {
  expect_equal(argv_for(datastore = "s3", step_functions = "create"),
               c("--datastore", "s3", "step-functions", "create"))
  expect_equal(argv_for(step_functions = "create", only_json = TRUE),
               c("step-functions", "create", "--only-json"))
  expect_equal(argv_for(step_functions = "trigger", alpha = 0.5),
               c("step-functions", "trigger", "--alpha", "0.5"))
  expect_equal(argv_for(step_functions = "list_runs"), c("step-functions", "list-runs"))
  expect_equal(argv_for(.command_line = c("step-functions", "list-runs")), c("step-functions", "list-runs"))
  expect_error(argv_for(step_functions = "deploy"), "step_functions", class = "metaflow_error_usage")
  expect_error(argv_for(step_functions = "trigger", only_json = TRUE), "only_json",
               class = "metaflow_error_usage")
  expect_error(argv_for(only_json = TRUE), "only_json", class = "metaflow_error_usage")
})
