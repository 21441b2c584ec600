"""Read what people said: counts, per-question tallies, submission lists and text search.

Every query takes a `Filters` (channel, device, language, dates, hidden or not), so the
overview, the charts, the lists and the exports all count the same submissions. Dates
are whole days on `submitted_at` in the organisation's time zone (the TIMEZONE
setting), both ends included.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import sqlite_utils
from flask_babel import gettext as _
from flask_babel import ngettext

from participate import submissions, tallies
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

    def equalities(self) -> list[tuple[str, Any]]:
        """Return the (column, value) pairs these filters require, on submissions or tallies."""
        pairs = [
            ("channel", self.channel),
            ("device_id", self.device),
            ("language", self.language),
            ("complete", "" if self.complete is None else int(self.complete)),
        ]
        return [(column, value) for column, value in pairs if value != ""]

    def where(self, consultation_id: str, alias: str = "s") -> tuple[str, list[Any]]:
        """Return a SQL condition on submissions (as `alias`) and its parameters.

        Without a search, the condition also holds on `submission_texts`, which keeps
        the same filter columns for each submission.
        """
        clauses = [f"{alias}.consultation_id = ?"]
        params: list[Any] = [consultation_id]
        for column, value in self.equalities():
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


# --- where the counts come from ------------------------------------------------------


def _tallies_serve(db: sqlite_utils.Database, filters: Filters) -> bool:
    """Say whether the kept tallies can answer these filters (a search or instants need rows)."""
    return not filters.search and not filters.submitted and tallies.timezone(db) == filters.timezone


def _tally_where(consultation_id: str, filters: Filters, *, by_day: bool) -> tuple[str, list]:
    """Return a condition on `tallies` for the filters (days as a range, or all days)."""
    clauses = ["consultation_id = ?"]
    params: list[Any] = [consultation_id]
    for column, value in filters.equalities():
        clauses.append(f"{column} = ?")
        params.append(value)
    if by_day or filters.since or filters.until:
        clauses.append("day BETWEEN ? AND ?")
        params += [
            filters.since.isoformat() if filters.since else "0000",
            filters.until.isoformat() if filters.until else "9999",
        ]
    else:
        clauses.append("day = ''")
    return " AND ".join(clauses), params


def tally_condition(
    db: sqlite_utils.Database, consultation_id: str, filters: Filters
) -> tuple[str, list[Any]] | None:
    """Return a condition on `tallies` for the submissions the filters match, hidden ones
    left out unless asked for (the rows of all days, or of the days in the filters); or
    None when the tallies cannot answer these filters and the rows must be counted."""
    if not _tallies_serve(db, filters):
        return None
    where, params = _tally_where(consultation_id, filters, by_day=False)
    return (where if filters.include_hidden else f"{where} AND hidden = 0"), params


def _recounted(
    db: sqlite_utils.Database, consultation_id: str, filters: Filters
) -> list[dict[str, Any]]:
    """Count the matching submissions afresh, as tally rows (a search narrows them first)."""
    where, params = filters.where(consultation_id)
    counts = tallies.count(db, tallies.rows_for(db, where, params), filters.timezone)
    return [
        dict(zip((*tallies.KEY_COLUMNS, "n"), (*key, n), strict=True)) for key, n in counts.items()
    ]


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
    result = Overview()
    sums: dict[str, Counter[Any]] = {dimension: Counter() for dimension in _DIMENSIONS}
    for dimension, value, count in _sums(db, consultation_id, filters):
        if dimension == "hidden":
            result.hidden += count or 0
        else:
            sums[dimension][value] += count
    result.total = sum(sums["complete"].values())
    result.complete = sums["complete"][1]
    result.incomplete = result.total - result.complete
    result.by_channel = sorted(sums["channel"].items())
    result.by_device = sorted(sums["device_id"].items())
    result.by_language = sorted(sums["language"].items())
    result.by_day = fill_days(sorted(sums["day"].items()))
    result.last_at = last_submitted(db, consultation_id, filters)
    return result


# What the overview counts submissions by (with "hidden", those hidden by moderation).
_DIMENSIONS = ("complete", "channel", "device_id", "language", "day")


def _sums(
    db: sqlite_utils.Database, consultation_id: str, filters: Filters
) -> Iterable[tuple[str, Any, int]]:
    """Return (dimension, value, count) rows: the matching submissions summed by each
    dimension, and ('hidden', '', count) for the hidden ones, counted apart whatever the
    filters say about showing them. SQLite sums the kept tallies (one index range per
    dimension, no row reaches Python); a search or instants count the rows afresh.

    Only the sum by day reads the rows of each day; without dates in the filters, the
    others read the rows kept for all days, which are as many as a single day's.
    """
    every = replace(filters, include_hidden=True)
    if not _tallies_serve(db, filters):
        return _summed(_recounted(db, consultation_id, every), filters.include_hidden)
    shown = "" if filters.include_hidden else " AND hidden = 0"
    parts, params = [], []
    for dimension in ("hidden", *_DIMENSIONS):
        where, values = _tally_where(consultation_id, every, by_day=dimension == "day")
        base = f"FROM tallies WHERE question_id = '' AND {where}"
        if dimension == "hidden":
            parts.append(f"SELECT 'hidden', '', sum(n) {base} AND hidden = 1")
        else:
            parts.append(f"SELECT '{dimension}', {dimension}, sum(n) {base}{shown} GROUP BY 2")
        params += values
    return db.conn.execute(" UNION ALL ".join(parts), params).fetchall()


def _summed(rows: Iterable[Mapping[str, Any]], include_hidden: bool) -> list[tuple[str, Any, int]]:
    """Sum recounted tally rows (of every day) the way `_sums` has SQLite sum kept ones."""
    sums: Counter[tuple[str, Any]] = Counter()
    for row in rows:
        if row["question_id"] != "" or row["day"] == "":
            continue
        if row["hidden"]:
            sums["hidden", ""] += row["n"]
            if not include_hidden:
                continue
        for dimension in _DIMENSIONS:
            sums[dimension, row[dimension]] += row["n"]
    return [(dimension, value, n) for (dimension, value), n in sums.items()]


def last_submitted(db: sqlite_utils.Database, consultation_id: str, filters: Filters) -> str | None:
    """Return when the newest matching submission was made (the index's newest end)."""
    where, params = filters.where(consultation_id)
    row = db.execute(
        f"SELECT s.submitted_at FROM submissions s WHERE {where}"  # noqa: S608
        " ORDER BY s.submitted_at DESC, s.id DESC LIMIT 1",
        params,
    ).fetchone()
    return row[0] if row else None


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
    rows = db.execute(
        "SELECT DISTINCT device_id, language FROM tallies"
        " WHERE consultation_id = ? AND question_id = '' AND day = ''",
        [consultation_id],
    ).fetchall()
    return {
        "device_id": sorted({row[0] for row in rows}),
        "language": sorted({row[1] for row in rows}),
    }


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
    skipped: int  # asked and left blank (or not reached)
    not_asked: int = 0  # its rule (`ask_if`) did not hold: never put to them
    bars: list[Bar] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    mean: float | None = None

    @property
    def asked(self) -> int:
        """Return the base: the submissions this question was put to (answered or not)."""
        return self.answered + self.skipped


def _path(question_id: str) -> str:
    return f'$."{question_id}"'


@dataclass
class AnswerCounts:
    """How many submissions match, how many answered each question (or were not asked
    it, by its rule), and each value's count."""

    total: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    not_asked: Counter[str] = field(default_factory=Counter)
    values: dict[str, Counter[Any]] = field(default_factory=dict)

    def add(self, question_id: str, value: str, count: int) -> None:
        """Count one tally row: the submission (''), an answered question, not asked, a value."""
        if not question_id:
            self.total += count
        elif not value:
            self.answered[question_id] += count
        elif value == tallies.NOT_ASKED:
            self.not_asked[question_id] += count
        else:
            self.values.setdefault(question_id, Counter())[json.loads(value)] += count


def answer_counts(
    db: sqlite_utils.Database, consultation: Consultation, filters: Filters
) -> AnswerCounts:
    """Return the counts behind a consultation's charts, from the tallies where they serve."""
    counts = AnswerCounts()
    condition = tally_condition(db, consultation.id, filters)
    if condition is None:
        for row in _recounted(db, consultation.id, filters):
            if row["day"] == "":
                counts.add(row["question_id"], row["value"], row["n"])
        return counts
    where, params = condition
    questions = ["", *(question.id for question in consultation.questions)]
    marks = ", ".join("?" * len(questions))
    rows = db.query(
        f"SELECT question_id, value, sum(n) AS n FROM tallies"  # noqa: S608
        f" WHERE question_id IN ({marks}) AND {where} GROUP BY question_id, value",
        [*questions, *params],
    )
    for row in rows:
        counts.add(row["question_id"], row["value"], row["n"])
    return counts


def question_results(
    db: sqlite_utils.Database,
    consultation: Consultation,
    filters: Filters,
    language: str,
    *,
    text_search: Mapping[str, str] | None = None,
) -> list[QuestionResult]:
    """Tally each question of a consultation's current version for the charts and tables."""
    counts = answer_counts(db, consultation, filters)
    results = []
    for question in consultation.questions:
        answered = counts.answered.get(question.id, 0)
        not_asked = counts.not_asked.get(question.id, 0)
        skipped = max(counts.total - not_asked - answered, 0)
        result = QuestionResult(question, "bars", answered, skipped, not_asked)
        values = counts.values.get(question.id, Counter())
        if question.type == "text":
            search = (text_search or {}).get(question.id, "")
            result.kind = "text"
            result.texts = text_answers(db, consultation.id, question.id, filters, search)
        else:
            _BARS[question.type](result, values, language)
        for bar in result.bars:
            bar.share = bar.count / answered if answered else 0.0
        results.append(result)
    return results


def choice_bars(result: QuestionResult, counts: Mapping[Any, int], language: str) -> None:
    """One bar a choice, then any value from an older version whose choice was removed."""
    question = result.question
    result.bars = [
        Bar(c.id, localize(c.text, language), counts.get(c.id, 0), 0.0) for c in question.choices
    ]
    known = {c.id for c in question.choices}
    result.bars += [
        Bar(str(k), str(k), v, 0.0) for k, v in sorted(counts.items(), key=str) if k not in known
    ]


def yes_no_bars(result: QuestionResult, counts: Mapping[Any, int], language: str) -> None:
    """A bar for yes and one for no."""
    result.bars = [
        Bar("yes", yes_no_label(True, language), counts.get(True, 0), 0.0),
        Bar("no", yes_no_label(False, language), counts.get(False, 0), 0.0),
    ]


def scale_bars(result: QuestionResult, counts: Mapping[Any, int], language: str) -> None:
    """One bar a point of the scale, the ends labelled, and the mean."""
    question = result.question
    low, high = int(question.min or 0), int(question.max or 0)
    labels = question.labels.get(language) or next(iter(question.labels.values()), None)
    ends = {low: labels[0], high: labels[1]} if labels else {}
    result.bars = [
        Bar(
            str(point),
            f"{point} ({ends[point]})" if point in ends else str(point),
            counts.get(point, 0),
            0.0,
        )
        for point in range(low, high + 1)
    ]
    result.mean = _mean(counts)


def number_bars(result: QuestionResult, counts: Mapping[Any, int], language: str) -> None:
    """A histogram of the numbers given, and their mean."""
    result.kind = "histogram"
    result.bars = histogram(counts)
    result.mean = _mean(counts)


_BARS = {
    "choice": choice_bars,
    "multi": choice_bars,
    "yesno": yes_no_bars,
    "scale": scale_bars,
    "number": number_bars,
}


def _mean(counts: Mapping[Any, int]) -> float | None:
    n = sum(counts.values())
    if not n:
        return None
    return sum(float(value) * count for value, count in counts.items()) / n


def rule_values(
    consultation: Consultation, question: Question, language: str, *, labels: bool = True
) -> list[str]:
    """Return the answers to the earlier question that get `question` asked, as words.

    Choice and yes/no answers are labels in `language` (ids with `labels=False`, as the
    exports' cells hold them); numbers are written as numbers.
    """
    rule = question.ask_if
    if rule is None:
        return []
    source = consultation.question(rule.question)
    choices = {c.id: c for c in source.choices} if source else {}
    words = []
    for value in rule.values:
        if source is not None and source.type == "yesno":
            yes_no = yes_no_label(bool(value), language) if labels else "yes" if value else "no"
            words.append(yes_no)
        elif labels and value in choices:
            words.append(localize(choices[value].text, language))
        elif isinstance(value, float):
            words.append(f"{value:g}")
        else:
            words.append(str(value))
    return words


def rule_text(
    consultation: Consultation, question: Question, language: str, *, labels: bool = True
) -> str:
    """Say when a question is asked, in the interface language, with the earlier question
    and its answers in `language`: Asked only if “How often do you visit?” is Every week.

    With `labels=False` (the codebook), the earlier question and answers are ids, as in
    the exports' columns. Empty for a question asked of everyone.
    """
    rule = question.ask_if
    if rule is None:
        return ""
    source = consultation.question(rule.question)
    named = localize(source.text, language) if source and labels else rule.question
    values = rule_values(consultation, question, language, labels=labels)
    if len(values) == 1:
        return _("Asked only if “%(question)s” is %(value)s.", question=named, value=values[0])
    return _(
        "Asked only if “%(question)s” is one of: %(values)s.",
        question=named,
        values=", ".join(values),
    )


def base_text(result: QuestionResult) -> str:
    """Say who a question with a rule was put to, and what its percentages are of."""
    return ngettext(
        "%(num)d person was asked this question (not asked: %(not_asked)d);"
        " the percentages are of those who answered (%(answered)d).",
        "%(num)d people were asked this question (not asked: %(not_asked)d);"
        " the percentages are of those who answered (%(answered)d).",
        result.asked,
        not_asked=result.not_asked,
        answered=result.answered,
    )


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
    """Return the newest text answers to one question, only those matching `search` if given.

    A search looks among the newest SEARCH_LIMIT matches in the filters, as the list's
    search does, so a common word costs no more at a million submissions.
    """
    match = fts_query(search or filters.search)
    if match:
        where, params = replace(filters, search="").where(consultation_id, alias="t")
        rows = db.execute(
            "SELECT s.id, s.submitted_at, s.channel, s.language, s.hidden,"  # noqa: S608
            " json_extract(s.answers, ?) AS v FROM (SELECT t.submission_id"
            " FROM submission_texts_fts f JOIN submission_texts t ON t.id = f.rowid"
            f" WHERE submission_texts_fts MATCH ? AND {where} ORDER BY f.rowid DESC LIMIT ?) m"
            " JOIN submissions s ON s.id = m.submission_id"
            " WHERE v IS NOT NULL ORDER BY s.submitted_at DESC LIMIT ?",
            [_path(question_id), match, *params, SEARCH_LIMIT, limit],
        ).fetchall()
        return [dict(zip(_TEXT_KEYS, row, strict=True)) for row in rows]
    where, params = filters.where(consultation_id)
    rows = db.execute(
        "SELECT s.id, s.submitted_at, s.channel, s.language, s.hidden,"  # noqa: S608
        " json_extract(s.answers, ?) AS v FROM submissions s"
        f" WHERE {where} AND v IS NOT NULL ORDER BY s.submitted_at DESC LIMIT ?",
        [_path(question_id), *params, limit],
    ).fetchall()
    return [dict(zip(_TEXT_KEYS, row, strict=True)) for row in rows]


_TEXT_KEYS = ("id", "submitted_at", "channel", "language", "hidden", "text")


# --- lists -------------------------------------------------------------------------

# Counting more than this many search matches would cost more than the page: beyond it,
# the page says "more than" and orders the newest ones.
SEARCH_LIMIT = 1000
# A word in more texts than this is too common to rank matches by: FTS5's bm25 weighs each
# word by counting its texts afresh for every search (its IDF), which took 2.5 ms for a
# word in 60,000 texts at a million submissions, and grows with the store. A search with
# such a word lists its matches newest first; counting up to the limit costs 0.5 ms.
RANK_WORD_LIMIT = 5000
# Marks around highlighted words (private-use characters, turned into <mark> after escaping).
MARK_START, MARK_END = "\ue000", "\ue001"
NEWER, OLDER = "newer", "older"


@dataclass
class Page:
    """One page of a list: its rows, the count (exact or a floor) and cursors to move on."""

    rows: list[dict[str, Any]]
    total: int
    total_is_floor: bool = False  # True: there are more than `total`
    ranked: bool = False  # a search's matches, best first (else newest first)
    newer: str | None = None  # cursor for the page before (newer rows), None at the start
    older: str | None = None  # cursor for the page after (older rows), None at the end


def encode_cursor(*parts: Any) -> str:
    """Make a page cursor from the sort key of a row (what the next page starts after)."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """Read a page cursor back, refusing one that was not made by `encode_cursor`."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise FilterError(
            _("This page link is damaged: start again from the first page.")
        ) from None
    if not isinstance(parts, list) or len(parts) != len(types):
        raise FilterError(_("This page link is damaged: start again from the first page."))
    if not all(
        isinstance(p, t) and not isinstance(p, bool) for p, t in zip(parts, types, strict=True)
    ):
        raise FilterError(_("This page link is damaged: start again from the first page."))
    return tuple(parts)


