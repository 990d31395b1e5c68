"""Cards: HTML reports of tasks (``@card``), the components a step appends to them
(``current.card.append(...)``) and reading them back (``get_cards``)."""

from .card_client import Card, get_cards
from .components import Artifact, Image, Markdown, Table

__all__ = ["Artifact", "Card", "Image", "Markdown", "Table", "get_cards"]
