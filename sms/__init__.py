"""The sms feature (being built: see its issue)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this feature's blueprint and hooks on the app."""
