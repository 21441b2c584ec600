"""Read what people said: counts, per-question tallies, submission lists and text search.

Every query takes a `Filters` (channel, device, language, dates, hidden or not), so the
overview, the charts, the lists and the exports all count the same submissions. Dates
are whole days on `submitted_at` in the organisation's time zone (the TIMEZONE
setting), both ends included.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import sqlite_utils
from flask_babel import gettext as _

from participate import submissions
from participate.consultations import Consultation, Question, localize
from participate.submissions import CHANNELS

from . import days
from .errors import FilterError

# Histogram bins for number questions.
MAX_BINS = 10
TEXT_LIST_LIMIT = 50
_WORD = re.compile(r"\w+", re.UNICODE)
_COMPARISONS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Filters:
    """Which submissions of a consultation to count, list or export."""

    channel: str = ""
    device: str = ""
    language: str = ""
    since: date | None = None
    until: date | None = None
    include_hidden: bool = False
    search: str = ""
    complete: bool | None = None  # None: complete and part-way ones alike
    # Comparisons of `submitted_at` with instants, such as (">=", "2026-11-01T00:00:00Z"),
    # for readers that filter on time rather than days (the OData feed).
    submitted: tuple[tuple[str, str], ...] = ()
    timezone: str = "UTC"  # whose days `since` and `until` are (not a query argument)

    @classmethod
    def from_args(cls, args: Mapping[str, str], timezone: str = "UTC") -> Filters:
        """Read filters from a query string, refusing values that cannot be right."""
        channel = args.get("channel", "").strip()
        if channel and channel not in CHANNELS:
            raise FilterError(
                _("The channel must be one of %(channels)s.", channels=", ".join(CHANNELS))
            )
        return cls(
            channel=channel,
            device=args.get("device", "").strip()[:100],
            language=args.get("language", "").strip()[:20],
            since=_day(args.get("since", ""), "since"),
            until=_day(args.get("until", ""), "until"),
            include_hidden=args.get("hidden", "") in ("1", "on", "true"),
            search=args.get("q", "").strip()[:200],
            complete=_yes_no(args.get("complete", "")),
            timezone=timezone,
        )

    def to_args(self) -> dict[str, str]:
        """Return the filters as query-string arguments (the ones set)."""
        args = {
            "channel": self.channel,
            "device": self.device,
            "language": self.language,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "hidden": "1" if self.include_hidden else "",
            "q": self.search,
            "complete": "" if self.complete is None else str(int(self.complete)),
        }
        return {key: value for key, value in args.items() if value}

    def where(self, consultation_id: str, alias: str = "s") -> tuple[str, list[Any]]:
        """Return a SQL condition on submissions (as `alias`) and its parameters."""
        clauses = [f"{alias}.consultation_id = ?"]
        params: list[Any] = [consultation_id]
        for column, value in (
            ("channel", self.channel),
            ("device_id", self.device),
            ("language", self.language),
        ):
            if value:
                clauses.append(f"{alias}.{column} = ?")
                params.append(value)
        if self.since:
            clauses.append(f"{alias}.submitted_at >= ?")
            params.append(days.day_start(self.since, self.timezone))
        if self.until:
            clauses.append(f"{alias}.submitted_at < ?")
            params.append(days.day_start(self.until + timedelta(days=1), self.timezone))
        if not self.include_hidden:
            clauses.append(f"{alias}.hidden = 0")
        for operator, instant in self.submitted:
            if operator not in _COMPARISONS:
                raise FilterError(f"unknown comparison {operator!r}")
            clauses.append(f"{alias}.submitted_at {operator} ?")
            params.append(instant)
        if self.complete is not None:
            clauses.append(f"{alias}.complete = ?")
            params.append(int(self.complete))
        if self.search:
            match = fts_query(self.search)
            if match:
                clauses.append(
                    f"{alias}.id IN (SELECT t.submission_id FROM submission_texts t"  # noqa: S608
                    " JOIN submission_texts_fts f ON f.rowid = t.id"
                    " WHERE submission_texts_fts MATCH ?)"
                )
                params.append(match)
        return " AND ".join(clauses), params


def _day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        if name == "since":
            raise FilterError(_("The start day must be a date like 2026-11-01.")) from None
        raise FilterError(_("The end day must be a date like 2026-11-01.")) from None


def _yes_no(value: str) -> bool | None:
    value = value.strip().lower()
    if value in ("", "any"):
        return None
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise FilterError(_("“Complete” must be 1 (complete only) or 0 (part-way only)."))


def fts_query(text: str) -> str:
    """Turn what a person typed into an FTS5 query: every word must appear (prefixes match)."""
    return " ".join(f'"{word}"*' for word in _WORD.findall(text)[:20])


# --- overview ----------------------------------------------------------------------


@dataclass
class Overview:
    total: int = 0
    complete: int = 0
    incomplete: int = 0
    hidden: int = 0
    by_channel: list[tuple[str, int]] = field(default_factory=list)
    by_device: list[tuple[str, int]] = field(default_factory=list)
    by_language: list[tuple[str, int]] = field(default_factory=list)
    by_day: list[tuple[str, int]] = field(default_factory=list)
    last_at: str | None = None


def overview(db: sqlite_utils.Database, consultation_id: str, filters: Filters) -> Overview:
    """Count a consultation's submissions, in all and by channel, device, language and day."""
    # One pass: small groups of (channel, device, language, day, complete, hidden), summed
    # here. Hidden ones are counted apart, whatever the filter says about showing them.
    where, params = replace(filters, include_hidden=True).where(consultation_id)
    first, last = db.execute(
        f"SELECT min(submitted_at), max(submitted_at) FROM submissions s WHERE {where}",  # noqa: S608
        params,
    ).fetchone()
    local_day, day_params = days.day_sql("submitted_at", first, last, filters.timezone)
    rows = db.execute(
        f"SELECT channel, device_id, language, {local_day} AS day, complete,"  # noqa: S608
        f" hidden, count(*), max(submitted_at) FROM submissions s WHERE {where}"
        " GROUP BY channel, device_id, language, day, complete, hidden",
        [*day_params, *params],
    ).fetchall()
    result = Overview()
    channels: Counter[str] = Counter()
    device_counts: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    day_counts: Counter[str] = Counter()
    for channel, device, language, day, complete, hidden, count, last_at in rows:
        if hidden:
            result.hidden += count
            if not filters.include_hidden:
                continue
        if last_at and (result.last_at is None or last_at > result.last_at):
            result.last_at = last_at
        result.total += count
        result.complete += count if complete else 0
        channels[channel] += count
        device_counts[device] += count
        languages[language] += count
        day_counts[day] += count
    result.incomplete = result.total - result.complete
    result.by_channel = sorted(channels.items())
    result.by_device = sorted(device_counts.items())
    result.by_language = sorted(languages.items())
    result.by_day = fill_days(sorted(day_counts.items()))
    return result


