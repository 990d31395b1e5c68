"""The R front end's half of the core: how an R step runs (``bridge``), the
process R's client reads runs through (``client_server``), and Python values as
R's serialized bytes (``values``, ``rds``). See inst/PROTOCOL.md.

It uses only the core's public API; the core imports nothing from here.
"""
