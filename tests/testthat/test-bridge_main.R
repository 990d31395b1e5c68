# Values whose exact form R's own serialization keeps and a JSON or pickle
# round trip would not.
make_values <- function() {
  methods::setClass("MetaflowTestPoint", representation(x = "numeric", label = "character"), where = globalenv())
  offset <- 2
  env <- new.env(parent = emptyenv())
  env$a <- 1
  env$b <- "two"
  df <- data.frame(a = 1:2, b = c("x", "y"), row.names = c("r1", "r2"))
  attr(df, "note") <- "kept"
  list(
    na = NA, na_values = c(NA_integer_, 1L), empty = numeric(0), named = c(a = 1, b = 2),
    factor = factor(c("lo", "hi", "lo"), levels = c("lo", "hi")),
    date = as.Date("2024-02-29"),
    time = as.POSIXct("2024-03-10 01:30:00", tz = "America/New_York"),
    data_frame = df,
    with_null = list(a = NULL, b = list(NULL)),
    matrix = matrix(1:6, nrow = 2, dimnames = list(c("r1", "r2"), NULL)),
    environment = env,
    closure = function(x) x + offset,
    s4 = methods::new("MetaflowTestPoint", x = c(1, 2), label = "p"),
    utf8 = c("na\u00efve", "\u65e5\u672c", "\U0001F600")
  )
}

expect_same_values <- function(actual, expected) {
  expect_setequal(names(actual), names(expected))
  for (name in names(expected)) {
    if (is.environment(expected[[name]])) {
      expect_identical(as.list(actual[[name]], sorted = TRUE), as.list(expected[[name]], sorted = TRUE), label = name)
    } else if (is.function(expected[[name]])) {
      expect_true(identical(actual[[name]], expected[[name]], ignore.environment = TRUE), label = name)
    } else {
      expect_identical(actual[[name]], expected[[name]], label = name)
    }
  }
}

test_that("a step reads inherited artifacts lazily and writes what it assigns", {
  dir <- withr::local_tempdir()
  artifacts <- local_blobs(list(x = 41, unused = "never read", broken = "never read"), dir)
  unlink(artifacts$unused$path)
  writeBin(charToRaw("MFBzcorrupt"), artifacts$broken$path)

  ran <- run_step(
    function(self) {
      self$y <- self$x + 1
      self[["z"]] <- self[["y"]] * 2
      self[["odd_Name2"]] <- "odd"
      self$nothing <- NULL
    },
    artifacts = artifacts, dir = dir
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts, list(y = 42, z = 84, odd_Name2 = "odd", nothing = NULL))
  expect_identical(unlist(ran$result$artifacts, use.names = FALSE), paste0(1:4, ".blob"))
  expect_identical(ran$result$merge, structure(list(), names = character()))
  expect_null(ran$result$foreach)
  expect_null(ran$result$error)
  expect_identical(sort(list.files(ran$output_dir, all.files = TRUE, no.. = TRUE)), c(paste0(1:4, ".blob"), "result.json"))
})

test_that("an artifact written without compression or with gzip reads back", {
  dir <- withr::local_tempdir()
  artifacts <- c(
    local_blobs(list(plain = 1:3), dir, codec = "n"),
    local_blobs(list(gzipped = letters), dir, codec = "g")
  )
  ran <- run_step(function(self) self$both <- list(self$plain, self$gzipped), artifacts = artifacts, dir = dir)

  expect_step_ok(ran)
  expect_identical(ran$artifacts$both, list(1:3, letters))
})

test_that("the output files are blob files: `MFBn`, then serialize(value, NULL, xdr = FALSE)", {
  ran <- run_step(function(self) self$x <- list(a = 1L, b = "two"))

  expect_step_ok(ran)
  path <- file.path(ran$output_dir, ran$result$artifacts$x)
  expect_identical(
    readBin(path, "raw", file.size(path)),
    c(charToRaw("MFBn"), serialize(list(a = 1L, b = "two"), NULL, xdr = FALSE))
  )
})

test_that("a step without a function succeeds and assigns nothing", {
  ran <- run_step(NULL, step = "end")

  expect_step_ok(ran)
  expect_identical(ran$result$artifacts, structure(list(), names = character()))
})