def fill_days(counts: list[tuple[str, int]], limit: int = 366) -> list[tuple[str, int]]:
    """Return daily counts with the days that had none filled in as zeros (last `limit` days)."""
    if not counts:
        return []
    known = dict(counts)
    first, last = date.fromisoformat(counts[0][0]), date.fromisoformat(counts[-1][0])
    first = max(first, last - timedelta(days=limit - 1))
    length = (last - first).days + 1
    return [
        (
            (first + timedelta(days=i)).isoformat(),
            known.get((first + timedelta(days=i)).isoformat(), 0),
        )
        for i in range(length)
    ]


def closed_by_staff(db: sqlite_utils.Database) -> set[str]:
    """Return the ids of the consultations staff closed to new answers."""
    return {row[0] for row in db.execute("SELECT id FROM consultations WHERE closed")}


def filter_choices(db: sqlite_utils.Database, consultation_id: str) -> dict[str, list[str]]:
    """Return the devices and languages seen in a consultation's submissions (for filter menus)."""
    result = {}
    for column in ("device_id", "language"):
        rows = db.execute(
            f"SELECT DISTINCT {column} FROM submissions WHERE consultation_id = ? ORDER BY 1",  # noqa: S608
            [consultation_id],
        ).fetchall()
        result[column] = [row[0] for row in rows]
    return result


