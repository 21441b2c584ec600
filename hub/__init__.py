"""The staff hub: sign-in and roles, results and charts, moderation, devices, exports.

On a hub (ROLE "hub") the staff blueprint is served under `/staff/` and `GET /`
redirects there. `commands` adds `participate add-user` and `participate export` (the
export works on any store, hub or node).
"""

from __future__ import annotations

from flask import Flask, redirect

from hub.commands import add_user, export_command

commands = [add_user, export_command]


def init_app(app: Flask) -> None:
    """Register the staff blueprint on a hub, and send `/` there."""
    if app.config["ROLE"] != "hub":
        return
    from hub import admin, views  # noqa: F401 (they add their routes to the blueprint)
    from hub.auth import bp

    app.register_blueprint(bp)
    if not any(rule.rule == "/" for rule in app.url_map.iter_rules()):
        app.add_url_rule("/", "hub_home", lambda: redirect("/staff/"))
