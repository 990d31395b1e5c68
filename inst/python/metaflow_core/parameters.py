"""Flow parameters: declared on the FlowSpec class, given on the command line.

Values are resolved once, in the runtime, and stored as artifacts of the
``_parameters`` task; every task then reads them from there, read-only.
"""

import json
import re
from collections import namedtuple

from .exceptions import MetaflowException, ParameterError

RESERVED = frozenset(
    "params with tag namespace obj tags decospecs run-id-file event-file max-num-splits "
    "max-workers max-log-size user-namespace run-id task-id runner-attribute-file "
    "quiet debug datastore datastore-root metadata environment package-suffixes help".split()
)

ParameterContext = namedtuple(
    "ParameterContext", ["flow_name", "user_name", "parameter_name", "logger", "ds_type"]
)


class JSONTypeClass(object):
    name = "JSON"

    def convert(self, value):
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as err:
            raise ValueError("%r is not a valid JSON object: %s" % (value, err))

    def __repr__(self):
        return "JSONType"


JSONType = JSONTypeClass()

_BOOL_WORDS = {"true": True, "1": True, "yes": True, "y": True, "t": True,
               "false": False, "0": False, "no": False, "n": False, "f": False}


def convert_bool(value):
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _BOOL_WORDS:
        return _BOOL_WORDS[word]
    raise ValueError("%r is not a valid boolean (use true or false)" % value)


_TYPE_NAMES = {"str": str, "string": str, "int": int, "integer": int, "float": float,
               "double": float, "numeric": float, "bool": bool, "logical": bool,
               "json": JSONType}


class Parameter(object):
    """A flow parameter: ``alpha = Parameter("alpha", default=0.5, help="...")``."""

    IS_PARAMETER = True

    def __init__(self, name, default=None, type=None, help=None, required=False,
                 show_default=True, separator=None, is_flag=False, **kwargs):
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", name):
            raise ParameterError(
                "Parameter name *%r* is not valid: use letters, digits, '_' and '-', "
                "starting with a letter." % (name,)
            )
        if name.lower() in RESERVED or name.lower().replace("_", "-") in RESERVED:
            raise ParameterError(
                "Parameter name '%s' is a reserved word. Please use a different name "
                "for your parameter." % name
            )
        if kwargs:
            raise ParameterError(
                "Parameter *%s* got unknown arguments: %s." % (name, ", ".join(sorted(kwargs)))
            )
        if isinstance(type, str):
            if type.lower() not in _TYPE_NAMES:
                raise ParameterError(
                    "Parameter *%s* has unknown type '%s'. Use one of str, int, float, "
                    "bool or JSON." % (name, type)
                )
            type = _TYPE_NAMES[type.lower()]
        if is_flag and type is None:
            type = bool
        if is_flag and default is None and not required:
            # A flag that isn't given is off, as click's flags are.
            default = False
        if type is None:
            if default is not None and not callable(default):
                type = builtin_type(default)
            else:
                type = str
        if type not in (str, int, float, bool, JSONType):
            raise ParameterError(
                "Parameter *%s* has unsupported type %r. Use str, int, float, bool or "
                "JSONType." % (name, type)
            )
        self.name = name
        self.attr = name.replace("-", "_")
        self.default = default
        self.type = type
        self.help = help
        self.required = bool(required)
        self.show_default = show_default
        self.separator = separator
        self.is_flag = bool(is_flag)
        if self.is_flag and self.type is not bool:
            raise ParameterError("Parameter *%s* is a flag, so its type must be bool." % name)

    @property
    def type_name(self):
        return "JSON" if self.type is JSONType else self.type.__name__

    def convert(self, value):
        """A command-line or API value as this parameter's type; ValueError if it isn't one."""
        if value is None:
            return None
        if self.separator is not None and isinstance(value, str):
            return [self._convert_one(v) for v in value.split(self.separator)]
        return self._convert_one(value)

    def _convert_one(self, value):
        if self.type is bool:
            return convert_bool(value)
        if self.type is JSONType:
            return JSONType.convert(value)
        if self.type is str:
            return value if isinstance(value, str) else str(value)
        try:
            return self.type(value)
        except (TypeError, ValueError):
            raise ValueError("%r is not a valid %s" % (value, self.type.__name__))

    def resolve_default(self, context):
        default = self.default
        if callable(default) and not isinstance(default, type):
            try:
                default = default(context)
            except Exception as err:
                raise ParameterError(
                    "The default function of parameter *%s* failed: %s" % (self.name, err)
                )
        return default

    def __repr__(self):
        return "Parameter(%r)" % self.name

    def __set_name__(self, owner, attr):
        self.attr = attr

    def __get__(self, flow, owner):
        if flow is None:
            return self
        return flow._parameter_value(self.attr)

    def __set__(self, flow, value):
        raise MetaflowException(
            "Flow level attributes and Parameters are not modifiable: *%s*." % self.name
        )


def builtin_type(value):
    for candidate in (bool, int, float, str):
        if isinstance(value, candidate):
            return candidate
    return JSONType


def flow_parameters(flow_cls):
    """(attribute name, Parameter) pairs of a flow class, in declaration order."""
    found = []
    seen = set()
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Parameter) and attr not in seen:
                seen.add(attr)
                found.append((attr, value))
    return found
