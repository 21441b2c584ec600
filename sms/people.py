"""A texter's information: found by their number, handed over or erased on request, or in time.

- `erase` answers an erasure request: the person's submissions (under their pseudonym)
  and everything the channel holds for the number (conversations, queued messages, the
  simulator's log, the reply budget) go; the pseudonym stays in the opt-out list if they
  had sent STOP, so it still holds. The hub then tells every node to do the same.
- `subject` answers an access request: everything held about the number, as a dict
  ready for JSON.
- `forget_settled` is the retention rule for numbers: a number and its conversation
  state are deleted once its conversation has ended and no message to it is pending,
  and at the latest PHONE_RETENTION_DAYS after it was first stored.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from participate import clock, privacy, store, submissions
from participate.privacy import Erasure

from . import budget, phones
from .config import SmsConfig

log = logging.getLogger(__name__)

# Messages still on their way: a number is kept until they are settled.
PENDING = ("queued", "sending")


class SmsPeople:
    """The SMS channel's side of access and erasure requests (`participate.privacy.People`)."""

    def __init__(self, config: SmsConfig) -> None:
        self.config = config

    def number(self, raw: str) -> str:
        """Return a number as E.164, or raise InvalidNumber with a message a person can read."""
        return phones.to_e164(raw, self.config.default_region)

    def pseudonym(self, e164: str) -> str:
        """Return the number's pseudonym, as submissions and nodes know it."""
        return phones.pseudonym(e164, self.config.pepper)

    def erase(self, db: sqlite_utils.Database, number: str, *, by: str = "") -> Erasure:
        """Erase everything held about a number, here and (by order) on every node."""
        phone = self.number(number)
        respondent = self.pseudonym(phone)
        with store.write(db):
            if not _known(db, phone, respondent):
                return Erasure(known=False, respondent=respondent)
            counts = privacy.erase_respondent(db, respondent)
            counts = _merge(counts, _erase_contact(db, "phone = ?", [phone]))
            privacy.order_erasure(db, respondent)
            privacy.audit(db, "erase", respondent=respondent, counts=counts, by=by)
        log.info("privacy.erased", extra={"respondent": respondent[:12], **counts})
        return Erasure(known=True, counts=counts, respondent=respondent)

    def subject(self, db: sqlite_utils.Database, number: str, *, by: str = "") -> dict[str, Any]:
        """Return everything held about a number, for its owner (an access request)."""
        phone = self.number(number)
        respondent = self.pseudonym(phone)
        report = subject_report(db, phone, respondent)
        counts = {
            "submissions": len(report["submissions"]),
            "conversations": len(report["conversations"]),
            "messages_queued": len(report["messages_queued"]),
        }
        with store.write(db):
            privacy.audit(db, "subject", respondent=respondent, counts=counts, by=by)
        return report

    def withheld_lately(
        self, db: sqlite_utils.Database, *, now: datetime, days: int
    ) -> list[dict[str, Any]]:
        """Return the hours in which a number's texts went unanswered (the reply budget)."""
        return budget.withheld_lately(db, now=now, days=days)


def _known(db: sqlite_utils.Database, phone: str, respondent: str) -> bool:
    queries = (
        ("SELECT 1 FROM sms_contacts WHERE phone = ? OR respondent = ?", [phone, respondent]),
        ("SELECT 1 FROM submissions WHERE respondent = ? LIMIT 1", [respondent]),
        ("SELECT 1 FROM sms_opt_outs WHERE respondent = ?", [respondent]),
        ("SELECT 1 FROM sms_reply_budget WHERE respondent = ? LIMIT 1", [respondent]),
    )
    return any(db.execute(sql, params).fetchone() for sql, params in queries)


