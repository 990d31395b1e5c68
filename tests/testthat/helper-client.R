# Real runs for the client's tests, made once per test run on the real engine
# and read by every client test file. Nothing is skipped: without Python or
# Rscript these fail.
#
# In `root` (a local datastore), as user `mf_tester` unless said otherwise:
#   linear    ClientLinearFlow, an R flow tagged alpha and beta; start sets
#             x, df, when, m, l (client_linear_values()), prints to stdout
#             and stderr; end sets y.
#   foreach   ClientForeachFlow: start fans out over letters a, b, c; square
#             sets value = letter + index; join gathers values.
#   failed    ClientFailFlow: start fails with the R error "boom from R".
#   python    ClientPyFlow, a Python flow with artifacts of Python types.
#   other     ClientPyFlow again, run by user mf_other (the newest run).
#   hidden    ClientOtherFlow, run only by mf_other.
#   reader    ClientReaderFlow, an R flow whose start step reads linear's
#             results with the client.
# And two other directories, `here` and `there`, each holding a .metaflow of
# its own with one Python flow (ClientHereFlow, ClientThereFlow), for
# following setwd().

client_fixture_cache <- new.env(parent = emptyenv())

client_fixture <- function() {
  if (is.null(client_fixture_cache$fixture)) {
    client_fixture_cache$fixture <- build_client_fixture()
  }
  client_fixture_cache$fixture
}

# Points the client at the fixture for the rest of the calling test: its
# datastore, its user and that user's namespace, restored afterwards.
local_client_fixture <- function(env = parent.frame()) {
  fixture <- client_fixture()
  withr::local_envvar(
    METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$root,
    METAFLOW_USER = fixture$user,
    .local_envir = env
  )
  reset_default_metadata()
  set_default_namespace()
  withr::defer(set_default_namespace(), envir = env)
  withr::defer(reset_default_metadata(), envir = env)
  fixture
}

client_linear_values <- function() {
  list(
    x = 42L,
    df = data.frame(a = 1:3, b = factor(c("u", "v", "u")), row.names = c("r1", "r2", "r3")),
    when = as.Date("2024-01-02"),
    m = matrix(c(1.5, 2, 3, 4), 2, dimnames = list(c("a", "b"), NULL)),
    l = list(n = NULL, s = "text", i = 1:3)
  )
}

client_flows_code <- list(
  linear = c(
    'flow <- metaflow("ClientLinearFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    self$x <- 42L',
    '    self$df <- data.frame(a = 1:3, b = factor(c("u", "v", "u")), row.names = c("r1", "r2", "r3"))',
    '    self$when <- as.Date("2024-01-02")',
    '    self$m <- matrix(c(1.5, 2, 3, 4), 2, dimnames = list(c("a", "b"), NULL))',
    '    self$l <- list(n = NULL, s = "text", i = 1:3)',
    '    cat("hello from start\\n")',
    '    message("a note on stderr")',
    '  }, next_step = "end") %>%',
    '  step(step = "end", r_function = function(self) self$y <- self$x + 1L)'
  ),
  foreach = c(
    'flow <- metaflow("ClientForeachFlow") %>%',
    '  step(step = "start", r_function = function(self) self$letters <- c("a", "b", "c"),',
    '       foreach = "letters", next_step = "square") %>%',
    '  step(step = "square", r_function = function(self) self$value <- paste0(self$input, self$index),',
    '       next_step = "join") %>%',
    '  step(step = "join", r_function = function(self, inputs) self$values <- unlist(gather_inputs(inputs, "value")),',
    '       join = TRUE, next_step = "end") %>%',
    '  step(step = "end")'
  ),
  failed = c(
    'flow <- metaflow("ClientFailFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    explode <- function() stop("boom from R")',
    '    self$before <- 1',
    '    explode()',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  ),
  reader = c(
    'flow <- metaflow("ClientReaderFlow") %>%',
    '  step(step = "start", r_function = function(self) {',
    '    run <- new_run("ClientLinearFlow", "latest_successful_run")',
    '    self$read_x <- run$artifact("x")',
    '    self$read_df <- run$step("start")$task(run$step("start")$a_task)$artifact("df")',
    '    self$read_pathspec <- run$pathspec',
    '    self$read_namespace <- get_namespace()',
    '    self$read_flows <- list_flows()',
    '    self$read_runs <- nrow(runs_table("ClientLinearFlow"))',
    '  }, next_step = "end") %>%',
    '  step(step = "end")'
  )
)

client_python_flow <- function(name, body = "        self.number = 1") {
  c(
    "import decimal",
    "from metaflow_core import FlowSpec, step",
    "",
    "",
    "class Point(object):",
    "    def __init__(self, x, y):",
    "        self.x, self.y = x, y",
    "",
    "",
    sprintf("class %s(FlowSpec):", name),
    "    @step",
    "    def start(self):",
    body,
    "        self.next(self.end)",
    "",
    "    @step",
    "    def end(self):",
    "        pass",
    "",
    "",
    "if __name__ == '__main__':",
    sprintf("    %s()", name)
  )
}

