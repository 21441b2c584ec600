"""The one table that holds phone numbers: a contact per number, with its opt-out state.

Every other SMS table points at a contact by id, so a number is stored once and erased
by deleting its row (the conversations, queue and simulator log go with it).
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
        "INSERT INTO sms_contacts (phone, respondent, created_at, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(phone) DO UPDATE SET respondent = excluded.respondent"
        " RETURNING id, language, opted_out_at",
        [phone, respondent, stamp, stamp],
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
    cursor = db.execute(
        "UPDATE sms_outbound SET status = 'cancelled', error = 'opted out', updated_at = ?"
        " WHERE contact_id = ? AND status = 'queued'",
        [stamp, contact_id],
    )
    return cursor.rowcount


def opt_in(db: sqlite_utils.Database, contact_id: int, stamp: str) -> None:
    """Opt a contact back in."""
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
