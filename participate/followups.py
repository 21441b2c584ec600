"""Numbers kept only to text a consultation's results ("you said, we did").

A kiosk visitor types a number, or a texter answers YES after the thanks: `record`
keeps the E.164 number, the language and the consultation, nothing else, in
`followups`. A node pushes its rows to the hub over the signed sync channel and
deletes each one the hub has answered for; the hub deletes each row when the summary
is queued for it (the SMS feature then erases the number once the text is settled).
The number never reaches a submission, an export or a log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import phonenumbers
import sqlite_utils

from participate import clock
from participate.errors import InvalidPhone

MAX_DIGITS = 20
# What a follow-up carries over the sync channel, in this order.
FIELDS = ("id", "consultation_id", "phone", "language", "created_at")


def to_e164(raw: str, region: str) -> str:
    """Return a typed number as E.164 if it is a valid number of `region` (or has a +code)."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_DIGITS * 2:
        raise InvalidPhone("not a phone number")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone("not a number that can receive texts")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(phone: Any) -> bool:
    """Say whether `phone` is a valid number written in E.164 (as a node sends it)."""
    if not isinstance(phone, str) or not phone.startswith("+") or len(phone) > 16:
        return False
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.is_valid_number(number) and e164 == phone


def record(
    db: sqlite_utils.Database,
    consultation_id: str,
    phone: str,
    language: str,
    *,
    followup_id: str | None = None,
    created_at: str | None = None,
) -> bool:
    """Keep a number to text this consultation's results; say whether it was new."""
    cursor = db.execute(
        "INSERT INTO followups (id, consultation_id, phone, language, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            followup_id or str(uuid.uuid4()),
            consultation_id,
            phone,
            language,
            created_at or clock.utcnow(),
        ],
    )
    return cursor.rowcount == 1


def count(db: sqlite_utils.Database, consultation_id: str) -> dict[str, int]:
    """Return how many numbers wait for this consultation's results, by language."""
    return {
        row["language"]: row["n"]
        for row in db.query(
            "SELECT language, count(*) AS n FROM followups WHERE consultation_id = ?"
            " GROUP BY language ORDER BY language",
            [consultation_id],
        )
    }


def waiting(
    db: sqlite_utils.Database, consultation_id: str | None = None, *, limit: int = -1
) -> list[dict[str, Any]]:
    """Return the kept numbers (of one consultation, or all), oldest first."""
    where, params = (
        ("WHERE consultation_id = ?", [consultation_id]) if consultation_id else ("", [])
    )
    return list(
        db.query(
            f"SELECT {', '.join(FIELDS)} FROM followups {where}"  # noqa: S608 (constants)
            " ORDER BY created_at, id LIMIT ?",
            [*params, limit],
        )
    )


def forget(db: sqlite_utils.Database, ids: Iterable[str]) -> int:
    """Delete these follow-ups (pushed to the hub, or queued); return how many went."""
    ids = list(ids)
    if not ids:
        return 0
    marks = ", ".join("?" for _ in ids)
    return db.execute(f"DELETE FROM followups WHERE id IN ({marks})", ids).rowcount  # noqa: S608
