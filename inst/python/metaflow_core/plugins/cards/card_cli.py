"""``card view`` and ``card get``: a task's card, by ``STEP`` (the latest run),
``RUN/STEP`` or ``RUN/STEP/TASK``, as in Netflix's Metaflow."""

import os
import sys
import tempfile

import click

from ...exceptions import CommandException, MetaflowDataMissing
from .card_client import task_cards


def add_card_commands(start):
    @start.group(help="Commands related to cards: the HTML reports @card makes of tasks.")
    def card():
        pass

    pathspec_arg = click.argument("pathspec")
    run_id_opt = click.option("--run-id", default=None,
                              help="The run of a PATHSPEC that is only a step (default: the "
                                   "latest run).")
    id_opt = click.option("--id", "card_id", default=None, help="The card's id, when it has one.")

    @card.command(help="Open the card of a task (PATHSPEC: STEP, RUN/STEP or RUN/STEP/TASK) in "
                       "the browser; without a display, print where its file is.")
    @pathspec_arg
    @run_id_opt
    @id_opt
    @click.pass_obj
    def view(state, pathspec, run_id, card_id):
        found, html = _card_of(state, pathspec, run_id, card_id)
        path = os.path.join(tempfile.gettempdir(), "metaflow-card-%s.html"
                            % found.replace("/", "_"))
        _write(path, html)
        if _can_open_browser():
            import webbrowser

            webbrowser.open("file://" + path)
            state.echo("Opened the card of *%s*: %s" % (found, path))
        else:
            state.echo("The card of *%s* is in %s (not opened: no display, or CI is set)."
                       % (found, path))

    @card.command(help="Write the card of a task (PATHSPEC: STEP, RUN/STEP or RUN/STEP/TASK) "
                       "to FILE (default: FLOW_RUN_STEP_TASK.html here).")
    @pathspec_arg
    @click.argument("file", required=False)
    @run_id_opt
    @id_opt
    @click.pass_obj
    def get(state, pathspec, file, run_id, card_id):
        found, html = _card_of(state, pathspec, run_id, card_id)
        path = file or "%s%s.html" % (found.replace("/", "_"), "_" + card_id if card_id else "")
        _write(path, html)
        state.echo("Wrote the card of *%s* to %s" % (found, os.path.abspath(path)))

    return card


def _card_of(state, pathspec, run_id, card_id):
    """(task pathspec, HTML) of the card PATHSPEC names."""
    from ...cli import _num, _split_input_path

    parts = pathspec.strip("/").split("/")
    if len(parts) == 1:
        run_id = run_id or state.flow_datastore.get_latest_run()
        if run_id is None:
            raise CommandException("Flow %s has no runs, so there is no card of *%s*."
                                   % (state.flow.name, pathspec))
        parts = [run_id] + parts
    elif run_id is not None and run_id != parts[0]:
        raise CommandException("--run-id %s and the run of *%s* differ." % (run_id, pathspec))
    run_id, step_name, task_ids = _split_input_path(state, "/".join(parts))
    task_id = sorted(task_ids, key=_num)[0]
    found = "%s/%s/%s/%s" % (state.flow.name, run_id, step_name, task_id)
    if len(parts) == 2 and len(task_ids) > 1:
        state.info("Step *%s* has %d tasks; showing the card of task %s (name one with "
                   "RUN/STEP/TASK)." % (step_name, len(task_ids), task_id))
    try:
        datastore = state.flow_datastore.task(run_id, step_name, task_id)
    except MetaflowDataMissing:
        datastore = None
    cards = task_cards(datastore, found, card_id)
    if not cards:
        raise CommandException("Task *%s* has no card: its step has no @card. Run the flow with "
                               "--with card to give every step one." % found)
    return found, cards[0].html


def _write(path, html):
    from ...cli import _write_user_file

    _write_user_file(path, html.encode("utf-8"), "card file")


def _can_open_browser():
    # Not isatty(): under `Rscript flow.R card view` R reads the engine's output
    # through a pipe, yet the user is at a screen.
    if os.environ.get("CI"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True
