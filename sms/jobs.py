"""The channel's scheduled work: thin wrappers that open a connection and call one function."""

from __future__ import annotations

import logging

import requests
import sqlite_utils
from flask import Flask
from twilio.rest import Client

from participate import clock, store

from . import android, config, contacts, conversations, followups, gammu, gateway, outbound, people
from .config import SmsConfig
from .errors import GatewayError, SmsConfigError

log = logging.getLogger(__name__)


def sender_for(app: Flask, db: sqlite_utils.Database) -> outbound.Sender:
    """Return the app's sender: the gateway's, Twilio with credentials, else the simulator."""
    settings = config.get(app)
    if settings.gateway == "gammu":
        return gammu.GammuSender(settings.gammu_config)
    if settings.gateway == "android":
        # One session for the app's life: its connection to the phone is kept open.
        session = app.extensions.setdefault("sms_android_session", requests.Session())
        return android.AndroidSender(settings, session)
    if not settings.can_send:
        return outbound.SimulatorSender(db)
    client = app.extensions.get("sms_client")
    if client is None:
        client = Client(settings.account_sid, settings.auth_token)
        app.extensions["sms_client"] = client
    return outbound.TwilioSender(client, settings)


def expire(app: Flask) -> int:
    """Expire idle conversations in the app's store, then erase the numbers done with."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        count = conversations.expire_idle(db, settings)
        erased = erase_numbers(db, settings)
    if count or erased:
        log.info("sms.expired", extra={"conversations": count, "numbers_erased": erased})
    return count


def erase_numbers(db: sqlite_utils.Database, settings: SmsConfig) -> int:
    """Erase the numbers a node's gateway is done with, where SMS_ERASE_NUMBERS asks."""
    # Twilio's numbers (at the hub) follow the hub's retention; the simulator's are made up.
    if not settings.erase_numbers or settings.gateway == "twilio":
        return 0
    return contacts.erase_settled(db)


def send_queue(app: Flask) -> outbound.SendReport:
    """Send what is due in the app's outbound queue."""
    settings = config.get(app)
    with app.app_context(), store.open_db(settings.database) as db:
        report = outbound.send_due(db, settings, sender_for(app, db), app.extensions["sms_limiter"])
        if settings.gateway != "twilio":
            gateway.publish(db, settings)
        erased = followups.erase_settled(db)
    if erased:
        log.info("sms.results_texts_erased", extra={"messages": erased})
    if report.sent or report.failed or report.retrying:
        log.info("sms.queue_run", extra=vars(report))
    return report


def gammu_poll(app: Flask) -> gammu.PollReport | None:
    """Take the modem's new texts, send their replies, settle what the daemon sent."""
    settings = config.get(app)
    with app.app_context(), store.open_db(settings.database) as db:
        try:
            where = gammu.folders(settings.gammu_config)
            report = gammu.poll(db, settings, where)
            gammu.settle(db, settings, where)
        except (GatewayError, SmsConfigError) as error:
            # Nothing is lost: unread files stay in the inbox for the next poll.
            log.error("sms.gammu_unavailable", extra={"error": str(error)})
            gateway.note_problem(db, str(error))
            return None
        if report.received:
            outbound.send_due(db, settings, sender_for(app, db), app.extensions["sms_limiter"])
        if report.received or report.refused:
            log.info(
                "sms.gammu_poll",
                extra={"received": report.received, "refused": len(report.refused)},
            )
            gateway.publish(db, settings)
    return report


def gammu_check(app: Flask) -> gammu.DaemonStatus | None:
    """Ask gammu-smsd for the modem's signal and battery; note it if it is not running."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        try:
            status = gammu.check(settings.gammu_config)
        except GatewayError as error:
            log.error("sms.gammu_unavailable", extra={"error": str(error)})
            gateway.note_problem(db, str(error))
            gateway.publish(db, settings)
            return None
        gateway.note_device(db, status.signal, status.battery)
        gateway.publish(db, settings)
    return status


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
