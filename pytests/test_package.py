"""The code package: deterministic bytes, the right files, stored once and fetched verified."""

import io
import json
import os
import tarfile
import time

import pytest

from metaflow_core.datastore import FlowDataStore
from metaflow_core.exceptions import MetaflowDataCorrupt
from metaflow_core.package import CodePackage, CodePackageError, parse_suffixes, walk_files


def make_project(root):
    (root / "flow.py").write_text("print('flow')\n")
    (root / "helpers.py").write_text("X = 1\n")
    (root / "model.R").write_text("f <- function() 1\n")
    (root / "data.csv").write_text("a,b\n1,2\n")
    (root / "sub").mkdir()
    (root / "sub" / "util.py").write_text("Y = 2\n")
    (root / ".metaflow").mkdir()
    (root / ".metaflow" / "stale.py").write_text("nope\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "flow.cpython-311.py").write_text("nope\n")
    (root / ".hidden.py").write_text("nope\n")


def members(package):
    with tarfile.open(fileobj=io.BytesIO(package.data), mode="r:gz") as archive:
        return {m.name: m for m in archive.getmembers()}


def test_the_package_holds_the_flow_and_files_matching_the_suffixes(tmp_path):
    make_project(tmp_path)
    package = CodePackage.build("F", str(tmp_path), "flow.py", parse_suffixes(".py,.R,.RDS"),
                                extra_files={"_spec/flow.json": b"{}"})

    assert sorted(members(package)) == ["INFO", "_spec/flow.json", "flow.py", "helpers.py",
                                         "model.R", "sub/util.py"]
    assert package.info["entry"] == "flow.py"
    assert package.info["suffixes"] == [".py", ".R", ".RDS"]


def test_suffixes_choose_the_files(tmp_path):
    make_project(tmp_path)

    assert walk_files(str(tmp_path), parse_suffixes(".csv")) == ["data.csv"]
    assert sorted(members(CodePackage.build("F", str(tmp_path), "flow.py",
                                            parse_suffixes(".csv")))) == [
        "INFO", "data.csv", "flow.py"]


def test_the_same_code_packs_to_the_same_bytes_whatever_the_mtimes(tmp_path):
    make_project(tmp_path)
    first = CodePackage.build("F", str(tmp_path), "flow.py")
    past = time.time() - 86400
    for path in tmp_path.rglob("*"):
        os.utime(path, (past, past))
    second = CodePackage.build("F", str(tmp_path), "flow.py")

    assert first.data == second.data and first.sha == second.sha
    for member in members(first).values():
        assert (member.mtime, member.uid, member.gid, member.uname) == (0, 0, 0, "")
    (tmp_path / "helpers.py").write_text("X = 2\n")
    assert CodePackage.build("F", str(tmp_path), "flow.py").sha != first.sha


def test_a_missing_module_is_a_headline_error(tmp_path):
    with pytest.raises(CodePackageError, match="can't be packed"):
        CodePackage.build("F", str(tmp_path), "flow.py")


def test_saved_once_fetched_verified_and_unpacked(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    make_project(project)
    fds = FlowDataStore("F", ds_type="local", ds_root=str(tmp_path / "ds"))
    package = CodePackage.build("F", str(project), "flow.py")
    record = package.save(fds)

    assert record["sha"] == package.sha and record["key"] == "F/data/%s/%s" % (
        package.sha[:2], package.sha)
    blob = tmp_path / "ds" / "F" / "data" / package.sha[:2] / package.sha
    stat = blob.stat()
    package.save(fds)
    assert blob.stat().st_mtime_ns == stat.st_mtime_ns  # stored once

    dest = tmp_path / "unpacked"
    entry = CodePackage.load(fds, package.sha).unpack(str(dest))
    assert entry == str(dest / "flow.py")
    assert (dest / "sub" / "util.py").read_text() == "Y = 2\n"
    assert json.loads((dest / "INFO").read_text())["flow_name"] == "F"

    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(MetaflowDataCorrupt):
        CodePackage.load(fds, package.sha)