# --- per question ------------------------------------------------------------------


@dataclass
class Bar:
    key: str
    label: str
    count: int
    share: float  # of the answered (0..1)


@dataclass
class QuestionResult:
    question: Question
    kind: str  # "bars", "histogram" or "text"
    answered: int
    skipped: int
    bars: list[Bar] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    mean: float | None = None


def _path(question_id: str) -> str:
    return f'$."{question_id}"'


# Questions are tallied together in one pass, grouped by their combined values, as long
# as the number of possible combinations stays below this; beyond it, in several passes.
MAX_COMBINATIONS = 200_000


def _cardinality(question: Question) -> int | None:
    """Return how many distinct stored values a question can have, or None if unbounded."""
    if question.type == "choice":
        return len(question.choices) + 1
    if question.type == "yesno":
        return 3
    if question.type == "scale":
        return int((question.max or 0) - (question.min or 0)) + 2
    if question.type == "multi" and len(question.choices) <= 8:
        return 2 ** len(question.choices) + 1
    bounded = question.min is not None and question.max is not None
    if question.type == "number" and question.integer and bounded:
        points = int(question.max - question.min) + 2  # type: ignore[operator]
        return points if points <= 1000 else None
    return None


def _passes(questions: tuple[Question, ...]) -> list[list[Question]]:
    """Pack the counted questions into as few passes as the combination limit allows."""
    passes: list[list[Question]] = []
    current: list[Question] = []
    size = 1
    for question in questions:
        if question.type == "text":
            continue
        cardinality = _cardinality(question)
        if cardinality is None:
            passes.append([question])  # numbers, large multis: a pass of their own
            continue
        if current and size * cardinality > MAX_COMBINATIONS:
            passes.append(current)
            current, size = [], 1
        current.append(question)
        size *= cardinality
    if current:
        passes.append(current)
    return passes


def _tallies(
    db: sqlite_utils.Database, consultation: Consultation, where: str, params: list[Any]
) -> tuple[int, dict[str, int], dict[str, dict[Any, int]]]:
    """Count the submissions, the answers to each question and each value, in few passes.

    Each pass groups the submissions by the values of several questions at once (their
    combinations are few), so SQLite reads each row once per pass instead of once per
    question. A multi's values are its choices; text answers are only counted.
    """
    texts = [q.id for q in consultation.questions if q.type == "text"]
    # The first pass also counts the submissions and the text answers.
    extra = "".join(", count(json_type(s.answers, ?))" for _ in texts)
    extra_params = [_path(t) for t in texts]
    passes = _passes(consultation.questions) or [[]]
    total = 0
    answered: Counter[str] = Counter()
    values: dict[str, Counter[Any]] = {}
    for number, group in enumerate(passes):
        columns = "".join(f", json_extract(s.answers, ?) AS c{i}" for i in range(len(group)))
        keys = ", ".join(f"c{i}" for i in range(len(group))) or "NULL"
        sql = (
            f"SELECT count(*){extra if number == 0 else ''}{columns}"  # noqa: S608
            f" FROM submissions s WHERE {where} GROUP BY {keys}"
        )
        head = extra_params if number == 0 else []
        for row in db.execute(sql, [*head, *(_path(q.id) for q in group), *params]):
            count = row[0]
            if number == 0:
                total += count
                for text_id, text_count in zip(texts, row[1 : 1 + len(texts)], strict=True):
                    answered[text_id] += text_count
            for question, value in zip(group, row[len(row) - len(group) :], strict=True):
                if value is None:
                    continue
                answered[question.id] += count
                tally = values.setdefault(question.id, Counter())
                if question.type == "multi":
                    for choice in json.loads(value) if isinstance(value, str) else ():
                        tally[choice] += count
                else:
                    tally[value] += count
    return total, dict(answered), {key: dict(tally) for key, tally in values.items()}


