"""Record submissions in the store: the one write path every capturing channel uses.

`record` validates the answers, numbers the submission in this store's ledger sequence
and commits it in one transaction, before anyone is thanked. It is idempotent on the
submission id: recording the same id again (a double tap, a resubmitted form, a webhook
retried) returns the stored row and writes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from participate import answers as answer_rules
from participate import clock, store
from participate.consultations import Consultation
from participate.errors import Conflict

CHANNELS = ("kiosk", "sms", "voice")
RECORD_FIELDS = (
    "id",
    "consultation_id",
    "consultation_version",
    "channel",
    "device_id",
    "seq",
    "respondent",
    "language",
    "started_at",
    "submitted_at",
    "received_at",
    "answers",
    "complete",
    "hidden",
)


def new_id() -> str:
    """Return a new submission id (a random UUID)."""
    return str(uuid.uuid4())


def device_id(db: sqlite_utils.Database) -> str:
    """Return the id this store stamps on what it captures (the node's device id, or the hub's)."""
    return str(store.get_meta(db, "device_id") or store.get_meta(db, "store_id"))


def record(
    db: sqlite_utils.Database,
    consultation: Consultation,
    *,
    channel: str,
    language: str,
    answers: Mapping[str, Any],
    started_at: str,
    submission_id: str | None = None,
    respondent: str = "",
    complete: bool = True,
) -> dict[str, Any]:
    """Validate and commit one submission, returning its stored record; idempotent on its id."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    clean = answer_rules.validate_answers(consultation, answers, complete=complete)
    submission_id = submission_id or new_id()
    with store.write(db):
        existing = get(db, submission_id)
        if existing is not None:
            if existing["consultation_id"] != consultation.id:
                raise Conflict(f"submission {submission_id} belongs to another consultation")
            return existing
        device = device_id(db)
        seq = db.execute(
            "SELECT coalesce(max(seq), 0) + 1 FROM submissions WHERE device_id = ?", [device]
        ).fetchone()[0]
        row = {
            "id": submission_id,
            "consultation_id": consultation.id,
            "consultation_version": consultation.version,
            "channel": channel,
            "device_id": device,
            "seq": seq,
            "respondent": respondent,
            "language": consultation.language(language),
            "started_at": started_at,
            "submitted_at": clock.utcnow(),
            "received_at": None,
            "answers": json.dumps(clean, ensure_ascii=False, sort_keys=True),
            "complete": int(complete),
        }
        db.table("submissions").insert(row)
    stored = get(db, submission_id)
    assert stored is not None
    return stored


def get(db: sqlite_utils.Database, submission_id: str) -> dict[str, Any] | None:
    """Return one submission as a record (answers decoded), or None."""
    row = store.first_row(db, "SELECT * FROM submissions WHERE id = ?", [submission_id])
    return None if row is None else to_record(row)


def to_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a stored row into a submission record (docs/spec.md): answers nested, flags bool."""
    record = {name: row.get(name) for name in RECORD_FIELDS}
    answers = record["answers"]
    record["answers"] = json.loads(answers) if isinstance(answers, str) else (answers or {})
    record["complete"] = bool(record["complete"])
    record["hidden"] = bool(record["hidden"])
    return record