test_that("parameters reach the step as typed R values", {
  parameters <- list(
    name = "Ada", count = 3L, rate = 0.25, verbose = TRUE,
    config = list(layers = list(1L, 2L, 3L), label = "deep"), unset = NULL
  )
  ran <- run_step(
    function(self) {
      self$seen <- list(
        name = self$name, count = self$count, rate = self$rate, verbose = self$verbose,
        config = self$config, unset = self$unset
      )
    },
    parameters = parameters
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$seen, list(
    name = "Ada", count = 3L, rate = 0.25, verbose = TRUE,
    config = list(layers = 1:3, label = "deep"), unset = NULL
  ))
})

test_that("a foreach task sees its item, its index and the foreach stack", {
  dir <- withr::local_tempdir()
  frames_of <- function(splits) {
    ran <- run_step(
      function(self) self$seen <- list(input = self$input, index = self$index, stack = self$foreach_stack()),
      step = "inner",
      artifacts = local_blobs(list(items = splits), dir),
      foreach_stack = list(foreach_frame("items", index = length(splits) - 1L, num_splits = length(splits))),
      dir = withr::local_tempdir()
    )
    expect_step_ok(ran)
    ran$artifacts$seen
  }
  frames <- list(data.frame(a = 1), data.frame(b = c("x", "y")))

  expect_identical(frames_of("only"), list(
    input = "only", index = 0L, stack = list(list(index = 0L, num_splits = 1L, value = "only"))
  ))
  expect_identical(frames_of(c(1.5, 2.5, 3.5)), list(
    input = 3.5, index = 2L, stack = list(list(index = 2L, num_splits = 3L, value = 3.5))
  ))
  expect_identical(frames_of(frames), list(
    input = frames[[2]], index = 1L, stack = list(list(index = 1L, num_splits = 2L, value = frames[[2]]))
  ))
})

test_that("nested foreach frames list the outer split first", {
  dir <- withr::local_tempdir()
  ran <- run_step(
    function(self) self$stack <- self$foreach_stack(),
    step = "inner",
    artifacts = local_blobs(list(outer = c("a", "b"), inner = 1:3), dir),
    foreach_stack = list(
      foreach_frame("outer", index = 1L, num_splits = 2L, value = "b", step = "start"),
      foreach_frame("inner", index = 0L, num_splits = 3L, value = "1", step = "middle"),
      foreach_frame("gone", index = 4L, num_splits = 5L, value = "shown", step = "other")
    ),
    dir = dir
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$stack, list(
    list(index = 1L, num_splits = 2L, value = "b"),
    list(index = 0L, num_splits = 3L, value = 1L),
    list(index = 4L, num_splits = 5L, value = "shown")
  ))
})

test_that("outside a foreach, input and index are NULL", {
  ran <- run_step(function(self) self$seen <- list(self$input, self$index, self$foreach_stack()))

  expect_step_ok(ran)
  expect_identical(ran$artifacts$seen, list(NULL, NULL, list()))
})

test_that("a foreach split reports its size and short labels", {
  long <- strrep("x", 40)
  ran <- run_step(
    function(self) self$genres <- c("Drama", NA, long),
    foreach_var = "genres", globals = list(long = long)
  )

  expect_step_ok(ran)
  expect_identical(ran$result$foreach, list(var = "genres", num_splits = 3L, values = list("Drama", "NA", strrep("x", 30))))
})

test_that("a split over a list labels atomic items by value and others by class", {
  dir <- withr::local_tempdir()
  items <- list(data.frame(a = 1), 1:3, NULL, 2.5, list(1))
  ran <- run_step(NULL, artifacts = local_blobs(list(items = items), dir), foreach_var = "items", dir = dir)

  expect_step_ok(ran)
  expect_identical(ran$result$foreach, list(
    var = "items", num_splits = 5L,
    values = list("<data.frame>", "1 2 3", "<NULL>", "2.5", "<list>")
  ))
})

test_that("a split over an artifact that doesn't exist fails", {
  ran <- run_step(function(self) self$x <- 1, foreach_var = "genres")

  expect_identical(ran$status, 1L)
  expect_match(ran$result$error$message, "splits over `genres`")
})

test_that("a branch join reads its inputs by step name", {
  dir <- withr::local_tempdir()
  ran <- run_step(
    function(self, inputs) {
      self$total <- inputs$a$x + inputs[["b"]]$x
      self$names <- list(names(inputs), names(inputs$a))
    },
    step = "join", join = "branch",
    inputs = list(
      request_input("a", local_blobs(list(x = 1, only_a = TRUE), dir)),
      request_input("b", local_blobs(list(x = 2), dir))
    ),
    dir = dir
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$total, 3)
  expect_identical(ran$artifacts$names, list(c("a", "b"), c("x", "only_a")))
})

