"""Where a card lives: its HTML is a blob of the flow's content-addressed store
(local or S3, verified on every read like an artifact), and the attempt's record
(``data.json``'s control) lists it as ``{"type", "id", "sha", "size"}``."""

from ...exceptions import CardError


def save_card(task_datastore, card_type, card_id, html_text):
    data = html_text.encode("utf-8")
    sha = task_datastore.ca_store.save_blob(data)
    return {"type": card_type, "id": card_id, "sha": sha, "size": len(data)}


def card_records(task_datastore):
    return list(task_datastore.control.get("cards") or [])


def load_card_html(task_datastore, record):
    return task_datastore.ca_store.load_blob(record["sha"]).decode("utf-8")


def choose_records(records, card_id, where):
    """The records with id ``card_id`` (all when None); an id no card has is an error
    naming the ids there are."""
    if card_id is None:
        return records
    chosen = [r for r in records if r.get("id") == card_id]
    if not chosen:
        ids = ", ".join(str(r.get("id")) for r in records if r.get("id")) or "none"
        raise CardError("%s has no card with id '%s'. Card ids there: %s." % (where, card_id, ids))
    return chosen
