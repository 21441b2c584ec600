"""Shared test helpers: a real browser, axe-core checks and a background waitress server."""
