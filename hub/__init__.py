"""The staff hub: sign-in and roles, results and charts, moderation, devices, exports,
and authoring consultations (drafts, preview, publishing, lifecycle and order).

On a hub (ROLE "hub") the staff blueprint is served under `/staff/` and `GET /`
redirects there. `commands` adds `participate add-user` and `participate export` (the
export works on any store, hub or node).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect

from .auth import load_user, no_store, requires
from .commands import add_user, export_command, import_command
from .errors import FilterError
from .export import ExportOptions, codebook_rows, plan_export
from .export import records as export_records
from .results import Filters
from .users import create_user, find_user

# Other hub-side features (participate.api) read exports and guard staff pages with these.
__all__ = [
    "ExportOptions",
    "FilterError",
    "Filters",
    "codebook_rows",
    "commands",
    "create_user",
    "export_records",
    "find_user",
    "init_app",
    "load_user",
    "no_store",
    "plan_export",
    "requires",
    "schedule",
]

commands = [add_user, export_command, import_command]
PURGE_MINUTES = 60


def init_app(app: Flask) -> None:
    """Register the staff blueprint on a hub, and send `/` there."""
    if app.config["ROLE"] != "hub":
        return
    from . import admin, authoring, results_texts, texts, views  # noqa: F401 (they add their routes to the blueprint)
    from .auth import bp

    app.register_blueprint(bp)
    if not any(rule.rule == "/" for rule in app.url_map.iter_rules()):
        app.add_url_rule("/", "hub_home", lambda: redirect("/staff/"))


def schedule(scheduler: Any, app: Flask) -> None:
    """Add the hourly purge of expired staff sign-ins to a hub's scheduler."""
    if app.config["ROLE"] != "hub":
        return
    scheduler.add_job(
        purge_expired_sessions,
        "interval",
        minutes=PURGE_MINUTES,
        args=[app.config["DATABASE"], float(app.config["HUB_SESSION_HOURS"])],
        id="hub-purge-sessions",
        replace_existing=True,
    )


def purge_expired_sessions(database: str, max_hours: float) -> int:
    """Delete staff sign-ins past their lifetime (abandoned ones never come back to expire)."""
    from participate import store

    from . import users

    with store.open_db(database) as db:
        return users.purge_sessions(db, max_hours=max_hours)
