"""Kept tallies: counts of submissions and answers that the staff pages read instead of scanning.

Each submission adds one to a handful of rows of `tallies`, keyed by consultation,
question, value, day, channel, device, language, complete and hidden, in the same
transaction that stores, hides, restores or erases it. So a page's counts cost the
same at a million submissions as at ten thousand.

Keys, with '' meaning "all of them":
- question_id '', value '': the submission itself (overview counts, days, filter menus);
- question_id Q, value '': the submission answered Q;
- question_id Q, value V: it answered V (a multi counts each choice); V is the value as
  JSON (`"weekly"`, `true`, `3`); text answers are only counted as answered;
- question_id Q, value NOT_ASKED ("not asked", never JSON): Q has a rule (`ask_if`) in
  the submission's version and the rule did not hold, so Q was not put to that person
  (`Consultation.asked`). The people asked Q are the submissions less these; a
  consultation without rules writes none of these rows.
Every row exists twice: for its local day (in the time zone recorded in meta
`tally_timezone`) and for day '' (all days), so a page without dates reads few rows.

Every writer calls `add` (or `remove`) once with the rows it writes; `recount` and
`differences` let `participate check` prove the kept tallies right, `rebuild` fixes them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from participate import clock, consultations, store
from participate.consultations import Consultation
from participate.errors import NotFound

log = logging.getLogger(__name__)

ALL = ""  # the '' of a key: every question, value or day
KEY_COLUMNS = (
    "consultation_id",
    "question_id",
    "day",
    "value",
    "channel",
    "device_id",
    "language",
    "complete",
    "hidden",
)
# What `add` reads of a submission row (a stored row, or the one about to be inserted).
ROW_COLUMNS = (
    "consultation_id",
    "consultation_version",
    "channel",
    "device_id",
    "language",
    "submitted_at",
    "answers",
    "complete",
    "hidden",
)
TIMEZONE_KEY = "tally_timezone"
RECOUNT_KEY = "tallies_recount"  # set by a later migration that changes how they are kept
NOT_ASKED = "not asked"  # the value of a question's "not asked" row (no JSON reads so)
_CHUNK = 5000

Key = tuple[str, str, str, str, str, str, str, int, int]


def add(db: sqlite_utils.Database, rows: Iterable[Mapping[str, Any]]) -> None:
    """Count submissions being stored (or shown again) in the tallies; call inside the write."""
    _apply(db, count(db, rows), sign=1)


def remove(db: sqlite_utils.Database, rows: Iterable[Mapping[str, Any]]) -> None:
    """Take submissions being erased (or hidden) out of the tallies; call inside the write."""
    _apply(db, count(db, rows), sign=-1)


def rows_for(db: sqlite_utils.Database, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Return the tally columns of the submissions matching `where` (before changing them)."""
    cursor = db.execute(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM submissions s WHERE {where}",  # noqa: S608
        params,
    )
    return [dict(zip(ROW_COLUMNS, row, strict=True)) for row in cursor]


def timezone(db: sqlite_utils.Database) -> str:
    """Return the time zone whose local days the tallies are kept in."""
    return str(store.get_meta(db, TIMEZONE_KEY) or "UTC")


def keep_days_in(db: sqlite_utils.Database, zone: str) -> bool:
    """Keep the day tallies in `zone` (the TIMEZONE setting), recounting if it changed.

    Also recounts when a migration asked for it (meta RECOUNT_KEY): a migration that
    changes how tallies are kept sets it, and the app recounts as it starts.
    """
    with store.write(db):
        if timezone(db) == zone and not store.get_meta(db, RECOUNT_KEY):
            return False
        store.set_meta(db, TIMEZONE_KEY, zone)
        rows = rebuild(db)
        db.execute("DELETE FROM meta WHERE key = ?", [RECOUNT_KEY])
    log.info("tallies.recounted", extra={"timezone": zone, "rows": rows})
    return True


def recount_if_asked(db: sqlite_utils.Database) -> bool:
    """Rebuild the tallies if a migration asked for it (meta RECOUNT_KEY), in their own zone.

    What `participate check` does before comparing, so a store just migrated is not
    reported as differing; the app does the same as it starts (`keep_days_in`).
    """
    return keep_days_in(db, timezone(db))


def recount(db: sqlite_utils.Database) -> Counter[Key]:
    """Count every stored submission afresh, as the tallies should hold them."""
    return count(db, _all_rows(db))


def kept(db: sqlite_utils.Database) -> Counter[Key]:
    """Return the tallies as kept in the store (zero rows left out)."""
    counts: Counter[Key] = Counter()
    cursor = db.execute(f"SELECT {', '.join(KEY_COLUMNS)}, n FROM tallies WHERE n != 0")  # noqa: S608
    for *key, n in cursor:
        counts[tuple(key)] = n  # type: ignore[index]
    return counts


def differences(db: sqlite_utils.Database) -> list[tuple[Key, int, int]]:
    """Return each tally key whose kept count differs from a recount: (key, kept, recounted)."""
    expected, actual = recount(db), kept(db)
    keys = sorted(set(expected) | set(actual))
    return [(k, actual.get(k, 0), expected.get(k, 0)) for k in keys if actual[k] != expected[k]]


