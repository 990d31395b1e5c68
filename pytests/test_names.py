"""Names and ids: the limits that keep every path and key of the datastore valid."""

import pytest

from metaflow_core.exceptions import InvalidArtifactName, MetaflowInvalidPathspec, NameTooLong
from metaflow_core.names import (
    MAX_NAME_LENGTH,
    check_artifact_name,
    check_id,
    check_length,
    length_problem,
)


def test_the_limit_keeps_a_path_component_and_a_key_valid():
    # The longest component is a temporary file beside a record named for the name.
    assert len(".tmp.4194304.999999.".encode()) + MAX_NAME_LENGTH <= 255
    # The longest key: flow, run, step and task under a generous root.
    longest_key = "/".join(["r" * 300, "F" * MAX_NAME_LENGTH, "9" * 20, "s" * MAX_NAME_LENGTH,
                            "9" * 20, "_meta", "999.attempt.json"])
    assert len(longest_key) <= 1024


def test_a_name_at_the_limit_passes_and_one_past_it_is_named():
    check_length("step", "s" * MAX_NAME_LENGTH)
    with pytest.raises(NameTooLong) as err:
        check_length("artifact", "a" * (MAX_NAME_LENGTH + 1), step="train")
    message = str(err.value)
    assert "The artifact name *%s...* in step *train* is 101 characters long" % ("a" * 40) \
        in message
    assert "at most %d characters" % MAX_NAME_LENGTH in message
    assert length_problem("flow", "F" * 5) is None


def test_a_multibyte_name_counts_its_bytes():
    assert length_problem("flow", "é" * 60) is not None


@pytest.mark.parametrize("name", ["../../evil", "a b", "1x", "", "x-y", "a" * 101])
def test_an_artifact_name_must_be_an_identifier_within_the_limit(name):
    with pytest.raises((InvalidArtifactName, NameTooLong), match="step \\*start\\*"):
        check_artifact_name(name, "start")


@pytest.mark.parametrize("value, problem", [
    ("..", "can't be '.' or '..'"), (".", "can't be '.' or '..'"), ("", "can't be empty"),
    ("a/b", "can't contain '/'"), ("a\0", "can't contain a NUL character"),
    ("9" * 101, "101 characters long"), (None, "a task id is a string, not NoneType"),
])
def test_a_malformed_id_names_the_level_and_the_pathspec(value, problem):
    with pytest.raises(MetaflowInvalidPathspec) as err:
        check_id("task id", value, "F/1/start/x")
    assert str(err.value).startswith("The task id ")
    assert "in pathspec 'F/1/start/x'" in str(err.value)
    assert problem in str(err.value)


def test_a_good_id_passes():
    assert check_id("run id", "1796221") == "1796221"
    assert check_id("step name", "_parameters") == "_parameters"
