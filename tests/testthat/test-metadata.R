# set_metadata(), get_metadata(), reset_default_metadata().

test_that("the default location follows the datastore root", {
  fixture <- local_client_fixture()
  expect_equal(get_metadata(), paste0("local@", fixture$root))
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = fixture$here)
  expect_equal(get_metadata(), paste0("local@", fixture$here))
})

test_that("set_metadata() pins a location until reset_default_metadata()", {
  fixture <- local_client_fixture()
  expect_equal(set_metadata(fixture$here), paste0("local@", fixture$here))
  expect_equal(get_metadata(), paste0("local@", fixture$here))
  expect_equal(list_flows(), "ClientHereFlow")
  expect_equal(set_metadata(paste0("local@", fixture$there)), paste0("local@", fixture$there))
  expect_equal(list_flows(), "ClientThereFlow")
  expect_equal(set_metadata(file.path(fixture$here, ".metaflow")), paste0("local@", fixture$here))
  expect_equal(reset_default_metadata(), paste0("local@", fixture$root))
  expect_true("ClientLinearFlow" %in% list_flows())
})

test_that("a pinned location holds across setwd()", {
  fixture <- local_client_fixture()
  withr::local_envvar(METAFLOW_DATASTORE_SYSROOT_LOCAL = NA)
  withr::local_dir(fixture$there)
  set_metadata(fixture$here)
  expect_equal(list_flows(), "ClientHereFlow")
  set_metadata("local")
  expect_equal(list_flows(), "ClientThereFlow")
})

test_that("a location without runs, or a service, is an error", {
  local_client_fixture()
  empty <- withr::local_tempdir()
  expect_error(set_metadata(empty), class = "metaflow_error_not_found")
  expect_error(set_metadata("service@http://metadata.example"), class = "metaflow_error_client")
  expect_error(set_metadata(NULL), class = "metaflow_error_usage")
  expect_snapshot(set_metadata("service@http://metadata.example"), error = TRUE)
})
