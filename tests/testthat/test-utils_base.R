test_that("%||% gives the default only for NULL", {
  expect_identical(NULL %||% 1, 1)
  expect_identical(FALSE %||% 1, FALSE)
})

test_that("names2() gives empty names where there are none", {
  expect_identical(names2(list(1, 2)), c("", ""))
  expect_identical(names2(list(a = 1, 2)), c("a", ""))
})
