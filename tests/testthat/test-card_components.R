# Card components: plain data for the engine; a component that can't be made
# is an error component, never an error.

test_that("card_markdown() joins its lines", {
  component <- card_markdown(c("# Title", "Some *text*."))
  expect_s3_class(component, "metaflow_card_component")
  expect_equal(component$type, "markdown")
  expect_equal(component$text, "# Title\nSome *text*.")
})

test_that("card_table() keeps numbers as numbers, rounded to `digits`, and NA as NULL", {
  df <- data.frame(
    name = c("a", NA), n = c(1L, 2L), x = c(3.14159, NA), when = as.Date(c("2024-01-02", "2024-03-04")),
    f = factor(c("lo", "hi")), stringsAsFactors = FALSE
  )
  component <- card_table(df, digits = 3)
  expect_equal(component$headers, list("name", "n", "x", "when", "f"))
  expect_equal(component$rows[[1]], list("a", 1L, 3.14, "2024-01-02", "lo"))
  expect_equal(component$rows[[2]], list(NULL, 2L, NULL, "2024-03-04", "hi"))
  expect_equal(component$digits, 3L)
  cars <- card_table(mtcars)
  expect_equal(cars$headers[1:2], list(" ", "mpg"))
  expect_equal(cars$rows[[1]][1:2], list("Mazda RX4", 21))
  expect_length(card_table(mtcars[0, ])$rows, 0L)
})

test_that("card_plot() draws a ggplot or base-R code to PNG or SVG, with no display", {
  png_magic <- as.raw(c(0x89, 0x50, 0x4e, 0x47))
  gg <- card_plot(ggplot2::ggplot(mtcars, ggplot2::aes(wt, mpg)) + ggplot2::geom_point())
  expect_equal(gg$type, "image")
  expect_equal(gg$format, "png")
  expect_equal(gg$bytes[1:4], png_magic)
  xs <- 1:20
  base <- card_plot({
    plot(xs, xs^2)
    abline(h = 100)
  }, format = "svg", width = 4, height = 3, label = "squares")
  expect_equal(base$format, "svg")
  expect_match(rawToChar(base$bytes), "<svg", fixed = TRUE)
  expect_equal(base$label, "squares")
  drawn <- card_plot(function() hist(xs))
  expect_equal(drawn$bytes[1:4], png_magic)
  expect_equal(grDevices::dev.cur(), c("null device" = 1L), ignore_attr = FALSE)
})

test_that("a plot whose code errors is an error component, with a message", {
  expect_message(broken <- card_plot(stop("no data")), "card: card_plot() failed: no data", fixed = TRUE)
  expect_equal(broken$type, "error")
  expect_equal(broken$message, "card_plot() failed: no data")
  expect_equal(grDevices::dev.cur(), c("null device" = 1L))
})

test_that("a plot of a package that isn't installed says what to install", {
  expect_error(require_suggested("notapackage", "card_plot() of a ggplot"), class = "metaflow_error_card")
  expect_snapshot(error = TRUE, require_suggested("notapackage", "card_plot() of a ggplot"))
})

test_that("card_image() takes a file or raw bytes of an image, and names what it isn't", {
  path <- tempfile(fileext = ".png")
  grDevices::png(path, type = "cairo")
  plot(1)
  grDevices::dev.off()
  from_file <- card_image(path, label = "one point")
  expect_equal(from_file$format, "png")
  expect_identical(from_file$bytes, readBin(path, "raw", file.size(path)))
  expect_equal(card_image(charToRaw("<svg xmlns='http://www.w3.org/2000/svg'></svg>"))$format, "svg")
  expect_equal(card_image(as.raw(c(0xff, 0xd8, 0xff, 0xe0)))$format, "jpeg")
  expect_snapshot({
    card_image(charToRaw("plain text"))
    card_image("/nonexistent/missing.png")
    card_image(42)
  })
})

test_that("card_artifact() names an artifact; bad arguments are error components", {
  expect_equal(unclass(card_artifact("model")), list(type = "artifact", name = "model"))
  expect_snapshot({
    card_artifact("")
    card_markdown(NA_character_)
    card_table(mtcars, digits = 0)
  })
})

test_that("components print what they hold", {
  expect_snapshot({
    card_markdown("# Hi")
    card_table(head(mtcars, 3))
    card_artifact("model")
    print(card_image(as.raw(c(0xff, 0xd8, 0xff, 0xe0))))
  })
})
