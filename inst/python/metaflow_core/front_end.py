"""Flows written with another front end (R's today): what the engine's commands do for them.

``@uses_front_end(front_end)`` on a FlowSpec class names the :class:`FrontEnd`
its flow was written with: the default command, the code saved with each run,
how ``dump`` shows values Python can't read. The core asks ``front_end_of()``
and knows nothing else of the front end. Imports nothing from the package.
"""

import os

_front_ends = {}


class FrontEnd(object):
    """What the engine's commands do for flows written with another front end.

    The defaults are a Python flow's; override what differs.
    """

    # What a flow's command line runs without a command.
    default_command = "check"

    def code_files(self):
        """Files saved as the code of each run: name -> bytes."""
        return {}

    def package_layout(self, module_path):
        """How the code package holds the flow: (the directory whose files matching
        ``--package-suffixes`` go in, the archive name of the module a task runs,
        archive name -> bytes of further files). A Python flow: its script's
        directory, the script, nothing more."""
        root = os.path.dirname(os.path.abspath(module_path))
        return root, os.path.basename(module_path), {}

    def previews(self, values):
        """A short text for each of ``values`` (RObject and the like), or None for repr()."""
        return None

    def error_record(self, exc):
        """The record a task stores of the error that failed it, in the front end's
        terms, or None for the engine's (``exceptions.exception_record``)."""
        return None

    def error_lines(self, record):
        """The lines the ``@catch`` log shows of an error (its record), or None for the
        Python traceback."""
        return None

    def caught_value(self, exc, record):
        """What ``@catch(var=...)`` stores of the error ``exc`` (its record), or None for
        the engine's ``CaughtException``."""
        return None


def uses_front_end(front_end):
    """Class decorator: the FlowSpec class was written with ``front_end``."""
    def register(flow_cls):
        _front_ends[flow_cls] = front_end
        return flow_cls
    return register


def front_end_of(flow_cls):
    """The FrontEnd a FlowSpec class (or a base) registered, else the Python one."""
    for cls in flow_cls.__mro__:
        if cls in _front_ends:
            return _front_ends[cls]
    return PYTHON


PYTHON = FrontEnd()