def list_submissions(
    db: sqlite_utils.Database,
    consultation_id: str,
    filters: Filters,
    *,
    cursor: str = "",
    direction: str = OLDER,
    size: int = 50,
) -> Page:
    """Return one page of a consultation's submissions: newest first, or best match first."""
    if filters.search and fts_query(filters.search):
        return _search_page(db, consultation_id, filters, cursor, direction, size)
    where, params = filters.where(consultation_id)
    key = decode_cursor(cursor, (str, str)) if cursor else None
    rows = _keyset(db, where, params, key, direction, size)
    if key is not None and direction == NEWER and len(rows) <= size:
        # Back at the newest rows: show the first page, full.
        return list_submissions(db, consultation_id, filters, size=size)
    page = Page([_listed(row) for row in rows[:size]], *_count(db, consultation_id, filters))
    if page.rows:
        first, last = page.rows[0], page.rows[-1]
        going_newer = key is not None and direction == NEWER
        more = len(rows) > size
        if key is not None and not going_newer or going_newer and more:
            page.newer = encode_cursor(first["submitted_at"], first["id"])
        if going_newer or more:
            page.older = encode_cursor(last["submitted_at"], last["id"])
    return page


def _keyset(
    db: sqlite_utils.Database,
    where: str,
    params: list[Any],
    key: tuple[Any, ...] | None,
    direction: str,
    size: int,
) -> list[Mapping[str, Any]]:
    """Read up to size + 1 rows after `key` in the list's order (or before it, going newer)."""
    if key is None:
        after, order = "", "DESC"
    elif direction == NEWER:
        after, order = " AND (s.submitted_at, s.id) > (?, ?)", "ASC"
    else:
        after, order = " AND (s.submitted_at, s.id) < (?, ?)", "DESC"
    rows = list(
        db.query(
            f"SELECT s.* FROM submissions s WHERE {where}{after}"  # noqa: S608
            f" ORDER BY s.submitted_at {order}, s.id {order} LIMIT ?",
            [*params, *(key or ()), size + 1],
        )
    )
    if order == "ASC":
        # Going newer reads upwards from the cursor: show the nearest `size`, newest first.
        rows = rows[:size][::-1] + rows[size:]
    return rows


