"""The SMS channel: a conversation anyone with a basic phone can use, through a gateway.

`init_app` mounts the blueprint (webhook, status callback, simulator) on a hub or a
node and registers the channel's side of access and erasure requests, and the phone's
webhook where the gateway is android (`sms.gateway`); `schedule` adds the expiry,
outbound-queue and daily retention jobs, and where the gateway is gammu-smsd the
modem's watcher (started and stopped with the scheduler) and the daemon's health check;
`commands` adds `participate invite`, `erase` and `subject`;
`load_report` tells `participate load` what each prompt costs, and
`preview_conversation` shows the staff's editor each message with its cost; `write_dummy_config`
sets up gammu-smsd on Gammu's dummy phone (the demo's modem).
`caller_number`, `identify_caller` and `opt_out_caller` are the API the phone call
channel (voice) uses, so a number that calls gets the same pseudonym and the same
opt-out list as its texts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlite_utils
from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from participate import privacy
from participate.extensions import csrf

from . import config as sms_config
from . import contacts, phones
from .commands import erase, invite, subject
from .errors import InvalidNumber
from .followups import Published
from .followups import measure as measure_results_text
from .gammu import write_dummy_config
from .outbound import RateLimiter
from .people import SmsPeople, erase_for_order
from .preview import PreviewMessage, preview_conversation, total_segments
from .prompt_costs import load_report

log = logging.getLogger(__name__)

commands = [invite, erase, subject]
# Whatever runs an erasure order (the hub's request, a node's sync) erases the channel's
# state too: registered on import, so a command needs no app.
privacy.register_eraser("sms", erase_for_order)
__all__ = [
    "Caller",
    "caller_number",
    "CallerNumber",
    "commands",
    "identify_caller",
    "init_app",
    "InvalidNumber",
    "load_report",
    "measure_results_text",
    "opt_out_caller",
    "publish_results",
    "Published",
    "PreviewMessage",
    "preview_conversation",
    "schedule",
    "simulator_allows",
    "total_segments",
    "write_dummy_config",
]

QUEUE_SECONDS = 5
EXPIRY_MINUTES = 5
GAMMU_POLL_SECONDS = 2  # the modem's watcher looks this often anyway (only so, without inotify)
GATEWAY_CHECK_SECONDS = 60
RETENTION_HOUR = 3  # local time (TIMEZONE): the daily retention run, when all is quiet


def init_app(app: Flask) -> None:
    """Read the channel's settings, mount its routes, and exempt the signed ones from CSRF."""
    from . import views

    settings = sms_config.from_app_config(app.config)
    app.extensions["sms"] = settings
    app.extensions["sms_limiter"] = RateLimiter(settings.send_rate)
    app.register_blueprint(views.bp)
    app.extensions[privacy.PEOPLE] = SmsPeople(settings)
    # Twilio signs these two instead; the simulator's form keeps its CSRF token.
    csrf.exempt(views.twilio_inbound)
    csrf.exempt(views.twilio_status)
    if settings.gateway == "android":
        from . import android

        app.register_blueprint(android.bp)
        csrf.exempt(android.webhook)  # the phone signs it instead


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
    if sms_config.get(app).gateway == "gammu":
        every["sms-gammu-check"] = (jobs.gammu_check, GATEWAY_CHECK_SECONDS)
        # The modem's texts are taken by a watcher thread, not a job: it lives and dies
        # with the scheduler (nothing starts it where the scheduler is never started).
        watcher = jobs.GammuWatcher(app, GAMMU_POLL_SECONDS)
        app.extensions["sms_gammu_watcher"] = watcher
        scheduler.add_listener(lambda _event: watcher.start(), EVENT_SCHEDULER_STARTED)
        scheduler.add_listener(lambda _event: watcher.stop(), EVENT_SCHEDULER_SHUTDOWN)
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


@dataclass(frozen=True)
class CallerNumber:
    """A number that calls, in E.164, with its keyed pseudonym (made under PHONE_PEPPER)."""

    phone: str
    respondent: str


def caller_number(raw_phone: str) -> CallerNumber:
    """Read a caller's number (in a request: it needs the app's settings); raise InvalidNumber."""
    settings = sms_config.get()
    phone = phones.to_e164(raw_phone, settings.default_region)
    return CallerNumber(phone, phones.pseudonym(phone, settings.pepper))


@dataclass(frozen=True)
class Caller:
    """A phone number that calls, as the other channels may know it: never the number itself."""

    contact_id: int
    respondent: str  # the same keyed pseudonym as the number's texts
    language: str
    opted_out: bool


def identify_caller(db: sqlite_utils.Database, number: CallerNumber, stamp: str) -> Caller:
    """Return the contact of a number that calls, made if new (needs no app context)."""
    contact = contacts.ensure(db, number.phone, number.respondent, stamp)
    return Caller(contact.id, number.respondent, contact.language, bool(contact.opted_out_at))


def opt_out_caller(db: sqlite_utils.Database, contact_id: int, stamp: str) -> None:
    """Add a caller's number to the opt-out list SMS STOP uses (no invitation is sent to it)."""
    contacts.mark_opted_out(db, contact_id, stamp)


def simulator_allows(raw_phone: str) -> str | None:
    """Return the number in E.164 if the simulator may call as it (made-up only beside Twilio)."""
    settings = sms_config.get()
    if not settings.simulator:
        return None
    try:
        phone = phones.to_e164(raw_phone, settings.default_region)
    except InvalidNumber:
        return None
    return None if settings.live and phones.in_service(phone) else phone
