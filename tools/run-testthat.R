# Runs the package's testthat suite from the repository root (make test) and
# closes with one line counting tests; exits non-zero if any test failed or
# errored, or if there were none.
results <- as.data.frame(testthat::test_local(".", reporter = "summary", stop_on_failure = FALSE))
failed <- results$failed > 0 | results$error
skipped <- results$skipped & !failed
cat(sprintf(
  "testthat: %d passed, %d failed, %d skipped\n",
  sum(!failed & !skipped), sum(failed), sum(skipped)
))
quit(status = if (nrow(results) == 0 || any(failed)) 1 else 0)
