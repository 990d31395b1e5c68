"""Test flows as real files: write the source, import it, hand back the class.

Graph construction reads step source with ``inspect``, so a flow must live in a
file on disk and be imported from there, as a user's flow would be.
"""

import importlib.util
import itertools
import sys
import textwrap

_module_ids = itertools.count()


def write_flow(tmp_path, source, name="flow"):
    """Write dedented source to tmp_path/<name>.py and return its path."""
    path = tmp_path / ("%s.py" % name)
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def load_flow_class(tmp_path, source, class_name):
    """Write source (dedented) to a file under tmp_path, import it, return class_name."""
    path = write_flow(tmp_path, source, "%s_%d" % (class_name.lower(), next(_module_ids)))
    module_name = "testflow_" + path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def line_of(source, text, occurrence=1):
    """Line number, in the file load_flow_class writes, of the n-th line holding text."""
    lines = textwrap.dedent(source).lstrip("\n").splitlines()
    hits = [number for number, line in enumerate(lines, 1) if text in line]
    return hits[occurrence - 1]
