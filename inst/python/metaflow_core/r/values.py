"""Python artifacts as R values: the RDS bytes R's ``unserialize()`` reads.

The R client reads a Python artifact through its Python process
(r/client_server.py), which unpickles it and converts it here, so that R gets
bytes and never needs a Python session of its own. The conversions are the ones
reticulate's default conversion made, which code reading artifacts was written
against:

* ``None`` -> ``NULL``; ``bool``, ``int``, ``float``, ``str`` -> a vector of
  length 1 (logical, integer or double outside R's integer range, double,
  character); ``bytes`` and ``bytearray`` -> a raw vector
* a ``list`` of scalars of one kind -> an atomic vector (ints and floats make a
  double vector); any other ``list`` and every ``tuple`` -> an unnamed list
* a ``dict`` with ``str`` keys -> a named list, in the dict's order
* ``datetime.date`` -> ``Date``; ``datetime.datetime`` -> ``POSIXct``: an aware
  one with ``tzone = "UTC"``, a naive one read as local time, without ``tzone``
* numpy scalars as Python scalars; a numpy array of booleans, numbers or
  strings -> an atomic vector, with ``dim`` (column-major) when it has 2 or
  more dimensions
* a pandas ``DataFrame`` -> a ``data.frame`` whose columns are vectors, a
  ``Series`` -> a vector. A string index becomes the row names (names for a
  Series); any other index, such as the default 0..n-1, is dropped. Column
  labels become strings. NaN stays ``NaN``; ``None`` and ``pd.NA`` are ``NA``.

Anything else raises ``RValueError``, naming the value's type and that of the
object inside it R can't hold. numpy and pandas are imported only for a value
that comes from them: the R client's process starts once per R session, and
should start fast.
"""

import datetime
import math

from ..exceptions import RValueError
from . import rds
from .rds import RStructure, RVector, is_r_integer

# Deeper values are refused before Python's recursion limit is reached, in
# this module or in the writer's.
MAX_DEPTH = 100

EPOCH = datetime.date(1970, 1, 1)
DATE_CLASS = RVector("character", ["Date"])
POSIXCT_CLASS = RVector("character", ["POSIXct", "POSIXt"])
DATA_FRAME_CLASS = RVector("character", ["data.frame"])
# numpy's dtype kinds R has a vector type for.
DTYPE_KINDS = {"b": "logical", "i": "integer", "u": "integer", "f": "double", "U": "character"}


def to_rds(value):
    """The bytes of ``serialize(x, NULL)`` for ``x``, the R equivalent of value.

    Raises RValueError when value, or anything inside it, has no R equivalent.
    """
    return rds.dumps(_Converter(value).convert(value, 0))


def type_name(obj):
    """The name of obj's type as Python users write it: ``set``, ``decimal.Decimal``."""
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def _python_scalar(obj):
    """A numpy scalar as the Python scalar it holds, so that one set of rules covers both."""
    if type(obj).__module__ != "numpy":
        return obj
    import numpy

    if isinstance(obj, numpy.bool_):
        return bool(obj)
    if isinstance(obj, numpy.integer):
        return int(obj)
    if isinstance(obj, numpy.floating):
        return float(obj)
    return obj


def _scalar_kind(value):
    """The R vector type a Python scalar belongs in, or None when it isn't a scalar."""
    if isinstance(value, bool):
        return "logical"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "character"
    return None


def _list_kind(values):
    """The vector type a list of scalars simplifies to, or None when it stays a list."""
    kinds = {_scalar_kind(value) for value in values}
    if kinds == {"integer", "double"}:
        return "double"
    if len(kinds) == 1:
        return kinds.pop()
    return None


def _date(day):
    return RStructure(RVector("double", [float((day - EPOCH).days)]), {"class": DATE_CLASS})


def _row_names(labels, count):
    """R's row names: the labels, or the compact ``c(NA, -n)`` R itself keeps for 1..n."""
    if labels is not None:
        return RVector("character", labels)
    return RVector("integer", [None, -count] if count else [])


def _string_labels(index):
    """A pandas index's labels when R can keep them as names (unique strings), else None.

    Other labels, such as the default 0..n-1, are dropped: R's row names are strings.
    """
    if index.inferred_type == "string" and index.is_unique:
        return index.tolist()
    return None


def _column_kind(dtype):
    """The vector type of a pandas column: strings (object or string dtype) or numbers."""
    import pandas

    if isinstance(dtype, pandas.StringDtype) or pandas.api.types.is_object_dtype(dtype):
        return "character"
    return DTYPE_KINDS.get(dtype.kind) if dtype.kind in "biuf" else None


def _with_na(values, strings):
    """A pandas column's values, its missing ones as None, which the writer writes as NA.

    In a column of strings NaN marks a missing value; in a column of floats it
    is a number, as it is in R.
    """
    import pandas

    return [None if value is None or value is pandas.NA
            or (strings and isinstance(value, float) and math.isnan(value)) else value
            for value in values]


