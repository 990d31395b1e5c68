"""What ``metaflow_core status`` tells a user: the Python, the engine, where runs
are kept and whose are seen, and which optional parts can be used.

Nothing here creates a file or imports an optional part: it only looks.
"""

import importlib.util
import json
import os
import platform
import sys

from . import __version__
from .datastore.storage import DATASTORE_DIR, STORAGE_TYPES, LocalStorage, sysroot_of
from .exceptions import MetaflowException
from .util import get_username


def collect():
    """The status as a JSON-ready dict."""
    return {
        "engine": {"name": "metaflow_core", "version": __version__,
                   "path": os.path.dirname(os.path.abspath(__file__))},
        "python": {"executable": sys.executable, "version": platform.python_version(),
                   "packages": {name: _package_version(name) for name in ("click", "cloudpickle")}},
        "datastore": _datastore(),
        "namespace": _namespace(),
        "optional": _optional_parts(),
    }


def _package_version(name):
    """The installed distribution's version, or None; the package is not imported."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # Python < 3.8 has no importlib.metadata; the engine needs 3.9.
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _datastore():
    """The local datastore a run started here would use, and how it is found."""
    sysroot = os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL")
    if sysroot:
        how = "METAFLOW_DATASTORE_SYSROOT_LOCAL"
    else:
        how = "the nearest %s in or above the working directory" % DATASTORE_DIR
    root = LocalStorage.find_root(create=False)
    exists = os.path.isdir(root)
    return {
        "type": "local",
        "root": root,
        "found_by": how if exists or sysroot else "none yet: the first run makes it here",
        "exists": exists,
        "metadata": "local@%s" % sysroot_of(root),
    }


def _namespace():
    try:
        return "user:%s" % get_username()
    except MetaflowException as err:
        return {"error": str(err)}


def _optional_parts():
    boto3 = _package_version("boto3") if importlib.util.find_spec("boto3") else None
    not_here = "not in this version of the engine"
    return {
        "s3": {
            "name": "S3 datastore",
            "usable": "s3" in STORAGE_TYPES and boto3 is not None,
            "detail": (not_here + ("; boto3 %s is installed" % boto3 if boto3 else ""))
            if "s3" not in STORAGE_TYPES else ("boto3 %s" % boto3 if boto3 else "needs boto3"),
            "boto3": boto3,
        },
        "batch": {
            "name": "AWS Batch",
            "usable": boto3 is not None,
            "detail": ("with --datastore s3 (boto3 %s)" % boto3) if boto3 else "needs boto3",
        },
    }


def render(status):
    """The status as lines of text for a terminal."""
    engine, python, store = status["engine"], status["python"], status["datastore"]
    missing = [name for name, version in python["packages"].items() if version is None]
    lines = [
        "%s %s (%s)" % (engine["name"], engine["version"], engine["path"]),
        "Python     %s (%s)%s" % (
            python["executable"], python["version"],
            "; missing %s" % ", ".join(missing) if missing else ""),
        "Datastore  %s at %s (%s)" % (store["type"], store["root"], store["found_by"]),
        "Metadata   %s" % store["metadata"],
        "Namespace  %s" % _text(status["namespace"]),
        "Optional parts:",
    ]
    for part in status["optional"].values():
        lines.append("  %-14s %s: %s" % (part["name"], "yes" if part["usable"] else "no",
                                         part["detail"]))
    return lines


def _text(value):
    return value["error"] if isinstance(value, dict) else value


def show(as_json=False):
    """Print the status (``python -m metaflow_core status [--json]``)."""
    status = collect()
    if as_json:
        sys.stdout.write(json.dumps(status) + "\n")
    else:
        sys.stdout.write("\n".join(render(status)) + "\n")
