"""The simulator: text the channel by hand from a web page, through the same engine.

What it shows (the texts sent, the replies, and outbound messages delivered to it when
there are no Twilio credentials) is kept in `sms_simulator_log`, beside the SMS
channel's other tables; it is never synced or exported.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlite_utils

from participate import clock

from . import contacts, conversations, phones, segments
from .config import SmsConfig

HISTORY = 50


def log_message(db: sqlite_utils.Database, phone: str, direction: str, body: str) -> None:
    """Add a message to what the simulator page shows for `phone` (a known contact)."""
    m = segments.measure(body)
    db.execute(
        "INSERT INTO sms_simulator_log (contact_id, direction, body, encoding, segments, at)"
        " SELECT id, ?, ?, ?, ?, ? FROM sms_contacts WHERE phone = ?",
        [direction, body, m.encoding, m.segments, clock.utcnow(), phone],
    )


def send(
    db: sqlite_utils.Database,
    config: SmsConfig,
    phone: str,
    body: str,
    *,
    now: datetime | None = None,
) -> conversations.Outcome:
    """Text `body` from `phone` to the channel, as Twilio would deliver it; log both ways."""
    stamp = clock.to_text(now) if now else clock.utcnow()
    contacts.ensure(db, phone, phones.pseudonym(phone, config.pepper), stamp)
    log_message(db, phone, "in", body)
    inbound = conversations.Inbound(phone=phone, body=body, message_sid=f"SMsim{uuid.uuid4().hex}")
    outcome = conversations.receive(db, config, inbound, now=now)
    for reply in outcome.replies:
        log_message(db, phone, "out", reply)
    return outcome


def history(db: sqlite_utils.Database, phone: str, limit: int = HISTORY) -> list[dict[str, Any]]:
    """Return the latest messages to and from `phone`, oldest first."""
    rows = db.query(
        "SELECT l.direction, l.body, l.encoding, l.segments, l.at FROM sms_simulator_log l"
        " JOIN sms_contacts c ON c.id = l.contact_id WHERE c.phone = ?"
        " ORDER BY l.id DESC LIMIT ?",
        [phone, limit],
    )
    return list(reversed(list(rows)))


def queued(db: sqlite_utils.Database, phone: str) -> int:
    """Return how many outbound messages wait in the queue for `phone`."""
    return db.execute(
        "SELECT count(*) FROM sms_outbound o JOIN sms_contacts c ON c.id = o.contact_id"
        " WHERE c.phone = ? AND o.status = 'queued'",
        [phone],
    ).fetchone()[0]
