# set_namespace(), get_namespace(), set_default_namespace().

test_that("the default namespace is the user's own", {
  fixture <- local_client_fixture()
  expect_equal(get_namespace(), "user:mf_tester")
  expect_equal(set_default_namespace(), "user:mf_tester")
  expect_invisible(set_default_namespace())
})

test_that("another user's runs are hidden until set_namespace(NULL)", {
  fixture <- local_client_fixture()
  expect_false("ClientOtherFlow" %in% list_flows())
  expect_error(new_flow("ClientOtherFlow"), class = "metaflow_error_namespace")
  err <- expect_error(new_run(fixture$other), class = "metaflow_error_namespace")
  expect_match(conditionMessage(err), "mf_other", fixed = TRUE)
  expect_snapshot(new_run(fixture$other), error = TRUE, transform = scrub_client_output)

  expect_null(set_namespace(NULL))
  expect_null(get_namespace())
  expect_true("ClientOtherFlow" %in% list_flows())
  expect_equal(new_run(fixture$hidden)$artifact("number"), 1L)
  expect_equal(new_run(fixture$other)$artifact("number"), 3L)

  set_default_namespace()
  expect_error(new_run(fixture$other), class = "metaflow_error_namespace")
})

test_that("a namespace can be any tag", {
  fixture <- local_client_fixture()
  expect_equal(set_namespace("user:mf_other"), "user:mf_other")
  expect_equal(get_namespace(), "user:mf_other")
  expect_equal(list_flows(), c("ClientOtherFlow", "ClientPyFlow"))
  expect_equal(new_flow("ClientPyFlow")$runs, sub("^ClientPyFlow/", "", fixture$other))
  set_namespace("alpha")
  expect_equal(list_flows(), "ClientLinearFlow")
})

test_that("objects keep the namespace they were made in", {
  fixture <- local_client_fixture()
  flow <- new_flow("ClientPyFlow")
  set_namespace(NULL)
  expect_length(flow$runs, 1)
  expect_length(new_flow("ClientPyFlow")$runs, 2)
})

test_that("a namespace must be a tag or NULL", {
  expect_error(set_namespace(1), class = "metaflow_error_usage")
  expect_error(set_namespace(c("a", "b")), class = "metaflow_error_usage")
  expect_snapshot(set_namespace(""), error = TRUE)
})
