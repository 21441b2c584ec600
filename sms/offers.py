"""The yes/no asked after an SMS conversation's thanks: text me the results?

Kept apart from the sending side (`followups`) so the conversation engine does not
import the outbound queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from participate import followups, store


@dataclass(frozen=True)
class Offer:
    """A texter just thanked and asked whether to get the results by text."""

    contact_id: int
    consultation_id: str
    language: str


def offer(
    db: sqlite_utils.Database, contact_id: int, consultation_id: str, language: str, stamp: str
) -> None:
    """Remember that a texter was just asked whether to get the results by text."""
    db.execute(
        "INSERT INTO sms_followup_offers (contact_id, consultation_id, language, offered_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (contact_id) DO UPDATE SET"
        " consultation_id = excluded.consultation_id, language = excluded.language,"
        " offered_at = excluded.offered_at",
        [contact_id, consultation_id, language, stamp],
    )


def take_offer(db: sqlite_utils.Database, contact_id: int, since: str) -> Offer | None:
    """Remove and return a contact's open offer (made after `since`): any text answers it."""
    row = store.first_row(
        db,
        "DELETE FROM sms_followup_offers WHERE contact_id = ?"
        " RETURNING contact_id, consultation_id, language, offered_at",
        [contact_id],
    )
    if row is None or row.pop("offered_at") < since:
        return None
    return Offer(**row)


def accept(db: sqlite_utils.Database, offer: Offer, phone: str, stamp: str) -> None:
    """Keep a texter's number to send them this consultation's results."""
    followups.record(db, offer.consultation_id, phone, offer.language, created_at=stamp)