def rebuild(db: sqlite_utils.Database) -> int:
    """Replace the kept tallies with a recount, in one transaction; return the rows written."""
    with store.write(db):
        db.execute("DELETE FROM tallies")
        counts = recount(db)
        _apply(db, counts, sign=1)
    return len(counts)


def _all_rows(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    cursor = db.execute(f"SELECT {', '.join(ROW_COLUMNS)} FROM submissions")  # noqa: S608
    for row in cursor:
        yield dict(zip(ROW_COLUMNS, row, strict=True))


def count(
    db: sqlite_utils.Database, rows: Iterable[Mapping[str, Any]], zone: str | None = None
) -> Counter[Key]:
    """Count submission rows into tally keys, days in `zone` (default: the tallies' own)."""
    counts: Counter[Key] = Counter()
    pairs_of = _Pairs(db)
    day_of = _day_function(zone or timezone(db))
    for row in rows:
        consultation_id = row["consultation_id"]
        pairs = pairs_of(consultation_id, row["consultation_version"], row["answers"])
        rest = (
            row["channel"],
            row["device_id"],
            row["language"],
            int(bool(row["complete"])),
            int(bool(row.get("hidden") or 0)),
        )
        for when in (day_of(row["submitted_at"]), ALL):
            for question_id, value in pairs:
                counts[(consultation_id, question_id, when, value, *rest)] += 1
    return counts


class _Pairs:
    """Give the (question, value) pairs a submission counts in, worked out once per answer set.

    Many submissions share their answers exactly (a bulk import, a busy kiosk), so the
    JSON is decoded and encoded once for each distinct set, not once a row.
    """

    LIMIT = 50_000

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.versions: dict[tuple[str, str], _Version] = {}
        self.known: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {}

    def __call__(self, consultation_id: str, version: str, answers: Any) -> tuple:
        if not isinstance(answers, str):
            answers = json.dumps(answers, ensure_ascii=False, sort_keys=True)
        key = (consultation_id, version, answers)
        pairs = self.known.get(key)
        if pairs is None:
            if len(self.known) >= self.LIMIT:
                self.known.clear()
            found = self.versions.get(key[:2])
            if found is None:
                found = self.versions[key[:2]] = _Version(
                    _version(self.db, consultation_id, version)
                )
            pairs = self.known[key] = tuple(_values(json.loads(answers), found))
        return pairs


class _Version:
    """What counting needs of one consultation version, worked out once."""

    def __init__(self, consultation: Consultation | None) -> None:
        questions = consultation.questions if consultation else ()
        self.consultation = consultation
        self.types = {question.id: question.type for question in questions}
        self.ruled = tuple(question.id for question in questions if question.ask_if)


def _values(answers: Mapping[str, Any], version: _Version) -> Iterator[tuple[str, str]]:
    """Yield the (question, value) pairs one submission counts in."""
    yield ALL, ALL
    types = version.types
    for question_id, value in answers.items():
        yield question_id, ALL
        kind = types.get(question_id)
        if kind == "text":
            continue
        if kind == "multi" and isinstance(value, list):
            for choice in value:
                yield question_id, json.dumps(choice, ensure_ascii=False)
        else:
            yield question_id, json.dumps(value, ensure_ascii=False)
    if version.ruled and version.consultation is not None:
        asked = {question.id for question in version.consultation.asked(answers)}
        for question_id in version.ruled:
            if question_id not in asked:
                yield question_id, NOT_ASKED


def _version(db: sqlite_utils.Database, consultation_id: str, version: str) -> Consultation | None:
    try:
        return consultations.get(db, consultation_id, version)
    except NotFound:
        return None


def _day_function(zone: str) -> Any:
    """Return a function giving the local day (YYYY-MM-DD) of a store time, cached by minute."""
    tz = ZoneInfo(zone)

    @lru_cache(maxsize=4096)
    def day_of_minute(minute: str) -> str:
        moment = datetime.fromisoformat(minute.replace("Z", "") + ":00").replace(tzinfo=UTC)
        return moment.astimezone(tz).date().isoformat()

    def day_of(submitted_at: str) -> str:
        if submitted_at.endswith("Z") and len(submitted_at) >= 16:
            return day_of_minute(submitted_at[:16])
        return clock.parse(submitted_at).astimezone(tz).date().isoformat()

    return day_of


_UPSERT = (
    f"INSERT INTO tallies ({', '.join(KEY_COLUMNS)}, n)"  # noqa: S608 (constants)
    f" VALUES ({', '.join('?' * (len(KEY_COLUMNS) + 1))})"
    f" ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET n = n + excluded.n"
)
_DROP_EMPTY = (
    "DELETE FROM tallies WHERE n = 0 AND "  # noqa: S608 (constants)
    + " AND ".join(f"{column} = ?" for column in KEY_COLUMNS)
)


def _apply(db: sqlite_utils.Database, counts: Counter[Key], *, sign: int) -> None:
    if not counts:
        return
    with store.write(db):
        items = [(*key, sign * n) for key, n in counts.items() if n]
        for start in range(0, len(items), _CHUNK):
            db.conn.executemany(_UPSERT, items[start : start + _CHUNK])
        if sign < 0:
            db.conn.executemany(_DROP_EMPTY, list(counts))
