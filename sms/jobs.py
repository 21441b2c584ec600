"""The channel's scheduled work: thin wrappers that open a connection and call one function."""

from __future__ import annotations

import logging

import sqlite_utils
from flask import Flask
from twilio.rest import Client

from participate import clock, store

from . import config, conversations, followups, outbound, people

log = logging.getLogger(__name__)


def sender_for(app: Flask, db: sqlite_utils.Database) -> outbound.Sender:
    """Return the app's sender: Twilio with credentials, else the simulator."""
    settings = config.get(app)
    if not settings.can_send:
        return outbound.SimulatorSender(db)
    client = app.extensions.get("sms_client")
    if client is None:
        client = Client(settings.account_sid, settings.auth_token)
        app.extensions["sms_client"] = client
    return outbound.TwilioSender(client, settings)


def expire(app: Flask) -> int:
    """Expire idle conversations in the app's store."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        count = conversations.expire_idle(db, settings)
    if count:
        log.info("sms.expired", extra={"conversations": count})
    return count


def send_queue(app: Flask) -> outbound.SendReport:
    """Send what is due in the app's outbound queue."""
    settings = config.get(app)
    with app.app_context(), store.open_db(settings.database) as db:
        report = outbound.send_due(db, settings, sender_for(app, db), app.extensions["sms_limiter"])
        erased = followups.erase_settled(db)
    if erased:
        log.info("sms.results_texts_erased", extra={"messages": erased})
    if report.sent or report.failed or report.retrying:
        log.info("sms.queue_run", extra=vars(report))
    return report


def retention(app: Flask) -> dict[str, int]:
    """Erase what is due in the app's store: settled numbers, old pseudonyms, old receipts."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        return people.apply_retention(
            db,
            now=clock.parse(clock.utcnow()),
            phone_days=float(app.config["PHONE_RETENTION_DAYS"]),
            default_days=int(app.config["RETENTION_DAYS"]),
        )
