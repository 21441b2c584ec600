"""Import submissions: Participate's own JSON and JSON Lines exports, and nodes' bundles.

`import_file` reads one file and stores each submission idempotently by id: the same
content already held is a duplicate, different content under the same id (or a ledger
number already holding another submission) is refused with its reason, and nothing is
ever overwritten. Each record is validated against the consultation version it names,
which the JSON export carries and the store must otherwise hold. Records keep their
fields as exported (device, ledger number, times, hidden), so exporting, importing into
an empty store and exporting again gives the same file. Records are stored in chunks,
one transaction each, with their tallies; a run stopped part-way is finished by running
it again.

A bundle (`participate bundle`) is a push carried by hand: `participate.sync.intake`
checks it and stores it by the push's rules, and its signed receipt is written beside it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlite_utils

from participate import clock, consultations, store, sync, tallies
from participate.errors import AnswerError, ConsultationError
from participate.submissions import CHANNELS, CONTENT_FIELDS, RECORD_FIELDS, Validator

from .errors import ImportRefused

CHUNK = 5000
_COLUMNS = RECORD_FIELDS  # every exported field is a column of the same name
_INT_MAX = 2**63 - 1

Progress = Callable[[int], None]  # called with the bytes read since the last call


@dataclass
class ImportReport:
    """What an import did: counts by outcome, the reasons for refusals, receipts written."""

    stored: int = 0
    duplicate: int = 0
    refused: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    receipts: list[Path] = field(default_factory=list)
    gaps: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def add(self, other: ImportReport) -> None:
        """Add another file's report to this one."""
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.refused += other.refused
        self.reasons.update(other.reasons)
        self.receipts += other.receipts
        self.gaps.update(other.gaps)