def _listed(row: Mapping[str, Any]) -> dict[str, Any]:
    record = submissions.to_record(row)
    record["hidden_reason"] = row.get("hidden_reason", "")
    record["snippet"] = row.get("snippet")
    return record


def _count(db: sqlite_utils.Database, consultation_id: str, filters: Filters) -> tuple[int, bool]:
    """Count the matching submissions: exactly from the tallies, else up to SEARCH_LIMIT."""
    condition = tally_condition(db, consultation_id, filters)
    if condition is not None:
        where, params = condition
        row = db.execute(
            f"SELECT coalesce(sum(n), 0) FROM tallies WHERE question_id = '' AND {where}",  # noqa: S608
            params,
        ).fetchone()
        return int(row[0]), False
    where, params = filters.where(consultation_id)
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM submissions s WHERE {where} LIMIT ?)",  # noqa: S608
        [*params, SEARCH_LIMIT + 1],
    ).fetchone()
    return min(int(row[0]), SEARCH_LIMIT), int(row[0]) > SEARCH_LIMIT


def _search_page(
    db: sqlite_utils.Database,
    consultation_id: str,
    filters: Filters,
    cursor: str,
    direction: str,
    size: int,
) -> Page:
    """Return a page of search matches, their matching words highlighted: best match first
    (bm25), or newest first when a word is too common to rank by (RANK_WORD_LIMIT).

    The newest SEARCH_LIMIT matches are ordered, so a common word costs no more at a
    million submissions than at ten thousand; the count then says "more than".
    """
    # The texts carry their submission's filter columns (schema m018), so a match is
    # kept or passed over without reading its submission.
    where, params = replace(filters, search="").where(consultation_id, alias="t")
    match = fts_query(filters.search)
    by_rank = _rankable(db, filters.search)
    # The sort key: bm25 (lower is better), or the time submitted, newest first.
    score = "f.rank" if by_rank else "-julianday(t.submitted_at)"
    # Tuples, not mappings: up to SEARCH_LIMIT rows a search, of which a page shows 50.
    candidates = db.conn.execute(
        f"SELECT {score}, t.submission_id, f.rowid FROM submission_texts_fts f"  # noqa: S608
        " JOIN submission_texts t ON t.id = f.rowid"
        f" WHERE submission_texts_fts MATCH ? AND {where} ORDER BY f.rowid DESC LIMIT ?",
        [match, *params, SEARCH_LIMIT + 1],
    ).fetchall()
    total, floor = min(len(candidates), SEARCH_LIMIT), len(candidates) > SEARCH_LIMIT
    text_rows = {submission_id: text_row for _, submission_id, text_row in candidates}
    ranked = sorted((key, submission_id) for key, submission_id, _ in candidates[:SEARCH_LIMIT])
    start = 0
    if cursor:
        key = decode_cursor(cursor, (float, str))
        start = bisect.bisect_right(ranked, key)
        if direction == NEWER:
            start = max(0, bisect.bisect_left(ranked, key) - size)
    chosen = ranked[start : start + size]
    ids = [submission_id for _, submission_id in chosen]
    page = Page(_with_snippets(db, ids, [text_rows[i] for i in ids], match), total, floor)
    page.ranked = by_rank
    if chosen and start > 0:
        page.newer = encode_cursor(*chosen[0])
    if chosen and start + size < len(ranked):
        page.older = encode_cursor(*chosen[-1])
    return page


