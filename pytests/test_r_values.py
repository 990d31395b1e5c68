"""Python values as R values, checked against real R: unserialize() of to_rds()
gives what the R expression next to each value builds."""

import datetime
import decimal
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from metaflow_core.exceptions import MetaflowException, RValueError
from metaflow_core.r.values import MAX_DEPTH, to_rds

RSCRIPT = shutil.which("Rscript")

# Reads files[i], evaluates exprs[i] (which may use `x`, the value read) and
# prints one line per case: "i: ok" or what differs.
CHECK_IN_R = r"""
args <- commandArgs(TRUE)
n <- length(args) / 2
for (i in seq_len(n)) {
  f <- args[[i]]
  x <- unserialize(readBin(f, "raw", file.size(f)))
  want <- eval(parse(text = args[[n + i]], encoding = "UTF-8"), list(x = x))
  if (identical(x, want)) cat(i - 1, ": ok\n", sep = "")
  else cat(i - 1, ": ", deparse(x), " != ", deparse(want), "\n", sep = "")
}
"""


def check_in_r(tmp_path, cases):
    """Every case's value read by one R process; the cases R reads otherwise than expected."""
    assert RSCRIPT, "these tests need R: Rscript is not on the PATH"
    files = []
    for i, (value, _) in enumerate(cases):
        path = tmp_path / ("%d.rds" % i)
        path.write_bytes(to_rds(value))
        files.append(str(path))
    out = subprocess.run([RSCRIPT, "--vanilla", "-e", CHECK_IN_R, *files,
                          *(expr for _, expr in cases)], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode("utf-8").splitlines()
    assert len(lines) == len(cases), lines
    return ["%r -> %s" % (cases[int(line.split(":")[0])][0], line)
            for line in lines if not line.endswith(": ok")]


UTC = datetime.timezone.utc
PYTHON_CASES = [
    (None, "NULL"),
    (True, "TRUE"),
    (False, "FALSE"),
    (0, "0L"),
    (-7, "-7L"),
    (2 ** 31 - 1, "2147483647L"),
    (-(2 ** 31) + 1, "-2147483647L"),
    (2 ** 31, "2^31"),
    (-(2 ** 31), "-2^31"),
    (1.5, "1.5"),
    (math.nan, "NaN"),
    (math.inf, "Inf"),
    (-math.inf, "-Inf"),
    ("", '""'),
    ("na\u00efve \u65e5\u672c", '"na\\u00efve \\u65e5\\u672c"'),
    (b"\x00\xffab", "as.raw(c(0, 255, 97, 98))"),
    (bytearray(b""), "raw(0)"),
    ([1, 2, 3], "1:3"),
    ([True, False], "c(TRUE, FALSE)"),
    ([1, 2.5], "c(1, 2.5)"),
    ([1, 2 ** 31], "c(1, 2^31)"),
    ([math.nan, 1.0], "c(NaN, 1)"),
    (["a", "\u00e9"], 'c("a", "\\u00e9")'),
    ([1, "a", None], 'list(1L, "a", NULL)'),
    ([True, 1], "list(TRUE, 1L)"),
    ([None], "list(NULL)"),
    ([], "list()"),
    ([[1, 2], ["a"], [1, [2]]], 'list(1:2, "a", list(1L, 2L))'),
    ((1, "b"), 'list(1L, "b")'),
    ((1, 2), "list(1L, 2L)"),
    ((), "list()"),
    ({"a": 1, "b": [1, 2]}, "list(a = 1L, b = 1:2)"),
    ({}, "structure(list(), names = character(0))"),
    ({"x": None, "y": (True,), "z": {"deep": b"\x01"}},
     "list(x = NULL, y = list(TRUE), z = list(deep = as.raw(1)))"),
    ([{"a": 1}, {}], "list(list(a = 1L), setNames(list(), character(0)))"),
    (datetime.date(2024, 1, 2), 'as.Date("2024-01-02")'),
    (datetime.date(1969, 12, 31), 'as.Date("1969-12-31")'),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC),
     'as.POSIXct("2024-01-02 03:04:05.25", tz = "UTC")'),
    (datetime.datetime(2024, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     'as.POSIXct("2024-01-02 03:04:05", tz = "UTC")'),
    # Naive: local time in both processes, and no tzone, as Sys.time() has none.
    (datetime.datetime(2024, 7, 2, 3, 4, 5),
     'structure(as.numeric(as.POSIXct("2024-07-02 03:04:05")), class = c("POSIXct", "POSIXt"))'),
    ([datetime.date(2024, 1, 2)], 'list(as.Date("2024-01-02"))'),
]


