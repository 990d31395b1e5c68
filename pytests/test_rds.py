"""The RDS writer, checked against real R: readRDS() reads what it writes, and
the bytes equal R's own saveRDS(compress = FALSE, version = 2)."""

import math
import shutil
import subprocess

import pytest

from metaflow_core.r import rds
from metaflow_core.r.rds import RVector

RSCRIPT = shutil.which("Rscript")


def run_r(code, *args):
    assert RSCRIPT, "these tests need R: Rscript is not on the PATH"
    out = subprocess.run([RSCRIPT, "--vanilla", "-e", code, *args], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode("utf-8")


def read_in_r(tmp_path, value):
    """dput() of what readRDS() gives back for value."""
    path = tmp_path / "value.rds"
    rds.dump(value, str(path))
    return run_r("dput(readRDS(commandArgs(TRUE)[1]))", str(path)).strip()


# Each value with the R expression that builds what readRDS() must give back.
CASES = [
    (None, "NULL"),
    (True, "TRUE"),
    (False, "FALSE"),
    (0, "0L"),
    (-7, "-7L"),
    (2 ** 31 - 1, "2147483647L"),
    (-(2 ** 31) + 1, "-2147483647L"),
    (2 ** 31, "2147483648"),
    (-(2 ** 31), "-2147483648"),
    (2 ** 53 + 1, "9007199254740992"),
    (1.0, "1"),
    (0.1, "0.1"),
    (-2.5e-300, "-2.5e-300"),
    (1 / 3, "1/3"),
    (math.inf, "Inf"),
    (-math.inf, "-Inf"),
    ("", '""'),
    ("plain", '"plain"'),
    ("na\u00efve \u65e5\u672c \U0001F600", '"na\\u00efve \\u65e5\\u672c \\U0001F600"'),
    ('quote " backslash \\ newline \n tab \t nul-free \x01', '"quote \\" backslash \\\\ newline \\n tab \\t nul-free \\001"'),
    ("NA", '"NA"'),
    ([], "list()"),
    ((), "list()"),
    ({}, "structure(list(), names = character(0))"),
    ([1, 2, 3], "list(1L, 2L, 3L)"),
    (["a"], 'list("a")'),
    ([None, True, 1.5, "x"], 'list(NULL, TRUE, 1.5, "x")'),
    ({"a": 1, "b": None, "c": [True]}, "list(a = 1L, b = NULL, c = list(TRUE))"),
    ({"\u00e9t\u00e9": "x", "": 2}, 'structure(list("x", 2L), names = c("\\u00e9t\\u00e9", ""))'),
    ({"outer": {"inner": {"deep": []}}, "list": [{}, {"k": "v"}]},
     'list(outer = list(inner = list(deep = list())), list = list(structure(list(), names = character(0)), list(k = "v")))'),
    (RVector("logical", [True, None, False]), "c(TRUE, NA, FALSE)"),
    (RVector("integer", [1, None, -3]), "c(1L, NA, -3L)"),
    (RVector("double", [1.5, None, 2]), "c(1.5, NA, 2)"),
    (RVector("character", ["a", None, "\u00e9"]), 'c("a", NA, "\\u00e9")'),
    (RVector("character", []), "character(0)"),
    (RVector("logical", [None]), "NA"),
    (RVector("character", [None]), "NA_character_"),
]


def test_r_reads_every_value_as_expected(tmp_path):
    # One R process checks all cases: identical(readRDS(file_i), expected_i).
    files, expected = [], []
    for i, (value, r_expr) in enumerate(CASES):
        path = tmp_path / ("%d.rds" % i)
        rds.dump(value, str(path))
        files.append(str(path))
        expected.append(r_expr)
    code = "\n".join([
        "args <- commandArgs(TRUE)",
        "files <- args[seq_len(length(args) / 2)]",
        "exprs <- args[-seq_len(length(args) / 2)]",
        "for (i in seq_along(files)) {",
        "  got <- readRDS(files[[i]])",
        "  want <- eval(parse(text = exprs[[i]], encoding = 'UTF-8'))",
        "  if (!identical(got, want)) cat(i - 1, ':', deparse(got), '!=', deparse(want), '\\n')",
        "  else cat(i - 1, ': ok\\n')",
        "}",
    ])
    out = run_r(code, *files, *expected)
    failures = [line for line in out.splitlines() if not line.endswith(": ok")]
    assert failures == []
    assert len(out.splitlines()) == len(CASES)


def test_strings_keep_their_utf8_encoding(tmp_path):
    path = tmp_path / "s.rds"
    rds.dump(["na\u00efve", "ascii"], str(path))
    out = run_r("x <- readRDS(commandArgs(TRUE)[1]); cat(Encoding(unlist(x)), nchar(x[[1]]))", str(path))
    assert out == "UTF-8 unknown 5"


def test_nan_reads_as_nan_not_na(tmp_path):
    assert read_in_r(tmp_path, RVector("double", [math.nan, None])) == "c(NaN, NA)"


def test_bytes_equal_r_saverds(tmp_path):
    value = {
        "version": 1, "step": "start", "join": None, "rate": 0.25, "big": 2 ** 40,
        "flag": False, "names": ["a", "\u00e9"], "nested": {"x": {"y": []}, "z": {}},
    }
    r_value = ('list(version = 1L, step = "start", join = NULL, rate = 0.25, big = 2^40, '
               'flag = FALSE, names = list("a", "\\u00e9"), '
               'nested = list(x = list(y = list()), z = structure(list(), names = character(0))))')
    path = tmp_path / "r.rds"
    run_r("saveRDS(eval(parse(text = commandArgs(TRUE)[1])), commandArgs(TRUE)[2], "
          "compress = FALSE, version = 2)", r_value, str(path))
    r_bytes = path.read_bytes()
    ours = rds.dumps(value)
    # The header's third field is the version of R that wrote the file.
    assert ours[:6] == r_bytes[:6]
    assert ours[10:] == r_bytes[10:]


def test_large_request_round_trips(tmp_path):
    value = {"artifacts": {"a%d" % i: {"path": "/p/%d" % i, "sha": "%040x" % i, "encoding": "rds"}
                           for i in range(2000)}}
    path = tmp_path / "big.rds"
    rds.dump(value, str(path))
    out = run_r("x <- readRDS(commandArgs(TRUE)[1])$artifacts; "
                "cat(length(x), x$a1999$path, x[[1]]$encoding)", str(path))
    assert out == "2000 /p/1999 rds"


@pytest.mark.parametrize("value", [
    object(), b"bytes", {1: "non-string key"}, {"a": {2.5}}, 1j,
    RVector("integer", [2 ** 31]), RVector("integer", [True]), RVector("logical", [1]),
    RVector("double", ["x"]), RVector("character", [1]),
])
def test_values_r_cant_hold_are_refused(value):
    with pytest.raises(TypeError):
        rds.dumps(value)


def test_unknown_vector_kind_is_refused():
    with pytest.raises(ValueError):
        RVector("complex", [1])
