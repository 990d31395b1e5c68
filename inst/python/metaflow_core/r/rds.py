"""Writing R values as an uncompressed RDS file (see inst/PROTOCOL.md, section 4).

R reads the file with ``readRDS()``, which needs nothing but base R: an R step
starts faster when it doesn't load a JSON parser. Only the types a step request
and Python artifacts read from R (r/values.py) use are written, in R's
XDR serialization format, version 2:

* ``None`` -> ``NULL``
* ``bool`` -> logical, ``int`` -> integer (double outside R's integer range),
  ``float`` -> double, ``str`` -> character (UTF-8): vectors of length 1
* ``list`` and ``tuple`` -> an unnamed list, ``dict`` (``str`` keys) -> a named list
* ``RVector(kind, values)`` -> an atomic vector of any length, ``None`` items being ``NA``
* ``RStructure(value, attributes)`` -> ``structure(value, ...)``: any of the above
  but ``None``, with attributes (``class``, ``dim``, ...) as R's ``structure()`` sets them

Anything else raises ``TypeError``. Python ``bytes`` are refused rather than
guessed at; ``RVector("raw", data)`` writes them as a raw vector.
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
RAWSXP = 24
IS_OBJECT = 1 << 8
HAS_ATTRIBUTES = 1 << 9
HAS_TAG = 1 << 10
UTF8_LEVEL = 1 << 3
ASCII_LEVEL = 1 << 6

NA_INTEGER = -(2 ** 31)
# NA_real_ is the NaN whose low word is 1954.
NA_REAL = b"\x7f\xf0\x00\x00\x00\x00\x07\xa2"
WRITER_VERSION = (4 << 16) | (2 << 8)
READER_VERSION = (2 << 16) | (3 << 8)

SEXP_TYPES = {"logical": LGLSXP, "integer": INTSXP, "double": REALSXP, "character": STRSXP,
              "raw": RAWSXP}
KINDS = tuple(SEXP_TYPES)


class RVector(namedtuple("RVector", ["kind", "values"])):
    """An R atomic vector: ``kind`` is one of KINDS; ``None`` in ``values`` is ``NA``.

    A raw vector's values are kept as ``bytes``: R has no raw ``NA``, and a
    large blob stays one object instead of a list of ints.
    """

    def __new__(cls, kind, values):
        if kind not in KINDS:
            raise ValueError("RVector kind must be one of %s, not %r" % (", ".join(KINDS), kind))
        return super().__new__(cls, kind, _raw_bytes(values) if kind == "raw" else list(values))


class RStructure(namedtuple("RStructure", ["value", "attributes"])):
    """A value with attributes, as R's ``structure(value, name = attribute, ...)``.

    ``attributes`` maps each name to a value the writer can write. A dict's
    ``names`` come first; an attribute named here replaces them.
    """

    def __new__(cls, value, attributes):
        return super().__new__(cls, value, dict(attributes))


def _raw_bytes(values):
    # One error type for every value R can't hold, as the writer raises for other kinds.
    try:
        return bytes(values)
    except ValueError as err:
        raise TypeError("RDS: raw values must be integers from 0 to 255 (%s)" % err) from None


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


def is_r_integer(value):
    """Whether an int fits R's integer type, whose smallest value, -2^31, is taken by NA."""
    return NA_INTEGER < value < 2 ** 31


def _packed(kind, values):
    """The bytes of a vector's values in one piece, or None when some need checking one by one.

    The common case (no NA, plain Python numbers) packed at once writes a large
    array several times faster than value by value.
    """
    if kind == "raw":
        return bytes(values)
    if kind == "double" and all(type(value) is float for value in values):
        return struct.pack(">%dd" % len(values), *values)
    if kind == "integer" and all(type(value) is int and is_r_integer(value) for value in values):
        return struct.pack(">%di" % len(values), *values)
    if kind == "logical" and all(type(value) is bool for value in values):
        return struct.pack(">%di" % len(values), *values)
    return None


class _Writer:
    def __init__(self):
        self.out = []
        self.symbols = {}

    def int(self, value):
        self.out.append(struct.pack(">i", value))

    def item(self, value, attributes=None):
        if isinstance(value, RStructure):
            self.item(value.value, {**value.attributes, **(attributes or {})})
        elif value is None:
            if attributes:
                raise TypeError("RDS: NULL can't have attributes, got %s" % ", ".join(attributes))
            self.int(NILSXP_VALUE)
        elif isinstance(value, RVector):
            self.vector(value.kind, value.values, attributes)
        elif isinstance(value, bool):
            self.vector("logical", [value], attributes)
        elif isinstance(value, int):
            self.vector("integer" if is_r_integer(value) else "double", [value], attributes)
        elif isinstance(value, float):
            self.vector("double", [value], attributes)
        elif isinstance(value, str):
            self.vector("character", [value], attributes)
        elif isinstance(value, (list, tuple)):
            self.list(value, attributes)
        elif isinstance(value, dict):
            names = list(value)
            if not all(isinstance(name, str) for name in names):
                raise TypeError("RDS: the keys of a dict must be strings, got %r" % names)
            self.list(list(value.values()),
                      {"names": RVector("character", names), **(attributes or {})})
        else:
            raise TypeError("RDS: can't write a value of type %s" % type(value).__name__)

    def list(self, items, attributes):
        self.header(VECSXP, attributes)
        self.int(len(items))
        for item in items:
            self.item(item)
        self.attributes(attributes)

    # R marks a value with a class as an object: without the mark, S3 methods
    # don't dispatch on the class and identical() tells the value from R's own.
    def header(self, sexp_type, attributes):
        flags = HAS_ATTRIBUTES if attributes else 0
        if attributes and "class" in attributes:
            flags |= IS_OBJECT
        self.int(sexp_type | flags)

    # Attributes follow the item they belong to, as a pairlist ended by NULL.
    def attributes(self, attributes):
        if not attributes:
            return
        for name, value in attributes.items():
            self.int(LISTSXP | HAS_TAG)
            self.symbol(name)
            self.item(value)
        self.int(NILSXP_VALUE)

    # A symbol is written once; later uses refer to it by its 1-based position.
    def symbol(self, name):
        if name in self.symbols:
            self.int((self.symbols[name] << 8) | REFSXP)
            return
        self.symbols[name] = len(self.symbols) + 1
        self.int(SYMSXP)
        self.string(name)

    def vector(self, kind, values, attributes=None):
        self.header(SEXP_TYPES[kind], attributes)
        self.int(len(values))
        packed = _packed(kind, values)
        if packed is not None:
            self.out.append(packed)
        else:
            for value in values:
                if kind == "character":
                    self.string(value)
                elif kind == "double":
                    self.double(value)
                else:
                    self.integer(kind, value)
        self.attributes(attributes)

    def integer(self, kind, value):
        if value is None:
            self.int(NA_INTEGER)
            return
        ok = isinstance(value, bool) if kind == "logical" else (
            isinstance(value, int) and not isinstance(value, bool) and is_r_integer(value))
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
        # One piece per string, not three: a column of many strings is written a third faster.
        self.out.append(struct.pack(">ii", CHARSXP | (level << 12), len(data)) + data)
