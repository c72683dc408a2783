"""``ccmon report``: monthly SLA figures per zone and per server from the store's history.

:mod:`monitor.sla.figures` computes the figures (store only, read-only), :mod:`.svg` draws
the plots, :mod:`.render` writes HTML, CSV and JSON, :mod:`.command` is the CLI entry.
"""
