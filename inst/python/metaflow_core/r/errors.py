"""The failure of an R step as an R user sees it (see inst/PROTOCOL.md, section 5).

An error of the step's R code comes back from R as data (class, message, call,
traceback) and as the condition ``catch(var =)`` stores, serialized by R. A
failure the engine sees instead (a ``@timeout``, Rscript killed or crashing) is
described here in the same terms, so that an R user never sees Python frames:
the task's record says ``language: R`` with R classes, and the caught value is
an R condition written with ``rds``.
"""

from ..datastore.serializers import RObject
from ..exceptions import exception_record
from . import rds

# The R classes of a failure the engine saw, by the engine's exception type.
ENGINE_KINDS = {"TimeoutException": "timeout"}
BASE_CLASSES = ["metaflow_error", "error", "condition"]


def error_record(exc):
    """The task's record of ``exc``: R's own for an R error, else one in R's terms."""
    record = exception_record(exc)
    if record.get("language") != "R":
        kind = ENGINE_KINDS.get(record["type"], "engine")
        record.update(language="R", call=None, r_traceback=[],
                      r_class=["metaflow_error_%s" % kind] + BASE_CLASSES)
    # The Python frames are the generated module's and the bridge's, never the user's.
    record["traceback"] = "\n".join(error_lines(record)) + "\n"
    return record


def error_lines(record):
    """The error as R prints it, then its R traceback, outermost call first."""
    where = " in %s" % record["call"] if record.get("call") else ""
    lines = ("Error%s: %s" % (where, record["message"])).split("\n")
    trace = record.get("r_traceback") or []
    if trace:
        lines.append("R traceback:")
        lines += ["  %d. %s" % (i, call) for i, call in enumerate(trace, 1)]
    return lines


def caught_value(exc, record, step, pathspec):
    """The R condition ``catch(var =)`` stores: R's own, or one made from the record."""
    caught = getattr(exc, "caught_rds", None)
    if caught is not None:
        return RObject(caught)
    condition = rds.RStructure(
        {
            "message": record["message"],
            "call": None,
            "traceback": rds.RVector("character", list(record.get("r_traceback") or [])),
            "step": step,
            "pathspec": pathspec,
        },
        {"class": rds.RVector("character", ["metaflow_caught_error"] + list(record["r_class"]))},
    )
    return RObject(rds.dumps(condition))