client_python_artifacts <- c(
  "        import datetime, numpy, pandas",
  "        self.number = 3",
  "        self.ratio = 0.5",
  "        self.label = 'py'",
  "        self.flag = True",
  "        self.nothing = None",
  "        self.items = [1, 2, 3]",
  "        self.mixed = [1, 'a', None]",
  "        self.mapping = {'a': 1, 'b': [1, 2]}",
  "        self.pair = (1, 'b')",
  "        self.blob = b'\\x00\\x01'",
  "        self.numbers = {1, 2}",
  "        self.holder = {'s': {1, 2}}",
  "        self.amount = decimal.Decimal('1.5')",
  "        self.point = Point(1, 2)",
  "        self.day = datetime.date(2024, 1, 2)",
  "        self.grid = numpy.array([[1, 2, 3], [4, 5, 6]])",
  "        self.frame = pandas.DataFrame({'a': [1.5, None], 'b': ['x', 'y']})",
  "        self.codes = numpy.array([1, 2], dtype=complex)",
  "        print('hello from python')"
)

build_client_fixture <- function() {
  root <- normalizePath(withr::local_tempdir("metaflow-client-", .local_envir = teardown_env()))
  fixture <- list(root = root, user = "mf_tester", other_user = "mf_other")
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = root, METAFLOW_USER = fixture$user)

  fixture$python <- run_python_flow(root, "ClientPyFlow", client_python_artifacts)
  fixture$other <- run_python_flow(root, "ClientPyFlow", client_python_artifacts, user = fixture$other_user)
  fixture$hidden <- run_python_flow(root, "ClientOtherFlow", user = fixture$other_user)

  fixture$linear <- run_client_flow("linear", tag = c("alpha", "beta"))
  fixture$foreach <- run_client_flow("foreach")
  failure <- tryCatch(run_client_flow("failed"), metaflow_error_run = identity)
  if (!inherits(failure, "metaflow_error_run")) {
    stop("ClientFailFlow should have failed.", call. = FALSE)
  }
  fixture$failed <- failure$pathspec
  fixture$reader <- run_client_flow("reader")

  # Not inside `root`: a run looks for .metaflow upwards from its directory.
  fixture$here <- normalizePath(withr::local_tempdir("metaflow-here-", .local_envir = teardown_env()))
  fixture$there <- normalizePath(withr::local_tempdir("metaflow-there-", .local_envir = teardown_env()))
  run_python_flow(fixture$here, "ClientHereFlow", sysroot = NA)
  run_python_flow(fixture$there, "ClientThereFlow", sysroot = NA)
  fixture
}

# Runs a flow of client_flows_code in this session with run(); returns the
# run's pathspec.
run_client_flow <- function(name, ...) {
  env <- new.env(parent = globalenv())
  eval(parse(text = client_flows_code[[name]]), envir = env)
  run <- suppressMessages(run(env$flow, quiet = TRUE, ...))
  if (inherits(run, "RunClient")) run$pathspec else unclass(run)
}

# Runs a Python flow from `dir` (made if need be) as `user`; returns the
# run's pathspec. With `sysroot = NA` the datastore is `dir`/.metaflow.
run_python_flow <- function(dir, name, body = "        self.number = 1", user = "mf_tester",
                            sysroot = Sys.getenv("METAFLOW_DATASTORE_SYSROOT_LOCAL")) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  script <- file.path(dir, paste0(name, ".py"))
  writeLines(client_python_flow(name, body), script)
  run_id_file <- tempfile("run-id-")
  on.exit(unlink(run_id_file))
  if (is.na(sysroot)) {
    withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = NA)
  }
  env <- python_env(c(
    METAFLOW_USER = user,
    if (!is.na(sysroot)) c(METAFLOW_DATASTORE_SYSROOT_LOCAL = sysroot)
  ))
  result <- processx::run(
    metaflow_python(), c(script, "run", "--run-id-file", run_id_file),
    env = env, wd = dir, error_on_status = FALSE
  )
  if (result$status != 0) {
    stop("Python flow ", name, " failed:\n", result$stderr, call. = FALSE)
  }
  paste0(name, "/", readLines(run_id_file, warn = FALSE))
}

# Output with the fixture's datastore, run ids and times replaced, for
# snapshots.
scrub_client_output <- function(lines) {
  lines <- gsub(client_fixture()$root, "<root>", lines, fixed = TRUE)
  lines <- gsub("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", "<time>", lines)
  lines <- gsub("[0-9]+(\\.[0-9]+)?s\\b", "<secs>", lines)
  lines <- gsub("[0-9]+m [0-9]+s\\b", "<secs>", lines)
  gsub("[0-9]{10,}", "<run-id>", lines)
}
