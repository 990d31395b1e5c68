"""Generate a FlowSpec module from the R front end's JSON flow spec.

``python -m metaflow_core.codegen SPEC_DIR ARGS...`` reads ``SPEC_DIR/flow.json``
(see inst/PROTOCOL.md), writes ``SPEC_DIR/flow.py`` and runs it as
``flow.py ARGS...``. Names are checked against strict patterns before they
become Python identifiers, and every other value is emitted with ``repr()``, so
nothing a user wrote is ever pasted into code.
"""

import json
import keyword
import os
import re
import runpy
import sys

from .exceptions import CodegenError
from .flowspec import FlowSpec
from .decorators import STEP_DECORATORS

SPEC_VERSION = 1
FLOW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STEP_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARAMETER_TYPES = frozenset(("str", "int", "float", "bool", "json"))
# Flow decorators that only matter to schedulers we don't deploy to; locally they do nothing.
LOCAL_NO_OP_FLOW_DECORATORS = frozenset(("schedule",))


def _check_name(pattern, value, what):
    if not isinstance(value, str) or not pattern.match(value) or keyword.iskeyword(value):
        raise CodegenError("%s *%r* is not a valid name." % (what, value))
    return value


def _check_member(value, what):
    """Steps and parameters become class members; they must not shadow FlowSpec's own."""
    if hasattr(FlowSpec, value):
        raise CodegenError("%s *%s* is the name of a FlowSpec member; choose another." % (what, value))
    return value


def validate_spec(spec):
    if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
        raise CodegenError("The flow spec must be a JSON object with version %d." % SPEC_VERSION)
    _check_name(FLOW_NAME, spec.get("flow_name"), "Flow name")
    for deco in spec.get("flow_decorators", []):
        if deco.get("name") not in LOCAL_NO_OP_FLOW_DECORATORS:
            raise CodegenError(
                "Flow decorator *%s* is not supported. Supported: %s."
                % (deco.get("name"), ", ".join(sorted(LOCAL_NO_OP_FLOW_DECORATORS)))
            )
    seen = set()
    for param in spec.get("parameters", []):
        name = _check_member(_check_name(PARAMETER_NAME, param.get("name"), "Parameter name"),
                             "Parameter")
        if name in seen:
            raise CodegenError("Parameter *%s* is defined twice." % name)
        seen.add(name)
        if param.get("type") not in PARAMETER_TYPES:
            raise CodegenError("Parameter *%s* has an unknown type %r." % (name, param.get("type")))
    steps = spec.get("steps")
    if not isinstance(steps, list) or not steps:
        raise CodegenError("The flow spec has no steps.")
    names = set()
    for s in steps:
        name = _check_member(_check_name(STEP_NAME, s.get("name"), "Step name"), "Step")
        if name in names:
            raise CodegenError("Step name *%s* is used twice." % name)
        names.add(name)
        for target in s.get("next", []):
            _check_name(STEP_NAME, target, "The next step of *%s*" % name)
        if s.get("foreach") is not None:
            _check_name(IDENTIFIER, s["foreach"], "The foreach variable of step *%s*" % name)
        for deco in s.get("decorators", []):
            if deco.get("name") not in STEP_DECORATORS:
                raise CodegenError(
                    "Step *%s* uses decorator @%s, which this engine doesn't support. "
                    "Supported: %s." % (name, deco.get("name"), ", ".join(sorted(STEP_DECORATORS))),
                    step=name,
                )
            for attr in deco.get("attributes", {}):
                _check_name(IDENTIFIER, attr, "An attribute of @%s on step *%s*" % (deco["name"], name))
    return spec


def _parameter_source(param):
    args = [repr(param["name"])]
    kwargs = {
        "type": param["type"],
        "default": param.get("default"),
        "help": param.get("help"),
        "required": bool(param.get("required", False)),
        "separator": param.get("separator"),
        "is_flag": bool(param.get("is_flag", False)),
    }
    args += ["%s=%r" % (k, v) for k, v in kwargs.items()]
    return "    %s = Parameter(%s)" % (param["name"], ", ".join(args))


def _step_source(s):
    lines = [""]
    for deco in s.get("decorators", []):
        lines.append("    @step_decorator(%r, %r)" % (deco["name"], dict(deco.get("attributes", {}))))
    lines.append("    @step")
    join = bool(s.get("join"))
    lines.append("    def %s(self%s):" % (s["name"], ", inputs" if join else ""))
    body = []
    if s.get("function") is not None or s.get("foreach") is not None:
        body.append("        run_elsewhere(self, RStep(SPEC_DIR, %r)%s)"
                    % (s.get("function"), ", inputs" if join else ""))
    targets = ", ".join("self.%s" % t for t in s.get("next", []))
    if targets:
        foreach = ", foreach=%r" % s["foreach"] if s.get("foreach") is not None else ""
        body.append("        self.next(%s%s)" % (targets, foreach))
    return lines + (body or ["        pass"])


def generate(spec):
    """The source of the FlowSpec module for a validated spec."""
    name = spec["flow_name"]
    lines = [
        "# Generated by metaflow_core.codegen from flow.json beside this file.",
        "# Change the R flow, not this file.",
        "import os",
        "",
        "from metaflow_core import FlowSpec, Parameter, step",
        "from metaflow_core.decorators import step_decorator",
        "from metaflow_core.external import run_elsewhere",
        "from metaflow_core.front_end import uses_front_end",
        "from metaflow_core.r.bridge import RFrontEnd, RStep",
        "",
        "SPEC_DIR = os.path.dirname(os.path.abspath(__file__))",
        "",
        "",
        "@uses_front_end(RFrontEnd(SPEC_DIR))",
        "class %s(FlowSpec):" % name,
        "    __doc__ = %r" % (spec.get("doc") or "A flow written in R."),
    ]
    lines += [_parameter_source(p) for p in spec.get("parameters", [])]
    for s in spec["steps"]:
        lines += _step_source(s)
    lines += ["", "", 'if __name__ == "__main__":', "    %s()" % name, ""]
    return "\n".join(lines)


def load_spec(spec_dir):
    path = os.path.join(spec_dir, "flow.json")
    try:
        with open(path, "rb") as f:
            spec = json.loads(f.read())
    except FileNotFoundError:
        raise CodegenError("There is no flow spec at *%s*." % path)
    except ValueError as err:
        raise CodegenError("The flow spec *%s* is not valid JSON: %s" % (path, err))
    return validate_spec(spec)


def write_module(spec_dir, spec):
    from .util import atomic_write

    path = os.path.join(os.path.abspath(spec_dir), "flow.py")
    atomic_write(path, generate(spec).encode("utf-8"))
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write("usage: python -m metaflow_core.codegen SPEC_DIR [FLOW ARGS...]\n")
        sys.exit(2)
    try:
        module = write_module(argv[0], load_spec(argv[0]))
    except CodegenError as err:
        from .cli_errors import failure_file, failure_summary, format_error, write_failure

        sys.stderr.write(format_error(err))
        summary = failure_summary("error", err.headline, err.message, err.exit_code, err)
        write_failure(failure_file(argv[1:]), summary)
        sys.exit(err.exit_code)
    sys.argv = [module] + list(argv[1:])
    runpy.run_path(module, run_name="__main__")


if __name__ == "__main__":
    main()