def import_file(
    db: sqlite_utils.Database,
    path: Path,
    *,
    receipt_dir: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one export or bundle file into the store; return what happened."""
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
        handle.seek(0)
        if sync.is_signed_file(first):
            return _import_bundle(db, path, handle.read(), receipt_dir, progress)
        lines = _counted(handle, progress)
        if first.startswith('{"consultation": '):
            definition, records = _json_export(lines, path)
            _keep_versions(db, definition, path)
        else:
            records = _jsonl(lines)
        return _import_records(db, records)


def _counted(handle: IO[str], progress: Progress | None) -> Iterator[str]:
    for line in handle:
        if progress:
            progress(len(line.encode("utf-8")))
        yield line


# --- reading the files ---------------------------------------------------------------


def _json_export(lines: Iterator[str], path: Path) -> tuple[dict[str, Any], Iterator[Any]]:
    """Read a JSON export as written by `participate export`: the head, then a record a line."""
    head = next(lines)
    opening = ', "submissions": ['
    if not head.rstrip("\n").endswith(opening):
        raise ImportRefused(f"{path}: not laid out as `participate export --format json` writes")
    try:
        definition = json.loads(head.rstrip("\n")[: -len(opening)] + "}")["consultation"]
    except (ValueError, KeyError, TypeError):
        raise ImportRefused(f"{path}: the consultation at its start is not valid JSON") from None

    def records() -> Iterator[Any]:
        for line in lines:
            text = line.strip().rstrip(",")
            if text in ("", "]}"):
                continue
            yield _parse(text)

    return definition, records()


def _jsonl(lines: Iterator[str]) -> Iterator[Any]:
    for line in lines:
        if line.strip():
            yield _parse(line)


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _Refused("invalid: a line is not valid JSON")


def _keep_versions(db: sqlite_utils.Database, definition: Any, path: Path) -> None:
    """Keep the consultation versions an export carries, each checked against its version."""
    if not isinstance(definition, dict) or not isinstance(definition.get("versions"), dict):
        raise ImportRefused(f"{path}: the export names no consultation versions")
    parsed = []
    for version, body in definition["versions"].items():
        try:
            consultation = consultations.from_definition(body, str(path))
        except (ConsultationError, TypeError, AttributeError) as exc:
            raise ImportRefused(f"{path}: version {version}: {exc}") from None
        if consultation.version != version:
            raise ImportRefused(f"{path}: the definition of version {version} does not match it")
        parsed.append(consultation)
    current = next((c for c in parsed if c.version == definition.get("current_version")), None)
    with store.write(db):
        for consultation in parsed:
            consultations.save_version(db, consultation, source=str(path))
        held = db.execute("SELECT 1 FROM consultations WHERE id = ?", [definition.get("id")])
        if current is not None and held.fetchone() is None:
            consultations.save(db, [current], source=str(path))


# --- storing records -------------------------------------------------------------------


class _Refused:
    """A record that cannot be stored, and why (an outcome, not an exception)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _import_records(db: sqlite_utils.Database, records: Iterator[Any]) -> ImportReport:
    report = ImportReport()
    checker = _Checker(db)
    chunk: list[dict[str, Any] | _Refused] = []
    for item in records:
        chunk.append(item if isinstance(item, _Refused) else checker.row(item))
        if len(chunk) >= CHUNK:
            _store_chunk(db, chunk, report)
            chunk = []
    _store_chunk(db, chunk, report)
    return report


def _store_chunk(
    db: sqlite_utils.Database, chunk: list[dict[str, Any] | _Refused], report: ImportReport
) -> None:
    """Store a chunk's new records in one transaction, with their tallies."""
    rows = [row for row in chunk if isinstance(row, dict)]
    with store.write(db):
        held = _held(db, rows)
        fresh = []
        for row in chunk:
            outcome = row if isinstance(row, _Refused) else _outcome(row, held)
            if isinstance(outcome, _Refused):
                report.refused += 1
                report.reasons[outcome.reason] += 1
            elif outcome == "duplicate":
                report.duplicate += 1
            else:
                fresh.append(row)
                held[("id", row["id"])] = row
                held[("seq", row["device_id"], row["seq"])] = row
        if fresh:
            db.conn.executemany(_INSERT, [[row[name] for name in _COLUMNS] for row in fresh])
            tallies.add(db, fresh)
            report.stored += len(fresh)


_INSERT = (
    f"INSERT INTO submissions ({', '.join(_COLUMNS)})"  # noqa: S608 (constants)
    f" VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def _outcome(row: dict[str, Any], held: dict[tuple, dict[str, Any]]) -> str | _Refused:
    same_id = held.get(("id", row["id"]))
    if same_id is not None:
        if any(same_id[name] != row[name] for name in CONTENT_FIELDS):
            return _Refused("conflict: the store holds different content under this id")
        return "duplicate"
    same_seq = held.get(("seq", row["device_id"], row["seq"]))
    if same_seq is not None:
        return _Refused("conflict: this ledger number already holds another submission")
    return "stored"


def _held(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Return the stored submissions sharing an id or a (device, ledger number) with `rows`."""
    held: dict[tuple, dict[str, Any]] = {}
    by_id = db.query(
        f"SELECT {', '.join(_COLUMNS)} FROM submissions"  # noqa: S608 (constants)
        " WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps([row["id"] for row in rows])],
    )
    for row in by_id:
        held[("id", row["id"])] = dict(row)
    by_seq = db.query(
        "SELECT s.id, s.device_id, s.seq FROM json_each(?) j JOIN submissions s"
        " ON s.device_id = json_extract(j.value, '$[0]') AND s.seq = json_extract(j.value, '$[1]')",
        [json.dumps([[row["device_id"], row["seq"]] for row in rows])],
    )
    for row in by_seq:
        held[("seq", row["device_id"], row["seq"])] = dict(row)
    return held


class _Checker(Validator):
    """Check exported records, each against the version it names."""

    def row(self, item: Any) -> dict[str, Any] | _Refused:
        """Return a record as the row to store, or why it is refused."""
        problem = _shape_problem(item)
        if problem:
            return _Refused(f"invalid: {problem}")
        key = (item["consultation_id"], item["consultation_version"])
        consultation = self.consultation(key)
        if consultation is None:
            return _Refused(f"unknown consultation {key[0]!r} version {key[1]!r}")
        if item["language"] not in consultation.languages:
            return _Refused(f"invalid: language {item['language']!r} is not offered")
        answers = self.check_answers(consultation, item["answers"], item["complete"])
        if isinstance(answers, AnswerError):
            return _Refused(f"invalid answers: {answers}")
        row = {name: item.get(name) for name in _COLUMNS}
        row.update(answers=answers, complete=int(item["complete"]), hidden=int(item["hidden"]))
        return row


_TEXT_FIELDS = ("id", "consultation_id", "consultation_version", "device_id", "respondent")


def _shape_problem(item: Any) -> str:
    """Say what is wrong with a record's fields and types, or '' if nothing."""
    if not isinstance(item, dict):
        return "a submission must be a JSON object"
    for name in (*_TEXT_FIELDS, "language", "started_at", "submitted_at"):
        if not isinstance(item.get(name), str):
            return f"{name} must be a string"
    if not item["id"] or not item["device_id"]:
        return "id and device_id must not be empty"
    if item.get("channel") not in CHANNELS:
        return f"channel must be one of {', '.join(CHANNELS)}"
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= _INT_MAX:
        return f"seq must be a whole number from 1 to {_INT_MAX}"
    if not isinstance(item.get("complete"), bool) or not isinstance(item.get("hidden"), bool):
        return "complete and hidden must be true or false"
    if not isinstance(item.get("answers"), dict):
        return "answers must be an object"
    received = item.get("received_at")
    times = [item["started_at"], item["submitted_at"], *([received] if received else [])]
    if received is not None and not isinstance(received, str):
        return "received_at must be a time or null"
    for value in times:
        try:
            clock.parse(value)
        except ValueError:
            return f"{value[:40]!r} is not an ISO-8601 time"
    return ""


# --- bundles ---------------------------------------------------------------------------


def receipt_path(bundle: Path, receipt_dir: Path | None = None) -> Path:
    """Return where the receipt of `bundle` is written: beside it, or in `receipt_dir`."""
    return (receipt_dir or bundle.parent) / f"{bundle.stem}.receipt.json"


def _import_bundle(
    db: sqlite_utils.Database,
    path: Path,
    text: str,
    receipt_dir: Path | None,
    progress: Progress | None,
) -> ImportReport:
    done = sync.accept_bundle(db, text)
    if progress:
        progress(len(text.encode("utf-8")))
    report = ImportReport(
        stored=done.count("stored"),
        duplicate=done.count("duplicate"),
        refused=done.count("rejected"),
    )
    report.reasons.update(
        r.get("reason", "") for r in done.results if r.get("status") == "rejected"
    )
    target = receipt_path(path, receipt_dir)
    partial = target.with_name(target.name + ".part")
    partial.write_text(done.receipt, encoding="utf-8")
    partial.replace(target)
    report.receipts.append(target)
    report.gaps[done.device_id] = done.gaps
    return report
