"""Metrics and reports (``emotag eval``)."""