test_that("a step finds the flow script's helpers, constants and packages", {
  ran <- run_step(
    function(self) {
      self$scaled <- scale_by(2)
      self$extension <- file_ext("data.tar.gz")
    },
    globals = list(scale_by = function(x) x * factor, factor = 10),
    packages = "tools"
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$scaled, 20)
  expect_identical(ran$artifacts$extension, "gz")
})

test_that("a package that isn't installed fails the step with its name", {
  ran <- run_step(function(self) self$x <- 1, packages = "notInstalledAnywhere")

  expect_identical(ran$status, 1L)
  expect_false(ran$result$ok)
  expect_match(ran$result$error$message, "Can't attach package `notInstalledAnywhere`", fixed = TRUE)
  # The engine prints the error to the task's log; the bridge doesn't.
  expect_no_match(ran$stderr, "Can't attach package", fixed = TRUE)
})

test_that("an R error fails the step with its message, call and the user's traceback", {
  ran <- run_step(
    function(self) {
      self$x <- 1
      check_positive(-1)
    },
    step = "train",
    globals = list(check_positive = function(value) {
      if (value < 0) stop("`value` must be positive, not ", value, ".")
    })
  )

  expect_identical(ran$status, 1L)
  expect_false(ran$result$ok)
  expect_identical(ran$result$error, list(
    message = "`value` must be positive, not -1.",
    call = "check_positive(-1)",
    class = list("simpleError", "error", "condition"),
    traceback = list("train(self)", "check_positive(-1)", "stop(\"`value` must be positive, not \", value, \".\")"),
    caught = "caught.rds"
  ))
  # What the step assigned before the error is kept, as a Python step keeps it.
  expect_identical(ran$result$artifacts, list(x = "1.blob"))
  expect_identical(ran$artifacts$x, 1)
  expect_setequal(list.files(ran$output_dir), c("1.blob", "caught.rds", "result.json"))
  expect_no_match(ran$stderr, "must be positive", fixed = TRUE)
})

test_that("a traceback says where each call is when the functions have their source", {
  ran <- run_step(
    function(self) {
      check_positive(-1)
    },
    globals = list(check_positive = function(value) {
      if (value < 0) stop("`value` must be positive, not ", value, ".")
    }),
    keep_source = TRUE
  )

  trace <- unlist(ran$result$error$traceback)
  expect_length(trace, 3L)
  expect_match(trace, "^(start\\(self\\)|check_positive\\(-1\\)|stop\\(.*\\)) at test-bridge_main.R:[0-9]+$")
})

test_that("an R error is also written as the condition catch() stores", {
  ran <- run_step(
    function(self) check_positive(-1),
    step = "train",
    globals = list(check_positive = function(value) {
      if (value < 0) stop("`value` must be positive, not ", value, ".")
    })
  )

  expect_identical(ran$result$error$caught, "caught.rds")
  caught <- unserialize(readBin(file.path(ran$output_dir, "caught.rds"), "raw", 1e6))
  expect_identical(caught, structure(
    class = c("metaflow_caught_error", "simpleError", "error", "condition"),
    list(
      message = "`value` must be positive, not -1.", call = quote(check_positive(-1)),
      traceback = c("train(self)", "check_positive(-1)", "stop(\"`value` must be positive, not \", value, \".\")"),
      step = "train", pathspec = test_current("train")$pathspec
    )
  ))
})

test_that("an error cli formats keeps its headline on the first line of the record", {
  headline <- paste(rep("A long headline", 12), collapse = " ")
  ran <- run_step(
    function(self) cli::cli_abort(c(headline, i = "A hint.")),
    globals = list(headline = headline)
  )

  expect_identical(ran$status, 1L)
  lines <- strsplit(ran$result$error$message, "\n")[[1]]
  expect_identical(lines[[1]], headline)
  expect_match(lines[[2]], "A hint.", fixed = TRUE)
})

test_that("an error inside the package shows the user's call, not the package's insides", {
  ran <- run_step(function(self) print(self$missing))

  expect_identical(ran$status, 1L)
  expect_identical(ran$result$error$call, "self$missing")
  expect_identical(unlist(ran$result$error$traceback), c("start(self)", "print(self$missing)", "self$missing"))
})

