"""How the command line reports an error: as text on stderr, and as data.

Every error the CLI ends with is printed (its headline and message, indented,
without an engine traceback) and, when the command line names a failure file
(``--failure-file PATH``), written there as one JSON object, so a front end
(R's ``run()``) builds its own error from data and never reads stderr:

``{"version": 1, "kind": "usage"|"run"|"error"|"interrupted"|"internal",
"headline", "message", "step", "exit_code", "run", "failed_tasks": [...], "type"}``

``type`` is the engine's exception class (e.g. ``DatastoreAccessError``), or null;
``run`` is the run's pathspec once a run started; each failed task is
``{"step", "pathspec", "attempt", "exit_code", "error"}``, where ``error`` is
the error record the task stored (``exceptions.exception_record``; for an R
step also ``language``, ``call``, ``r_class`` and ``r_traceback``).
"""

import os

from .lint import render
from .util import write_json

FAILURE_FILE_OPTION = "--failure-file"
SUMMARY_VERSION = 1


def format_error(err, color=False):
    """What the CLI prints for err (a LintWarn or any MetaflowException).

    ``    <headline> in file F on line N:`` then the message, indented by four spaces.
    """
    location = ""
    if err.source_file:
        location += " in file %s" % err.source_file
    if err.lineno:
        location += " on line %d" % err.lineno
    headline = "%s%s:" % (err.headline, location)
    if color:
        headline = "\x1b[1m%s\x1b[0m" % headline
    body = "\n".join("    " + line for line in render(err.message, color).splitlines())
    return "    %s\n%s\n" % (headline, body)


def failure_file(args):
    """The path ``--failure-file`` names in ``args``, read before click parses them, so
    that an error in parsing them is reported there too."""
    for i, token in enumerate(args):
        if token == "--":
            break
        if token == FAILURE_FILE_OPTION and i + 1 < len(args):
            return args[i + 1]
        if token.startswith(FAILURE_FILE_OPTION + "="):
            return token.split("=", 1)[1]
    return os.environ.get("METAFLOW_FAILURE_FILE") or None


def failure_summary(kind, headline, message, exit_code, err=None):
    """The summary of a failure; ``err`` (a MetaflowException) adds its step, its run and
    its failed tasks."""
    return {
        "version": SUMMARY_VERSION,
        "kind": kind,
        "headline": headline,
        "message": render(message),
        "step": getattr(err, "step", None),
        "exit_code": exit_code,
        "run": getattr(err, "run_pathspec", None),
        "failed_tasks": list(getattr(err, "failed_tasks", ())),
        "type": None if err is None else type(err).__name__,
    }


def write_failure(path, summary):
    if path:
        write_json(os.path.abspath(path), summary)
