"""``@card``: a step's HTML report, rendered in the task process when the attempt ends
(succeeded or failed) and stored with it. Nothing about a card ever fails the task:
errors go to the task's stderr and into the card.

Every task imports this module (decorators.py registers the decorator), so the
components, the renderer and the graph are imported only by a task that has a card.
"""

import re
import sys
import threading
import time

from ...current import current
from ...decorators import StepDecorator, error_record
from ...exceptions import DecoratorError
from ...front_end import front_end_of
from ...parameters import flow_parameters

_CARD_ID = re.compile(r"^[A-Za-z0-9_]+$")
# R values larger than this are listed without a preview: reading them would cost
# more than the card is worth.
PREVIEW_MAX_BYTES = 1 << 20


def card_warning(message):
    sys.stderr.write("@card: %s\n" % message)
    sys.stderr.flush()


class CardComponentCollector(object):
    """``current.card``: ``append()``/``extend()`` add to the step's card;
    ``current.card["id"]`` is the card with that id."""

    def __init__(self, card_id):
        self.card_id = card_id
        self.components = []

    def append(self, component):
        from .components import CardComponent, ErrorComponent

        if not isinstance(component, CardComponent):
            message = ("current.card.append() takes a card component (Markdown, Table, Image, "
                       "Artifact), not %s." % type(component).__name__)
            card_warning(message)
            component = ErrorComponent(message)
        self.components.append(component)

    def extend(self, components):
        for component in components:
            self.append(component)

    def __getitem__(self, card_id):
        if card_id != self.card_id:
            card_warning("this step has no card with id %r; its components are dropped. The "
                         "step's card has id %r." % (card_id, self.card_id))
            return CardComponentCollector(card_id)
        return self

    def __len__(self):
        return len(self.components)


class CardDecorator(StepDecorator):
    """Renders an HTML card of the task: its pathspec, timing, parameters, artifacts and the
    flow's graph (type ``default``), with what the step appended to ``current.card``;
    ``blank`` shows only those components. ``options`` is accepted as Netflix's @card
    takes it; neither type has any."""

    name = "card"
    defaults = {"type": "default", "id": None, "options": {}, "timeout": 45}

    def step_init(self, graph, step_name):
        from .renderer import CARD_TYPES

        card_type = self.attributes["type"]
        if card_type not in CARD_TYPES:
            raise DecoratorError("@card on step *%s*: type must be one of %s, not %r."
                                 % (step_name, ", ".join(CARD_TYPES), card_type), step=step_name)
        card_id = self.attributes["id"]
        if card_id is not None and not (isinstance(card_id, str) and _CARD_ID.match(card_id)):
            raise DecoratorError("@card on step *%s*: id must be letters, digits and "
                                 "underscores, not %r." % (step_name, card_id), step=step_name)
        timeout = self.attributes["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise DecoratorError("@card on step *%s*: timeout must be a number of seconds "
                                 "above 0, not %r." % (step_name, timeout), step=step_name)

    def task_pre_step(self, flow):
        self._started_at = time.time()
        self._collector = CardComponentCollector(self.attributes["id"])
        current._extend(card=self._collector)

    def task_finished(self, flow, output, error):
        """Render and store the card; the attempt's record lists it."""
        try:
            record = self._render_and_save(flow, output, error)
        except Exception as err:
            card_warning("the card of %s could not be stored: %s" % (current.pathspec, err))
            return
        output.set_control(cards=[record])

    def _render_and_save(self, flow, output, error):
        import traceback

        from .components import CardTask
        from .renderer import CardPage, error_card, render_card
        from .storage import save_card

        collector = getattr(self, "_collector", None) or CardComponentCollector(None)
        card_type, card_id = self.attributes["type"], self.attributes["id"]
        page = CardPage(
            pathspec="%s/%s" % (flow.name, output.pathspec),
            attempt=output.attempt, ok=error is None,
            started_at=getattr(self, "_started_at", None), finished_at=time.time(),
            parameters=_parameter_values(flow), task=CardTask(output),
            artifact_names=sorted(n for n in output.keys() if not n.startswith("_")),
            graph_svg=None, error_record=error_record(flow, error) if error is not None else None,
        )
        outcome = {}

        def work():
            try:
                if card_type == "default":
                    page.task.previews = _previews(flow, output, page.artifact_names)
                    page.graph_svg = _graph(flow, output, error is None)
                outcome["html"] = render_card(card_type, card_id, page, collector.components)
            except Exception:
                outcome["error"] = traceback.format_exc()

        worker = threading.Thread(target=work, name="card-render", daemon=True)
        worker.start()
        worker.join(float(self.attributes["timeout"]))
        if "html" in outcome:
            text = outcome["html"]
        else:
            message = outcome.get("error") or (
                "Rendering the card took longer than its timeout of %s seconds."
                % self.attributes["timeout"])
            card_warning("the card of %s could not be rendered: %s" % (page.pathspec, message))
            text = error_card(card_type, card_id, page, message)
        return save_card(output, card_type, card_id, text)


def _parameter_values(flow):
    from .components import PREVIEW_CHARS

    values = {}
    for attr, _ in flow_parameters(type(flow)):
        try:
            text = repr(getattr(flow, attr))
        except Exception as err:
            text = "(can't read: %s)" % err
        values[attr] = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "\u2026"
    return values


def _previews(flow, output, names):
    """Previews of the values Python can't show (R values), by the flow's front end."""
    wanted = [n for n in names if output.encoding(n) != "pickle"
              and output.info[n]["size"] <= PREVIEW_MAX_BYTES]
    if not wanted:
        return {}
    shown = front_end_of(type(flow)).previews([output.load_object(n) for n in wanted])
    return dict(zip(wanted, shown)) if shown else {}


def _graph(flow, output, ok):
    from .graph_svg import graph_svg, step_statuses

    graph = flow._graph
    statuses = step_statuses(output.flow_datastore, output.run_id, graph, output.step_name,
                             output.task_id, ok)
    return graph_svg(graph, statuses, highlight=output.step_name)
