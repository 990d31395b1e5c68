"""The card components an R step appended (``card_append()``), read from the
``card.json`` R wrote beside its outputs (inst/PROTOCOL.md, section 5) and added
to ``current.card``. Nothing here fails the step: a file that can't be read
becomes an error shown in the card."""

import json
import os

from ..current import current
from ..plugins.cards.card_decorator import card_warning


def append_r_card(output_dir, step_name):
    path = os.path.join(output_dir, "card.json")
    if not os.path.exists(path):
        return
    # Only a step that appended to a card pays for the components' import.
    from ..plugins.cards.components import ErrorComponent
    collector = current.get("card")
    if collector is None:
        card_warning("step %s appended to a card but has no card() decorator: the components "
                     "are dropped. Give the step card(), or run with --with card." % step_name)
        return
    try:
        with open(path, "rb") as f:
            items = json.loads(f.read().decode("utf-8"))["components"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        collector.append(ErrorComponent("The R step's card components can't be read: %s" % err))
        return
    for item in items:
        try:
            collector.append(_component(item, output_dir))
        except Exception as err:
            collector.append(ErrorComponent("A card component of the R step can't be shown: %s"
                                            % err))


def _component(item, output_dir):
    from ..plugins.cards.components import Artifact, ErrorComponent, Image, Markdown, Table

    kind = item.get("type")
    if kind == "markdown":
        return Markdown(item["text"])
    if kind == "table":
        return Table(item["rows"], headers=item["headers"], digits=item.get("digits"))
    if kind == "image":
        return Image(path=os.path.join(output_dir, os.path.basename(item["file"])),
                     label=item.get("label"))
    if kind == "artifact":
        return Artifact(item["name"])
    if kind == "error":
        return ErrorComponent(item["message"])
    return ErrorComponent("Unknown card component type %r." % (kind,))
