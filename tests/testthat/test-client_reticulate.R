# get_obj(): the Python client's own objects, through reticulate.

test_that("get_obj() is the Python client's object, on the engine's Python", {
  fixture <- local_client_fixture()
  run <- new_run(fixture$linear)
  obj <- run$get_obj()
  expect_s3_class(obj, "metaflow_core.client.Run")
  expect_equal(reticulate::py_to_r(obj$pathspec), fixture$linear)
  expect_true(reticulate::py_to_r(obj$successful))
  expect_equal(normalizePath(reticulate::py_config()$python), normalizePath(metaflow_python()))
  task <- new_task(paste0(fixture$linear, "/start/", new_step(paste0(fixture$linear, "/start"))$a_task))
  expect_s3_class(task$get_obj(), "metaflow_core.client.Task")
})

test_that("get_obj() reads where and in the namespace its R object was made", {
  fixture <- local_client_fixture()
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = NA)
  withr::local_dir(fixture$here)
  run <- new_run("ClientHereFlow", "latest_run")
  setwd(fixture$there)
  set_namespace("user:nobody")
  obj <- run$get_obj()
  expect_equal(reticulate::py_to_r(obj$pathspec), run$pathspec)
  expect_equal(reticulate::py_to_r(obj$`_ns`), paste0("user:", fixture$user))
  expect_true(grepl(fixture$here, reticulate::py_to_r(obj$`_source`$root), fixed = TRUE))
})
