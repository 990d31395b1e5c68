# card_view() and the card task$card() returns.

card_run <- card_test_run()

test_that("task$card() is the card's HTML, with what it is", {
  local_card_run(card_run)
  card <- first_card_task("start")$card()
  expect_s3_class(card, "metaflow_card")
  expect_equal(attr(card, "type"), "default")
  expect_null(attr(card, "id"))
  expect_match(attr(card, "pathspec"), "^CardTestFlow/[0-9]+/start/1$")
  html <- as.character(card)
  expect_type(html, "character")
  expect_null(attributes(html))
  expect_match(html, "^<!DOCTYPE html>")
  expect_match(format(card), "^<metaflow card: default of CardTestFlow/[0-9]+/start/1, [0-9.]+ kB of HTML>$")
  expect_equal(attr(first_card_task("explode")$card(id = "failing"), "id"), "failing")
  expect_error(first_card_task("explode")$card(id = "nope"), class = "metaflow_error_card")
})

test_that("a card prints as one line and a hint", {
  card <- new_metaflow_card(list(html = strrep("x", 2048), type = "default", id = "report", pathspec = "F/1/start/2"))
  expect_snapshot(print(card))
})

test_that("card_view() writes the card to a file and opens it in the browser", {
  local_card_run(card_run)
  task <- first_card_task("start")
  opened <- NULL
  withr::local_options(browser = function(url) opened <<- url)
  path <- card_view(task)
  expect_equal(opened, path)
  expect_true(startsWith(path, tempdir()))
  expect_equal(paste(readLines(path, encoding = "UTF-8"), collapse = "\n"), as.character(task$card()))
  expect_equal(card_view(task$card()), path)
  failing <- card_view(first_card_task("explode"), id = "failing")
  expect_match(paste(readLines(failing), collapse = "\n"), "the data is bad", fixed = TRUE)
})

test_that("card_view() of something that isn't a task is an error", {
  expect_error(card_view("start"), class = "metaflow_error_usage")
  expect_snapshot(error = TRUE, card_view(42))
})

test_that("Rscript flow.R card view says where the card is when it can't open a browser", {
  local_card_run(card_run)
  withr::local_envvar(CI = "true")
  viewed <- run_script(card_run$script, c("card", "view", "explode", "--id", "failing"))
  expect_equal(viewed$status, 0L, info = viewed$stderr)
  path <- regmatches(viewed$stderr, regexpr("/\\S+\\.html(?= \\(not opened)", viewed$stderr, perl = TRUE))
  expect_length(path, 1L)
  expect_match(paste(readLines(path), collapse = "\n"), "the data is bad", fixed = TRUE)
})
