"""Cross-tabulation: one question's answers broken down by another's, or by channel,
language or device, with counts and row percentages, on the results page and as CSV.

Counted over the same submissions as the rest of the results page (`Filters`); a
submission counts in a table when it answered both (the base is shown), so people a
question's rule left unasked are never in its table; the page says when that is.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from flask_babel import gettext as _

from participate import tallies
from participate.consultations import Consultation, Question, localize

from . import labels, results
from .errors import FilterError
from .results import Filters, rule_text, yes_no_label

QUESTION_TYPES = ("choice", "yesno", "scale")
METADATA = ("channel", "language", "device")


@dataclass(frozen=True)
class Dimension:
    """Something to break answers down by: a question, or the channel, language or device."""

    key: str  # a question id, or one of METADATA
    title: str
    sql: str
    params: tuple[Any, ...] = ()
    values: tuple[tuple[Any, str], ...] = ()  # known values and their labels, in order
    rule: str = ""  # a question asked only of some: when (results.rule_text)


@dataclass
class CrossTab:
    rows: Dimension
    columns: Dimension
    row_values: list[tuple[Any, str]]
    column_values: list[tuple[Any, str]]
    counts: dict[tuple[Any, Any], int] = field(default_factory=dict)

    def count(self, row: Any, column: Any) -> int:
        """Return how many submissions gave `row` and `column`."""
        return self.counts.get((row, column), 0)

    def row_total(self, row: Any) -> int:
        """Return how many submissions gave `row` (and answered the column question)."""
        return sum(self.count(row, column) for column, _ in self.column_values)

    def column_total(self, column: Any) -> int:
        """Return how many submissions gave `column` (and answered the row question)."""
        return sum(self.count(row, column) for row, _ in self.row_values)

    @property
    def total(self) -> int:
        """Return the base: submissions that answered both."""
        return sum(self.counts.values())

    def share(self, row: Any, column: Any) -> float:
        """Return the row percentage of a cell (0..1), 0 for an empty row."""
        total = self.row_total(row)
        return self.count(row, column) / total if total else 0.0


def _question_values(question: Question, language: str) -> tuple[tuple[Any, str], ...]:
    if question.type == "choice":
        return tuple((c.id, localize(c.text, language)) for c in question.choices)
    if question.type == "yesno":
        return ((1, yes_no_label(True, language)), (0, yes_no_label(False, language)))
    low, high = int(question.min or 0), int(question.max or 0)
    return tuple((point, str(point)) for point in range(low, high + 1))


def dimensions(consultation: Consultation, language: str) -> list[Dimension]:
    """Return what the cross-tab can use: its choice, yes/no and scale questions, then metadata."""
    result = [
        Dimension(
            question.id,
            localize(question.text, language),
            "json_extract(s.answers, ?)",
            (f'$."{question.id}"',),
            _question_values(question, language),
            rule_text(consultation, question, language),
        )
        for question in consultation.questions
        if question.type in QUESTION_TYPES
    ]
    result += [
        Dimension("channel", _("Channel"), "s.channel"),
        Dimension("language", _("Language"), "s.language"),
        Dimension("device", _("Device"), "s.device_id"),
    ]
    return result


def _dimension(choices: list[Dimension], key: str) -> Dimension:
    for dimension in choices:
        if dimension.key == key:
            return dimension
    raise FilterError(_("There is no question or detail “%(key)s” to break down by.", key=key))


def _label(key: str, value: Any, devices: dict[str, str]) -> str:
    if key == "channel":
        return labels.channel_label(value)
    if key == "language":
        return labels.language_label(value)
    if key == "device":
        return labels.device_label(value, devices)
    return str(value)


def crosstab(
    db: sqlite_utils.Database,
    consultation: Consultation,
    filters: Filters,
    row_key: str,
    column_key: str,
    language: str,
) -> CrossTab:
    """Count the filtered submissions by the values of two dimensions (one query)."""
    choices = dimensions(consultation, language)
    rows, columns = _dimension(choices, row_key), _dimension(choices, column_key)
    if rows.key == columns.key:
        raise FilterError(_("Choose two different things to cross."))
    found = _from_tallies(db, consultation.id, filters, rows, columns)
    if found is None:
        where, params = filters.where(consultation.id)
        sql = (
            f"SELECT {rows.sql} AS r, {columns.sql} AS c, count(*) AS n"  # noqa: S608
            f" FROM submissions s WHERE {where} AND r IS NOT NULL AND c IS NOT NULL"
            " GROUP BY r, c"
        )
        found = db.execute(sql, [*rows.params, *columns.params, *params]).fetchall()
    counts = {(r, c): n for r, c, n in found}
    devices = labels.device_names(db)

    def values(dimension: Dimension, seen: set[Any]) -> list[tuple[Any, str]]:
        known = list(dimension.values)
        ids = {value for value, _ in known}
        # Metadata, and answers to a choice an older version had, by name.
        extra = [(v, _label(dimension.key, v, devices)) for v in seen if v not in ids]
        return known + sorted(extra, key=lambda pair: pair[1].casefold())

    return CrossTab(
        rows,
        columns,
        values(rows, {r for r, _, _ in found}),
        values(columns, {c for _, c, _ in found}),
        counts,
    )


def _from_tallies(
    db: sqlite_utils.Database,
    consultation_id: str,
    filters: Filters,
    rows: Dimension,
    columns: Dimension,
) -> list[tuple[Any, Any, int]] | None:
    """Return the (row value, column value, count) cells summed from the kept tallies, or
    None when they cannot give them: two questions (the tallies count each question
    apart), or filters only the submissions can answer (a search).

    A question crossed with the channel, language or device reads the question's value
    rows, which carry those columns; two of those read the rows that count submissions
    (question '').
    """
    questions = [d.key for d in (rows, columns) if d.key not in METADATA]
    condition = results.tally_condition(db, consultation_id, filters)
    if condition is None or len(questions) > 1:
        return None
    where, params = condition
    question = questions[0] if questions else tallies.ALL
    # A question's answers: not its "answered at all" row, a null, or its "not asked" row.
    values = "value NOT IN ('', 'null', ?)" if questions else "value = ''"
    found: Counter[tuple[Any, Any]] = Counter()
    for row_value, column_value, n in db.execute(
        f"SELECT {_TALLY_COLUMNS.get(rows.key, 'value')},"  # noqa: S608
        f" {_TALLY_COLUMNS.get(columns.key, 'value')}, sum(n) FROM tallies"
        f" WHERE question_id = ? AND {values} AND {where} GROUP BY 1, 2",
        [question, *([tallies.NOT_ASKED] if questions else []), *params],
    ):
        key = (_answer(rows, row_value), _answer(columns, column_value))
        found[key] += n
    return [(row_value, column_value, n) for (row_value, column_value), n in found.items()]


# Where the tallies keep each detail a cross-tab can break answers down by.
_TALLY_COLUMNS = {"channel": "channel", "language": "language", "device": "device_id"}


def _answer(dimension: Dimension, value: str) -> Any:
    """Return a tally's value as the submissions' query gives it (JSON true is 1)."""
    if dimension.key in METADATA:
        return value
    answer = json.loads(value)
    return int(answer) if isinstance(answer, bool) else answer


def to_csv(table: CrossTab) -> str:
    """Return the cross-tab as CSV (UTF-8 with a BOM): counts, then row percentages."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    heads = [label for _, label in table.column_values]
    corner = f"{table.rows.title} / {table.columns.title}"
    writer.writerow([corner, *heads, _("Total")])
    for value, label in table.row_values:
        cells = [table.count(value, column) for column, _ in table.column_values]
        writer.writerow([label, *cells, table.row_total(value)])
    totals = [table.column_total(column) for column, _ in table.column_values]
    writer.writerow([_("Total"), *totals, table.total])
    writer.writerow([])
    writer.writerow([_("Row percentages"), *heads, _("Total")])
    for value, label in table.row_values:
        shares = [f"{table.share(value, column):.1%}" for column, _ in table.column_values]
        writer.writerow([label, *shares, "100.0%" if table.row_total(value) else ""])
    return out.getvalue()
