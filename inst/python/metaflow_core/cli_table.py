"""The engine's command line as data: which options take a value, which are flags and
how they are negated, by command, read from the click definitions in ``cli.py``.

A front end that builds or reads a command line (R's ``run_args.R``) uses this table
instead of a copy of its own, so an option added here reaches it. The R package ships
the table as ``inst/engine_options.json``; ``make engine-options`` writes it again,
``python -m metaflow_core.cli_table PATH``, and a test fails when it differs from
what click says. The flow's own parameters, options of ``run``, are not in it.
"""

import json
import sys

import click

from .flowspec import FlowSpec, step

TABLE_VERSION = 1


class OptionsFlow(FlowSpec):
    """The smallest flow: its command line is every flow's, without parameters."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def option_table(group):
    """The table of ``group`` (the click group ``cli.make_cli`` returns)."""
    ctx = click.Context(group)
    table = {"version": TABLE_VERSION}
    table.update(_describe(group, ctx))
    table["commands"] = {
        name: _describe_tree(group.get_command(ctx, name), ctx)
        for name in sorted(group.list_commands(ctx))
    }
    return table


def _describe_tree(command, parent_ctx):
    """A command's options; a group's include its subcommands' (a front end reads
    ``tag add --run-id 5 x`` as options of ``tag``)."""
    ctx = click.Context(command, parent=parent_ctx)
    described = _describe(command, ctx)
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = _describe_tree(command.get_command(ctx, name), ctx)
            for key in ("value_options", "flags"):
                described[key] += [o for o in sub[key] if o not in described[key]]
            described["negations"].update(sub["negations"])
    return described


def _describe(command, ctx):
    value_options, flags, negations = [], [], {}
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue
        longs = [opt[2:] for opt in param.opts if opt.startswith("--")]
        if not longs:
            continue
        key = longs[0]
        if param.is_flag or param.count:
            flags.append(key)
            for opt in param.secondary_opts:
                if opt.startswith("--"):
                    negations[opt[2:]] = key
        else:
            value_options.append(key)
    return {"value_options": value_options, "flags": flags, "negations": negations}


def engine_table():
    from .cli import make_cli
    from .graph import FlowGraph

    return option_table(make_cli(OptionsFlow(use_cli=False), FlowGraph(OptionsFlow)))


def table_text():
    return json.dumps(engine_table(), indent=2) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], "w") as f:
        f.write(table_text())