test_that("a deep traceback keeps its first and last 50 calls", {
  ran <- run_step(
    function(self) descend(1),
    globals = list(descend = function(depth) if (depth == 150) stop("too deep") else descend(depth + 1))
  )

  traceback <- unlist(ran$result$error$traceback)
  expect_length(traceback, 101)
  expect_identical(traceback[c(1, 2, 51, 101)], c(
    "start(self)", "descend(1)", "... 52 frames omitted ...", "stop(\"too deep\")"
  ))
})

test_that("warnings are printed when they happen", {
  ran <- run_step(function(self) {
    warning("careful")
    cat("after the warning\n", file = stderr())
    self$x <- 1
  })

  expect_step_ok(ran)
  expect_match(ran$stderr, "Warning in start\\(self\\) : careful\nafter the warning")
})

test_that("a request that can't be read fails without a result", {
  process <- run_bridge_process(file.path(withr::local_tempdir(), "missing.json"))

  expect_identical(process$status, 1L)
  expect_match(process$stderr, "Error in the R step bridge: Can't find the step request", fixed = TRUE)
})

test_that("values keep their exact form when assigned in a step", {
  ran <- run_step(
    function(self) {
      values <- make_values()
      for (name in names(values)) self[[name]] <- values[[name]]
    },
    globals = list(make_values = make_values)
  )

  expect_step_ok(ran)
  expect_same_values(ran$artifacts, make_values())
})

test_that("values keep their exact form when read from inherited artifacts", {
  dir <- withr::local_tempdir()
  values <- make_values()
  ran <- run_step(
    function(self) {
      for (name in names(self)) self[[paste0("copy_", name)]] <- self[[name]]
    },
    artifacts = local_blobs(values, dir),
    dir = dir
  )

  expect_step_ok(ran)
  expect_same_values(stats::setNames(ran$artifacts, sub("^copy_", "", names(ran$artifacts))), values)
})

test_that("a step runs a request written by the engine's RDS writer", {
  dir <- withr::local_tempdir()
  artifacts <- local_blobs(list(x = 41), dir)
  written_by_r <- local_step_request(
    function(self) {
      self$seen <- list(x = self$x, config = self$config, rate = self$rate, run = current("run_id"))
    },
    artifacts = artifacts, dir = dir
  )
  request <- file.path(dir, "python_request.rds")
  script <- "
import sys
from metaflow_core.r import rds
functions_rds, output_dir, path, sha, request = sys.argv[1:]
rds.dump({
    'version': 1, 'functions_rds': functions_rds, 'function': 'start', 'step': 'start',
    'output_dir': output_dir, 'join': None,
    'self': {'artifacts': {'x': {'path': path, 'sha': sha, 'encoding': 'rds'}}},
    'inputs': [], 'parameters': {'config': {'layers': [1, 2, 3], 'label': 'd\\u00e9ep'}, 'rate': 0.25},
    'foreach_stack': [], 'foreach_var': None,
    'current': {'flow_name': 'TestFlow', 'run_id': '17', 'step_name': 'start', 'task_id': '2',
                'retry_count': 0, 'origin_run_id': None, 'pathspec': 'TestFlow/17/start/2',
                'namespace': 'user:tester', 'username': 'tester', 'is_running_flow': True,
                'parameter_names': ['config', 'rate']},
}, request)
"
  processx::run(
    metaflow_python(),
    c("-c", script, file.path(dir, "functions.rds"), file.path(dir, "out"), artifacts$x$path, artifacts$x$sha, request),
    env = c("current", PYTHONPATH = system.file("python", package = "metaflow"))
  )

  process <- run_bridge_process(request)

  expect_identical(process$status, 0L, info = process$stderr)
  result <- jsonlite::read_json(file.path(dir, "out", "result.json"))
  expect_true(result$ok)
  seen <- read_blob_file(file.path(dir, "out", result$artifacts$seen))
  expect_identical(seen, list(x = 41, config = list(layers = 1:3, label = "d\u00e9ep"), rate = 0.25, run = "17"))
  expect_true(file.exists(written_by_r))
})

# search() of a plain `Rscript -e` that ran `code` first.
plain_rscript_search <- function(code = "NULL") {
  processx::run(
    file.path(R.home("bin"), "Rscript"),
    c("-e", paste0(code, "; writeLines(search())"))
  )$stdout
}

