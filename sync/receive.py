"""The hub's side of sync: store a pushed batch, publish consultations, keep heartbeats.

A batch is stored in one transaction. Each submission gets an outcome: `stored`,
`duplicate` (the hub already holds exactly this content) or `rejected` with a reason
(kept in `sync_rejections` for staff). The same id with different content is refused,
never overwritten; so is a ledger number that already holds another submission. A
device may claim only what it is enrolled for: its own id, its channels, and a respondent
that is empty or a pseudonym (never a phone number).

Rows are read by name. The one positional part is the insert's parameters, a flat list
in _COLUMNS order for a multi-row VALUES: it keeps a 100,000-submission drain near
`insert_all`'s speed (bench/bench_sync.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from participate import (
    clock,
    consultations,
    fleet,
    followups,
    privacy,
    store,
    submissions,
    tallies,
)
from participate.consultations import Consultation
from participate.errors import AnswerError, NotFound
from participate.submissions import CHANNELS, Validator, is_respondent

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
WITHHELD = "(withheld: not a pseudonym)"  # what a refusal keeps of a bad respondent


class _Rejected(Exception):
    """One pushed submission is refused, and why: an outcome, never raised past this module."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def store_batch(
    db: sqlite_utils.Database, device_id: str, items: Sequence[Any]
) -> list[dict[str, Any]]:
    """Store a device's pushed submissions in one transaction; return each one's outcome."""
    # Validate first, outside the write lock: it is the slow part, and reads only.
    validator = _PushedSubmissionValidator(db, device_id)
    checked = [validator.row_or_rejection(item) for item in items]
    with store.write(db):
        held = _HeldAtHub.load(db, device_id, [row for row in checked if isinstance(row, dict)])
        received_at = clock.utcnow()
        outcomes = []
        for index, (item, row) in enumerate(zip(items, checked, strict=True)):
            outcome = _outcome(item)
            try:
                if isinstance(row, _Rejected):
                    raise row
                if privacy.erased_on_arrival(db, row["respondent"], row["submitted_at"]):
                    # Captured before its author's erasure request: keep only its ledger
                    # place; the node erases its copy when the heartbeat tells it.
                    submissions.tombstone(db, row)
                    outcome["status"] = DUPLICATE
                else:
                    outcome["status"] = held.place({**row, "received_at": received_at})
            except _Rejected as exc:
                outcome.update(status=REJECTED, reason=exc.reason, index=index)
                _keep_rejection(db, device_id, outcome["id"], item, exc.reason)
            outcomes.append(outcome)
        if held.fresh:
            _insert(db, held.fresh)
            tallies.add(db, held.fresh)
            _forget_rejections_now_stored(db, device_id, held.fresh)
    return outcomes


def _outcome(item: Any) -> dict[str, Any]:
    """Start an item's outcome: its id when it has a valid one (else None)."""
    submission_id = item.get("id") if isinstance(item, dict) else None
    return {"id": submission_id if _is_id(submission_id) else None}


class _HeldAtHub:
    """What the hub already holds of one batch: submissions by id, ledger numbers taken.

    `place` decides each checked row against it, in batch order, so a batch that
    repeats an id or a number inside itself is judged as if sent one by one.
    """

    def __init__(self, by_id: dict[str, dict[str, Any]], ids_by_seq: dict[int, str]) -> None:
        self.by_id = by_id
        self.ids_by_seq = ids_by_seq
        self.fresh: list[dict[str, Any]] = []

    @classmethod
    def load(
        cls, db: sqlite_utils.Database, device_id: str, rows: list[dict[str, Any]]
    ) -> _HeldAtHub:
        by_id = {
            row["id"]: row
            for row in db.query(
                f"SELECT {', '.join(PUSH_FIELDS)} FROM submissions"  # noqa: S608 (constants)
                " WHERE id IN (SELECT value FROM json_each(?))",
                [json.dumps([row["id"] for row in rows])],
            )
        }
        ids_by_seq = {
            row["seq"]: row["id"]
            for row in db.query(
                "SELECT seq, id FROM submissions"
                " WHERE device_id = ? AND seq IN (SELECT value FROM json_each(?))",
                [device_id, json.dumps([row["seq"] for row in rows])],
            )
        }
        return cls(by_id, ids_by_seq)

    def place(self, row: dict[str, Any]) -> str:
        """Return DUPLICATE or STORED (queued in `fresh`) for a checked row; raise on conflict."""
        held = self.by_id.get(row["id"])
        if held is not None:
            if any(held[name] != row[name] for name in CONTENT_FIELDS):
                raise _Rejected("conflict: the hub holds different content under this id")
            return DUPLICATE
        if self.ids_by_seq.get(row["seq"], row["id"]) != row["id"]:
            raise _Rejected(
                f"conflict: ledger number {row['seq']} already holds another submission"
            )
        self.fresh.append(row)
        self.by_id[row["id"]] = row
        self.ids_by_seq[row["seq"]] = row["id"]
        return STORED


