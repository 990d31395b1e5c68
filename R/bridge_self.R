# The objects an R step works with: `self` (class `metaflow_self`), a join's
# `inputs` (class `metaflow_inputs`) and each input (class `metaflow_input`).
# Inherited artifacts stay in their datastore blobs until the step reads them,
# so a step pays only for what it uses. Everything here runs inside the step's
# Rscript: base R only (see bridge_abort()).

# Artifacts of one task ---------------------------------------------------------

# `refs` is the request's `artifacts` object: name -> list(path, sha, encoding).
# `owner` says whose artifacts they are, for messages ("step `start`").
new_artifact_store <- function(refs, owner) {
  store <- new.env(parent = emptyenv())
  store$refs <- refs
  store$owner <- owner
  store$cache <- list()
  store
}

store_names <- function(store) {
  as.character(names(store$refs))
}

store_has <- function(store, name) {
  name %in% store_names(store)
}

store_sha <- function(store, name) {
  store$refs[[name]]$sha
}

store_readable <- function(store, name) {
  identical(store$refs[[name]]$encoding, "rds")
}

store_read <- function(store, name, call) {
  if (!name %in% names(store$cache)) {
    store$cache[name] <- list(read_artifact(name, store$refs[[name]], store$owner, call))
  }
  store$cache[[name]]
}

read_artifact <- function(name, ref, owner, call) {
  if (identical(ref$encoding, "pickle") && is_pickled_none(ref$path)) {
    # Python's None, such as what catch(var =) sets when the step succeeded.
    return(NULL)
  }
  if (!identical(ref$encoding, "rds")) {
    type <- if (is.null(ref$type)) "" else sprintf(", type `%s`", ref$type)
    bridge_abort(c(
      sprintf("Can't read artifact `%s` of %s in R.", name, owner),
      x = sprintf("It was written by Python (encoding `%s`%s).", ref$encoding, type),
      i = "R steps can read the artifacts that R steps assigned."
    ), "artifact", artifact = name, call = call)
  }
  read <- read_verified_blob(ref$path, ref$sha, via = "step")
  if (!is.null(read$damaged)) {
    task <- ref$task %||% owner
    bridge_abort(c(
      sprintf("Artifact `%s` of task %s is damaged: its value can't be trusted.", name, task),
      x = read$damaged,
      i = sprintf("Its datastore file is %s.", ref$path)
    ), "data_corrupt", artifact = name, pathspec = task, path = ref$path, call = call)
  }
  if (!is.null(read$error)) {
    bridge_abort(c(
      sprintf("Can't read artifact `%s` of %s.", name, owner),
      x = conditionMessage(read$error),
      i = sprintf("Its datastore file is %s.", ref$path)
    ), "artifact", artifact = name, parent = read$error, call = call)
  }
  read$value
}

# Whether a pickled artifact is Python's `None`: `N.` after the protocol header
# (`\x80` and the protocol number, from protocol 2 on).
is_pickled_none <- function(path) {
  if (is.null(path) || !file.exists(path) || file.size(path) > 64) {
    return(FALSE)
  }
  payload <- tryCatch(read_blob(path), error = function(err) NULL)
  if (length(payload) > 2L && identical(payload[1L], as.raw(0x80))) {
    payload <- payload[-(1:2)]
  }
  identical(payload, charToRaw("N."))
}

# self ------------------------------------------------------------------------------

# Names that describe the task's foreach split and can't be assigned.
foreach_names <- c("input", "index", "foreach_stack")

# `self` is an environment, so assignments made inside the step function are
# seen by the bridge after the function returns. Its fields are internal;
# users reach artifacts through `$` and `[[`.
new_metaflow_self <- function(step, artifacts = list(), parameters = list(),
                              foreach_stack = list(), join = NULL, inputs = NULL) {
  self <- new.env(parent = emptyenv())
  self$step <- step
  self$join <- join
  self$inputs <- inputs
  self$parameters <- parameters
  self$foreach_stack <- foreach_stack
  self$artifacts <- new_artifact_store(artifacts, sprintf("step `%s`", step))
  self$values <- list()
  # Artifacts chosen by merge_artifacts(): name -> the metaflow_input they come from.
  self$merged <- list()
  class(self) <- "metaflow_self"
  self
}

self_field <- function(self, field) {
  get(field, envir = self, inherits = FALSE)
}

self_set_field <- function(self, field, value) {
  assign(field, value, envir = self)
}