def question_results(
    db: sqlite_utils.Database,
    consultation: Consultation,
    filters: Filters,
    language: str,
    *,
    text_search: Mapping[str, str] | None = None,
) -> list[QuestionResult]:
    """Tally each question of a consultation's current version for the charts and tables."""
    where, params = filters.where(consultation.id)
    total, answered_counts, value_counts = _tallies(db, consultation, where, params)
    results = []
    for question in consultation.questions:
        answered = answered_counts.get(question.id, 0)
        result = QuestionResult(question, "bars", answered, total - answered)
        counts = value_counts.get(question.id, {})
        if question.type in ("choice", "multi"):
            result.bars = [
                Bar(c.id, localize(c.text, language), counts.get(c.id, 0), 0.0)
                for c in question.choices
            ]
            # Answers given under an older version, to a choice since removed.
            known = {c.id for c in question.choices}
            result.bars += [
                Bar(str(k), str(k), v, 0.0) for k, v in sorted(counts.items()) if k not in known
            ]
        elif question.type == "yesno":
            result.bars = [
                Bar("yes", yes_no_label(True, language), counts.get(1, 0), 0.0),
                Bar("no", yes_no_label(False, language), counts.get(0, 0), 0.0),
            ]
        elif question.type == "scale":
            low, high = int(question.min or 0), int(question.max or 0)
            labels = question.labels.get(language) or next(iter(question.labels.values()), None)
            result.bars = []
            for point in range(low, high + 1):
                label = str(point)
                if labels and point == low:
                    label = f"{point} ({labels[0]})"
                elif labels and point == high:
                    label = f"{point} ({labels[1]})"
                result.bars.append(Bar(str(point), label, counts.get(point, 0), 0.0))
            result.mean = _mean(counts)
        elif question.type == "number":
            result.kind = "histogram"
            result.bars = histogram(counts)
            result.mean = _mean(counts)
        else:
            result.kind = "text"
            search = (text_search or {}).get(question.id, "")
            result.texts = text_answers(db, consultation.id, question.id, filters, search)
        for bar in result.bars:
            bar.share = bar.count / answered if answered else 0.0
        results.append(result)
    return results


def _mean(counts: Mapping[Any, int]) -> float | None:
    n = sum(counts.values())
    if not n:
        return None
    return sum(float(value) * count for value, count in counts.items()) / n


def yes_no_label(value: bool, language: str) -> str:
    """Return "Yes" or "No" in the consultation language (English or French, else English)."""
    words = {"fr": ("Oui", "Non")}.get(language, ("Yes", "No"))
    return words[0] if value else words[1]


def histogram(counts: Mapping[float, int], max_bins: int = MAX_BINS) -> list[Bar]:
    """Group number answers into at most `max_bins` equal ranges (whole numbers when they are)."""
    if not counts:
        return []
    values = sorted(counts)
    low, high = float(values[0]), float(values[-1])
    integers = all(float(v).is_integer() for v in values)
    if integers and high - low + 1 <= max_bins:
        return [
            Bar(str(int(v)), str(int(v)), counts.get(v, 0), 0.0)
            for v in range(int(low), int(high) + 1)
        ]
    span = high - low or 1.0
    width = span / max_bins
    if integers:
        # Whole numbers: low..high is high - low + 1 values, shared out in whole steps.
        width = float(math.ceil((high - low + 1) / max_bins))
    bins = [0] * max_bins
    for value, count in counts.items():
        index = min(int((float(value) - low) / width), max_bins - 1)
        bins[index] += count
    bars = []
    for index, count in enumerate(bins):
        start = low + index * width
        end = start + width
        if integers:
            label = f"{int(start)}–{int(end) - 1}" if width > 1 else str(int(start))
        else:
            label = f"{start:g}–{end:g}"
        bars.append(Bar(label, label, count, 0.0))
    while bars and bars[-1].count == 0:
        bars.pop()
    return bars


