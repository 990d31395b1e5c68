test_that("library(metaflow) says nothing but R's masking note, and starts no Python", {
  started <- file.path(withr::local_tempdir(), "started")
  python <- local_fake_python(sprintf("touch '%s'", started))
  data_dir <- withr::local_tempdir()
  result <- processx::run(
    file.path(R.home("bin"), "Rscript"), c("-e", "library(metaflow)"),
    env = clean_python_env(METAFLOW_PYTHON = python, R_USER_DATA_DIR = data_dir)
  )
  expect_equal(result$stdout, "")
  # R quotes with ‘’ in a UTF-8 locale and with '' in others.
  lines <- gsub("[\u2018\u2019]", "'", trimws(strsplit(trimws(result$stderr), "\n+")[[1]]))
  expect_equal(lines, c(
    "Attaching package: 'metaflow'",
    "The following object is masked from 'package:stats':",
    "step"
  ))
  expect_false(file.exists(started))
  expect_equal(list.files(data_dir, recursive = TRUE, all.files = TRUE), character())
})
