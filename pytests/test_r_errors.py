"""An R step's failure in R's terms (r/errors.py): records, log lines, caught conditions."""

import shutil
import subprocess

from metaflow_core.decorators import TimeoutException
from metaflow_core.r.bridge import RStepError
from metaflow_core.r.errors import caught_value, error_lines, error_record

RSCRIPT = shutil.which("Rscript")


def raised(exc):
    try:
        raise exc
    except Exception as caught:
        return caught


def test_an_r_error_is_recorded_with_its_r_traceback_and_no_python_frames():
    exc = raised(RStepError("the data is bad", step="start", call="helper(x)",
                            traceback=["start(self)", "helper(x) at flow.R:3"],
                            r_class=["simpleError", "error", "condition"]))

    record = error_record(exc)

    assert (record["language"], record["call"], record["r_class"]) == (
        "R", "helper(x)", ["simpleError", "error", "condition"])
    assert record["traceback"] == (
        "Error in helper(x): the data is bad\nR traceback:\n  1. start(self)\n"
        "  2. helper(x) at flow.R:3\n")
    assert "File" not in record["traceback"]


def test_a_timeout_in_an_r_step_is_recorded_in_r_terms():
    record = error_record(raised(TimeoutException("Step slow timed out after 5 seconds",
                                                  step="slow")))

    assert record["type"] == "TimeoutException"
    assert (record["language"], record["call"], record["r_traceback"]) == ("R", None, [])
    assert record["r_class"] == ["metaflow_error_timeout", "metaflow_error", "error", "condition"]
    assert error_lines(record) == ["Error: Step slow timed out after 5 seconds"]
    assert record["traceback"] == "Error: Step slow timed out after 5 seconds\n"


def test_an_engine_failure_is_caught_as_an_r_condition_r_reads(tmp_path):
    assert RSCRIPT, "this test needs R: Rscript is not on the PATH"
    exc = raised(TimeoutException("Step slow timed out after 5 seconds", step="slow"))
    value = caught_value(exc, error_record(exc), "slow", "F/1/slow/2")
    path = tmp_path / "err.bin"
    path.write_bytes(value.rds_bytes)

    shown = subprocess.run(
        [RSCRIPT, "-e", 'e <- unserialize(readBin("%s", "raw", 1e5)); '
         'writeLines(c(class(e), conditionMessage(e), is.null(conditionCall(e)), '
         'length(e$traceback), e$step, e$pathspec))' % path],
        capture_output=True, text=True, check=True).stdout.split("\n")

    assert shown[:-1] == [
        "metaflow_caught_error", "metaflow_error_timeout", "metaflow_error", "error", "condition",
        "Step slow timed out after 5 seconds", "TRUE", "0", "slow", "F/1/slow/2"]


def test_an_r_error_is_caught_as_the_condition_r_serialized():
    exc = RStepError("boom", caught_rds=b"X\nbytes R wrote")

    assert caught_value(exc, error_record(exc), "a", "F/1/a/2").rds_bytes == b"X\nbytes R wrote"