test_that("a step sees R's default packages, whatever its code looks like", {
  ran <- run_step(function(self) {
    x <- c(1, 5, 2)
    self$middle <- eval(parse(text = "median(x)"))
    self$spread <- match.fun("sd")(x)
    self$search <- search()
    self$loaded <- loadedNamespaces()
  })

  expect_step_ok(ran)
  expect_identical(ran$artifacts$middle, 2)
  expect_identical(ran$artifacts$spread, stats::sd(c(1, 5, 2)))
  expected <- strsplit(plain_rscript_search("library(metaflow)"), "\n")[[1]]
  expect_identical(ran$artifacts$search, expected)
  # The bridge itself loads nothing but metaflow and what it imports.
  expect_true(all(c("metaflow", "magrittr") %in% ran$artifacts$loaded))
  expect_false(any(c("jsonlite", "R6", "cli", "processx", "reticulate") %in% ran$artifacts$loaded))
})

test_that("a step attaches the script's packages in the script's order", {
  ran <- run_step(
    function(self) self$search <- search(),
    packages = c("tools", "metaflow", "stats", "graphics", "grDevices", "utils", "datasets", "methods")
  )

  expect_step_ok(ran)
  expected <- strsplit(plain_rscript_search("library(metaflow); library(tools)"), "\n")[[1]]
  expect_identical(ran$artifacts$search, expected)
})

test_that("a step gets the options of the flow's session", {
  ran <- run_step(
    function(self) {
      self$digits <- getOption("digits")
      self$mine <- getOption("bridge.test.option")
      self$printed <- format(pi)
      self$warn <- getOption("warn")
    },
    options = list(digits = 3L, bridge.test.option = list(a = "b"), warn = 0L)
  )

  expect_step_ok(ran)
  expect_identical(ran$artifacts$digits, 3L)
  expect_identical(ran$artifacts$mine, list(a = "b"))
  expect_identical(ran$artifacts$printed, "3.14")
  # R's default, deferred warnings, would lose them at quit(): they print at once.
  expect_identical(ran$artifacts$warn, 1L)
})

test_that("a script's options(warn = 2) makes a warning in a step an error", {
  ran <- run_step(function(self) warning("careful"), options = list(warn = 2L))

  expect_identical(ran$status, 1L)
  expect_match(ran$result$error$message, "(converted from warning) careful", fixed = TRUE)
})

test_that("a request that is not an RDS file fails without a result", {
  path <- withr::local_tempfile(fileext = ".rds")
  writeLines("{\"version\": 1}", path)
  process <- run_bridge_process(path)

  expect_identical(process$status, 1L)
  expect_match(process$stderr, "Error in the R step bridge:", fixed = TRUE)
})

test_that("a 100 MB artifact goes from step to step with every process's peak under 2.5 times its size", {
  dir <- local_run_dir()
  script <- write_flow_script(c(
    # Each step lingers a second after its work, so that the sampling below,
    # slow on a loaded machine, sees every process at its peak.
    'flow <- metaflow("BigArtifactFlow") %>%',
    '  step(step = "start", r_function = function(self) { self$x <- runif(12.5e6); Sys.sleep(1) }, next_step = "b") %>%',
    '  step(step = "b", r_function = function(self) { self$total <- sum(self$x); Sys.sleep(1) }, next_step = "end") %>%',
    '  step(step = "end", r_function = function(self) { stopifnot(length(self$x) == 12.5e6); Sys.sleep(1) })'
  ))

  ran <- run_script_sampling_peaks(script, dir)

  expect_identical(ran$status, 0L, info = paste(ran$output, collapse = "\n"))
  # Every process of the run: the flow script's R, the runtime, each task's
  # Python process and each step's R (the two that write and read x, the one
  # that reads it again).
  steps <- ran$peaks[grepl("bridge_main", ran$peaks$args), ]
  tasks <- ran$peaks[grepl("python", ran$peaks$args), ]
  expect_gte(nrow(steps), 3L)
  expect_gte(nrow(tasks), 3L)
  object_mb <- 100
  for (i in seq_len(nrow(ran$peaks))) {
    expect_lte(ran$peaks$mb[[i]], 2.5 * object_mb, label = ran$peaks$args[[i]])
  }
  expect_equal(list.files(file.path(dir, ".metaflow", ".metaflow_core", ".staging"), all.files = TRUE, no.. = TRUE), character())
})
