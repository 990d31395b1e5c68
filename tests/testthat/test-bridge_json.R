test_that("json_text() writes scalars, arrays, objects and null", {
  expect_identical(json_text(NULL), "null")
  expect_identical(json_text(TRUE), "true")
  expect_identical(json_text(c(TRUE, FALSE, NA)), "[true,false,null]")
  expect_identical(json_text(3L), "3")
  expect_identical(json_text(c(1L, NA)), "[1,null]")
  expect_identical(json_text("a"), "\"a\"")
  expect_identical(json_text(NA_character_), "null")
  expect_identical(json_text(character()), "[]")
  expect_identical(json_text(list()), "[]")
  expect_identical(json_text(structure(list(), names = character())), "{}")
  expect_identical(json_text(list(1L, "b", NULL)), "[1,\"b\",null]")
  expect_identical(
    json_text(list(ok = TRUE, error = NULL, nested = list(a = list(), b = list(c = 1L)))),
    "{\"ok\":true,\"error\":null,\"nested\":{\"a\":[],\"b\":{\"c\":1}}}"
  )
})

test_that("json_text() writes doubles exactly, with a decimal point", {
  expect_identical(json_text(2), "2.0")
  expect_identical(json_text(c(0.1, 1 / 3, 1e300, -2.5e-8)), "[0.1,0.3333333333333333,1e+300,-2.5e-08]")
  expect_identical(json_text(c(NA, NaN, Inf, -Inf)), "[null,null,null,null]")
  values <- c(pi, exp(1), 1 / 3, .Machine$double.xmax, .Machine$double.xmin, 123456789.123)
  expect_identical(jsonlite::parse_json(json_text(values), simplifyVector = TRUE), values)
})

test_that("json_text() escapes what JSON needs and passes UTF-8 through", {
  expect_identical(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"")
  expect_identical(json_string("line\nret\rtab\t"), "\"line\\nret\\rtab\\t\"")
  expect_identical(json_string("\001\037\b\f"), "\"\\u0001\\u001f\\u0008\\u000c\"")
  utf8 <- "na\u00efve \u65e5\u672c \U0001F600"
  expect_identical(json_string(utf8), paste0("\"", utf8, "\""))
  expect_identical(Encoding(json_string(utf8)), "UTF-8")
  latin1 <- iconv("caf\u00e9", "UTF-8", "latin1")
  expect_identical(charToRaw(json_string(latin1)), charToRaw(enc2utf8("\"caf\u00e9\"")))
  expect_identical(json_text(list("k\"ey\n" = "v")), "{\"k\\\"ey\\n\":\"v\"}")
})

test_that("what json_text() writes reads back as the same values", {
  tricky <- c("\"", "\\", "\n\r\t", intToUtf8(c(1:31, 127)), "\u00e9\u65e5\U0001F600", "/", "")
  value <- list(strings = as.list(tricky), numbers = list(1L, -2L, 0.5, 1e-300), flags = list(TRUE, FALSE))
  expect_identical(jsonlite::parse_json(json_text(value)), value)
  path <- withr::local_tempfile(fileext = ".json")
  writeLines(json_text(value), path, useBytes = TRUE)
  parsed <- processx::run(
    metaflow_python(),
    c("-c", "import json, sys; print(json.dumps(json.load(open(sys.argv[1], encoding='utf-8'))['strings']))", path)
  )$stdout
  expect_identical(jsonlite::parse_json(parsed), as.list(tricky))
})

test_that("simplify_json() simplifies as jsonlite's simplifyVector does", {
  cases <- c(
    "1", "\"NA\"", "null", "[]", "{}", "[[]]", "[[], [1]]", "[[], [\"a\", \"b\"]]", "[[], [{\"a\": 1}]]",
    "[1, 2, 3]", "[1, 2.5]", "[2147483648, 1]", "[true, 1]", "[true, \"a\"]", "[1, \"x\"]",
    "[null, null]", "[null, 1]", "[null, \"a\"]", "[1, \"NA\", 2]", "[\"NA\", \"a\"]", "[\"NA\"]",
    "[1, \"Inf\", \"-Inf\", \"NaN\"]", "[[1, 2], [3, 4]]", "[[1, 2], [3]]", "[[1, \"a\"], [2, 3]]",
    "[[1, null], [2, 3]]", "[[null], [null]]", "[[\"NA\"], [1]]", "[1, [2]]", "[[1], [2]]",
    "[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]", "[[1, 2], \"a\"]", "[{\"a\": 1}, 2]",
    "[{\"a\": 1}, {\"a\": 2, \"b\": \"x\"}]", "[{\"a\": 1}, null]", "[{}, {}]",
    "[{\"a\": [1, 2]}, {\"a\": [3, 4]}]", "[{\"a\": {\"b\": 1}}, {\"a\": {\"b\": 2}}]",
    "[{\"a\": 1, \"b\": [1, 2]}, {\"a\": 2, \"b\": [3]}]", "[{\"a\": []}, {\"a\": [1]}]",
    "[{\"a\": [[1, 2], [3, 4]]}, {\"a\": [[5, 6], [7, 8]]}]",
    "[{\"_row\": \"r1\", \"x\": 1}, {\"_row\": \"r2\", \"x\": 2}]", "[{\"_row\": 3, \"x\": 1}]", "[{\"_row\": null, \"x\": 1}, {\"_row\": \"a\", \"x\": 2}]",
    "{\"a\": [1, 2], \"b\": null, \"c\": {\"d\": [[1], [2]]}, \"e\": [{\"f\": true}]}",
    "{\"layers\": [1, 2, 3], \"label\": \"deep\", \"weights\": {\"rating\": 0.7, \"year\": 0.3}}"
  )
  for (json in cases) {
    expect_identical(
      simplify_json(jsonlite::parse_json(json, simplifyVector = FALSE)),
      jsonlite::parse_json(json, simplifyVector = TRUE),
      label = json
    )
  }
})