# Where a readable name lives, in the order `$` looks: "value" (assigned in
# this task), "parameter", "foreach", "merged", "inherited", or "missing".
self_source <- function(self, name) {
  if (name %in% names(self_field(self, "values"))) {
    "value"
  } else if (name %in% names(self_field(self, "parameters"))) {
    "parameter"
  } else if (name %in% foreach_names) {
    "foreach"
  } else if (name %in% names(self_field(self, "merged"))) {
    "merged"
  } else if (store_has(self_field(self, "artifacts"), name)) {
    "inherited"
  } else {
    "missing"
  }
}

self_get <- function(self, name, call) {
  check_artifact_name(name, call)
  switch(self_source(self, name),
    value = self_field(self, "values")[[name]],
    parameter = self_field(self, "parameters")[[name]],
    foreach = foreach_value(self, name, call),
    merged = store_read(input_store(self_field(self, "merged")[[name]]), name, call),
    inherited = store_read(self_field(self, "artifacts"), name, call),
    bridge_abort(c(
      sprintf("Artifact `%s` does not exist in step `%s`.", name, self_field(self, "step")),
      i = sprintf("Available artifacts: %s.", format_names(self_artifact_names(self)))
    ), "artifact", artifact = name, call = call)
  )
}

self_set <- function(self, name, value, call) {
  check_artifact_name(name, call)
  check_assigned_name(self, name, call)
  if (name %in% names(self_field(self, "parameters"))) {
    bridge_abort(c(
      sprintf("Can't assign `%s`: it is a parameter of the flow.", name),
      i = "Parameters are read-only; store a changed value under another name."
    ), "artifact", artifact = name, call = call)
  }
  if (name %in% foreach_names) {
    bridge_abort(c(
      sprintf("Can't assign `%s`: metaflow sets it.", name),
      i = "`self$input`, `self$index` and `self$foreach_stack()` describe the task's foreach split."
    ), "artifact", artifact = name, call = call)
  }
  if (inherits(value, c("metaflow_self", "metaflow_inputs", "metaflow_input"))) {
    bridge_abort(c(
      sprintf("Can't assign `%s`: its value is a step's `self` or a join's inputs.", name),
      i = "Assign the artifacts you need instead, e.g. `self$x <- inputs[[1]]$x`."
    ), "artifact", artifact = name, call = call)
  }
  values <- self_field(self, "values")
  values[name] <- list(value)
  self_set_field(self, "values", values)
  merged <- self_field(self, "merged")
  self_set_field(self, "merged", merged[names(merged) != name])
  invisible(self)
}

check_artifact_name <- function(name, call) {
  if (!is.character(name) || length(name) != 1L || is.na(name) || !nzchar(name)) {
    bridge_abort(c(
      "An artifact name must be a single non-empty string.",
      x = sprintf("Got %s.", show_value(name))
    ), "artifact", call = call)
  }
}

# What a step may assign: a name both R and Python can use as a variable, which
# the client reads back as `task$artifact`. A name such as "../../evil" would be
# stored and then be unreadable; one starting with "_" is the engine's.
check_assigned_name <- function(self, name, call) {
  step <- self_field(self, "step")
  problem <- if (!is_identifier(name)) {
    "Use letters, digits and underscores, starting with a letter."
  } else if (startsWith(name, "_")) {
    "Names starting with \"_\" are metaflow's own."
  } else if (is_too_long(name)) {
    sprintf("It has %d characters; an artifact name can have at most %d.", nchar(name), max_name_length)
  }
  if (!is.null(problem)) {
    bridge_abort(c(
      sprintf("Can't assign artifact %s in step `%s`: it is not a valid artifact name.",
              encodeString(shown_name(name), quote = "\""), step),
      x = problem
    ), "artifact", artifact = name, call = call)
  }
}

# Artifacts a step can read, parameters excluded (the datastore also keeps
# parameters as artifacts).
self_artifact_names <- function(self) {
  names <- unique(c(
    names(self_field(self, "values")),
    names(self_field(self, "merged")),
    store_names(self_field(self, "artifacts"))
  ))
  setdiff(names, names(self_field(self, "parameters")))
}

self_readable <- function(self, name) {
  switch(self_source(self, name),
    value = , parameter = TRUE,
    merged = store_readable(input_store(self_field(self, "merged")[[name]]), name),
    inherited = store_readable(self_field(self, "artifacts"), name),
    FALSE
  )
}

