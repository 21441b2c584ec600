"""The sync feature: signed store-and-forward from kiosk nodes to the hub, and a ledger.

On a hub, `init_app` mounts the device API at /api/v1 (signed, so CSRF-exempt). On a
node, it remembers the hub and device it was started with, so `participate sync --once`
can act as that device, and `schedule` adds the background sync jobs.
"""

from __future__ import annotations

from flask import Flask

from participate import store
from participate.extensions import csrf

from .bundles import BundleError, is_signed_file
from .commands import (
    add_device,
    bundle_command,
    device_channels,
    device_secret,
    devices_command,
    sync_command,
)
from .intake import BundleIntake, accept_bundle
from .node import client_from_store, sync_once
from .scheduling import schedule

# What other packages may use, beside `devices` (the device registry): docs/architecture.md.
__all__ = [
    "BundleError",
    "BundleIntake",
    "accept_bundle",
    "client_from_store",
    "commands",
    "init_app",
    "is_signed_file",
    "schedule",
    "sync_once",
]

commands = [
    add_device,
    device_channels,
    device_secret,
    sync_command,
    devices_command,
    bundle_command,
]


def init_app(app: Flask) -> None:
    """Mount the device API on a hub; remember the enrolment on a node."""
    if app.config["ROLE"] == "hub":
        from .api import bp

        csrf.exempt(bp)
        app.register_blueprint(bp, url_prefix="/api/v1")
        return
    # All three or nothing: an app made without the secret must not wipe the stored one.
    enrolment = [app.config.get(key) for key in ("HUB_URL", "DEVICE_ID", "DEVICE_SECRET")]
    if all(enrolment):
        from .node import save_enrolment

        with store.open_db(app.config["DATABASE"]) as db:
            save_enrolment(db, *enrolment)
