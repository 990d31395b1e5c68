"""Graph shapes and behaviours for ``test_matrix.py``, written out as Python and R flows."""
