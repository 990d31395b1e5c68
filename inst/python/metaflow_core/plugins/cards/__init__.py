"""Cards: HTML reports of tasks (``@card``), the components a step appends to them
(``current.card.append(...)``) and reading them back (``get_cards``). Users import
them from ``metaflow_core.cards``; this package imports nothing, so registering the
decorator in every task costs only its own module."""
