"""The Python half of the R bridge, against real R: previews of R values for dump, and
an Rscript that dies."""

import json
import shutil
import subprocess

import pytest

from metaflow_core.datastore.serializers import RObject
from metaflow_core.external import StepTask
from metaflow_core.r.bridge import RStep, RStepError, r_previews
from metaflow_core.r.values import to_rds

RSCRIPT = shutil.which("Rscript")


def r_spec(tmp_path, rscript):
    """A spec directory as codegen makes one: its spec names the Rscript and libraries."""
    assert RSCRIPT, "these tests need R: Rscript is not on the PATH"
    libs = subprocess.run([RSCRIPT, "-e", "writeLines(.libPaths())"], capture_output=True,
                          text=True, check=True).stdout.split()
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "flow.json").write_text(json.dumps({"r": {"rscript": rscript, "lib_paths": libs}}))
    return str(spec_dir)


def test_r_values_are_previewed_by_str_in_one_batch(tmp_path):
    values = [RObject(to_rds(42)), RObject(to_rds({"a": [1, 2, 3], "b": "text"})),
              RObject(to_rds(list(range(100))))]

    previews = r_previews(r_spec(tmp_path, RSCRIPT), values)

    assert previews[0] == " int 42"
    assert previews[1] == 'List of 2\n $ a: int [1:3] 1 2 3\n $ b: chr "text"'
    assert previews[2] == " int [1:100] 0 1 2 3 4 5 6 7 ..."


def test_a_value_r_cant_read_says_so_and_the_others_are_shown(tmp_path):
    previews = r_previews(r_spec(tmp_path, RSCRIPT), [RObject(b"not rds"), RObject(to_rds(1.5))])

    assert previews[0].startswith("<an R object R can't read:")
    assert previews[1] == " num 1.5"


def test_without_r_the_values_show_as_before(tmp_path):
    failing = tmp_path / "failing_rscript"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    value = RObject(to_rds(42))

    spec_dir = r_spec(tmp_path, str(failing))
    assert r_previews(spec_dir, [value]) == [repr(value)]
    assert r_previews(spec_dir, []) == []


def test_an_rscript_that_dies_fails_the_step_with_an_r_class_and_the_signal(tmp_path):
    dying = tmp_path / "dying_rscript"
    dying.write_text("#!/bin/sh\nkill -9 $$\n")
    dying.chmod(0o755)
    spec_dir = r_spec(tmp_path, str(dying))
    task = StepTask("start", None, None, {}, [], {}, [], {"pathspec": "F/1/start/1"}, "local")

    with pytest.raises(RStepError) as raised:
        RStep(spec_dir, "start").run(task)

    assert "Rscript was killed by SIGKILL before the step finished" in raised.value.message
    assert raised.value.extra_record["r_class"] == [
        "metaflow_error_rscript", "metaflow_error", "error", "condition"]
    assert raised.value.caught_rds is None
