"""The code package: what a task that runs on another machine runs.

A run whose steps go elsewhere (``batch()``) packs its flow once: the module
the tasks run (a Python flow's script; an R flow's generated ``flow.py`` with
its ``flow.json`` and ``functions.rds``), and every file under the flow's
directory whose name ends in one of ``--package-suffixes``. The engine itself
is not in it: the container image has it installed (docker/Dockerfile).

The archive is deterministic (entries sorted, mtimes, owners and modes fixed,
no gzip timestamp or name), so the same code gives the same bytes and the same
sha1: it is stored once in the flow's content-addressed store
(``<Flow>/data/<sha[:2]>/<sha>``) and verified against that sha when a task
fetches it. ``INFO`` in the archive names the module to run.
"""

import gzip
import io
import json
import os
import tarfile

from .exceptions import MetaflowException

PACKAGE_VERSION = 1
INFO_NAME = "INFO"
DEFAULT_SUFFIXES = (".py", ".R", ".RDS")
# Netflix's Metaflow warns past this size too: a package this big is usually
# a data file that matched a suffix.
WARN_BYTES = 100 * 1024 * 1024
# Neither the engine's nor version control's files belong in a package.
SKIPPED_DIRS = frozenset(("__pycache__", "node_modules"))
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755


class CodePackageError(MetaflowException):
    headline = "Code package"


def parse_suffixes(text):
    """``--package-suffixes`` (``".py,.R"``) as a tuple; empty items are dropped."""
    if text is None:
        return DEFAULT_SUFFIXES
    if isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = text.split(",")
    return tuple(s.strip() for s in items if s.strip())


def walk_files(root, suffixes):
    """Files under ``root`` whose names end in one of ``suffixes``, as relative
    '/'-separated paths, sorted. Hidden files and directories (``.metaflow``,
    ``.git``, ``.venv``) are left out, and symlinked directories are not followed."""
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in files:
            if name.startswith(".") or not name.endswith(tuple(suffixes)):
                continue
            path = os.path.join(here, name)
            if os.path.isfile(path):
                found.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


class CodePackage(object):
    """A packed flow: its bytes, their sha1 and what is in it."""

    def __init__(self, data, info):
        self.data = data
        self.info = info
        from .datastore.cas import sha1_of

        self.sha = sha1_of(data)

    @property
    def entry(self):
        return self.info["entry"]

    @classmethod
    def build(cls, flow_name, root, entry, suffixes=DEFAULT_SUFFIXES, extra_files=None):
        """Pack ``extra_files`` (archive name -> bytes: what the engine generated)
        and the files under ``root`` matching ``suffixes``; ``entry`` is the
        archive name of the module a task runs."""
        files = {}
        for name in walk_files(root, suffixes):
            with open(os.path.join(root, *name.split("/")), "rb") as f:
                files[name] = (f.read(), _mode(os.path.join(root, *name.split("/"))))
        for name, data in (extra_files or {}).items():
            files[name] = (data, FILE_MODE)
        if entry not in files:
            path = os.path.join(root, *entry.split("/"))
            try:
                with open(path, "rb") as f:
                    files[entry] = (f.read(), _mode(path))
            except OSError as err:
                raise CodePackageError("The flow's module *%s* can't be packed: %s."
                                       % (path, err.strerror))
        info = {"version": PACKAGE_VERSION, "flow_name": flow_name, "entry": entry,
                "suffixes": list(suffixes), "files": sorted(files)}
        files[INFO_NAME] = (json.dumps(info, sort_keys=True, indent=1).encode("utf-8"), FILE_MODE)
        return cls(_deterministic_tgz(files), info)

    @classmethod
    def for_flow(cls, flow, module_path, suffixes=DEFAULT_SUFFIXES):
        """The package of a running flow, laid out as its front end says."""
        from .front_end import front_end_of

        root, entry, extra = front_end_of(type(flow)).package_layout(module_path)
        return cls.build(flow.name, root, entry, suffixes, extra)

    # the datastore
    def save(self, flow_datastore):
        """Store the package once; returns what the run records about it."""
        store = _package_store(flow_datastore)
        store.save_blob(self.data, sha=self.sha)
        return self.record(flow_datastore)

    def record(self, flow_datastore):
        store = _package_store(flow_datastore)
        return {"sha": self.sha, "key": store.key(self.sha), "ds_type": flow_datastore.ds_type,
                "ds_root": flow_datastore.ds_root, "entry": self.entry,
                "size": len(self.data)}

    @classmethod
    def load(cls, flow_datastore, sha):
        """The package ``sha`` from the datastore, verified against its name."""
        data = _package_store(flow_datastore).load_blob(sha)
        return cls(data, _read_info(data, sha))

    def unpack(self, dest):
        """Extract into the directory ``dest``; returns the path of the entry module."""
        with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:gz") as archive:
            for member in archive.getmembers():
                # Our own archives hold plain files with relative names; anything
                # else is not one of them.
                if not member.isfile() or member.name.startswith("/") or ".." in \
                        member.name.split("/"):
                    raise CodePackageError("Code package %s holds an unexpected entry *%s*."
                                           % (self.sha, member.name))
            if hasattr(tarfile, "data_filter"):
                archive.extractall(dest, filter="data")
            else:
                archive.extractall(dest)
        return os.path.join(dest, *self.entry.split("/"))


def _package_store(flow_datastore):
    """The flow's CAS, never compressed: the archive is gzip already."""
    from .datastore.cas import ContentAddressedStore

    return ContentAddressedStore(flow_datastore.storage, flow_datastore.ca_store.prefix,
                                 compression="none")


def _mode(path):
    return EXECUTABLE_MODE if os.access(path, os.X_OK) else FILE_MODE


def _deterministic_tgz(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            data, mode = files[name]
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = mode
            member.mtime = 0
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            archive.addfile(member, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _read_info(data, sha):
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = archive.extractfile(INFO_NAME)
            info = json.loads(member.read())
    except (tarfile.TarError, KeyError, ValueError, OSError) as err:
        raise CodePackageError("Code package %s is not one this engine made: %s." % (sha, err))
    if info.get("version") != PACKAGE_VERSION:
        raise CodePackageError("Code package %s has version %r; this engine reads version %d."
                               % (sha, info.get("version"), PACKAGE_VERSION))
    return info