def text_answers(
    db: sqlite_utils.Database,
    consultation_id: str,
    question_id: str,
    filters: Filters,
    search: str = "",
    limit: int = TEXT_LIST_LIMIT,
) -> list[dict[str, Any]]:
    """Return the newest text answers to one question, only those matching `search` if given."""
    where, params = replace(filters, search=search or filters.search).where(consultation_id)
    rows = db.execute(
        "SELECT s.id, s.submitted_at, s.channel, s.language, s.hidden,"  # noqa: S608
        " json_extract(s.answers, ?) AS v FROM submissions s"
        f" WHERE {where} AND v IS NOT NULL ORDER BY s.submitted_at DESC LIMIT ?",
        [_path(question_id), *params, limit],
    ).fetchall()
    keys = ("id", "submitted_at", "channel", "language", "hidden", "text")
    return [dict(zip(keys, row, strict=True)) for row in rows]


# --- lists -------------------------------------------------------------------------


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        """Return how many pages the whole list has (at least one)."""
        return max(1, math.ceil(self.total / self.size))


def list_submissions(
    db: sqlite_utils.Database,
    consultation_id: str,
    filters: Filters,
    *,
    page: int = 1,
    size: int = 50,
) -> Page:
    """Return one page of a consultation's submissions, newest first."""
    where, params = filters.where(consultation_id)
    sql = f"SELECT count(*) FROM submissions s WHERE {where}"  # noqa: S608
    total = db.execute(sql, params).fetchone()[0]
    # A page past the end (or past SQLite's integers) shows the last one.
    page = min(max(1, page), max(1, math.ceil(total / size)))
    cursor = db.execute(
        f"SELECT s.* FROM submissions s WHERE {where}"  # noqa: S608
        " ORDER BY s.submitted_at DESC, s.id LIMIT ? OFFSET ?",
        [*params, size, (page - 1) * size],
    )
    columns = [d[0] for d in cursor.description]
    rows = []
    for row in cursor.fetchall():
        data = dict(zip(columns, row, strict=True))
        record = submissions.to_record(data)
        record["hidden_reason"] = data.get("hidden_reason", "")
        rows.append(record)
    return Page(rows, int(total), page, size)


def neighbours(db: sqlite_utils.Database, record: Mapping[str, Any]) -> dict[str, str | None]:
    """Return the ids of the next newer and next older submissions of the same consultation
    (in the submissions list's order: newest first), hidden ones included."""
    found: dict[str, str | None] = {}
    for name, comparison, order in (("newer", ">", "ASC"), ("older", "<", "DESC")):
        row = db.execute(
            f"SELECT id FROM submissions WHERE consultation_id = ?"  # noqa: S608
            f" AND (submitted_at, id) {comparison} (?, ?)"
            f" ORDER BY submitted_at {order}, id {order} LIMIT 1",
            [record["consultation_id"], record["submitted_at"], record["id"]],
        ).fetchone()
        found[name] = row[0] if row else None
    return found


def get_submission(db: sqlite_utils.Database, submission_id: str) -> dict[str, Any] | None:
    """Return one submission as a record, with its hidden reason, or None."""
    record = submissions.get(db, submission_id)
    if record is None:
        return None
    row = db.execute(
        "SELECT hidden_reason FROM submissions WHERE id = ?", [submission_id]
    ).fetchone()
    record["hidden_reason"] = row[0] if row else ""
    return record