def _rankable(db: sqlite_utils.Database, search: str) -> bool:
    """Say whether every word searched for is in few enough texts to rank matches by."""
    for word in _WORD.findall(search)[:20]:
        row = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM submission_texts_fts"
            " WHERE submission_texts_fts MATCH ? LIMIT ?)",
            [fts_query(word), RANK_WORD_LIMIT + 1],
        ).fetchone()
        if row[0] > RANK_WORD_LIMIT:
            return False
    return True


def _with_snippets(
    db: sqlite_utils.Database, ids: list[str], text_rows: list[int], match: str
) -> list[dict[str, Any]]:
    """Return the submissions `ids` in that order, each with its matching words marked."""
    # FTS5 reads the word's list only between the page's first and last texts (the range
    # is its index constraint; the unary + keeps the list of rowids from taking its place,
    # which would read every match: 6 ms instead of 0.3 for "cold" at a million).
    snippets = {
        row["text_row"]: row["snippet"]
        for row in db.query(
            "SELECT rowid AS text_row, snippet(submission_texts_fts, 0, ?, ?, '…', 24) AS snippet"
            " FROM submission_texts_fts WHERE submission_texts_fts MATCH ?"
            " AND rowid BETWEEN ? AND ? AND +rowid IN (SELECT value FROM json_each(?))",
            [
                MARK_START,
                MARK_END,
                match,
                min(text_rows, default=0),
                max(text_rows, default=0),
                json.dumps(text_rows),
            ],
        )
    }
    rows = {
        row["id"]: row
        for row in db.query(
            "SELECT * FROM submissions WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(ids)],
        )
    }
    return [
        {**_listed(rows[i]), "snippet": snippets.get(text_row)}
        for i, text_row in zip(ids, text_rows, strict=True)
        if i in rows
    ]


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
