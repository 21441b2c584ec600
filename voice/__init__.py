"""The phone call channel: a consultation answered with a phone's keypad (Twilio voice).

`init_app` mounts `POST /voice/twilio` (the call) and `POST /voice/twilio/status` on a hub
or a node, checked with the same Twilio signature as the SMS webhook; `schedule` adds the
job that ends sessions of calls never resumed, keeping their answers. It uses the SMS
channel's public API for the caller's pseudonym and the opt-out list.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from participate import store
from participate.extensions import csrf

from . import calls, recordings

log = logging.getLogger(__name__)

commands: list = []
__all__ = ["commands", "init_app", "schedule"]

EXPIRY_MINUTES = 5


def init_app(app: Flask) -> None:
    """Read the channel's settings and mount its routes (Twilio signs them: no CSRF token)."""
    from . import simulator, views

    config = app.config
    app.extensions["voice"] = calls.VoiceConfig(
        account_sid=str(config.get("TWILIO_ACCOUNT_SID") or ""),
        auth_token=str(config.get("TWILIO_AUTH_TOKEN") or ""),
        public_url=str(config.get("PUBLIC_URL") or "").rstrip("/"),
        consultation=str(config.get("VOICE_CONSULTATION") or ""),
        session_hours=float(config["VOICE_SESSION_HOURS"]),
        recordings=bool(config["VOICE_RECORDINGS"]),
        timezone=str(config["TIMEZONE"]),
    )
    app.register_blueprint(views.bp)
    csrf.exempt(views.twilio_call)
    csrf.exempt(views.twilio_status)
    simulator.init_app(app)


def expire(app: Flask) -> int:
    """End this app's idle call sessions, keeping their answers as incomplete submissions."""
    with app.app_context(), store.open_db(app.config["DATABASE"]) as db:
        ended = calls.expire_idle(db, app.extensions["voice"])
    if ended:
        log.info("voice.sessions_expired", extra={"count": ended})
    return ended


def fetch_recordings(app: Flask) -> int:
    """Bring this app's spoken answers home from Twilio (VOICE_RECORDINGS)."""
    config = app.extensions["voice"]
    with store.open_db(app.config["DATABASE"]) as db:
        return recordings.fetch_pending(
            db, app.config["DATABASE"], (config.account_sid, config.auth_token)
        )


def schedule(scheduler: BaseScheduler, app: Flask) -> None:
    """Add the idle-session expiry job, and the recordings' fetch if callers may speak."""
    config = app.extensions["voice"]
    if config.recordings and config.account_sid and config.auth_token:
        scheduler.add_job(
            fetch_recordings,
            "interval",
            seconds=60,
            args=[app],
            id="voice-recordings",
            replace_existing=True,
        )
    scheduler.add_job(
        expire,
        "interval",
        seconds=60 * EXPIRY_MINUTES,
        args=[app],
        id="voice-expire",
        replace_existing=True,
    )
