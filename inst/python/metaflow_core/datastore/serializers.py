"""Turning Python values into artifact bytes and back.

Every artifact records its ``encoding``. Python values are ``pickle`` (plain
pickle protocol 4, or cloudpickle for what plain pickle refuses, such as
lambdas; both load with ``pickle.loads``). R values are ``rds``: the bytes R's
``serialize()`` produced, stored verbatim and only ever decoded by R.
"""

import pickle

from ..exceptions import MetaflowException, UnpicklableArtifactException

PICKLE = "pickle"
RDS = "rds"


class RObject(object):
    """An R value seen from Python: its RDS bytes, which only R can read."""

    def __init__(self, data):
        self.rds_bytes = data

    def __repr__(self):
        return "<R object: %d bytes of RDS, read it from R>" % len(self.rds_bytes)


def type_name(obj):
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__name__
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def serialize(name, obj):
    """(bytes, encoding, type) for a Python value."""
    if isinstance(obj, RObject):
        return obj.rds_bytes, RDS, "R object"
    try:
        data = pickle.dumps(obj, protocol=4)
    except (pickle.PicklingError, AttributeError, TypeError):
        import cloudpickle

        try:
            data = cloudpickle.dumps(obj, protocol=4)
        except Exception as err:
            raise UnpicklableArtifactException(
                'Cannot pickle dump artifact named "%s": %s' % (name, err)
            )
    return data, PICKLE, type_name(obj)


def deserialize(data, encoding):
    if encoding == PICKLE:
        return pickle.loads(data)
    if encoding == RDS:
        return RObject(data)
    raise MetaflowException("Unknown artifact encoding *%s*." % encoding)
