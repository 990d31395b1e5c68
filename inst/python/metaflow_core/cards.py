"""``from metaflow_core.cards import Markdown, Table, Image, Artifact, get_cards``, as
``metaflow.cards`` is imported in Netflix's Metaflow; they live in plugins/cards."""

from .plugins.cards.card_client import Card, get_cards
from .plugins.cards.components import Artifact, Image, Markdown, Table

__all__ = ["Artifact", "Card", "Image", "Markdown", "Table", "get_cards"]