class _Converter:
    """One conversion: it knows the top-level value, to name it in errors, and the
    containers being converted, to refuse a value that holds itself."""

    def __init__(self, root):
        self.root = root
        self.enclosing = set()

    def refusal(self, culprit, detail=""):
        """The error for culprit, the first object found that R can't hold."""
        described = type_name(culprit) + (" " + detail if detail else "")
        if culprit is self.root:
            msg = "A Python %s has no R equivalent." % described
        else:
            msg = "A Python %s has no R equivalent: it holds a Python %s." % (
                type_name(self.root), described)
        return RValueError(msg, type_name(self.root), type_name(culprit))

    def convert(self, obj, depth):
        scalar = _python_scalar(obj)
        kind = _scalar_kind(scalar)
        if kind is not None:
            return self.vector(kind, [scalar])
        if obj is None:
            return None
        if isinstance(obj, (bytes, bytearray)):
            return RVector("raw", obj)
        if isinstance(obj, datetime.datetime):
            return self.posixct(obj)
        if isinstance(obj, datetime.date):
            return _date(obj)
        if isinstance(obj, (list, tuple, dict)):
            return self.container(obj, depth)
        module = type(obj).__module__
        if module == "numpy":
            return self.numpy_value(obj)
        if module.split(".")[0] == "pandas":
            return self.pandas_value(obj)
        raise self.refusal(obj)

    def vector(self, kind, values):
        """An atomic vector; ints outside R's integer range make it a double one."""
        if kind == "integer" and not all(value is None or is_r_integer(value) for value in values):
            kind = "double"
        if kind == "double":
            values = [None if value is None else self.double(value) for value in values]
        return RVector(kind, values)

    def double(self, number):
        try:
            return float(number)
        except OverflowError:
            raise self.refusal(number, "too large for a double") from None

    def posixct(self, moment):
        try:
            seconds = moment.timestamp()
        except (ValueError, OverflowError, OSError):
            raise self.refusal(moment, "outside the times this system can convert") from None
        attributes = {"class": POSIXCT_CLASS}
        if moment.utcoffset() is not None:
            attributes["tzone"] = RVector("character", ["UTC"])
        return RStructure(RVector("double", [seconds]), attributes)

    # lists, tuples and dicts

    def container(self, obj, depth):
        if id(obj) in self.enclosing:
            raise self.refusal(obj, "that holds itself")
        if depth >= MAX_DEPTH:
            raise self.refusal(obj, "nested more than %d deep" % MAX_DEPTH)
        self.enclosing.add(id(obj))
        try:
            if isinstance(obj, dict):
                return self.named_list(obj, depth)
            if isinstance(obj, list):
                simplified = self.simplified(obj)
                if simplified is not None:
                    return simplified
            return [self.convert(item, depth + 1) for item in obj]
        finally:
            self.enclosing.discard(id(obj))

    def named_list(self, mapping, depth):
        for key in mapping:
            if not isinstance(key, str):
                raise self.refusal(mapping, "with a key of type %s" % type_name(key))
        return {key: self.convert(value, depth + 1) for key, value in mapping.items()}

    def simplified(self, items):
        """A list of scalars of one kind as an atomic vector, or None to keep it a list."""
        values = [_python_scalar(item) for item in items]
        kind = _list_kind(values) if values else None
        return None if kind is None else self.vector(kind, values)

    # numpy and pandas

    def numpy_value(self, obj):
        import numpy

        if not isinstance(obj, numpy.ndarray):
            raise self.refusal(obj)
        kind = DTYPE_KINDS.get(obj.dtype.kind)
        if kind is None:
            raise self.refusal(obj, "of dtype %s" % obj.dtype)
        # R keeps an array's values column by column.
        vector = self.vector(kind, obj.ravel(order="F").tolist())
        if obj.ndim < 2:
            return vector
        return RStructure(vector, {"dim": RVector("integer", list(obj.shape))})

    def pandas_value(self, obj):
        import pandas

        if isinstance(obj, pandas.DataFrame):
            return self.data_frame(obj)
        if isinstance(obj, pandas.Series):
            vector = self.column(obj)
            labels = _string_labels(obj.index)
            return vector if labels is None else RStructure(
                vector, {"names": RVector("character", labels)})
        raise self.refusal(obj)

    def data_frame(self, frame):
        names = [str(label) for label in frame.columns]
        columns = [self.column(frame.iloc[:, i], names[i]) for i in range(len(names))]
        return RStructure(columns, {
            "names": RVector("character", names),
            "class": DATA_FRAME_CLASS,
            "row.names": _row_names(_string_labels(frame.index), len(frame)),
        })

    def column(self, series, name=None):
        """A pandas Series as an atomic vector, by its dtype."""
        where = "" if name is None else '"%s" ' % name
        kind = _column_kind(series.dtype)
        if kind is None:
            raise self.refusal(series, "%sof dtype %s" % (where, series.dtype))
        strings = kind == "character"
        values = _with_na(series.tolist(), strings)
        if strings:
            stray = next((v for v in values if v is not None and not isinstance(v, str)), None)
            if stray is not None:
                raise self.refusal(series, "%sof dtype %s holding a Python %s" % (
                    where, series.dtype, type_name(stray)))
        return self.vector(kind, values)
