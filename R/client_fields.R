# The read-only fields of the client's R6 classes. Named client_fields.R, not
# utils_*, because R sources R/ in alphabetical order and the classes call
# read_only_fields() when the package is built, from client_object.R on.

# The `active` list of an R6 class from getters: each `name = function() body`
# becomes the active binding `name = function(value) { assert_read_only(value,
# "name"); body }`. The binding is built from the getter's body, not wrapped
# around the getter, because R6 gives each active binding the object's
# environment (`self`, `private`, `super`), and a wrapper would lose it.
read_only_fields <- function(...) {
  getters <- list(...)
  fields <- lapply(names(getters), function(name) {
    field <- function(value) NULL
    body(field) <- bquote({
      assert_read_only(value, .(name))
      .(body(getters[[name]]))
    })
    field
  })
  names(fields) <- names(getters)
  fields
}

# Active fields can't be assigned: `run$id <- "x"` is an error, not a no-op.
assert_read_only <- function(value, field) {
  if (!missing(value)) {
    metaflow_abort("{.field {field}} is read-only.", "usage", call = NULL)
  }
}