def _merge(counts: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {key: counts.get(key, 0) + more.get(key, 0) for key in {*counts, *more}}


def _erase_contact(db: sqlite_utils.Database, where: str, params: list[Any]) -> dict[str, int]:
    """Delete the contacts matching `where` with their conversations, queue and log; count."""
    found = db.execute(f"SELECT id FROM sms_contacts WHERE {where}", params)  # noqa: S608 (callers' constants)
    ids = json.dumps([row[0] for row in found.fetchall()])
    conversations, queued = db.execute(
        "SELECT (SELECT count(*) FROM sms_conversations"
        "  WHERE contact_id IN (SELECT value FROM json_each(:ids))),"
        " (SELECT count(*) FROM sms_outbound WHERE status IN ('queued', 'sending')"
        "  AND contact_id IN (SELECT value FROM json_each(:ids)))",
        {"ids": ids},
    ).fetchone()
    # The opt-out is kept by pseudonym (contacts.mark_opted_out), so it survives this;
    # conversations, queue and simulator log go with the contact (ON DELETE CASCADE).
    numbers = db.execute(
        "DELETE FROM sms_contacts WHERE id IN (SELECT value FROM json_each(?))", [ids]
    ).rowcount
    return {"numbers": numbers, "conversations": conversations, "messages_queued": queued}


def erase_for_order(
    db: sqlite_utils.Database, respondent: str, captured_before: str | None
) -> dict[str, int]:
    """Erase the channel's state for a pseudonym (an order from the hub); count what went."""
    db.execute("DELETE FROM sms_reply_budget WHERE respondent = ?", [respondent])
    if captured_before is None:
        return _erase_contact(db, "respondent = ?", [respondent])
    return _erase_contact(db, "respondent = ? AND created_at <= ?", [respondent, captured_before])


def subject_report(db: sqlite_utils.Database, phone: str, respondent: str) -> dict[str, Any]:
    """Return what this store holds about a number and its pseudonym, ready for JSON."""
    contact = db.query(
        "SELECT id, language, opted_out_at, created_at, updated_at FROM sms_contacts"
        " WHERE phone = ?",
        [phone],
    )
    contact_row = next(iter(contact), None)
    contact_id = contact_row["id"] if contact_row else None
    opt_out = db.execute(
        "SELECT opted_out_at FROM sms_opt_outs WHERE respondent = ?", [respondent]
    ).fetchone()
    rows = db.execute(
        "SELECT id FROM submissions WHERE respondent = ? ORDER BY submitted_at", [respondent]
    ).fetchall()
    return {
        "number": phone,
        "pseudonym": respondent,
        "generated_at": clock.utcnow(),
        "opted_out": opt_out is not None,
        "opted_out_at": opt_out[0] if opt_out else None,
        "contact": (
            {k: contact_row[k] for k in ("language", "created_at", "updated_at")}
            if contact_row
            else None
        ),
        "conversations": [
            row | {"answers": json.loads(row["answers"])}
            for row in db.query(
                "SELECT consultation_id, consultation_version, language, position, answers,"
                " status, started_at, updated_at, ended_at FROM sms_conversations"
                " WHERE contact_id = ? ORDER BY id",
                [contact_id],
            )
        ],
        "submissions": [submissions.get(db, row[0]) for row in rows],
        "messages_queued": list(
            db.query(
                "SELECT kind, consultation_id, body, status, attempts, created_at, updated_at"
                " FROM sms_outbound WHERE contact_id = ? AND status IN ('queued', 'sending')"
                " ORDER BY id",
                [contact_id],
            )
        ),
        "messages_sent": list(
            db.query(
                "SELECT kind, consultation_id, body, status, created_at, updated_at"
                " FROM sms_outbound WHERE contact_id = ? AND status NOT IN ('queued', 'sending')"
                " ORDER BY id",
                [contact_id],
            )
        ),
    }


def forget_settled(
    db: sqlite_utils.Database, *, now: datetime, phone_days: float
) -> dict[str, int]:
    """Delete numbers no longer needed (inside a write): settled, or past PHONE_RETENTION_DAYS.

    Settled: the number had a conversation (or a call), none is active, and no message
    to it is pending. Past its retention: first stored more than `phone_days` ago and not in a
    conversation (the expiry job ends an idle one first, keeping its answers).
    """
    cutoff = clock.to_text(now - timedelta(days=phone_days))
    # A call in progress (the voice channel shares the number's contact) counts too.
    no_active = (
        "NOT EXISTS (SELECT 1 FROM sms_conversations v"
        " WHERE v.contact_id = sms_contacts.id AND v.status = 'active')"
        " AND NOT EXISTS (SELECT 1 FROM voice_sessions s"
        " WHERE s.contact_id = sms_contacts.id AND s.status = 'active')"
    )
    no_pending = (
        "NOT EXISTS (SELECT 1 FROM sms_outbound o WHERE o.contact_id = sms_contacts.id"
        " AND o.status IN ('queued', 'sending', 'accepted'))"
    )
    had_one = (
        "(EXISTS (SELECT 1 FROM sms_conversations v WHERE v.contact_id = sms_contacts.id)"
        " OR EXISTS (SELECT 1 FROM voice_sessions s WHERE s.contact_id = sms_contacts.id))"
    )
    settled = f"{had_one} AND {no_active} AND {no_pending}"
    expired = f"created_at < ? AND {no_active}"
    counts = _erase_contact(db, f"({settled}) OR ({expired})", [cutoff])
    return counts


# Dedup records of inbound MessageSids and delivery events: Twilio retries within hours.
RECEIPT_DAYS = 7


def apply_retention(
    db: sqlite_utils.Database,
    *,
    now: datetime,
    phone_days: float,
    default_days: int,
) -> dict[str, int]:
    """Erase what is due today, in one transaction; return counts (logged, audited)."""
    receipts = clock.to_text(now - timedelta(days=RECEIPT_DAYS))
    with store.write(db):
        counts = forget_settled(db, now=now, phone_days=phone_days)
        counts["pseudonyms"] = privacy.drop_pseudonyms(db, now=now, default_days=default_days)
        counts["reply_hours"] = budget.forget_before(db, now, days=RECEIPT_DAYS)
        counts["receipts"] = (
            db.execute("DELETE FROM sms_inbound WHERE received_at < ?", [receipts]).rowcount
            + db.execute("DELETE FROM sms_status_events WHERE received_at < ?", [receipts]).rowcount
        )
        if any(counts.values()):
            privacy.audit(db, "retention", counts=counts)
    log.info("privacy.retention", extra=counts)
    return counts
