"""Personal information over time: retention, erasure orders for the fleet, the audit log.

What a person can be found by is the SMS channel's respondent pseudonym (kiosk visitors
are anonymous). The SMS feature resolves a phone number and erases what it holds
(`participate.sms.privacy`); this module holds what every store shares:

- **retention**: `drop_pseudonyms` blanks the respondent of submissions once their
  consultation has been closed for its retention period (RETENTION_DAYS, or the
  consultation's `retention_days`), leaving anonymous answers;
- **erasure orders**: the hub records each erased pseudonym (`order_erasure`) and tells
  every node in its heartbeat answer until the node acknowledges (`pending_for`,
  `acknowledge`); a submission pushed later that was captured before the order is
  erased on arrival (`erased_on_arrival`);
- **the audit log** (`privacy_log`): who answered which request, when, with what
  counts; never a number, only the start of the pseudonym.

Features that hold personal information register a `People` on the app
(`app.extensions[PEOPLE]`), so the staff pages reach it without importing the feature.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlite_utils

from participate import clock, consultations, submissions

log = logging.getLogger(__name__)

PEOPLE = "participate.people"
PREFIX = 12  # characters of a pseudonym kept in the audit log and shown to staff
ORDERS_PER_ANSWER = 500  # erasure orders sent (and acknowledged) per heartbeat


@dataclass
class Erasure:
    """What an erasure request found and removed (counts only)."""

    known: bool
    counts: dict[str, int] = field(default_factory=dict)
    respondent: str = ""


class People(Protocol):
    """What a feature holding personal information offers the staff pages and commands."""

    def erase(self, db: sqlite_utils.Database, number: str, *, by: str = "") -> Erasure:
        """Erase what is held about a person, found by what they gave (a phone number)."""
        ...

    def subject(self, db: sqlite_utils.Database, number: str, *, by: str = "") -> dict[str, Any]:
        """Return everything held about a person, for an access request."""
        ...

    def withheld_lately(
        self, db: sqlite_utils.Database, *, now: datetime, days: int
    ) -> list[dict[str, Any]]:
        """Return the hours in which a person's texts went unanswered (by pseudonym)."""
        ...


# What each feature erases of a respondent besides submissions: (db, respondent,
# captured_before) -> counts. Registered by the features when the app is made.
Eraser = Callable[[sqlite_utils.Database, str, str | None], dict[str, int]]
_erasers: dict[str, Eraser] = {}


def register_eraser(name: str, eraser: Eraser) -> None:
    """Have `erase_respondent` call `eraser` too (a feature's own tables); idempotent."""
    _erasers[name] = eraser


def erase_respondent(
    db: sqlite_utils.Database, respondent: str, *, captured_before: str | None = None
) -> dict[str, int]:
    """Erase a pseudonym's submissions and every feature's state (inside a write); count them."""
    counts = {
        "submissions": submissions.erase(db, respondent=respondent, captured_before=captured_before)
    }
    for eraser in _erasers.values():
        counts.update(eraser(db, respondent, captured_before))
    return counts


# --- the audit log ---------------------------------------------------------------


def audit(
    db: sqlite_utils.Database,
    action: str,
    *,
    respondent: str = "",
    counts: Mapping[str, int] | None = None,
    by: str = "",
) -> None:
    """Record an access or erasure request, or a retention run: counts, never content."""
    db.execute(
        "INSERT INTO privacy_log (action, respondent_prefix, counts, user_email, at)"
        " VALUES (?, ?, ?, ?, ?)",
        [action, respondent[:PREFIX], json.dumps(dict(counts or {})), by, clock.utcnow()],
    )


def recent_log(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, Any]]:
    """Return the latest entries of the audit log, newest first."""
    rows = db.execute(
        "SELECT action, respondent_prefix, counts, user_email, at FROM privacy_log"
        " ORDER BY id DESC LIMIT ?",
        [limit],
    ).fetchall()
    keys = ("action", "respondent", "counts", "user_email", "at")
    return [dict(zip(keys, row, strict=True)) | {"counts": json.loads(row[2])} for row in rows]


# --- erasure orders (hub) and their acknowledgements (nodes) -----------------------


def order_erasure(db: sqlite_utils.Database, respondent: str, *, at: str | None = None) -> None:
    """Record that everything captured so far under `respondent` must go, everywhere."""
    db.execute(
        "INSERT INTO erasure_orders (respondent, requested_at) VALUES (?, ?)"
        " ON CONFLICT (respondent) DO UPDATE SET requested_at = excluded.requested_at",
        [respondent, at or clock.utcnow()],
    )
    # A node that had acknowledged an earlier order must apply this one too.
    db.execute("DELETE FROM erasure_acks WHERE respondent = ?", [respondent])


def pending_for(db: sqlite_utils.Database, device_id: str) -> list[dict[str, str]]:
    """Return the erasure orders a device has not acknowledged yet, oldest first."""
    rows = db.execute(
        "SELECT o.respondent, o.requested_at FROM erasure_orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM erasure_acks a"
        "  WHERE a.respondent = o.respondent AND a.device_id = ?)"
        " ORDER BY o.requested_at LIMIT ?",
        [device_id, ORDERS_PER_ANSWER],
    ).fetchall()
    return [{"respondent": r[0], "requested_at": r[1]} for r in rows]


def acknowledge(db: sqlite_utils.Database, device_id: str, respondents: list[str]) -> int:
    """Note that a device applied these erasure orders; return how many were new."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO erasure_acks (respondent, device_id, acknowledged_at)"
        " SELECT respondent, ?, ? FROM erasure_orders"
        " WHERE respondent IN (SELECT value FROM json_each(?))",
        [device_id, clock.utcnow(), json.dumps(respondents)],
    )
    return cursor.rowcount


def erased_on_arrival(db: sqlite_utils.Database, respondent: str, submitted_at: str) -> bool:
    """Say whether a submission arriving now falls under an erasure order (captured before)."""
    if not respondent:
        return False
    row = db.execute(
        "SELECT 1 FROM erasure_orders WHERE respondent = ? AND requested_at >= ?",
        [respondent, submitted_at],
    ).fetchone()
    return row is not None


# --- retention -------------------------------------------------------------------


def closed_on(db: sqlite_utils.Database, consultation: consultations.Consultation) -> date | None:
    """Return the day a consultation closed: its `closes` date, or when staff closed it."""
    row = db.execute(
        "SELECT closed, updated_at FROM consultations WHERE id = ?", [consultation.id]
    ).fetchone()
    ends = [consultation.closes] if consultation.closes else []
    if row and row[0]:
        ends.append(clock.parse(row[1]).date())
    return min(ends) if ends else None


def pseudonyms_due(
    db: sqlite_utils.Database, *, now: datetime, default_days: int
) -> list[tuple[str, date]]:
    """Return (consultation id, day its pseudonyms are dropped) for those already past it."""
    due = []
    for consultation in consultations.current_all(db):
        closed = closed_on(db, consultation)
        if closed is None:
            continue
        days = consultation.retention_days
        drop_on = closed + timedelta(days=default_days if days is None else days)
        if now.date() > drop_on:
            due.append((consultation.id, drop_on))
    return due


def drop_pseudonyms(db: sqlite_utils.Database, *, now: datetime, default_days: int) -> int:
    """Blank the respondent of submissions past their retention (inside a write); count them."""
    dropped = 0
    for consultation_id, _day in pseudonyms_due(db, now=now, default_days=default_days):
        cursor = db.execute(
            "UPDATE submissions SET respondent = '' WHERE consultation_id = ? AND respondent != ''",
            [consultation_id],
        )
        dropped += cursor.rowcount
    return dropped
