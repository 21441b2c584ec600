"""The SMS channel: a Twilio conversation anyone with a basic phone can use.

`init_app` mounts the blueprint (webhook, status callback, simulator) on a hub or a
node and registers the channel's side of access and erasure requests; `schedule` adds
the expiry, outbound-queue and daily retention jobs; `commands` adds `participate
invite`, `erase` and `subject`; `load_report` tells `participate load` what each prompt costs.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from participate import privacy
from participate.extensions import csrf

from . import config as sms_config
from .commands import erase, invite, subject
from .outbound import RateLimiter
from .people import SmsPeople, erase_for_order
from .prompt_costs import load_report

log = logging.getLogger(__name__)

commands = [invite, erase, subject]
# Whatever runs an erasure order (the hub's request, a node's sync) erases the channel's
# state too: registered on import, so a command needs no app.
privacy.register_eraser("sms", erase_for_order)
__all__ = ["commands", "init_app", "load_report", "schedule"]

QUEUE_SECONDS = 5
EXPIRY_MINUTES = 5
RETENTION_HOUR = 3  # local time (TIMEZONE): the daily retention run, when all is quiet


def init_app(app: Flask) -> None:
    """Read the channel's settings, mount its routes, and exempt the signed ones from CSRF."""
    from . import views

    settings = sms_config.from_app_config(app.config)
    app.extensions["sms"] = settings
    app.extensions["sms_limiter"] = RateLimiter(settings.rate_per_second)
    app.register_blueprint(views.bp)
    app.extensions[privacy.PEOPLE] = SmsPeople(settings)
    # Twilio signs these two instead; the simulator's form keeps its CSRF token.
    csrf.exempt(views.twilio_inbound)
    csrf.exempt(views.twilio_status)


def schedule(scheduler: BaseScheduler, app: Flask) -> None:
    """Add the expiry job and the outbound-queue job for this app's store."""
    from . import jobs

    every = {
        "sms-expire": (jobs.expire, 60 * EXPIRY_MINUTES),
        "sms-queue": (jobs.send_queue, QUEUE_SECONDS),
    }
    for job_id, (job, seconds) in every.items():
        scheduler.add_job(
            job, "interval", seconds=seconds, args=[app], id=job_id, replace_existing=True
        )
    # Daily, at the hub and on every node (both serve the SMS channel's store).
    scheduler.add_job(
        jobs.retention,
        "cron",
        hour=RETENTION_HOUR,
        timezone=app.config["TIMEZONE"],
        args=[app],
        id="privacy-retention",
        replace_existing=True,
    )
