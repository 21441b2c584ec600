"""The hub's side of sync: store a pushed batch, publish consultations, keep heartbeats.

A batch is stored in one transaction. Each submission gets an outcome: `stored`,
`duplicate` (the hub already holds exactly this content) or `rejected` with a reason
(kept in `sync_rejections` for staff). The same id with different content is refused,
never overwritten; so is a ledger number that already holds another submission.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from participate import answers as answer_rules
from participate import clock, consultations, privacy, store, submissions
from participate.consultations import Consultation
from participate.errors import AnswerError, NotFound
from participate.submissions import CHANNELS

from . import devices
from .errors import BadBatch
from .wire import CONTENT_FIELDS, PUSH_FIELDS

STORED, DUPLICATE, REJECTED = "stored", "duplicate", "rejected"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_STRING_FIELDS = (
    "consultation_id",
    "consultation_version",
    "respondent",
    "language",
    "started_at",
    "submitted_at",
)
_COLUMNS = (*PUSH_FIELDS, "received_at")
_INT_MAX = 2**63 - 1  # SQLite's largest integer: a larger number cannot be stored
_INSERT_CHUNK = 50  # rows per statement: 13 columns * 50 stays under SQLite's variable limit


class _Rejected(Exception):
    """One pushed submission is refused, and why: an outcome, never raised past this module."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def store_batch(
    db: sqlite_utils.Database, device_id: str, items: Sequence[Any]
) -> list[dict[str, Any]]:
    """Store a device's pushed submissions in one transaction; return each one's outcome."""
    now = clock.utcnow()
    checker = _Checker(db, device_id)
    # Validate first, outside the write lock: it is the slow part, and reads only.
    checked: list[dict[str, Any] | _Rejected] = []
    for item in items:
        try:
            checked.append(checker.clean(item))
        except _Rejected as exc:
            checked.append(exc)
    results: list[dict[str, Any]] = []
    with store.write(db):
        rows = [row for row in checked if isinstance(row, dict)]
        existing = _existing(db, [row["id"] for row in rows])
        taken = _taken_seqs(db, device_id, [row["seq"] for row in rows])
        fresh = []
        for index, (item, row) in enumerate(zip(items, checked, strict=True)):
            submission_id = item.get("id") if isinstance(item, dict) else None
            outcome: dict[str, Any] = {"id": submission_id if _is_id(submission_id) else None}
            try:
                if isinstance(row, _Rejected):
                    raise row
                row["received_at"] = now
                held = existing.get(row["id"])
                if held is None and privacy.erased_on_arrival(
                    db, row["respondent"], row["submitted_at"]
                ):
                    # Captured before its author's erasure request: keep only its ledger
                    # place; the node erases its copy when the heartbeat tells it.
                    submissions.tombstone(db, row)
                    outcome["status"] = DUPLICATE
                elif held is not None:
                    if any(held[name] != row[name] for name in CONTENT_FIELDS):
                        raise _Rejected("conflict: the hub holds different content under this id")
                    outcome["status"] = DUPLICATE
                elif taken.get(row["seq"], row["id"]) != row["id"]:
                    raise _Rejected(
                        f"conflict: ledger number {row['seq']} already holds another submission"
                    )
                else:
                    fresh.append(row)
                    existing[row["id"]] = row
                    taken[row["seq"]] = row["id"]
                    outcome["status"] = STORED
            except _Rejected as exc:
                outcome.update(status=REJECTED, reason=exc.reason, index=index)
                if outcome["id"] is not None:
                    seq = item.get("seq") if isinstance(item, dict) else None
                    seq = seq if _is_seq(seq) else None
                    devices.record_rejection(db, device_id, outcome["id"], seq, exc.reason, item)
            results.append(outcome)
        if fresh:
            _insert(db, fresh)
            # A submission refused earlier (say, for a version the hub lacked) is now home.
            if db.execute(
                "SELECT 1 FROM sync_rejections WHERE device_id = ? LIMIT 1", [device_id]
            ).fetchone():
                db.execute(
                    "DELETE FROM sync_rejections WHERE device_id = ?"
                    " AND submission_id IN (SELECT value FROM json_each(?))",
                    [device_id, json.dumps([row["id"] for row in fresh])],
                )
    return results


