"""Benchmarks that print figures: `python -m bench match|export|e2e` (see __main__.py)."""
