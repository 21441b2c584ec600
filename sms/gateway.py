"""The SMS gateways behind one interface: what receives the texts and sends the replies.

SMS_GATEWAY picks one. `twilio`: Twilio's signed webhook in, replies as TwiML, the
queue through its REST API (the simulator without credentials). `gammu`: a GSM modem
driven by gammu-smsd, whose folders a job polls (`sms.gammu`). `android`: a phone
running SMS Gateway for Android, its signed webhook in and its local API out
(`sms.android`). A gateway only receives and sends: every text goes through `take`
into the one conversation engine (keywords, STOP/START/HELP, dedupe,
expiry), and every reply through the one outbound queue (rate limit, quiet hours,
segments). What the gateway last saw is kept for the node's heartbeat (`publish`).
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from participate import clock, fleet, store

from . import conversations, outbound, phones
from .config import SmsConfig

log = logging.getLogger(__name__)


def take(
    db: sqlite_utils.Database,
    config: SmsConfig,
    inbound: conversations.Inbound,
    *,
    now: datetime | None = None,
) -> conversations.Outcome:
    """Handle a text a gateway received and queue its replies, in one transaction."""
    with store.write(db):
        outcome = take_in_transaction(db, config, inbound, now=now)
    conversations.log_outcome(outcome)
    return outcome


def take_in_transaction(
    db: sqlite_utils.Database,
    config: SmsConfig,
    inbound: conversations.Inbound,
    *,
    now: datetime | None = None,
) -> conversations.Outcome:
    """Handle a text and queue its replies inside the caller's write transaction."""
    moment = now or clock.parse(clock.utcnow())
    outcome = conversations.handle(db, config, inbound, now=moment)
    outbound.queue_replies(db, config, inbound.phone, outcome.replies, clock.to_text(moment))
    return outcome


# --- what the gateway last saw ----------------------------------------------------------


def note_problem(db: sqlite_utils.Database, message: str) -> None:
    """Keep the gateway's latest problem for the devices page (no phone number in it)."""
    message = phones.redact(message)[:500]
    with store.write(db):
        db.execute(
            "UPDATE sms_gateway_status SET last_error = ?, last_error_at = ? WHERE id = 1",
            [message, clock.utcnow()],
        )


def clear_problem(db: sqlite_utils.Database) -> None:
    """Forget the gateway's last problem once it works again."""
    db.execute("UPDATE sms_gateway_status SET last_error = '' WHERE id = 1 AND last_error != ''")


def note_device(db: sqlite_utils.Database, signal: int | None, battery: int | None) -> None:
    """Keep the modem's signal and battery, as its daemon reports them."""
    db.execute(
        "UPDATE sms_gateway_status SET signal = ?, battery = ?, checked_at = ? WHERE id = 1",
        [signal, battery, clock.utcnow()],
    )


def _start_of_day(config: SmsConfig, now: datetime) -> str:
    zone = ZoneInfo(config.timezone)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    return clock.to_text(midnight)


def report(db: sqlite_utils.Database, config: SmsConfig, *, now: datetime | None = None) -> dict:
    """Return what the heartbeat says of the gateway: kind, today's traffic, queue, problems."""
    moment = now or clock.parse(clock.utcnow())
    since = _start_of_day(config, moment)
    received = db.execute(
        "SELECT count(*) FROM sms_inbound WHERE received_at >= ?", [since]
    ).fetchone()[0]
    sent, queued = db.execute(
        "SELECT count(*) FILTER (WHERE status IN ('accepted', 'sent', 'delivered')"
        " AND updated_at >= :since),"
        " count(*) FILTER (WHERE status IN ('queued', 'sending'))"
        " FROM sms_outbound WHERE updated_at >= :since OR status IN ('queued', 'sending')",
        {"since": since},
    ).fetchone()
    state = db.execute(
        "SELECT last_error, last_error_at, signal, battery, checked_at"
        " FROM sms_gateway_status WHERE id = 1"
    ).fetchone()
    last_error, last_error_at, signal, battery, checked_at = state or ("", None, None, None, None)
    return {
        "kind": config.gateway if config.gateway != "twilio" or config.can_send else "simulator",
        "in_today": int(received),
        "out_today": int(sent),
        "queued": int(queued),
        "last_error": last_error or "",
        "last_error_at": last_error_at,
        "signal": signal,
        "battery": battery,
        "checked_at": checked_at,
    }


def publish(db: sqlite_utils.Database, config: SmsConfig) -> dict[str, Any]:
    """Refresh the gateway report the node's heartbeat carries to the hub; return it."""
    current = report(db, config)
    fleet.keep_gateway_report(db, current)
    return current