def _keep_rejection(
    db: sqlite_utils.Database, device_id: str, submission_id: str | None, item: Any, reason: str
) -> None:
    """Keep a refusal for staff (inside the write); one without a valid id cannot be kept.

    A respondent that is not a pseudonym (a phone number, say) is left out of what is
    kept: refused from the submissions, it must not be stored in the refusals instead.
    """
    if submission_id is None:
        return
    seq = item.get("seq")
    if isinstance(item.get("respondent"), str) and not is_respondent(item["respondent"]):
        item = {**item, "respondent": WITHHELD}
    devices.record_rejection(
        db, device_id, submission_id, seq if _is_seq(seq) else None, reason, item
    )


def _forget_rejections_now_stored(
    db: sqlite_utils.Database, device_id: str, stored: list[dict[str, Any]]
) -> None:
    """Drop refusals of submissions now stored (say, refused for a version the hub lacked)."""
    if store.first_row(
        db, "SELECT 1 FROM sync_rejections WHERE device_id = ? LIMIT 1", [device_id]
    ):
        db.execute(
            "DELETE FROM sync_rejections WHERE device_id = ?"
            " AND submission_id IN (SELECT value FROM json_each(?))",
            [device_id, json.dumps([row["id"] for row in stored])],
        )


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


class _PushedSubmissionValidator(Validator):
    """Check the submissions one device pushed, as a row to store or the reason to refuse.

    Beyond the shape of each field it checks what the device may claim: its own id,
    a channel it is enrolled for (`devices.get_channels`), and a respondent that is empty
    or a pseudonym. Consultation versions and answer sets are cached for the batch.
    """

    def __init__(self, db: sqlite_utils.Database, device_id: str) -> None:
        super().__init__(db)
        self.device_id = device_id
        self.channels = devices.get_channels(db, device_id)

    def row_or_rejection(self, item: Any) -> dict[str, Any] | _Rejected:
        """Return one pushed submission as a row to store, or the _Rejected saying why not."""
        try:
            self.check_fields(item)
            self.check_claims(item)
            consultation = self.consultation_of(item)
            answers = self.validated(consultation, item["answers"], item["complete"])
        except _Rejected as exc:
            return exc
        return {
            "id": item["id"],
            "consultation_id": consultation.id,
            "consultation_version": consultation.version,
            "channel": item["channel"],
            "device_id": self.device_id,
            "seq": item["seq"],
            "respondent": item["respondent"],
            "language": item["language"],
            "started_at": item["started_at"],
            "submitted_at": item["submitted_at"],
            "answers": answers,
            "complete": int(item["complete"]),
        }

    def check_fields(self, item: Any) -> None:
        """Refuse an item whose fields do not have the wire format's types and forms."""
        if not isinstance(item, dict):
            raise _Rejected("invalid: a submission must be a JSON object")
        if not _is_id(item.get("id")):
            raise _Rejected("invalid: id must be a string of letters, digits, '-', '_', '.' or ':'")
        for name in _STRING_FIELDS:
            if not isinstance(item.get(name), str):
                raise _Rejected(f"invalid: {name} must be a string")
        if item.get("channel") not in CHANNELS:
            raise _Rejected(f"invalid: channel must be one of {', '.join(CHANNELS)}")
        if not _is_seq(item.get("seq")):
            raise _Rejected(f"invalid: seq must be a whole number from 1 to {_INT_MAX}")
        if not isinstance(item.get("complete"), bool):
            raise _Rejected("invalid: complete must be true or false")
        if not isinstance(item.get("answers"), dict):
            raise _Rejected("invalid: answers must be an object")
        for name in ("started_at", "submitted_at"):
            if not _is_time(item[name]):
                raise _Rejected(f"invalid: {name} is not an ISO-8601 time")

    def check_claims(self, item: dict[str, Any]) -> None:
        """Refuse what this device may not claim: another device, channel or a raw respondent."""
        if item.get("device_id") != self.device_id:
            raise _Rejected("invalid: device_id is not the device that signed the request")
        if item["channel"] not in self.channels:
            raise _Rejected(
                f"refused: this device is enrolled for {', '.join(self.channels)},"
                f" not {item['channel']} (participate add-device --channels)"
            )
        if not is_respondent(item["respondent"]):
            raise _Rejected(
                "refused: respondent must be empty or a pseudonym (64 hex digits),"
                " never a phone number"
            )

    def consultation_of(self, item: dict[str, Any]) -> Consultation:
        """Return the published version the item answers, in a language it offers."""
        key = (item["consultation_id"], item["consultation_version"])
        consultation = self.consultation(key)
        if consultation is None:
            raise _Rejected(f"unknown consultation {key[0]!r} version {key[1]!r}")
        if item["language"] not in consultation.languages:
            raise _Rejected(f"invalid: language {item['language']!r} is not offered")
        return consultation

    def validated(self, consultation: Consultation, answers: dict, complete: bool) -> str:
        """Return the answers validated against their version, as stored JSON, or raise."""
        outcome = self.check_answers(consultation, answers, complete)
        if isinstance(outcome, AnswerError):
            raise _Rejected(f"invalid answers: {outcome}")
        return outcome


