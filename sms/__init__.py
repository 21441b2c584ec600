"""The SMS channel: a Twilio conversation anyone with a basic phone can use.

`init_app` mounts the blueprint (webhook, status callback, simulator) on a hub or a
node; `schedule` adds the expiry and outbound-queue jobs; `commands` adds
`participate invite`; `load_report` tells `participate load` what each prompt costs.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from participate.extensions import csrf

from . import config as sms_config
from .commands import invite
from .followups import Published
from .followups import measure as measure_results_text
from .outbound import RateLimiter
from .prompt_costs import load_report

log = logging.getLogger(__name__)

commands = [invite]
__all__ = [
    "Published",
    "commands",
    "init_app",
    "load_report",
    "measure_results_text",
    "publish_results",
    "schedule",
]

QUEUE_SECONDS = 5
EXPIRY_MINUTES = 5


def init_app(app: Flask) -> None:
    """Read the channel's settings, mount its routes, and exempt the signed ones from CSRF."""
    from . import views

    settings = sms_config.from_app_config(app.config)
    app.extensions["sms"] = settings
    app.extensions["sms_limiter"] = RateLimiter(settings.rate_per_second)
    app.register_blueprint(views.bp)
    # Twilio signs these two instead; the simulator's form keeps its CSRF token.
    csrf.exempt(views.twilio_inbound)
    csrf.exempt(views.twilio_status)


def publish_results(app: Flask, db, consultation, texts: dict[str, str], sent_by: str) -> Published:
    """Queue a consultation's results summary to every number kept for it (see followups)."""
    from . import followups

    return followups.publish(db, sms_config.get(app), consultation, texts, sent_by)


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
