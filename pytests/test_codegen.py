"""Code generation from the R front end's JSON spec: names are checked, values are literals."""

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from metaflow_core.codegen import generate, load_spec, validate_spec, write_module
from metaflow_core.exceptions import CodegenError
from metaflow_core.front_end import front_end_of

NASTY = "It's \"quoted\", back\\slashed,\nmulti-line and ünïcödé: '''; import os"

SPEC = {
    "version": 1,
    "flow_name": "StatsFlow",
    "doc": NASTY,
    "flow_decorators": [{"name": "schedule", "attributes": {"daily": True}}],
    "parameters": [
        {"name": "alpha", "type": "float", "default": 0.1, "help": NASTY,
         "required": False, "separator": None, "is_flag": False},
        {"name": "label", "type": "str", "default": NASTY, "help": None,
         "required": False, "separator": None, "is_flag": False},
        {"name": "verbose", "type": "bool", "default": False, "help": "Talk more",
         "required": False, "separator": None, "is_flag": True},
        {"name": "config", "type": "json", "default": "{\"a\": [1, 2]}", "help": None,
         "required": False, "separator": None, "is_flag": False},
    ],
    "steps": [
        {"name": "start", "function": "start", "next": ["stats"], "foreach": "genres",
         "join": False, "decorators": [{"name": "retry", "attributes": {"times": 2}}]},
        {"name": "stats", "function": "stats", "next": ["join"], "foreach": None,
         "join": False, "decorators": []},
        {"name": "join", "function": "join", "next": ["end"], "foreach": None,
         "join": True, "decorators": []},
        {"name": "end", "function": None, "next": [], "foreach": None, "join": False,
         "decorators": []},
    ],
    "r": {"rscript": "/usr/bin/Rscript", "lib_paths": [], "r_version": "4.2.2",
          "package_version": "0.1.0"},
}


def load_module(tmp_path, spec):
    (tmp_path / "flow.json").write_text(json.dumps(spec))
    path = write_module(str(tmp_path), load_spec(str(tmp_path)))
    module_spec = importlib.util.spec_from_file_location("generated_flow", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def with_change(change):
    spec = copy.deepcopy(SPEC)
    change(spec)
    return spec


def test_generated_module_carries_every_string_unchanged(tmp_path):
    flow = load_module(tmp_path, SPEC).StatsFlow

    assert flow.__doc__ == NASTY
    assert flow.alpha.help == NASTY
    assert flow.label.default == NASTY
    assert flow.verbose.is_flag is True
    assert flow.config.convert(flow.config.default) == {"a": [1, 2]}
    assert front_end_of(flow).spec_dir == str(tmp_path)
    assert front_end_of(flow).default_command == "run"


def test_generated_graph_matches_the_spec(tmp_path):
    from metaflow_core.graph import FlowGraph
    from metaflow_core.lint import validate

    graph = FlowGraph(load_module(tmp_path, SPEC).StatsFlow)
    validate(graph)

    assert graph["start"].type == "foreach"
    assert graph["start"].foreach_param == "genres"
    assert graph["join"].type == "join"
    assert [d.name for d in graph["start"].decorators] == ["retry"]
    assert graph["end"].type == "end"


def test_the_generated_module_runs_show(tmp_path):
    (tmp_path / "flow.json").write_text(json.dumps(SPEC))
    result = subprocess.run(
        [sys.executable, "-m", "metaflow_core.codegen", str(tmp_path), "show"],
        capture_output=True, text=True, cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "Step stats" in result.stdout
    assert "=> join" in result.stdout


def test_a_generated_module_runs_the_flow_without_a_command(tmp_path):
    linear = [{"name": "start", "function": None, "next": ["end"], "foreach": None,
               "join": False, "decorators": []}, SPEC["steps"][-1]]
    (tmp_path / "flow.json").write_text(json.dumps(with_change(
        lambda spec: spec.update(steps=linear))))
    env = dict(os.environ, METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path))
    ran = subprocess.run([sys.executable, "-m", "metaflow_core.codegen", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    shown = subprocess.run([sys.executable, "-m", "metaflow_core.codegen", str(tmp_path), "help"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)

    assert ran.returncode == 0, ran.stderr
    assert "Workflow starting" in ran.stderr
    commands = re.sub(" +", " ", shown.stdout.split("Commands:")[1])  # column width varies
    assert "run Run the workflow locally (this is the default command)." in commands
    assert "check Check that the flow is valid.\n" in commands


@pytest.mark.parametrize("bad_name", [
    "start(self):\n        import os", "a; import os", "__import__('os')", "Start",
    "class", "with space", "", "next", "merge_artifacts",
])
def test_step_names_that_are_not_plain_identifiers_are_refused(bad_name):
    spec = with_change(lambda s: s["steps"][1].update(name=bad_name))

    with pytest.raises(CodegenError):
        validate_spec(spec)


@pytest.mark.parametrize("field,value", [
    ("flow_name", "Flow(FlowSpec): pass\nclass X"),
    ("flow_name", "1Flow"),
])
def test_bad_flow_names_are_refused(field, value):
    with pytest.raises(CodegenError, match="not a valid name"):
        validate_spec(with_change(lambda s: s.update({field: value})))


def test_bad_parameter_name_type_and_duplicates_are_refused():
    with pytest.raises(CodegenError, match="not a valid name"):
        validate_spec(with_change(lambda s: s["parameters"][0].update(name="a=1)#")))
    with pytest.raises(CodegenError, match="unknown type"):
        validate_spec(with_change(lambda s: s["parameters"][0].update(type="os.system")))
    with pytest.raises(CodegenError, match="defined twice"):
        validate_spec(with_change(lambda s: s["parameters"].append(dict(s["parameters"][0]))))
    with pytest.raises(CodegenError, match="FlowSpec member"):
        validate_spec(with_change(lambda s: s["parameters"][0].update(name="input")))


def test_foreach_variables_and_decorator_attributes_must_be_identifiers():
    with pytest.raises(CodegenError, match="foreach variable"):
        validate_spec(with_change(lambda s: s["steps"][0].update(foreach="x') or os.system('id")))
    with pytest.raises(CodegenError, match="attribute"):
        validate_spec(with_change(
            lambda s: s["steps"][0]["decorators"][0]["attributes"].update({"a)+(b": 1})))


def test_unknown_decorators_name_the_step():
    with pytest.raises(CodegenError, match=r"Step \*stats\* uses decorator @kubernetes"):
        validate_spec(with_change(
            lambda s: s["steps"][1]["decorators"].append({"name": "kubernetes", "attributes": {}})))
    with pytest.raises(CodegenError, match="Flow decorator"):
        validate_spec(with_change(
            lambda s: s["flow_decorators"].append({"name": "project", "attributes": {}})))


def test_decorator_values_are_literals_not_code(tmp_path):
    payload = "__import__('os').system('touch pwned')"
    spec = with_change(lambda s: s["steps"][1]["decorators"].append(
        {"name": "environment", "attributes": {"vars": {"X": payload}}}))

    flow = load_module(tmp_path, spec).StatsFlow

    deco = [d for d in flow.stats.decorators if d.name == "environment"][0]
    assert deco.environment() == {"X": payload}
    assert not (tmp_path / "pwned").exists()
    assert repr(payload) in generate(validate_spec(spec))


def test_a_missing_or_broken_spec_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "metaflow_core.codegen", str(tmp_path), "run"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "There is no flow spec" in result.stderr
    assert "Traceback" not in result.stderr

    (tmp_path / "flow.json").write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "metaflow_core.codegen", str(tmp_path), "run"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr
