"""Reading cards back: ``Task.cards`` and ``get_cards()`` of the client."""

from ...exceptions import CardError
from .storage import card_records, choose_records, load_card_html


class Card(object):
    """One stored card: ``type``, ``id``, ``pathspec`` (its task's) and ``html``."""

    def __init__(self, datastore, record, pathspec):
        self._datastore = datastore
        self._record = record
        self.type = record.get("type")
        self.id = record.get("id")
        self.pathspec = pathspec
        self._html = None

    @property
    def html(self):
        if self._html is None:
            self._html = load_card_html(self._datastore, self._record)
        return self._html

    def __repr__(self):
        return "<Card %s%s of %s>" % (self.type, " id=%s" % self.id if self.id else "",
                                      self.pathspec)


def task_cards(datastore, pathspec, card_id=None):
    """The cards of a task's attempt (``datastore`` None: it has no completed attempt)."""
    if datastore is None:
        raise CardError("Task %s has no completed attempt, so it has no card yet." % pathspec)
    records = choose_records(card_records(datastore), card_id, "Task %s" % pathspec)
    return [Card(datastore, record, pathspec) for record in records]


def get_cards(task, id=None):
    """The cards of ``task`` (a client ``Task`` or its pathspec), as Netflix's
    ``metaflow.cards.get_cards``; ``id`` keeps those with that id."""
    from ...client import Task

    if isinstance(task, str):
        task = Task(task)
    return task.cards if id is None else task.card_list(id)
