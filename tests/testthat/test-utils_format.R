test_that("show_value() renders any value briefly, strings escaped", {
  expect_identical(show_value(NULL), "NULL")
  expect_identical(show_value(mean), "a function")
  expect_identical(show_value("a\nb"), "\"a\\nb\"")
  expect_identical(show_value(c("x", "y")), "c(\"x\", \"y\")")
  expect_identical(show_value(2L), "2L")
  expect_identical(show_value(Sys.Date()), "an object of class Date")
  expect_identical(show_value(1:10), "a integer vector of length 10")
  expect_identical(show_value(strrep("z", 100)), paste0("\"", strrep("z", 56), "..."))
})

test_that("format_names() quotes for messages, and says how many it left out", {
  expect_identical(format_names(character()), "none")
  expect_identical(format_names(c("a", "b")), "`a`, `b`")
  expect_identical(format_names(letters[1:4], max = 2L), "`a`, `b` and 2 more")
  expect_identical(format_names(letters[1:4], max = 3L, quote = FALSE), "a, b, c and 1 more")
  expect_identical(format_count_list(character()), "none")
  expect_identical(format_count_list(c("start", "end")), "2: start, end")
})

test_that("times and durations read as a person writes them", {
  expect_identical(format_elapsed(3.21), "3.2s")
  expect_identical(format_elapsed(125), "2m 05s")
  expect_identical(format_duration(NA), "-")
  expect_identical(format_time(NULL), "-")
  expect_identical(format_time(as.POSIXct("2024-04-05 10:00:04", tz = "UTC")), "2024-04-05 10:00:04")
})
