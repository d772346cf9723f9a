"""Shared UI pieces for the pages: i18n, cached model handles and traces,
token chips, error messages. Figures are pure functions in ui/fig_*.py."""
