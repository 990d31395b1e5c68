"""Writing R values as an uncompressed RDS file (see inst/PROTOCOL.md, section 4).

R reads the file with ``readRDS()``, which needs nothing but base R: an R step
starts faster when it doesn't load a JSON parser. Only the types a step request
uses are written, in R's XDR serialization format, version 2:

* ``None`` -> ``NULL``
* ``bool`` -> logical, ``int`` -> integer (double outside R's integer range),
  ``float`` -> double, ``str`` -> character (UTF-8): vectors of length 1
* ``list`` and ``tuple`` -> an unnamed list, ``dict`` (``str`` keys) -> a named list
* ``RVector(kind, values)`` -> an atomic vector of any length, ``None`` items being ``NA``

Anything else raises ``TypeError``.
"""

import struct
from collections import namedtuple

# Item types and flag bits of R's serialize.c.
NILSXP_VALUE = 254
REFSXP = 255
SYMSXP = 1
LISTSXP = 2
CHARSXP = 9
LGLSXP = 10
INTSXP = 13
REALSXP = 14
STRSXP = 16
VECSXP = 19
HAS_ATTRIBUTES = 1 << 9
HAS_TAG = 1 << 10
UTF8_LEVEL = 1 << 3
ASCII_LEVEL = 1 << 6

NA_INTEGER = -(2 ** 31)
# NA_real_ is the NaN whose low word is 1954.
NA_REAL = b"\x7f\xf0\x00\x00\x00\x00\x07\xa2"
WRITER_VERSION = (4 << 16) | (2 << 8)
READER_VERSION = (2 << 16) | (3 << 8)

KINDS = ("logical", "integer", "double", "character")


class RVector(namedtuple("RVector", ["kind", "values"])):
    """An R atomic vector: ``kind`` is one of KINDS; ``None`` in ``values`` is ``NA``."""

    def __new__(cls, kind, values):
        if kind not in KINDS:
            raise ValueError("RVector kind must be one of %s, not %r" % (", ".join(KINDS), kind))
        return super().__new__(cls, kind, list(values))


def dumps(value):
    """The bytes of ``saveRDS(value, compress = FALSE, version = 2)`` in R."""
    writer = _Writer()
    writer.out.append(b"X\n")
    writer.int(2)
    writer.int(WRITER_VERSION)
    writer.int(READER_VERSION)
    writer.item(value)
    return b"".join(writer.out)


def dump(value, path):
    with open(path, "wb") as f:
        f.write(dumps(value))


def _is_r_integer(value):
    return NA_INTEGER < value < 2 ** 31


class _Writer:
    def __init__(self):
        self.out = []
        self.symbols = {}

    def int(self, value):
        self.out.append(struct.pack(">i", value))

    def item(self, value):
        if value is None:
            self.int(NILSXP_VALUE)
        elif isinstance(value, RVector):
            self.vector(value.kind, value.values)
        elif isinstance(value, bool):
            self.vector("logical", [value])
        elif isinstance(value, int):
            self.vector("integer" if _is_r_integer(value) else "double", [value])
        elif isinstance(value, float):
            self.vector("double", [value])
        elif isinstance(value, str):
            self.vector("character", [value])
        elif isinstance(value, (list, tuple)):
            self.list(value, None)
        elif isinstance(value, dict):
            names = list(value)
            if not all(isinstance(name, str) for name in names):
                raise TypeError("RDS: the keys of a dict must be strings, got %r" % names)
            self.list(list(value.values()), names)
        else:
            raise TypeError("RDS: can't write a value of type %s" % type(value).__name__)

    def list(self, items, names):
        self.int(VECSXP | (HAS_ATTRIBUTES if names is not None else 0))
        self.int(len(items))
        for item in items:
            self.item(item)
        if names is not None:
            self.int(LISTSXP | HAS_TAG)
            self.symbol("names")
            self.vector("character", names)
            self.int(NILSXP_VALUE)

    # A symbol is written once; later uses refer to it by its 1-based position.
    def symbol(self, name):
        if name in self.symbols:
            self.int((self.symbols[name] << 8) | REFSXP)
            return
        self.symbols[name] = len(self.symbols) + 1
        self.int(SYMSXP)
        self.string(name)

    def vector(self, kind, values):
        code = {"logical": LGLSXP, "integer": INTSXP, "double": REALSXP, "character": STRSXP}[kind]
        self.int(code)
        self.int(len(values))
        for value in values:
            if kind == "character":
                self.string(value)
            elif kind == "double":
                self.double(value)
            else:
                self.integer(kind, value)

    def integer(self, kind, value):
        if value is None:
            self.int(NA_INTEGER)
            return
        ok = isinstance(value, bool) if kind == "logical" else (
            isinstance(value, int) and not isinstance(value, bool) and _is_r_integer(value))
        if not ok:
            raise TypeError("RDS: %r is not a valid %s value" % (value, kind))
        self.int(int(value))

    def double(self, value):
        if value is None:
            self.out.append(NA_REAL)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.out.append(struct.pack(">d", float(value)))
        else:
            raise TypeError("RDS: %r is not a valid double value" % (value,))

    def string(self, value):
        if value is None:
            self.int(CHARSXP)
            self.int(-1)
            return
        if not isinstance(value, str):
            raise TypeError("RDS: %r is not a string" % (value,))
        data = value.encode("utf-8")
        level = ASCII_LEVEL if value.isascii() else UTF8_LEVEL
        self.int(CHARSXP | (level << 12))
        self.int(len(data))
        self.out.append(data)
