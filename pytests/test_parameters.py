"""Flow parameters end to end: types, defaults, the command line and the environment."""

import pytest

from runner import assert_failed_cleanly, assert_succeeded, describe, run_flow, run_id_of

DEFAULTS = {
    "text": "hello",
    "count": 3,
    "alpha": 0.5,
    "flag": False,
    "quick": False,
    "sizes": [1, 2],
    "ratios": [0.5, 0.25],
    "config": {"depth": 2},
    "computed": "ParamsFlow/computed",
}
TYPES = {"text": "str", "count": "int", "alpha": "float", "flag": "bool", "quick": "bool",
         "sizes": "list", "ratios": "list", "config": "dict", "computed": "str"}
# A separator splits the value into a list of the parameter's type.
ITEM_TYPES = {"sizes": ["int", "int"], "ratios": ["float", "float"]}


def received(open_client, root, result):
    """What the start step of the ParamsFlow run saw, and the run itself."""
    assert_succeeded(result, root)
    run = open_client(root).Run("ParamsFlow/%s" % run_id_of(result))
    return run["start"].task.data.received, run


def test_defaults(open_client, tmp_path):
    values, run = received(open_client, tmp_path, run_flow("params_flow.py", "run",
                                                          cwd=tmp_path))

    assert values == DEFAULTS
    assert run["start"].task.data.types == TYPES
    assert run["start"].task.data.item_types == ITEM_TYPES
    assert run["start"].task.data.parameter_names == sorted(DEFAULTS)
    # Parameters are artifacts of every task, read-only, the same everywhere.
    assert run.data.alpha == 0.5
    assert run.data.alpha_in_end == 0.5
    assert run.data.config == {"depth": 2}


def test_values_from_the_command_line(open_client, tmp_path):
    tricky = 'say "hi", it\'s a \\back\\slash\nand a second line\t, en français ✓'
    result = run_flow(
        "params_flow.py", "run", "--text", tricky, "--count", "7", "--alpha", "0.25",
        "--flag", "true", "--config", '{"layers": [1, 2], "name": "x\\"y"}',
        "--computed", "given", "--quick", "--sizes", "3,4", "--ratios", "1.5,2", cwd=tmp_path,
    )
    values, run = received(open_client, tmp_path, result)

    assert values == {
        "text": tricky,
        "count": 7,
        "alpha": 0.25,
        "flag": True,
        "quick": True,
        "sizes": [3, 4],
        "ratios": [1.5, 2.0],
        "config": {"layers": [1, 2], "name": 'x"y'},
        "computed": "given",
    }
    assert run["start"].task.data.types == TYPES
    assert run["start"].task.data.item_types == ITEM_TYPES
    assert run.data.text == tricky


def test_environment_fallback(open_client, tmp_path):
    result = run_flow("params_flow.py", "run", "--count", "9", cwd=tmp_path,
                      env={"METAFLOW_RUN_ALPHA": "0.125", "METAFLOW_RUN_TEXT": "from env",
                           "METAFLOW_RUN_COUNT": "4"})
    values, _ = received(open_client, tmp_path, result)

    assert values["alpha"] == 0.125
    assert values["text"] == "from env"
    assert values["count"] == 9, "the command line wins over the environment"


def test_required_parameter_missing(tmp_path):
    result = run_flow("required_param_flow.py", "run", cwd=tmp_path)

    assert_failed_cleanly(result, tmp_path, "--who")
    assert "required" in result.stderr.lower()
    assert "Workflow starting" not in result.stderr, "nothing may run without the value"


def test_required_parameter_given(open_client, tmp_path):
    result = run_flow("required_param_flow.py", "run", "--who", "world", cwd=tmp_path)

    assert_succeeded(result, tmp_path)
    run = open_client(tmp_path).Run("RequiredParamFlow/%s" % run_id_of(result))
    assert run["start"].task.data.greeting == "hello world"


@pytest.mark.parametrize("option, value", [
    ("--alpha", "abc"),
    ("--count", "1.5"),
    ("--flag", "maybe"),
    ("--config", "{not json"),
])
def test_ill_typed_value(tmp_path, option, value):
    result = run_flow("params_flow.py", "run", option, value, cwd=tmp_path)

    assert_failed_cleanly(result, tmp_path, option, value)
    assert "Workflow starting" not in result.stderr, describe(result)


def test_parameters_are_read_only_in_steps(open_client, tmp_path):
    result = run_flow("readonly_param_flow.py", "run", cwd=tmp_path)

    assert_failed_cleanly(result, tmp_path,
                          "Flow level attributes and Parameters are not modifiable: alpha",
                          "Step start (task-id 1) failed:")
    run = open_client(tmp_path).Run("ReadOnlyParamFlow/%s" % run_id_of(result))
    assert not run.successful
    assert "not modifiable" in run["start"].task.exception.message


def test_run_help_lists_parameters(tmp_path):
    result = run_flow("params_flow.py", "run", "--help", cwd=tmp_path)

    assert result.returncode == 0, describe(result)
    help_text = " ".join(result.stdout.split())
    for option, help_line in (("--text", "Some text to carry"), ("--count", "How many things"),
                              ("--alpha", "Learning rate"), ("--flag", "A boolean switch"),
                              ("--config", "JSON settings"),
                              ("--computed", "Computed at run time")):
        assert option in help_text
        assert help_line in help_text
    assert "[default: 0.5]" in help_text
    assert "--max-workers" in help_text


def test_top_level_help(tmp_path):
    result = run_flow("params_flow.py", "--help", cwd=tmp_path)

    assert result.returncode == 0, describe(result)
    for command in ("run", "resume", "show", "check", "dump", "logs", "tag"):
        assert "\n  %s " % command in result.stdout
    help_text = " ".join(result.stdout.split())
    assert "Parameters (options of 'run'):" in help_text
    for option, help_line in (("--alpha FLOAT", "Learning rate"), ("--flag", "A boolean switch")):
        assert option in help_text
        assert help_line in help_text