# Foreach -----------------------------------------------------------------------

foreach_value <- function(self, name, call) {
  frames <- self_field(self, "foreach_stack")
  if (name == "foreach_stack") {
    return(function() foreach_frames(self, call))
  }
  if (length(frames) == 0L) {
    return(NULL)
  }
  top <- frames[[length(frames)]]
  if (name == "index") top$index else split_item(self, top, call)
}

split_item <- function(self, frame, call) {
  self_get(self, frame$var, call)[[frame$index + 1L]]
}

# Metaflow's foreach_stack(): one list(index, num_splits, value) per enclosing
# foreach, outermost first. `value` is the item when its artifact is readable
# here, else the engine's display string for it.
foreach_frames <- function(self, call) {
  lapply(self_field(self, "foreach_stack"), function(frame) {
    value <- if (self_readable(self, frame$var)) split_item(self, frame, call) else frame$value
    list(index = frame$index, num_splits = frame$num_splits, value = value)
  })
}

# Methods ---------------------------------------------------------------------------

#' Artifacts of a running step
#'
#' Inside a step, `self` holds the step's artifacts: `self$x` reads artifact
#' `x` (assigned in this step, inherited from the previous step, merged with
#' [merge_artifacts()], or a parameter) and `self$x <- value` assigns it.
#' Inherited artifacts are read from the datastore the first time the step
#' uses them. In a foreach, `self$input` is this task's item, `self$index` its
#' 0-based position, and `self$foreach_stack()` lists the enclosing splits as
#' `list(index, num_splits, value)`, outermost first.
#'
#' A join's `inputs` hold one read-only object per incoming task: a list named
#' by step for a join of branches (`inputs$a$x`), an unnamed list in split
#' order for a foreach join (`inputs[[1]]$x`, [gather_inputs()]).
#'
#' @param x `self`, a join's `inputs`, or one input.
#' @param name,i The name of an artifact (or, on `inputs`, of a step).
#' @param value The value to assign.
#' @param ... Unused.
#' @return `$` and `[[` return the artifact's value; `names()` the names of the
#'   readable artifacts.
#' @template example-project-start
#' @examples
#'
#' flow <- metaflow("SelfFlow") %>%
#'   step(step = "start", next_step = c("a", "b"), r_function = function(self) {
#'     self$x <- 1
#'     print(self)
#'   }) %>%
#'   step(step = "a", next_step = "join", r_function = function(self) self$y <- self$x + 1) %>%
#'   step(step = "b", next_step = "join", r_function = function(self) self$y <- self$x + 2) %>%
#'   step(step = "join", join = TRUE, next_step = "end", r_function = function(self, inputs) {
#'     print(inputs)
#'     cat("a's y:", inputs$a$y, " b's y:", inputs[["b"]]$y, "\n")
#'   }) %>%
#'   step(step = "end")
#' run(flow)
#' @template example-project-end
#' @name metaflow_self
#' @keywords internal
NULL

#' @rdname metaflow_self
#' @export
`$.metaflow_self` <- function(x, name) {
  self_get(x, name, call = user_call(sys.call(), "$"))
}

#' @rdname metaflow_self
#' @export
`[[.metaflow_self` <- function(x, i, ...) {
  self_get(x, i, call = user_call(sys.call(), "[["))
}

#' @rdname metaflow_self
#' @export
`$<-.metaflow_self` <- function(x, name, value) {
  self_set(x, name, value, call = assignment_call("$", name))
}

#' @rdname metaflow_self
#' @export
`[[<-.metaflow_self` <- function(x, i, value) {
  self_set(x, i, value, call = assignment_call("[[", i))
}

#' @rdname metaflow_self
#' @export
names.metaflow_self <- function(x) {
  self_artifact_names(x)
}

#' @rdname metaflow_self
#' @export
print.metaflow_self <- function(x, ...) {
  cat(sprintf("<metaflow self: step `%s`>\n", self_field(x, "step")))
  cat(sprintf("Artifacts: %s\n", format_names(self_artifact_names(x), max = 50L)))
  parameters <- names(self_field(x, "parameters"))
  if (length(parameters) > 0L) {
    cat(sprintf("Parameters: %s\n", format_names(parameters, max = 50L)))
  }
  invisible(x)
}

# The call as the user wrote it (`self$x`), not the method's name.
user_call <- function(call, operator) {
  call[[1L]] <- as.name(operator)
  call
}