def test_python_values(tmp_path):
    assert check_in_r(tmp_path, PYTHON_CASES) == []


NUMPY_CASES = [
    (np.bool_(True), "TRUE"),
    (np.int64(5), "5L"),
    (np.int64(2 ** 40), "2^40"),
    (np.uint8(200), "200L"),
    (np.float32(0.5), "0.5"),
    (np.float64(math.nan), "NaN"),
    (np.str_("a"), '"a"'),
    ([np.int64(1), np.int32(2)], "1:2"),
    ([np.float64(1.5), 2], "c(1.5, 2)"),
    (np.array([1, 2, 3]), "1:3"),
    (np.array([True, False]), "c(TRUE, FALSE)"),
    (np.array([1.5, np.nan, -np.inf]), "c(1.5, NaN, -Inf)"),
    (np.array([0.5, 0.25], dtype=np.float32), "c(0.5, 0.25)"),
    (np.array(["a", "bc", "\u00e9"]), 'c("a", "bc", "\\u00e9")'),
    (np.array([2 ** 40, 1]), "c(2^40, 1)"),
    (np.array([1, 2], dtype=np.uint64), "1:2"),
    (np.array([2 ** 63], dtype=np.uint64), "2^63"),
    (np.array([-(2 ** 31)], dtype=np.int64), "-2^31"),
    (np.array(7), "7L"),
    (np.zeros(0), "numeric(0)"),
    (np.array([], dtype=bool), "logical(0)"),
    (np.arange(6).reshape(2, 3), "matrix(0:5, nrow = 2, byrow = TRUE)"),
    (np.arange(24).reshape(2, 3, 4), "aperm(array(0:23, c(4, 3, 2)))"),
    (np.array([["a", "b"], ["c", "d"]]), 'matrix(c("a", "b", "c", "d"), 2, byrow = TRUE)'),
    (np.zeros((0, 3)), "matrix(numeric(0), 0, 3)"),
    ({"m": np.eye(2)}, "list(m = diag(2))"),
]


def test_numpy_values(tmp_path):
    assert check_in_r(tmp_path, NUMPY_CASES) == []


PANDAS_CASES = [
    (pd.DataFrame({"a": [1, 2, 3], "b": [0.5, math.nan, 2.0], "c": ["x", None, "z"],
                   "d": [True, False, True]}),
     'data.frame(a = 1:3, b = c(0.5, NaN, 2), c = c("x", NA, "z"), d = c(TRUE, FALSE, TRUE))'),
    # Row names 1..n are stored compact, as R's own data frames keep them.
    (pd.DataFrame({"a": [1, 2, 3]}), "if (identical(.row_names_info(x), -3L)) data.frame(a = 1:3)"),
    (pd.DataFrame({"s": pd.Series(["x", None, math.nan], dtype=object),
                   "t": pd.Series(["u", None], dtype="string").reindex([0, 1, 2])}),
     'data.frame(s = c("x", NA, NA), t = c("u", NA, NA))'),
    (pd.DataFrame({"i": pd.array([1, None], dtype="Int64"),
                   "b": pd.array([True, None], dtype="boolean"),
                   "f": pd.array([0.5, None], dtype="Float64")}),
     "data.frame(i = c(1L, NA), b = c(TRUE, NA), f = c(0.5, NA))"),
    (pd.DataFrame({"big": [2 ** 40, 1], "u": np.array([1, 2], dtype=np.uint16)}),
     "data.frame(big = c(2^40, 1), u = 1:2)"),
    (pd.DataFrame(), "data.frame()"),
    (pd.DataFrame({"a": pd.Series([], dtype="int64")}), "data.frame(a = integer(0))"),
    (pd.DataFrame({"a": [1, 2]}, index=["r1", "r2"]),
     'data.frame(a = 1:2, row.names = c("r1", "r2"))'),
    (pd.DataFrame({"a": [1, 2]}, index=[10, 20]), "data.frame(a = 1:2)"),
    (pd.DataFrame({"a": [1, 2]}, index=["r", "r"]), "data.frame(a = 1:2)"),
    (pd.DataFrame(np.zeros((2, 2))),
     "data.frame(`0` = c(0, 0), `1` = c(0, 0), check.names = FALSE)"),
    (pd.Series([1.5, 2.5]), "c(1.5, 2.5)"),
    (pd.Series([1, 2], index=["a", "b"]), "c(a = 1L, b = 2L)"),
    (pd.Series(["x", "y"], name="s"), 'c("x", "y")'),
    ({"df": pd.DataFrame({"a": [True]})}, "list(df = data.frame(a = TRUE))"),
]