def _insert(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> None:
    # Multi-row VALUES: several times fewer statements than executemany, as insert_all does.
    marks = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    # Column names are this module's constants; every value is a bound parameter.
    head = "INSERT INTO submissions (" + ", ".join(_COLUMNS) + ") VALUES "  # noqa: S608
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        params = [row[name] for row in chunk for name in _COLUMNS]
        db.execute(head + ", ".join([marks] * len(chunk)), params)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value))


def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _INT_MAX


def _existing(db: sqlite_utils.Database, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = db.execute(
        f"SELECT {', '.join(PUSH_FIELDS)} FROM submissions"  # noqa: S608 (constants)
        " WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps(ids)],
    ).fetchall()
    return {row[0]: dict(zip(PUSH_FIELDS, row, strict=True)) for row in rows}


def _taken_seqs(db: sqlite_utils.Database, device_id: str, seqs: list[int]) -> dict[int, str]:
    rows = db.execute(
        "SELECT seq, id FROM submissions"
        " WHERE device_id = ? AND seq IN (SELECT value FROM json_each(?))",
        [device_id, json.dumps(seqs)],
    ).fetchall()
    return {seq: submission_id for seq, submission_id in rows}


class _Checker:
    """Check pushed submissions of one batch, caching consultation versions and answer sets."""

    def __init__(self, db: sqlite_utils.Database, device_id: str) -> None:
        self.db = db
        self.device_id = device_id
        self.versions: dict[tuple[str, str], Consultation | None] = {}
        # Validation is pure: kiosks send the same answers often, so check each set once.
        self.answers: dict[tuple[str, str, bool, str], str | AnswerError] = {}

    def consultation(self, key: tuple[str, str]) -> Consultation | None:
        """Return the published version `key` (id, version), or None if the hub never had it."""
        if key not in self.versions:
            try:
                self.versions[key] = consultations.get(self.db, *key)
            except NotFound:
                self.versions[key] = None
        return self.versions[key]

    def clean(self, item: Any) -> dict[str, Any]:
        """Return one pushed submission as a row to store, or raise _Rejected."""
        if not isinstance(item, dict):
            raise _Rejected("invalid: a submission must be a JSON object")
        if not _is_id(item.get("id")):
            raise _Rejected("invalid: id must be a string of letters, digits, '-', '_', '.' or ':'")
        for name in _STRING_FIELDS:
            if not isinstance(item.get(name), str):
                raise _Rejected(f"invalid: {name} must be a string")
        if item.get("device_id") != self.device_id:
            raise _Rejected("invalid: device_id is not the device that signed the request")
        if item.get("channel") not in CHANNELS:
            raise _Rejected(f"invalid: channel must be one of {', '.join(CHANNELS)}")
        seq = item.get("seq")
        if not _is_seq(seq):
            raise _Rejected(f"invalid: seq must be a whole number from 1 to {_INT_MAX}")
        complete = item.get("complete")
        if not isinstance(complete, bool):
            raise _Rejected("invalid: complete must be true or false")
        if not isinstance(item.get("answers"), dict):
            raise _Rejected("invalid: answers must be an object")
        for name in ("started_at", "submitted_at"):
            if not _is_time(item[name]):
                raise _Rejected(f"invalid: {name} is not an ISO-8601 time")
        key = (item["consultation_id"], item["consultation_version"])
        consultation = self.consultation(key)
        if consultation is None:
            raise _Rejected(f"unknown consultation {key[0]!r} version {key[1]!r}")
        if item["language"] not in consultation.languages:
            raise _Rejected(f"invalid: language {item['language']!r} is not offered")
        return {
            "id": item["id"],
            "consultation_id": key[0],
            "consultation_version": key[1],
            "channel": item["channel"],
            "device_id": self.device_id,
            "seq": seq,
            "respondent": item["respondent"],
            "language": item["language"],
            "started_at": item["started_at"],
            "submitted_at": item["submitted_at"],
            "answers": self.validated(consultation, item["answers"], complete),
            "complete": int(complete),
        }

    def validated(self, consultation: Consultation, answers: dict, complete: bool) -> str:
        """Return the answers validated against their version, as stored JSON, or raise."""
        try:
            raw = json.dumps(answers, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):
            raise _Rejected("invalid answers: not plain JSON values") from None
        key = (consultation.id, consultation.version, complete, raw)
        outcome = self.answers.get(key)
        if outcome is None:
            try:
                clean = answer_rules.validate_answers(consultation, answers, complete=complete)
                outcome = json.dumps(clean, ensure_ascii=False, sort_keys=True)
            except AnswerError as exc:
                outcome = exc
            self.answers[key] = outcome
        if isinstance(outcome, AnswerError):
            raise _Rejected(f"invalid answers: {outcome}")
        return outcome


def _is_time(value: str) -> bool:
    try:
        clock.parse(value)
    except ValueError:
        return False
    return True


def published(db: sqlite_utils.Database) -> tuple[str, dict[str, Any]]:
    """Return the consultations the hub publishes (every version) and their ETag."""
    current = {
        row[0]: (row[1], bool(row[2]))
        for row in db.execute("SELECT id, version, closed FROM consultations").fetchall()
    }
    listing: dict[str, dict[str, Any]] = {}
    for consultation_id, version, definition in db.execute(
        "SELECT consultation_id, version, definition FROM consultation_versions"
        " ORDER BY consultation_id, loaded_at, version"
    ).fetchall():
        current_version, closed = current.get(consultation_id, (None, False))
        entry = listing.setdefault(
            consultation_id,
            {"id": consultation_id, "current": current_version, "closed": closed, "versions": []},
        )
        entry["versions"].append({"version": version, "definition": json.loads(definition)})
    body = {"consultations": list(listing.values())}
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return f'"{hashlib.sha256(encoded).hexdigest()[:32]}"', body


def take_heartbeat(db: sqlite_utils.Database, device_id: str, report: Any) -> dict[str, Any]:
    """Check and keep a device's health report; return the hub's view of its ledger.

    The answer also carries the erasure orders the device has not acknowledged yet
    (`erase`); the device erases, then lists them under `erased` in its next report.
    """
    clean = _checked_heartbeat(report)
    erased = _checked_erased(report)
    devices.record_heartbeat(db, device_id, clean)
    if erased:
        with store.write(db):
            privacy.acknowledge(db, device_id, erased)
    held, highest_held = devices.held_summary(db, device_id)
    highest = max(clean["highest_seq"] or 0, highest_held)
    return {
        "hub_time": clock.utcnow(),
        "held": held,
        "highest_held": highest_held,
        "gaps": devices.ledger_gaps(db, device_id, highest),
        "erase": privacy.pending_for(db, device_id),
    }


def _checked_erased(report: Any) -> list[str]:
    erased = report.get("erased") if isinstance(report, Mapping) else None
    if erased is None:
        return []
    if (
        not isinstance(erased, list)
        or len(erased) > privacy.ORDERS_PER_ANSWER
        or not all(isinstance(p, str) and 0 < len(p) <= 128 for p in erased)
    ):
        raise BadBatch(f"erased must be a list of at most {privacy.ORDERS_PER_ANSWER} pseudonyms")
    return erased


def _checked_heartbeat(report: Any) -> dict[str, Any]:
    if not isinstance(report, Mapping):
        raise BadBatch("a heartbeat must be a JSON object")
    clean: dict[str, Any] = {}
    for name, types in devices.HEARTBEAT_TYPES.items():
        value = report.get(name)
        if value is None:
            clean[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise BadBatch(f"{name} must be {' or '.join(t.__name__ for t in types)}")
        if isinstance(value, int | float) and not 0 <= value <= _INT_MAX:
            raise BadBatch(f"{name} must be from 0 to {_INT_MAX}")
        clean[name] = value[:2000] if isinstance(value, str) else value
    return clean
