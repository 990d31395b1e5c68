"""Every error the engine raises.

Each exception carries a one-line ``headline`` and a message; the CLI prints
``headline:`` and the message without a traceback (unless ``--debug``) and exits
with ``exit_code``. Messages use ``*x*`` to highlight a name, as Metaflow does.
"""

import os

# The exit status of a task whose error running it again can't fix: the runtime
# doesn't retry it, whatever @retry says.
EXIT_DISALLOW_RETRY = 202


class MetaflowException(Exception):
    headline = "Flow failed"
    exit_code = 1
    # False for an error of the flow's code or spec, not of the attempt: a retry
    # would fail the same way.
    retry_helps = True

    def __init__(self, msg="", lineno=None, source_file=None, step=None):
        self.message = msg
        self.lineno = lineno
        self.source_file = source_file
        self.step = step
        super().__init__(msg)

    def __str__(self):
        where = ""
        if self.source_file and self.lineno:
            where = " (file %s, line %s)" % (self.source_file, self.lineno)
        elif self.lineno:
            where = " (line %s)" % self.lineno
        return "%s%s" % (self.message, where)


class LintWarn(MetaflowException):
    headline = "Validity checker found an issue"
    rule = None  # the id of the lint rule broken, which lint.validate() sets


class InvalidNextException(MetaflowException):
    headline = "Invalid self.next() transition detected"
    retry_helps = False


class MetaflowInternalError(MetaflowException):
    headline = "Internal error"
    retry_helps = False


class CommandException(MetaflowException):
    headline = "Invalid command"


class ParameterError(MetaflowException):
    headline = "Invalid parameter"


class MergeArtifactsException(MetaflowException):
    headline = "Unhandled artifacts in merge"


class MissingInMergeArtifactsException(MetaflowException):
    headline = "Missing artifacts in merge"


class InvalidArtifactName(MetaflowException):
    headline = "Invalid artifact name"


class MetaflowDataMissing(MetaflowException):
    headline = "Data missing"


class MetaflowDataCorrupt(MetaflowException):
    """A stored blob whose bytes no longer match the hash it is named by.

    Never a value: whatever read the blob stops, naming the file, and (where the
    reader knows them) the artifact and the task it belongs to."""

    headline = "Damaged artifact"
    retry_helps = False

    def __init__(self, msg, path=None, sha=None, artifact=None, pathspec=None):
        super().__init__(msg)
        self.path = path
        self.sha = sha
        self.artifact = artifact
        self.pathspec = pathspec


class MetadataCorrupt(MetaflowException):
    """A JSON file of the datastore (a run's, a step's or a task's record, or an
    attempt's artifact index) that can't be parsed: the error names the file and
    what it belongs to, since the file alone is what the user can look at."""

    headline = "Damaged metadata"
    retry_helps = False

    def __init__(self, msg, path=None, owner=None):
        super().__init__(msg)
        self.path = path
        self.owner = owner


class DatastoreAccessError(MetaflowException):
    """The datastore (or a file in it) can't be read or written: read-only, full,
    not ours. Names the directory and what could not be done."""

    headline = "Datastore not usable"
    retry_helps = False

    def __init__(self, msg, path=None, action=None, errno=None):
        super().__init__(msg)
        self.path = path
        self.action = action
        # The OSError's errno, so that a full disk can be told from the rest.
        self.errno = errno


class MetaflowS3Error(MetaflowException):
    """S3 can't be used as configured (no credentials, no such bucket, no sysroot,
    access denied) or kept failing after the retries. Names the URL and the action."""

    headline = "S3 datastore not usable"

    def __init__(self, msg, url=None, action=None, code=None):
        super().__init__(msg)
        self.url = url
        self.action = action
        # The S3 error code (NoSuchBucket, AccessDenied, SlowDown...), when S3 gave one.
        self.code = code


class NameTooLong(MetaflowException):
    """A flow, step, parameter, foreach or artifact name longer than names.MAX_NAME_LENGTH."""

    headline = "Name too long"
    retry_helps = False


class UnpicklableArtifactException(MetaflowException):
    headline = "Cannot pickle artifact"


class TaskFailed(MetaflowException):
    """A task that failed for good; ``failed_tasks`` holds what each failed task recorded
    (see cli_errors)."""

    headline = "Step failure"

    def __init__(self, msg, step=None, failed_tasks=()):
        super().__init__(msg, step=step)
        self.failed_tasks = list(failed_tasks)


class ForeachError(MetaflowException):
    headline = "Invalid foreach"


class RunInterrupted(MetaflowException):
    headline = "Run interrupted"
    exit_code = 130


class RunRecordError(MetaflowException):
    """The runtime could not write a run's files (a full disk, a vanished directory)."""

    headline = "Could not write the run's records"


class MetaflowNotFound(MetaflowException):
    headline = "Object not found"


class MetaflowNamespaceMismatch(MetaflowException):
    headline = "Object not in the current namespace"


class MetaflowInvalidPathspec(MetaflowException):
    headline = "Invalid pathspec"


class MetaflowUnknownUser(MetaflowException):
    headline = "Unknown user"


class CardError(MetaflowException):
    """A card that can't be rendered, stored or read; a task never fails of it."""

    headline = "Card error"


class DecoratorError(MetaflowException):
    headline = "Invalid decorator"


class TaggingException(MetaflowException):
    headline = "Invalid tag"


class CodegenError(MetaflowException):
    headline = "Invalid flow specification"


class ArtifactUnreadable(MetaflowException):
    """An artifact whose stored value can't be loaded here (e.g. its class is gone)."""

    headline = "Cannot load artifact"

    def __init__(self, msg="", python_type=None):
        super().__init__(msg)
        self.python_type = python_type


class RValueError(MetaflowException):
    """A Python value that R can't hold (r/values.py).

    ``python_type`` names the value's type, ``inner_type`` the type of the first
    object inside it that R can't hold (the value's own when it is the culprit),
    so that R can say what to read in Python instead.
    """

    headline = "No R equivalent"

    def __init__(self, msg, python_type, inner_type):
        super().__init__(msg)
        self.python_type = python_type
        self.inner_type = inner_type


def exception_record(exc):
    """An error as data: type, message and a traceback of the user's frames only.

    Engine frames are dropped: they say nothing about the user's step and make
    a failure look like a bug in the engine.
    """
    import traceback

    engine_dir = os.path.dirname(os.path.abspath(__file__))
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(engine_dir)]
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
    text += "".join(traceback.format_exception_only(type(exc), exc))
    message = exc.message if isinstance(exc, MetaflowException) else str(exc)
    record = {"type": type(exc).__name__, "message": message, "traceback": text}
    record.update(getattr(exc, "extra_record", {}))
    return record
