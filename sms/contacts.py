"""The one table that holds phone numbers: a contact per number, with its opt-out state.

Every other SMS table points at a contact by id, so a number is stored once and erased
by deleting its row (the conversations, queue and simulator log go with it). An opt-out
is also kept by pseudonym alone (`sms_opt_outs`), so a STOP outlives the number's
erasure: a contact made again for that number starts opted out. Opt-outs are also the
fleet's (`participate.fleet`): a STOP taken here is noted there too, and one taken
anywhere else reaches this store's contact through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from participate import fleet, store


@dataclass(frozen=True)
class Contact:
    """A number's row in sms_contacts, without the number."""

    id: int
    language: str
    opted_out_at: str | None


def ensure(db: sqlite_utils.Database, phone: str, respondent: str, stamp: str) -> Contact:
    """Return the contact of an E.164 number, creating it with its pseudonym if needed."""
    row = store.first_row(
        db,
        "INSERT INTO sms_contacts (phone, respondent, opted_out_at, created_at, updated_at)"
        " VALUES (?, ?, (SELECT opted_out_at FROM sms_opt_outs WHERE respondent = ?), ?, ?)"
        " ON CONFLICT(phone) DO UPDATE SET respondent = excluded.respondent"
        " RETURNING id, language, opted_out_at",
        [phone, respondent, respondent, stamp, stamp],
    )
    assert row is not None  # RETURNING always gives the inserted or updated row
    contact = Contact(**row)
    if contact.opted_out_at is None and (since := fleet.opted_out_since(db, respondent)):
        # A new number here that opted out at another node or at the hub.
        db.execute("UPDATE sms_contacts SET opted_out_at = ? WHERE id = ?", [since, contact.id])
        contact = Contact(contact.id, contact.language, since)
    return contact


def find(db: sqlite_utils.Database, phone: str) -> int | None:
    """Return the contact id of a number, or None if it never texted or was texted."""
    row = store.first_row(db, "SELECT id FROM sms_contacts WHERE phone = ?", [phone])
    return row["id"] if row else None


def mark_opted_out(db: sqlite_utils.Database, contact_id: int, stamp: str) -> int:
    """Opt a contact out and cancel what is queued for it; return how many were cancelled."""
    db.execute(
        "UPDATE sms_contacts SET opted_out_at = coalesce(opted_out_at, ?), updated_at = ?"
        " WHERE id = ?",
        [stamp, stamp, contact_id],
    )
    db.execute(
        "INSERT OR IGNORE INTO sms_opt_outs (respondent, opted_out_at)"
        " SELECT respondent, opted_out_at FROM sms_contacts WHERE id = ?",
        [contact_id],
    )
    cursor = db.execute(
        "UPDATE sms_outbound SET status = 'cancelled', error = 'opted out', updated_at = ?"
        " WHERE contact_id = ? AND status = 'queued'",
        [stamp, contact_id],
    )
    cancelled = cursor.rowcount
    _note_in_fleet(db, contact_id, True, stamp)
    return cancelled


def opt_in(db: sqlite_utils.Database, contact_id: int, stamp: str) -> None:
    """Opt a contact back in."""
    _note_in_fleet(db, contact_id, False, stamp)
    db.execute(
        "DELETE FROM sms_opt_outs WHERE respondent = (SELECT respondent FROM sms_contacts"
        " WHERE id = ?)",
        [contact_id],
    )
    db.execute(
        "UPDATE sms_contacts SET opted_out_at = NULL, updated_at = ? WHERE id = ?",
        [stamp, contact_id],
    )


def set_language(db: sqlite_utils.Database, contact_id: int, lang: str, stamp: str) -> None:
    """Remember the language a contact last used."""
    db.execute(
        "UPDATE sms_contacts SET language = ?, updated_at = ? WHERE id = ?",
        [lang, stamp, contact_id],
    )


def _note_in_fleet(db: sqlite_utils.Database, contact_id: int, opted_out: bool, stamp: str) -> None:
    row = db.execute("SELECT respondent FROM sms_contacts WHERE id = ?", [contact_id]).fetchone()
    if row is not None:
        fleet.record_opt_out(db, row[0], opted_out, stamp)


def erase_settled(db: sqlite_utils.Database) -> int:
    """Erase the numbers whose conversations have ended and replies settled; count them.

    Kept: a number in a conversation or a phone call, one with a message still queued, being sent or
    not yet reported sent, and one invited from a list the staff imported here. The
    pseudonym's opt-out lives on in the fleet's opt-outs, which need no number.
    """
    with store.write(db):
        cursor = db.execute(
            "DELETE FROM sms_contacts WHERE id NOT IN"
            " (SELECT contact_id FROM sms_conversations WHERE status = 'active')"
            # A call in progress shares the number's contact (its voice_sessions cascade).
            " AND id NOT IN (SELECT contact_id FROM voice_sessions WHERE status = 'active')"
            " AND id NOT IN (SELECT contact_id FROM sms_outbound"
            " WHERE status IN ('queued', 'sending', 'accepted')"
            " OR kind IN ('invitation', 'reminder'))"
        )
    return cursor.rowcount
