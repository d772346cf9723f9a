"""Shared UI pieces for the pages: i18n, cached model handles and traces,
token chips, error messages. Figures are pure functions in ui/fig_*.py."""

# Imported whole here, before any page runs: plotly looks pandas up in
# sys.modules without importing it, and a page importing pandas for the first
# time in another session's thread left plotly a half-initialised module
# ("partially initialized module 'pandas' has no attribute 'Series"). Every
# session imports this package first, and Python makes it wait until done.
import pandas  # noqa: E402,F401