# `self$x <- value`: the target of a replacement method reaches it as `*tmp*`.
assignment_call <- function(operator, name, object = quote(self)) {
  is_name <- is.character(name) && length(name) == 1L && isTRUE(nzchar(name))
  target <- if (operator == "$" && is_name) as.name(name) else name
  call("<-", call(operator, object, target), quote(value))
}

# Join inputs -----------------------------------------------------------------------

new_metaflow_input <- function(step, task, index, artifacts, parameters = list()) {
  input <- new.env(parent = emptyenv())
  input$step <- step
  input$task <- task
  input$index <- index
  input$parameters <- parameters
  owner <- sprintf("the input from step `%s` (task %s)", step, task)
  input$store <- new_artifact_store(artifacts, owner)
  class(input) <- "metaflow_input"
  input
}

input_store <- function(input) {
  get("store", envir = input, inherits = FALSE)
}

input_get <- function(input, name, call) {
  check_artifact_name(name, call)
  parameters <- get("parameters", envir = input, inherits = FALSE)
  store <- input_store(input)
  if (name %in% names(parameters)) {
    return(parameters[[name]])
  }
  if (!store_has(store, name)) {
    bridge_abort(c(
      sprintf("Artifact `%s` does not exist in %s.", name, store$owner),
      i = sprintf("Available artifacts: %s.", format_names(names(input)))
    ), "artifact", artifact = name, call = call)
  }
  store_read(store, name, call)
}

input_read_only <- function(name, call) {
  bridge_abort(c(
    sprintf("Can't assign `%s`: the inputs of a join are read-only.", format(name)),
    i = "Assign to `self` instead, e.g. `self$x <- inputs[[1]]$x`."
  ), "artifact", call = call)
}

#' @rdname metaflow_self
#' @export
`$.metaflow_input` <- function(x, name) {
  input_get(x, name, call = user_call(sys.call(), "$"))
}

#' @rdname metaflow_self
#' @export
`[[.metaflow_input` <- function(x, i, ...) {
  input_get(x, i, call = user_call(sys.call(), "[["))
}

#' @rdname metaflow_self
#' @export
`$<-.metaflow_input` <- function(x, name, value) {
  input_read_only(name, call = assignment_call("$", name, quote(input)))
}

#' @rdname metaflow_self
#' @export
`[[<-.metaflow_input` <- function(x, i, value) {
  input_read_only(i, call = assignment_call("[[", i, quote(input)))
}

#' @rdname metaflow_self
#' @export
names.metaflow_input <- function(x) {
  parameters <- names(get("parameters", envir = x, inherits = FALSE))
  setdiff(store_names(input_store(x)), parameters)
}

#' @rdname metaflow_self
#' @export
print.metaflow_input <- function(x, ...) {
  cat(sprintf("<metaflow input: %s>\n", input_store(x)$owner))
  cat(sprintf("Artifacts: %s\n", format_names(names(x), max = 50L)))
  invisible(x)
}

# `inputs` of a join: a list of metaflow_input objects, named by step for a
# join of branches. Asking for a step that isn't there is an error, not NULL.
new_metaflow_inputs <- function(inputs) {
  structure(inputs, class = "metaflow_inputs")
}

inputs_get <- function(inputs, i, call) {
  if (is.character(i) && !isTRUE(i %in% names(inputs))) {
    hint <- if (is.null(names(inputs))) {
      "The inputs of a foreach join are unnamed: use `inputs[[1]]` or `gather_inputs()`."
    } else {
      sprintf("Its inputs come from %s.", format_names(names(inputs)))
    }
    bridge_abort(
      c(sprintf("This join has no input from step `%s`.", i), i = hint),
      "artifact", call = call
    )
  }
  .subset2(inputs, i)
}

#' @rdname metaflow_self
#' @export
`$.metaflow_inputs` <- function(x, name) {
  inputs_get(x, name, call = user_call(sys.call(), "$"))
}

#' @rdname metaflow_self
#' @export
`[[.metaflow_inputs` <- function(x, i, ...) {
  inputs_get(x, i, call = user_call(sys.call(), "[["))
}

#' @rdname metaflow_self
#' @export
print.metaflow_inputs <- function(x, ...) {
  steps <- vapply(x, function(input) get("step", envir = input), "")
  cat(sprintf("<metaflow inputs: %d, from %s>\n", length(x), format_names(unique(steps))))
  invisible(x)
}