def _is_time(value: str) -> bool:
    try:
        clock.parse(value)
    except ValueError:
        return False
    return True


def store_followups(db: sqlite_utils.Database, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep each number a node sent to text a consultation's results; one outcome each."""
    results = []
    with store.write(db):
        for item in items:
            followup_id = item.get("id") if isinstance(item, Mapping) else None
            if not _is_id(followup_id):
                results.append({"id": followup_id, "status": REJECTED, "reason": "bad id"})
                continue
            reason = _followup_problem(db, item)
            if reason:
                results.append({"id": followup_id, "status": REJECTED, "reason": reason})
                continue
            stored = followups.record(
                db,
                item["consultation_id"],
                item["phone"],
                item["language"],
                followup_id=followup_id,
                created_at=item["created_at"],
            )
            results.append({"id": followup_id, "status": STORED if stored else DUPLICATE})
    return results


def _followup_problem(db: sqlite_utils.Database, item: Mapping[str, Any]) -> str:
    """Return why a pushed follow-up cannot be kept, or an empty string."""
    if set(item) != set(followups.FIELDS):
        return f"fields must be {', '.join(followups.FIELDS)}"
    if not followups.is_e164(item["phone"]):
        return "phone is not a valid E.164 number"
    if not isinstance(item["created_at"], str) or not _is_time(item["created_at"]):
        return "created_at is not a time"
    try:
        consultation = consultations.get(db, str(item["consultation_id"]))
    except NotFound:
        return "unknown consultation"
    if not consultation.results_by_text:
        return "this consultation does not text its results"
    if item["language"] not in consultation.languages:
        return "language not offered by the consultation"
    return ""


def published(db: sqlite_utils.Database) -> tuple[str, dict[str, Any]]:
    """Return the consultations the hub publishes (every version) and their ETag.

    Each entry also says whether staff closed or archived it and its place in their
    order (`position`, then `id`); a node mirrors all three.
    """
    current = {
        row["id"]: row
        for row in db.query("SELECT id, version, closed, position, archived_at FROM consultations")
    }
    unknown = {"version": None, "closed": False, "position": 0, "archived_at": None}
    listing: dict[str, dict[str, Any]] = {}
    for row in db.query(
        "SELECT consultation_id, version, definition FROM consultation_versions"
        " ORDER BY consultation_id, loaded_at, version"
    ):
        consultation_id = row["consultation_id"]
        head = current.get(consultation_id, unknown)
        entry = listing.setdefault(
            consultation_id,
            {
                "id": consultation_id,
                "current": head["version"],
                "closed": bool(head["closed"]),
                # The staff's order of the lists (the kiosk's too), and whether staff
                # archived it: a node lists it no more and takes no answers for it.
                "position": int(head["position"]),
                "archived": head["archived_at"] is not None,
                "versions": [],
            },
        )
        entry["versions"].append(
            {"version": row["version"], "definition": json.loads(row["definition"])}
        )
    body = {"consultations": list(listing.values())}
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return f'"{hashlib.sha256(encoded).hexdigest()[:32]}"', body


def take_heartbeat(
    db: sqlite_utils.Database, device_id: str, report: Any, *, pepper: bytes
) -> dict[str, Any]:
    """Check and keep a device's health report and opt-outs; return the hub's view of its ledger.

    The answer also carries the fleet's opt-out changes after the device's cursor, the
    phone pepper to a device enrolled for sms (one pseudonym for a phone across the
    fleet), and the erasure orders the device has not acknowledged yet (`erase`); the
    device erases, then lists them under `erased` in its next report.
    """
    clean = _checked_heartbeat(report)
    erased = _checked_erased(report)
    devices.record_heartbeat(db, device_id, clean)
    fleet.take_changes(db, fleet.checked_changes(report.get("opt_outs")))
    if erased:
        with store.write(db):
            privacy.acknowledge(db, device_id, erased)
    held, highest_held = devices.held_summary(db, device_id)
    highest = max(clean["highest_seq"] or 0, highest_held)
    cursor = report.get("opt_out_cursor")
    cursor = cursor if isinstance(cursor, int) and not isinstance(cursor, bool) else 0
    changes, cursor = fleet.changes_after(db, max(cursor, 0))
    answer = {
        "hub_time": clock.utcnow(),
        "held": held,
        "highest_held": highest_held,
        "gaps": devices.ledger_gaps(db, device_id, highest),
        "opt_outs": changes,
        "opt_out_cursor": cursor,
        "erase": privacy.pending_for(db, device_id),
    }
    if "sms" in devices.get_channels(db, device_id):
        # One pseudonym for a phone across the fleet: the node keeps it beside its store.
        # A device not enrolled for sms takes no numbers, so it is never handed the pepper.
        answer["phone_pepper"] = pepper.decode("utf-8")
    return answer


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
    clean["gateway"] = devices.checked_gateway(report.get("gateway"))
    return clean
