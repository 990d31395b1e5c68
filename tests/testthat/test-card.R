# card() and card_append(): a real run's cards, read back in a fresh session.

card_run <- card_test_run()

test_that("card() is a decorator with its defaults spelled out", {
  expect_equal(
    unclass(card()),
    list(name = "card", attributes = list(type = "default", id = NULL, timeout = 45L))
  )
  expect_equal(card("blank", id = "report", timeout = 5)$attributes$id, "report")
  expect_snapshot(card(type = "blank", id = "report"))
})

test_that("bad card() attributes are errors before anything runs", {
  expect_error(card(type = "fancy"), class = "metaflow_error_decorator")
  expect_error(card(id = "no spaces"), class = "metaflow_error_decorator")
  expect_error(card(timeout = 0), class = "metaflow_error_decorator")
  expect_snapshot(error = TRUE, {
    card(type = "fancy")
    card(id = "no spaces")
  })
})

test_that("card_append() outside a running step is an error", {
  expect_error(card_append(card_markdown("x")), class = "metaflow_error_card")
  expect_snapshot(error = TRUE, card_append(card_markdown("x")))
})

test_that("a step's card holds its Markdown, table, ggplot and base-R plot, read in a fresh session", {
  local_card_run(card_run)
  expect_equal(card_run$result$status, 1L, info = card_run$result$stderr)
  html <- card_in_fresh_session("start")
  expect_match(html, "<h1>Scores</h1>", fixed = TRUE)
  expect_match(html, "The <strong>best</strong> of them.", fixed = TRUE)
  for (value in c(">alpha<", ">gamma<", ">0.123<", ">31.8<", "NA</span>")) {
    expect_match(html, value, fixed = TRUE)
  }
  expect_match(html, "data:image/png;base64,", fixed = TRUE)
  expect_match(html, "data:image/svg+xml;base64,", fixed = TRUE)
  # The default card: parameters, artifacts with R's str() preview, the graph.
  expect_match(html, "<code>rows</code></td><td>4</td>", fixed = TRUE)
  expect_match(html, "&#x27;data.frame&#x27;:\t4 obs. of  2 variables", fixed = TRUE)
  expect_match(html, "<svg", fixed = TRUE)
  expect_match(html, "<title>start: ok</title>", fixed = TRUE)
  expect_false(grepl("<script", html, fixed = TRUE))
})

test_that("a card component that errors leaves the task successful, the error in the card", {
  local_card_run(card_run)
  task <- first_card_task("start")
  expect_true(task$successful)
  expect_match(task$stderr, "card: card_plot() failed: the plot is broken", fixed = TRUE)
  html <- as.character(task$card())
  expect_match(html, "card_plot() failed: the plot is broken", fixed = TRUE)
  expect_match(html, "card_append() failed: it takes card components", fixed = TRUE)
  # card_artifact("scores") after the broken plot is still shown
  expect_match(html, '<div class="mf-artifact"><div class="mf-artifact-head"><code>scores</code>', fixed = TRUE)
})

test_that("a step that fails still has its card, with the error", {
  local_card_run(card_run)
  html <- card_in_fresh_session("explode", id = '"failing"')
  expect_match(html, "Appended before the error", fixed = TRUE)
  expect_match(html, "the data is bad", fixed = TRUE)
  expect_match(html, 'class="badge failed"', fixed = TRUE)
  expect_match(html, "<code>before</code>", fixed = TRUE)
})

test_that("a step without card() drops what it appends, and says so", {
  local_card_run(card_run)
  task <- first_card_task("plain")
  expect_true(task$successful)
  expect_match(task$stderr, "step plain appended to a card but has no card() decorator", fixed = TRUE)
  expect_error(task$card(), class = "metaflow_error_card")
})

test_that("Rscript flow.R card get writes the card's file and says where", {
  local_card_run(card_run)
  out <- file.path(card_run$dir, "start card.html")
  got <- run_script(card_run$script, c("card", "get", "start", out))
  expect_equal(got$status, 0L, info = got$stderr)
  expect_match(got$stderr, paste("to", out), fixed = TRUE)
  expect_match(paste(readLines(out), collapse = "\n"), "<h1>Scores</h1>", fixed = TRUE)
  wrong <- run_script(card_run$script, c("card", "get", "explode", "--id", "nope"))
  expect_equal(wrong$status, 1L)
  expect_match(wrong$stderr, "Card error: Task CardTestFlow/[0-9]+/explode/3 has no card with id")
  expect_match(wrong$stderr, "Card ids there: failing.", fixed = TRUE)
})