def test_pandas_values(tmp_path):
    assert check_in_r(tmp_path, PANDAS_CASES) == []


class Point:
    pass


# pandas 3 names its classes by the public module ("pandas.DataFrame"), pandas 2 by where
# they are defined ("pandas.core.frame.DataFrame").
FRAME = "%s.DataFrame" % pd.DataFrame.__module__
SERIES = "%s.Series" % pd.Series.__module__


def refusal(value):
    with pytest.raises(RValueError) as info:
        to_rds(value)
    return info.value


@pytest.mark.parametrize("value, python_type, message", [
    ({1, 2}, "set", "A Python set has no R equivalent."),
    (frozenset(), "frozenset", "A Python frozenset has no R equivalent."),
    (decimal.Decimal("1.5"), "decimal.Decimal", "A Python decimal.Decimal has no R equivalent."),
    (1j, "complex", "A Python complex has no R equivalent."),
    (Point(), __name__ + ".Point", "A Python %s.Point has no R equivalent." % __name__),
    (len, "builtin_function_or_method",
     "A Python builtin_function_or_method has no R equivalent."),
    ({1: "a"}, "dict", "A Python dict with a key of type int has no R equivalent."),
    (10 ** 400, "int", "A Python int too large for a double has no R equivalent."),
    (np.array([object()], dtype=object), "numpy.ndarray",
     "A Python numpy.ndarray of dtype object has no R equivalent."),
    (np.array([1j]), "numpy.ndarray",
     "A Python numpy.ndarray of dtype complex128 has no R equivalent."),
    (np.datetime64("2024-01-02"), "numpy.datetime64",
     "A Python numpy.datetime64 has no R equivalent."),
])
def test_values_without_r_equivalent(value, python_type, message):
    err = refusal(value)
    assert (err.python_type, err.inner_type, err.message) == (python_type, python_type, message)
    assert isinstance(err, MetaflowException) and err.headline == "No R equivalent"


@pytest.mark.parametrize("value, python_type, inner_type, detail", [
    ({"a": {1, 2}}, "dict", "set", "a Python set"),
    ([1, (2, [Point()])], "list", __name__ + ".Point", "a Python %s.Point" % __name__),
    ({"a": [{2: "b"}]}, "dict", "dict", "a Python dict with a key of type int"),
    ([1, 10 ** 400], "list", "int", "a Python int too large for a double"),
    ({"x": np.array([1j])}, "dict", "numpy.ndarray", "a Python numpy.ndarray of dtype complex128"),
    (pd.DataFrame({"when": pd.to_datetime(["2024-01-02"])}), FRAME,
     SERIES, 'a Python %s "when" of dtype datetime64[us]' % SERIES),
    (pd.DataFrame({"p": [decimal.Decimal(1)]}), FRAME,
     SERIES,
     'a Python %s "p" of dtype object holding a Python decimal.Decimal' % SERIES),
])
def test_values_holding_what_r_cant_hold(value, python_type, inner_type, detail):
    err = refusal(value)
    assert (err.python_type, err.inner_type) == (python_type, inner_type)
    assert err.message == "A Python %s has no R equivalent: it holds %s." % (python_type, detail)


def test_a_value_that_holds_itself_is_refused():
    cycle = [1]
    cycle.append(cycle)
    assert refusal(cycle).message == "A Python list that holds itself has no R equivalent."
    inner = []
    inner.append(inner)
    err = refusal({"k": inner})
    assert (err.python_type, err.inner_type) == ("dict", "list")
    assert err.message == ("A Python dict has no R equivalent: "
                           "it holds a Python list that holds itself.")


def test_a_value_shared_twice_is_no_cycle():
    shared = [1, 2]
    assert to_rds([shared, shared, {"s": shared}]) == to_rds([[1, 2], [1, 2], {"s": [1, 2]}])


def nested(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_deep_values_are_refused_before_python_recursion_fails():
    to_rds(nested(MAX_DEPTH))
    err = refusal(nested(MAX_DEPTH + 1))
    assert err.message == ("A Python list has no R equivalent: it holds a Python list nested "
                           "more than %d deep." % MAX_DEPTH)
    assert refusal(nested(50 * MAX_DEPTH)).inner_type == "list"


def test_numpy_and_pandas_are_imported_only_for_their_values():
    code = ("import sys; from metaflow_core.r.values import to_rds; "
            "to_rds([1, {'a': (2.5, 'x')}, b'', None]); "
            "print(sorted({'numpy', 'pandas'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "[]"
