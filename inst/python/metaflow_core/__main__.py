"""``python -m metaflow_core COMMAND``: the engine's own commands, outside any flow."""

import click

from . import __version__


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="metaflow_core")
@click.pass_context
def main(ctx):
    """The metaflow_core engine. A flow has its own commands: python flow.py --help."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(as_json):
    """Show the Python, the engine, the datastore and namespace in use, and the optional parts."""
    from .status import show

    show(as_json)


if __name__ == "__main__":
    main(prog_name="python -m metaflow_core")
