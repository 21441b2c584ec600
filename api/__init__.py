"""Participate for other systems: API tokens, a read API, OData feeds and webhooks out.

On a hub, `/api/open/v1/` is the read API (OpenAPI description at
`/api/open/v1/openapi.json`), `/odata/v1/<consultation_id>.svc` an OData v4 feed per
consultation, and `/staff/connections` the staff page for tokens and webhooks. The
webhook delivery job runs in the hub's scheduler; `participate add-token` makes tokens.
This package reads the hub's public API (participate.hub: exports, filters, staff sign-in).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from participate.extensions import csrf

from .commands import add_token

commands = [add_token]


def init_app(app: Flask) -> None:
    """Register the read API, the OData feeds and the staff page, on a hub."""
    if app.config["ROLE"] != "hub":
        return
    from . import odata, rest, staff

    for blueprint in (rest.bp, odata.bp):
        csrf.exempt(blueprint)  # token-authenticated and read-only: no cookie, no form
        app.register_blueprint(blueprint)
    app.register_blueprint(staff.bp)


def schedule(scheduler: Any, app: Flask) -> None:
    """Add the webhook delivery job to a hub's scheduler."""
    if app.config["ROLE"] != "hub":
        return
    scheduler.add_job(
        deliver_webhooks,
        "interval",
        seconds=float(app.config["WEBHOOK_POLL_SECONDS"]),
        args=[
            app.config["DATABASE"],
            float(app.config["WEBHOOK_TIMEOUT_SECONDS"]),
            float(app.config["WEBHOOK_RETRY_HOURS"]),
        ],
        id="api-deliver-webhooks",
        replace_existing=True,
    )


def deliver_webhooks(database: str, timeout: float, retry_hours: float) -> dict[str, int]:
    """Send the webhook deliveries that are due (the job; one connection of its own)."""
    from participate import store

    from . import webhooks

    with store.open_db(database) as db:
        return webhooks.deliver_due(db, timeout=timeout, retry_hours=retry_hours)
