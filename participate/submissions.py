"""Record submissions in the store: the one write path every capturing channel uses.

`record` validates the answers, numbers the submission in this store's ledger sequence
and commits it in one transaction, before anyone is thanked. It is idempotent on the
submission id: recording the same id again (a double tap, a resubmitted form, a webhook
retried) returns the stored row and writes nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from participate import answers as answer_rules
from participate import clock, consultations, store, tallies
from participate.consultations import Consultation
from participate.errors import AnswerError, Conflict, NotFound

CHANNELS = ("kiosk", "sms", "voice")
# A respondent is empty (a kiosk visit is anonymous) or the keyed pseudonym of a phone
# number: the hex HMAC-SHA256 that participate.sms.phones.pseudonym makes. Anything else
# (a phone number above all) must never be stored at the hub nor exported.
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")


def is_respondent(value: Any) -> bool:
    """Return whether `value` is a respondent as stored: empty, or a phone pseudonym."""
    return value == "" or (isinstance(value, str) and bool(_PSEUDONYM.fullmatch(value)))


def respondent_sql(column: str) -> str:
    """Return SQL giving `column` when it is a respondent as `is_respondent` says, else ''."""
    return f"(CASE WHEN {column} GLOB '{'[0-9a-f]' * 64}' THEN {column} ELSE '' END)"


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

# What identifies a submission's content: a retry, a push or an import must match these
# exactly (moderation and arrival time are the store's own, not content).
CONTENT_FIELDS = tuple(f for f in RECORD_FIELDS if f not in ("id", "received_at", "hidden"))


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
        seq = next_seq(db, device)
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
        tallies.add(db, [row])
    stored = get(db, submission_id)
    assert stored is not None
    return stored


def next_seq(db: sqlite_utils.Database, device: str) -> int:
    """Return the next ledger number of `device`: erased numbers are never given again."""
    return int(
        db.execute(
            "SELECT max(coalesce((SELECT max(seq) FROM submissions WHERE device_id = :d), 0),"
            " coalesce((SELECT max(seq) FROM submission_erasures WHERE device_id = :d), 0)) + 1",
            {"d": device},
        ).fetchone()[0]
    )


def erase(db: sqlite_utils.Database, *, respondent: str, captured_before: str | None = None) -> int:
    """Delete a respondent's submissions (inside the caller's write); return how many.

    The one place submissions are deleted, so whatever is kept beside them (tallies,
    search text) follows in the same transaction. Each keeps a tombstone of its ledger
    place (device, number), never its content: the number is not reused and the hub
    sees no gap. `captured_before` limits it to what was submitted before that time.
    """
    if not respondent:
        raise ValueError("erase needs a respondent pseudonym (kiosk answers are anonymous)")
    if not db.conn.in_transaction:
        raise RuntimeError("erase() must run inside a write transaction (store.write)")
    params = {"respondent": respondent, "before": captured_before, "now": clock.utcnow()}
    erasable = "s.respondent = ? AND (? IS NULL OR s.submitted_at <= ?)"
    tallies.remove(
        db, tallies.rows_for(db, erasable, [respondent, captured_before, captured_before])
    )
    db.execute(
        "INSERT OR IGNORE INTO submission_erasures (id, device_id, seq, consultation_id,"
        " erased_at) SELECT id, device_id, seq, consultation_id, :now FROM submissions"
        " WHERE respondent = :respondent AND (:before IS NULL OR submitted_at <= :before)",
        params,
    )
    # A webhook not yet told of it never will be: the answers are gone.
    db.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = NULL, given_up_at = :now"
        " WHERE delivered_at IS NULL AND given_up_at IS NULL AND submission_id IN"
        " (SELECT id FROM submissions"
        "  WHERE respondent = :respondent AND (:before IS NULL OR submitted_at <= :before))",
        params,
    )
    # A moderation note may quote the answer: it goes too.
    db.execute(
        "DELETE FROM moderation_log WHERE submission_id IN (SELECT id FROM submissions"
        " WHERE respondent = :respondent AND (:before IS NULL OR submitted_at <= :before))",
        params,
    )
    cursor = db.execute(
        "DELETE FROM submissions"
        " WHERE respondent = :respondent AND (:before IS NULL OR submitted_at <= :before)",
        params,
    )
    return cursor.rowcount


def tombstone(db: sqlite_utils.Database, row: Mapping[str, Any]) -> None:
    """Keep only the ledger place of a submission erased before it was stored (sync)."""
    db.execute(
        "INSERT OR IGNORE INTO submission_erasures (id, device_id, seq, consultation_id,"
        " erased_at) VALUES (?, ?, ?, ?, ?)",
        [row["id"], row["device_id"], row["seq"], row["consultation_id"], clock.utcnow()],
    )


class Validator:
    """Validate incoming records (a push, an import) against the versions they name.

    Reads each version once and checks each distinct answer set once: kiosks send the
    same answers often, and validation is pure.
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.versions: dict[tuple[str, str], Consultation | None] = {}
        self.answers: dict[tuple[str, str, bool, str], str | AnswerError] = {}

    def consultation(self, key: tuple[str, str]) -> Consultation | None:
        """Return the version `key` (id, version) held in the store, or None."""
        if key not in self.versions:
            try:
                self.versions[key] = consultations.get(self.db, *key)
            except NotFound:
                self.versions[key] = None
        return self.versions[key]

    def check_answers(
        self, consultation: Consultation, answers: Mapping[str, Any], complete: bool
    ) -> str | AnswerError:
        """Return the answers validated against their version as stored JSON, or the error."""
        try:
            raw = json.dumps(answers, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):
            return AnswerError("wrong_type", "not plain JSON values")
        key = (consultation.id, consultation.version, complete, raw)
        if key not in self.answers:
            try:
                clean = answer_rules.validate_answers(consultation, answers, complete=complete)
                self.answers[key] = json.dumps(clean, ensure_ascii=False, sort_keys=True)
            except AnswerError as exc:
                self.answers[key] = exc
        return self.answers[key]


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
