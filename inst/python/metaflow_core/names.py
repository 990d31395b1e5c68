"""What a name or an id may be: the limits that keep every path and key valid.

Flow and step names and run and task ids are directories of the datastore, and
artifact, parameter and foreach names are keys of its JSON records and names of
R and Python variables. A path component may be at most 255 bytes and an S3 key
1024: with names of at most ``MAX_NAME_LENGTH`` ASCII characters, the longest
component (a temporary file ``.tmp.<pid>.<n>.<name>``) stays far below 255, and
the longest key (``<flow>/<run>/<step>/<task>/_meta/<n>.attempt.json`` under a
root) far below 1024. R's checks (R/utils_checks.R) use the same limit.
"""

import re

from .exceptions import InvalidArtifactName, MetaflowInvalidPathspec, NameTooLong

MAX_NAME_LENGTH = 100

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def shown(name, width=40):
    """A long name cut for a message: the message must stay one readable line."""
    return name if len(name) <= width else name[:width] + "..."


def length_problem(kind, name, step=None):
    """What is wrong with ``name`` (a ``kind`` name: "flow", "step", ...) if it is too
    long, else None."""
    if not isinstance(name, str) or len(name.encode("utf-8")) <= MAX_NAME_LENGTH:
        return None
    where = " in step *%s*" % step if step and kind != "step" else ""
    return ("The %s name *%s*%s is %d characters long; a %s name can be at most %d "
            "characters, so that every file and key of the datastore stays valid. "
            "Choose a shorter name." % (kind, shown(name), where, len(name), kind,
                                        MAX_NAME_LENGTH))


def check_length(kind, name, step=None):
    """Raise NameTooLong if ``name`` is too long (see length_problem)."""
    problem = length_problem(kind, name, step)
    if problem:
        raise NameTooLong(problem, step=step)


def check_artifact_name(name, step):
    """An artifact set in a Python step: an identifier within the length limit."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidArtifactName(
            "Artifact name *%s* set in step *%s* is not valid: an artifact name is an "
            "identifier (letters, digits and underscores, not starting with a digit)."
            % (shown(str(name)), step),
            step=step,
        )
    check_length("artifact", name, step)


# What each level of a pathspec is called in a message.
LEVELS = ("flow name", "run id", "step name", "task id", "artifact name")


def check_id(level, value, pathspec=None):
    """Raise MetaflowInvalidPathspec unless ``value`` can name a ``level`` of a pathspec.

    A component that is empty, ``.`` or ``..``, or holds ``/`` or NUL would name
    another object's files, or none; one longer than any name can be was never made.
    """
    problem = None
    if not isinstance(value, str):
        problem = "a %s is a string, not %s" % (level, type(value).__name__)
    elif value == "":
        problem = "a %s can't be empty" % level
    elif value in (".", ".."):
        problem = "a %s can't be '.' or '..'" % level
    elif "/" in value:
        problem = "a %s can't contain '/'" % level
    elif "\0" in value:
        problem = "a %s can't contain a NUL character" % level
    elif len(value.encode("utf-8")) > MAX_NAME_LENGTH:
        problem = "it is %d characters long, and no %s is longer than %d" % (
            len(value), level, MAX_NAME_LENGTH)
    if problem:
        where = " in pathspec '%s'" % shown(pathspec, 120) if pathspec else ""
        value = shown(value) if isinstance(value, str) else value
        raise MetaflowInvalidPathspec(
            "The %s %r%s is not valid: %s." % (level, value, where, problem))
    return value
