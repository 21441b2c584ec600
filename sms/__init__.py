"""The SMS channel: a Twilio conversation anyone with a basic phone can use.

`init_app` mounts the blueprint (webhook, status callback, simulator) on a hub or a
node; `schedule` adds the expiry and outbound-queue jobs; `commands` adds
`participate invite`; `load_report` tells `participate load` what each prompt costs.
"""

from __future__ import annotations

import logging

from flask import Flask

from participate.extensions import csrf
from sms import config as sms_config
from sms.commands import invite
from sms.outbound import RateLimiter
from sms.report import load_report

log = logging.getLogger(__name__)

commands = [invite]
__all__ = ["commands", "init_app", "load_report", "schedule"]

QUEUE_SECONDS = 5
EXPIRY_MINUTES = 5


def init_app(app: Flask) -> None:
    """Read the channel's settings, mount its routes, and exempt the signed ones from CSRF."""
    from sms import views

    settings = sms_config.from_app_config(app.config)
    app.extensions["sms"] = settings
    app.extensions["sms_limiter"] = RateLimiter(settings.rate_per_second)
    app.register_blueprint(views.bp)
    # Twilio signs these two instead; the simulator's form keeps its CSRF token.
    csrf.exempt(views.twilio_inbound)
    csrf.exempt(views.twilio_status)


def schedule(scheduler, app: Flask) -> None:  # noqa: ANN001 (APScheduler's BaseScheduler)
    """Add the expiry job and the outbound-queue job for this app's store."""
    from sms import jobs

    scheduler.add_job(
        jobs.expire,
        "interval",
        minutes=EXPIRY_MINUTES,
        args=[app],
        id="sms-expire",
        replace_existing=True,
    )
    scheduler.add_job(
        jobs.send_queue,
        "interval",
        seconds=QUEUE_SECONDS,
        args=[app],
        id="sms-queue",
        replace_existing=True,
    )
