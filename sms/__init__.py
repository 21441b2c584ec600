"""The SMS channel: a conversation anyone with a basic phone can use, through a gateway.

`init_app` mounts the blueprint (webhook, status callback, simulator) on a hub or a
node, and the phone's webhook where the gateway is android (`sms.gateway`); `schedule`
adds the expiry and outbound-queue jobs, and the modem's polling job where the gateway
is gammu-smsd; `commands` adds `participate invite`; `load_report` tells `participate
load` what each prompt costs.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from participate.extensions import csrf

from . import config as sms_config
from .commands import invite
from .gammu import write_dummy_config
from .outbound import RateLimiter
from .prompt_costs import load_report

log = logging.getLogger(__name__)

commands = [invite]
__all__ = ["commands", "init_app", "load_report", "schedule", "write_dummy_config"]

QUEUE_SECONDS = 5
EXPIRY_MINUTES = 5
GAMMU_POLL_SECONDS = 2
GATEWAY_CHECK_SECONDS = 60


def init_app(app: Flask) -> None:
    """Read the channel's settings, mount its routes, and exempt the signed ones from CSRF."""
    from . import views

    settings = sms_config.from_app_config(app.config)
    app.extensions["sms"] = settings
    app.extensions["sms_limiter"] = RateLimiter(settings.send_rate)
    app.register_blueprint(views.bp)
    # Twilio signs these two instead; the simulator's form keeps its CSRF token.
    csrf.exempt(views.twilio_inbound)
    csrf.exempt(views.twilio_status)
    if settings.gateway == "android":
        from . import android

        app.register_blueprint(android.bp)
        csrf.exempt(android.webhook)  # the phone signs it instead


def schedule(scheduler: BaseScheduler, app: Flask) -> None:
    """Add the expiry job and the outbound-queue job for this app's store."""
    from . import jobs

    every = {
        "sms-expire": (jobs.expire, 60 * EXPIRY_MINUTES),
        "sms-queue": (jobs.send_queue, QUEUE_SECONDS),
    }
    if sms_config.get(app).gateway == "gammu":
        every["sms-gammu-poll"] = (jobs.gammu_poll, GAMMU_POLL_SECONDS)
        every["sms-gammu-check"] = (jobs.gammu_check, GATEWAY_CHECK_SECONDS)
    for job_id, (job, seconds) in every.items():
        scheduler.add_job(
            job, "interval", seconds=seconds, args=[app], id=job_id, replace_existing=True
        )
