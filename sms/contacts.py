"""The one table that holds phone numbers: a contact per number, with its opt-out state.

Every other SMS table points at a contact by id, so a number is stored once and erased
by deleting its row (the conversations, queue and simulator log go with it). An opt-out
is also kept by pseudonym alone (`sms_opt_outs`), so a STOP outlives the number's
erasure: a contact made again for that number starts opted out.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from participate import store


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
    return Contact(**row)


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
    return cursor.rowcount


def opt_in(db: sqlite_utils.Database, contact_id: int, stamp: str) -> None:
    """Opt a contact back in."""
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
