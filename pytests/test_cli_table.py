"""The command-line table R reads (inst/engine_options.json) is what click says."""

import json
from pathlib import Path

import click

from metaflow_core.cli_table import option_table, table_text

SHIPPED = Path(__file__).resolve().parent.parent / "inst" / "engine_options.json"


def test_the_shipped_table_is_what_click_says():
    assert SHIPPED.read_text() == table_text(), (
        "inst/engine_options.json is out of date: run `make engine-options`."
    )


def test_the_table_reads_options_flags_negations_and_subcommands():
    @click.group()
    @click.option("--root")
    @click.option("--quiet/--not-quiet")
    def top(root, quiet):
        pass

    @top.command()
    @click.argument("path")
    @click.option("--size", type=int)
    @click.option("--all", is_flag=True)
    def dump(path, size, all):
        pass

    @top.group()
    def tag():
        pass

    @tag.command()
    @click.option("--run-id")
    @click.option("--hide/--show")
    def add(run_id, hide):
        pass

    table = option_table(top)
    assert table["value_options"] == ["root"]
    assert table["flags"] == ["quiet", "help"]
    assert table["negations"] == {"not-quiet": "quiet"}
    assert table["commands"]["dump"] == {
        "value_options": ["size"], "flags": ["all", "help"], "negations": {},
    }
    assert table["commands"]["tag"] == {
        "value_options": ["run-id"], "flags": ["help", "hide"], "negations": {"show": "hide"},
    }


def test_every_value_option_r_passes_is_in_the_table():
    table = json.loads(SHIPPED.read_text())
    assert {"datastore", "datastore-root", "metadata", "with", "package-suffixes",
            "failure-file"} <= set(table["value_options"])
    for command in ("run", "resume"):
        assert {"tag", "max-workers", "max-num-splits", "max-log-size", "with",
                "run-id-file"} <= set(table["commands"][command]["value_options"])
