"""Texting a consultation's results ("you said, we did") through the outbound queue.

After the thanks, a consultation with `results_by_text` asks the texter a yes/no (see
`offers`); a YES keeps the number in `followups`, for that text only. Staff
publish a summary in each language (`publish`): every kept number is queued through
the outbound queue (opt-outs, quiet hours and the rate limit apply there) and its
`followups` row deleted in the same transaction. Once a queued text is settled,
`erase_settled` deletes it and, unless the number is still needed (a conversation
under way, an opt-out to honour, another text queued), the number itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils

from participate import clock, followups, store
from participate.consultations import Consultation

from . import outbound, segments
from .config import SmsConfig

# Statuses after which the queue will do nothing more with a message.
SETTLED = ("sent", "delivered", "undelivered", "failed", "cancelled", "unknown")


@dataclass(frozen=True)
class Published:
    """What publishing a summary did."""

    summary_id: int
    queued: int
    skipped: int  # numbers that opted out since: not texted, erased all the same


def measure(texts: dict[str, str]) -> dict[str, segments.Measure]:
    """Return each language's summary as it will be sent: its encoding and segment count."""
    return {lang: segments.measure(segments.plain(text)) for lang, text in texts.items()}


def publish(
    db: sqlite_utils.Database,
    config: SmsConfig,
    consultation: Consultation,
    texts: dict[str, str],
    sent_by: str,
) -> Published:
    """Queue the summary to every kept number of a consultation, in its language; audit it."""
    stamp = clock.utcnow()
    with store.write(db):
        waiting = followups.waiting(db, consultation.id)
        cursor = db.execute(
            "INSERT INTO followup_summaries (consultation_id, texts, sent_by, sent_at, queued,"
            " skipped) VALUES (?, ?, ?, ?, 0, 0)",
            [consultation.id, json.dumps(texts, ensure_ascii=False), sent_by, stamp],
        )
        summary_id = int(cursor.lastrowid)
        queued = 0
        for row in waiting:
            body = texts.get(row["language"]) or texts[consultation.languages[0]]
            outbound_id = outbound.enqueue(
                db, config, row["phone"], body, kind="results", consultation_id=consultation.id
            )
            if outbound_id is not None:
                db.execute(
                    "INSERT INTO followup_messages (outbound_id, summary_id) VALUES (?, ?)",
                    [outbound_id, summary_id],
                )
                queued += 1
        followups.forget(db, [row["id"] for row in waiting])
        skipped = len(waiting) - queued
        db.execute(
            "UPDATE followup_summaries SET queued = ?, skipped = ? WHERE id = ?",
            [queued, skipped, summary_id],
        )
    return Published(summary_id, queued, skipped)


def erase_settled(db: sqlite_utils.Database) -> int:
    """Delete settled results texts and every number kept only for them; count the texts."""
    marks = ", ".join("?" for _ in SETTLED)
    with store.write(db):
        settled = list(
            db.query(
                "SELECT m.outbound_id, o.contact_id, o.message_sid FROM followup_messages m"  # noqa: S608
                " JOIN sms_outbound o ON o.id = m.outbound_id"
                f" WHERE o.status IN ({marks})",
                SETTLED,
            )
        )
        for row in settled:
            db.execute("DELETE FROM followup_messages WHERE outbound_id = ?", [row["outbound_id"]])
            db.execute("DELETE FROM sms_outbound WHERE id = ?", [row["outbound_id"]])
            if row["message_sid"]:
                db.execute(
                    "DELETE FROM sms_status_events WHERE message_sid = ?", [row["message_sid"]]
                )
            _erase_contact_if_unneeded(db, row["contact_id"])
    return len(settled)


def _erase_contact_if_unneeded(db: sqlite_utils.Database, contact_id: int) -> None:
    # An opt-out must be remembered, and a conversation under way or another queued
    # text still needs the number; otherwise nothing is kept (its pseudonym in
    # submissions stays, as it never held the number).
    db.execute(
        "DELETE FROM sms_contacts WHERE id = ? AND opted_out_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM sms_conversations WHERE contact_id = ?"
        "   AND status = 'active')"
        " AND NOT EXISTS (SELECT 1 FROM sms_outbound WHERE contact_id = ?"
        "   AND status IN ('queued', 'sending'))",
        [contact_id, contact_id, contact_id],
    )
