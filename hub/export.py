"""Export a consultation's submissions as CSV, XLSX, JSON or JSON Lines, streamed.

The one place exports are made: the staff pages and `participate export` both call
`plan_export` and then one writer. Rows go straight from one SQLite cursor to the
output in batches, so memory stays flat whatever the number of submissions. SQLite
extracts each cell from the stored answers, maps choice ids to labels when asked, and
neutralises spreadsheet formulas (a text cell starting with = + - @ tab CR or NUL gets
a leading ').

Rows here stay sqlite3's tuples, the one exception (with sync/receive.py) to reading
rows by name: each is already a line of the output in column order, and a mapping per
row would cost a measured share of an export's time (bench/bench_export.py).

Formats (docs/spec.md, "Exports"):
- csv: UTF-8 with a BOM, one row a submission, metadata columns first, then one column a
  question and a 0/1 column a choice for `multi`; the codebook is a second file.
- xlsx: the same rows on a "submissions" sheet (openpyxl, write-only), the codebook on a
  "codebook" sheet.
- json: {"consultation": {id, current_version, versions: {version: definition}},
  "submissions": [records]}; jsonl: one record a line. Records hold choice ids, not labels.

Skip logic: a question whose rule (`ask_if`) did not hold for a submission, in the
version it answered, was not asked. Its cells read NOT_ASKED ("not asked") in CSV and
XLSX, where a question asked and left blank is an empty cell; a record lists such
questions in `not_asked` (its `answers` hold neither). SQLite decides it row by row from
the rules of each version (`_asked_sql`), as `Consultation.asked` does in Python.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlite_utils
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from participate import clock, consultations
from participate.consultations import Consultation, Question, localize
from participate.submissions import respondent_sql
from participate.tallies import NOT_ASKED

from . import days
from .errors import ExportError
from .results import Filters, rule_text, yes_no_label

FORMATS = ("csv", "xlsx", "json", "jsonl")
MEDIA_TYPES = {
    "csv": "text/csv",  # Flask adds "; charset=utf-8" to every text/* type
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
BATCH = 2000
BOM = "\ufeff"
# Characters that make a spreadsheet run a cell as a formula (NUL is checked apart:
# SQLite's unicode() gives NULL for it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
_FORMULA_CODES = "61, 43, 45, 64, 9, 13"

Progress = Callable[[int], None]


def neutralize(value: Any) -> Any:
    """Return a string a spreadsheet would run as a formula with a leading ', else `value`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _safe_sql(expression: str) -> str:
    """Wrap a SQL expression so a text result that starts a formula gets a leading '.

    A text that reads exactly NOT_ASKED gets one too, so an answer can never pass for
    the "not asked" marker. The expression is repeated rather than put in a subquery: a
    correlated subquery per cell costs far more, and SQLite reuses the parsed JSON a
    repeated json_extract reads. An expression with parameters needs them repeated
    SAFE_REPEATS times.
    """
    e = expression
    return (
        f"(CASE WHEN typeof({e}) = 'text' AND (unicode({e}) IN ({_FORMULA_CODES})"
        f" OR (unicode({e}) IS NULL AND {e} != '') OR {e} = '{NOT_ASKED}')"
        f" THEN '''' || {e} ELSE {e} END)"
    )


SAFE_REPEATS = 7  # how many times _safe_sql writes its expression
# Metadata a node or an SMS could shape; the rest is checked or made by the store
# (consultation ids and versions, channel, language, numbers).
_FREE_TEXT_METADATA = {"id", "device_id", "started_at", "submitted_at", "received_at"}
# The hub refuses a pushed respondent that is not a pseudonym (sync/receive.py); exports
# check once more, so a phone number stored by any other road is never written out.
_RESPONDENT = respondent_sql("s.respondent")


@dataclass(frozen=True)
class ExportOptions:
    """What to export: which submissions, and choice labels (in which language) or ids."""

    filters: Filters = field(default_factory=Filters)
    labels: bool = False
    language: str | None = None


@dataclass
class Column:
    name: str
    sql: str
    params: list[Any] = field(default_factory=list)
    text: bool = False  # free text: quoted in CSV (other cells never hold , " or newlines)

    def csv_sql(self) -> str:
        """Return SQL giving this cell as CSV text (RFC 4180 quoting), NULL when empty."""
        if self.text:
            return f"""'"' || replace({self.sql}, '"', '""') || '"'"""
        return self.sql


# SQLite functions take at most 127 arguments (SQLITE_MAX_FUNCTION_ARG).
_FORMAT_CELLS = 100


@dataclass
class ExportPlan:
    """Everything a writer needs: the versions used, the columns, and the query."""

    consultation: Consultation
    versions: list[Consultation]
    questions: list[Question]
    columns: list[Column]
    where: str
    params: list[Any]
    language: str
    options: ExportOptions
    # SQL giving the JSON array of the questions a submission was not asked (no parameters).
    not_asked_sql: str = "json_array()"

    @property
    def header(self) -> list[str]:
        """Return the column names of a CSV or XLSX export."""
        return [column.name for column in self.columns]

    def table_query(self) -> tuple[str, list[Any]]:
        """Return the SQL (and parameters) giving one CSV/XLSX row a submission."""
        return self._rows(", ".join(column.sql for column in self.columns))

    def csv_query(self) -> tuple[str, list[Any]]:
        """Return the SQL (and parameters) giving each submission as one line of CSV.

        SQLite formats the line itself, so Python handles one string a row instead of a
        tuple of cells: this is what keeps a million-row export near `sqlite3 -csv`.
        """
        # format() writes NULL as nothing and is quicker than a chain of ||.
        parts = []
        for start in range(0, len(self.columns), _FORMAT_CELLS):
            group = self.columns[start : start + _FORMAT_CELLS]
            pattern = ",".join(["%s"] * len(group))
            cells = ", ".join(column.csv_sql() for column in group)
            parts.append(f"format('{pattern}', {cells})")
        return self._rows(" || ',' || ".join(parts))

    def _rows(self, select: str) -> tuple[str, list[Any]]:
        """Return the query selecting `select` (built from the columns) a submission, in order."""
        params = [p for column in self.columns for p in column.params]
        return self._ordered(select), params + self.params

    def _ordered(self, select: str, where: str | None = None) -> str:
        return (
            f"SELECT {select} FROM submissions s WHERE {where or self.where}"  # noqa: S608
            " ORDER BY s.submitted_at, s.id"
        )

    def record_query(
        self, *, after: tuple[str, str] | None = None, limit: int | None = None, offset: int = 0
    ) -> tuple[str, list[Any]]:
        """Return the SQL (and parameters) giving one JSON record a submission."""
        record = _RECORD_JSON[:-1] + f", 'not_asked', {self.not_asked_sql})"
        return self.select_query(record, after=after, limit=limit, offset=offset)

    def select_query(
        self,
        select: str,
        *,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[str, list[Any]]:
        """Return the SQL (and parameters) selecting `select` of each submission, in order.

        `after` (a submission's `submitted_at` and `id`) starts just past that one, so a
        reader can page by cursor (keyset) however many rows come before; `limit` and
        `offset` cut a page. `select` may use the submission as `s` and take no parameters.
        """
        where, params = self.where, list(self.params)
        if after is not None:
            where += " AND (s.submitted_at, s.id) > (?, ?)"
            params += list(after)
        sql = self._ordered(select, where)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return sql, params

    def count(self, db: sqlite_utils.Database) -> int:
        """Return how many submissions the export holds."""
        sql = f"SELECT count(*) FROM submissions s WHERE {self.where}"  # noqa: S608
        return int(db.execute(sql, self.params).fetchone()[0])

    def consultation_object(self) -> dict[str, Any]:
        """Return the consultation as exported in JSON: every version used, by version."""
        return {
            "id": self.consultation.id,
            "current_version": self.consultation.version,
            "versions": {c.version: c.definition for c in self.versions},
        }


# One submission as the SPEC's record, made by SQLite: the json and jsonl exports, the
# read API and the OData feed all shape records with it (the exports and the read API
# add `not_asked`, from the plan).
_RECORD_JSON = (
    "json_object('id', s.id, 'consultation_id', s.consultation_id,"
    " 'consultation_version', s.consultation_version, 'channel', s.channel,"
    f" 'device_id', s.device_id, 'seq', s.seq, 'respondent', {_RESPONDENT},"
    " 'language', s.language, 'started_at', s.started_at,"
    " 'submitted_at', s.submitted_at, 'received_at', s.received_at,"
    " 'answers', json(s.answers),"
    " 'complete', json(CASE WHEN s.complete THEN 'true' ELSE 'false' END),"
    " 'hidden', json(CASE WHEN s.hidden THEN 'true' ELSE 'false' END))"
)

# The codebook describes each in every language of the consultation (lazy: translated
# when the codebook is written).
METADATA_COLUMNS = (
    ("id", "s.id", _l("Submission id (made at capture)")),
    ("consultation_id", "s.consultation_id", _l("Consultation id")),
    ("consultation_version", "s.consultation_version", _l("Version of the consultation answered")),
    ("channel", "s.channel", _l("kiosk, sms or voice")),
    ("device_id", "s.device_id", _l("Device that captured it")),
    ("seq", "s.seq", _l("Number in that device's ledger")),
    ("respondent", _RESPONDENT, _l("SMS: pseudonym of the phone number; kiosk: empty")),
    ("language", "s.language", _l("Language used")),
    ("started_at", "s.started_at", _l("Started (UTC; in XLSX, the time zone in the header)")),
    ("submitted_at", "s.submitted_at", _l("Submitted (UTC; in XLSX, the time zone in the header)")),
    ("received_at", "s.received_at", _l("Received (UTC; in XLSX, the time zone in the header)")),
    ("complete", "s.complete", _l("1 if every question was reached, 0 if it stopped part-way")),
    ("hidden", "s.hidden", _l("1 if hidden by moderation")),
)


def _in_language(text: Any, language: str) -> str:
    with force_locale(language):
        return str(text)


# Written as date-times in the organisation's time zone in XLSX (CSV and JSON keep UTC text).
TIME_COLUMNS = ("started_at", "submitted_at", "received_at")


def plan_export(
    db: sqlite_utils.Database, consultation_id: str, options: ExportOptions | None = None
) -> ExportPlan:
    """Work out the versions, columns and query of one consultation's export."""
    options = options or ExportOptions()
    current = consultations.get(db, consultation_id)
    where, params = options.filters.where(consultation_id)
    used = [
        row["version"]
        for row in db.query(
            "SELECT v.version FROM consultation_versions v WHERE v.consultation_id = ?"  # noqa: S608
            " AND (v.version = ? OR EXISTS (SELECT 1 FROM submissions s"
            f" WHERE {where} AND s.consultation_version = v.version))"
            " ORDER BY v.loaded_at, v.version",
            [consultation_id, current.version, *params],
        )
    ]
    versions = [consultations.get(db, consultation_id, version) for version in used]
    language = options.language or current.languages[0]
    if language not in {lang for c in versions for lang in c.languages}:
        raise ExportError(_("The consultation has no language “%(language)s”.", language=language))
    questions = merged_questions(current, versions)
    columns = [
        Column(name, _safe_sql(sql), text=True)
        if name in _FREE_TEXT_METADATA
        else Column(name, sql)
        for name, sql, _ in METADATA_COLUMNS
    ]
    for question in questions:
        not_asked = _not_asked_sql(versions, question.id)
        for column in _question_columns(question, options.labels, language):
            if not_asked:
                column.sql = f"(CASE WHEN {not_asked} THEN '{NOT_ASKED}' ELSE {column.sql} END)"
            columns.append(column)
    return ExportPlan(
        current,
        versions,
        questions,
        columns,
        where,
        params,
        language,
        options,
        _not_asked_list_sql(versions, questions),
    )


# --- skip logic ----------------------------------------------------------------------


def _literal(value: Any) -> str:
    """Return a rule's value as a SQL literal compared with json_extract's result.

    Yes/no answers come out of json_extract as 1 and 0 (and Python's True == 1 agrees);
    numbers as numbers; choice ids as text.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _answer_sql(question_id: str) -> str:
    return "json_extract(s.answers, " + _literal(f'$."{question_id}"') + ")"


def _asked_sql(version: Consultation, question: Question) -> str:
    """Return SQL that is 1 when `question` was put to the submission, 0 when not: its
    rule holds and the question the rule reads was itself asked (`Consultation.asked`)."""
    rule = question.ask_if
    if rule is None:
        return "1"
    source = version.question(rule.question)
    position = {q.id: n for n, q in enumerate(version.questions)}
    if source is None or position[source.id] >= position[question.id]:
        return "0"  # as `asked` has it: a rule on a question not put before never holds
    answer = _answer_sql(source.id)
    if source.type == "multi":
        # The array's JSON text holds '"id"' exactly when that id was chosen.
        tests = [f"instr({answer}, {_literal(json.dumps(v))}) > 0" for v in rule.values]
        match = " OR ".join(tests) or "0"
    else:
        match = f"{answer} IN ({', '.join(_literal(v) for v in rule.values)})"
    return f"(coalesce({match}, 0) AND {_asked_sql(version, source)})"


def _not_asked_sql(versions: list[Consultation], question_id: str) -> str:
    """Return SQL true when the submission's version has a rule for the question and it
    did not hold ('' when no version has one): the cell then reads NOT_ASKED."""
    cases = []
    for version in versions:
        question = version.question(question_id)
        if question is not None and question.ask_if is not None:
            asked = _asked_sql(version, question)
            cases.append(f"WHEN {_literal(version.version)} THEN NOT {asked}")
    if not cases:
        return ""
    return f"(CASE s.consultation_version {' '.join(cases)} ELSE 0 END)"


def _not_asked_list_sql(versions: list[Consultation], questions: list[Question]) -> str:
    """Return SQL giving a record's `not_asked`: the JSON array of the ids of the questions
    it was not asked, in the export's question order (ids need no escaping)."""
    parts = []
    for question in questions:
        condition = _not_asked_sql(versions, question.id)
        if condition:
            parts.append(f"""(CASE WHEN {condition} THEN '"{question.id}",' ELSE '' END)""")
    if not parts:
        return "json_array()"
    return f"json('[' || rtrim({' || '.join(parts)}, ',') || ']')"


def merged_questions(current: Consultation, versions: list[Consultation]) -> list[Question]:
    """Return the current questions, then any only older versions had; choices merged."""
    order: list[str] = [q.id for q in current.questions]
    found: dict[str, list[Question]] = {}
    for version in [current, *reversed(versions)]:
        for question in version.questions:
            if question.id not in order:
                order.append(question.id)
            found.setdefault(question.id, []).append(question)
    merged = []
    for question_id in order:
        newest, *older = found[question_id]
        choices = list(newest.choices)
        for question in older:
            if question.type == newest.type:
                choices += [c for c in question.choices if c.id not in {x.id for x in choices}]
        merged.append(
            Question(**{**newest.__dict__, "choices": tuple(choices)})
            if choices != list(newest.choices)
            else newest
        )
    return merged


def _question_columns(question: Question, labels: bool, language: str) -> list[Column]:
    path = f'$."{question.id}"'
    value = "json_extract(s.answers, ?)"
    if question.type == "multi":
        # The array's JSON text holds '"id"' exactly when that id was chosen (ids are
        # letters, digits, - and _); NULL when the question was skipped.
        return [
            Column(
                f"{question.id}.{choice.id}", f"(instr({value}, ?) > 0)", [path, f'"{choice.id}"']
            )
            for choice in question.choices
        ]
    if question.type == "choice" and labels:
        cases = " ".join("WHEN ? THEN ?" for _ in question.choices)
        params: list[Any] = [path]
        for choice in question.choices:
            params += [choice.id, localize(choice.text, language)]
        expression = f"(CASE {value} {cases} ELSE {value} END)"
        return [
            Column(question.id, _safe_sql(expression), [*params, path] * SAFE_REPEATS, text=True)
        ]
    if question.type == "yesno":
        yes, no = (
            (yes_no_label(True, language), yes_no_label(False, language))
            if labels
            else ("yes", "no")
        )
        return [
            Column(question.id, f"CASE {value} WHEN 1 THEN ? WHEN 0 THEN ? END", [path, yes, no])
        ]
    if question.type in ("scale", "number", "choice"):
        # Numbers, and choice ids (letters, digits, - and _): nothing to neutralise.
        return [Column(question.id, value, [path])]
    return [Column(question.id, _safe_sql(value), [path] * SAFE_REPEATS, text=True)]


# --- writers -----------------------------------------------------------------------


def _batches(db: sqlite_utils.Database, sql: str, params: list[Any]) -> Iterator[list[Any]]:
    cursor = db.execute(sql, params)
    while True:
        rows = cursor.fetchmany(BATCH)
        if not rows:
            return
        yield rows


def csv_chunks(
    db: sqlite_utils.Database, plan: ExportPlan, progress: Progress | None = None
) -> Iterator[str]:
    """Yield the CSV export in pieces: a BOM, the header, then lines in batches (CRLF ends)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(plan.header)
    yield BOM + buffer.getvalue()
    sql, params = plan.csv_query()
    for rows in _batches(db, sql, params):
        yield "\r\n".join(row[0] for row in rows) + "\r\n"
        if progress:
            progress(len(rows))


def codebook_rows(plan: ExportPlan) -> Iterator[list[Any]]:
    """Yield the codebook: a header, the metadata columns, then questions and their choices."""
    languages: list[str] = []
    for version in plan.versions:
        languages += [lang for lang in version.languages if lang not in languages]
    yield ["column", "question", "type", "choice", "required", "versions", "asked_if"] + [
        f"text_{lang}" for lang in languages
    ]
    for name, _sql, description in METADATA_COLUMNS:
        yield [name, "", "metadata", "", "", "", ""] + [
            _in_language(description, lang) for lang in languages
        ]
    for question in plan.questions:
        versions = " ".join(v.version for v in plan.versions if v.question(question.id) is not None)
        texts = [question.text.get(lang, "") for lang in languages]
        column = "" if question.type == "multi" else question.id
        yield [
            column,
            question.id,
            question.type,
            "",
            int(question.required),
            versions,
            _asked_if(plan, question.id),
        ] + texts
        for choice in question.choices:
            column = f"{question.id}.{choice.id}" if question.type == "multi" else question.id
            yield [column, question.id, question.type, choice.id, "", "", ""] + [
                choice.text.get(lang, "") for lang in languages
            ]
        if question.type == "scale" and question.labels:
            for index, end in enumerate(("min", "max")):
                point = question.min if end == "min" else question.max
                yield [question.id, question.id, question.type, f"{point:g}", "", "", ""] + [
                    question.labels[lang][index] if lang in question.labels else ""
                    for lang in languages
                ]
    # What an answer cell holds when there is no answer, in every question's column.
    for code, meaning in MISSING_CODES:
        yield ["", "", "missing", code, "", "", ""] + [
            _in_language(meaning, lang) for lang in languages
        ]


MISSING_CODES = (
    (
        "",
        _l(
            "An empty answer cell: the question was asked and left blank, or the person"
            " stopped before it (or the version answered did not have it)"
        ),
    ),
    (
        NOT_ASKED,
        _l(
            "The question was not asked: its rule (asked_if) did not hold for this"
            " submission's earlier answers"
        ),
    ),
)


def _asked_if(plan: ExportPlan, question_id: str) -> str:
    """Return when a question is asked, in words with ids in the export's language ('' when
    always): the newest version's rule, then any older version's that differs."""
    having = [v for v in reversed(plan.versions) if v.question(question_id) is not None]
    if not any(v.question(question_id).ask_if for v in having):  # type: ignore[union-attr]
        return ""
    said: list[str] = []
    with force_locale(plan.language):
        for version in having:
            question = version.question(question_id)
            assert question is not None
            text = rule_text(version, question, plan.language, labels=False)
            text = text or _("Asked of everyone.")
            if text not in said:
                said.append(text)
    return " / ".join(said)


def codebook_csv(plan: ExportPlan) -> str:
    """Return the codebook as CSV text with a BOM (the second file of a CSV export)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerows([neutralize(cell) for cell in row] for row in codebook_rows(plan))
    return buffer.getvalue()


def jsonl_chunks(
    db: sqlite_utils.Database, plan: ExportPlan, progress: Progress | None = None
) -> Iterator[str]:
    """Yield the JSON Lines export: one submission record a line."""
    sql, params = plan.record_query()
    for rows in _batches(db, sql, params):
        yield "".join(row[0] + "\n" for row in rows)
        if progress:
            progress(len(rows))


def json_chunks(
    db: sqlite_utils.Database, plan: ExportPlan, progress: Progress | None = None
) -> Iterator[str]:
    """Yield the JSON export: the consultation (every version used), then the records."""
    consultation = json.dumps(plan.consultation_object(), ensure_ascii=False, sort_keys=True)
    yield '{"consultation": ' + consultation + ', "submissions": ['
    sql, params = plan.record_query()
    first = True
    for rows in _batches(db, sql, params):
        body = ",\n".join(row[0] for row in rows)
        yield ("\n" if first else ",\n") + body
        first = False
        if progress:
            progress(len(rows))
    yield "\n]}\n"


def write_xlsx(
    db: sqlite_utils.Database,
    plan: ExportPlan,
    target: str | Path | IO[bytes],
    progress: Progress | None = None,
) -> None:
    """Write the XLSX export (submissions sheet, then codebook sheet) with a write-only workbook."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(value: Any) -> Any:
        # XLSX cells cannot hold control characters. Removing them can uncover a formula
        # ("\x01=1+2"), so neutralise after: a cell SQL already neutralised starts with '.
        if isinstance(value, str):
            return neutralize(ILLEGAL_CHARACTERS_RE.sub("", value))
        return value

    timezone = plan.options.filters.timezone
    tz = days.zone(timezone)
    times = {index for index, name in enumerate(plan.header) if name in TIME_COLUMNS}

    def local(value: Any) -> Any:
        # Excel has no time zones: a naive date-time in the organisation's zone, named
        # in the header. A time that does not parse stays text rather than being lost.
        if not isinstance(value, str) or not value:
            return value
        try:
            return clock.parse(value).astimezone(tz).replace(tzinfo=None)
        except ValueError:
            return clean(value)

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("submissions")
    sheet.append(
        [f"{name} ({timezone})" if i in times else name for i, name in enumerate(plan.header)]
    )
    sql, params = plan.table_query()
    for rows in _batches(db, sql, params):
        for row in rows:
            sheet.append([local(c) if i in times else clean(c) for i, c in enumerate(row)])
        if progress:
            progress(len(rows))
    codebook = workbook.create_sheet("codebook")
    for row in codebook_rows(plan):
        codebook.append([clean(cell) for cell in row])
    workbook.save(target)


def records(
    db: sqlite_utils.Database,
    plan: ExportPlan,
    *,
    after: tuple[str, str] | None = None,
    limit: int,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Return up to `limit` of the export's submission records, decoded, in export order."""
    sql, params = plan.record_query(after=after, limit=limit, offset=offset)
    return [json.loads(row[0]) for row in db.execute(sql, params)]


def text_chunks(
    fmt: str, db: sqlite_utils.Database, plan: ExportPlan, progress: Progress | None = None
) -> Iterator[str]:
    """Yield a text export (csv, json or jsonl) in pieces."""
    writers = {"csv": csv_chunks, "json": json_chunks, "jsonl": jsonl_chunks}
    if fmt not in writers:
        raise ExportError(_("The format must be one of %(formats)s.", formats=", ".join(FORMATS)))
    return writers[fmt](db, plan, progress)


def write_export(
    fmt: str,
    db: sqlite_utils.Database,
    plan: ExportPlan,
    target: IO[bytes],
    progress: Progress | None = None,
) -> None:
    """Write an export in `fmt` to a binary file object (UTF-8 for the text formats)."""
    if fmt == "xlsx":
        write_xlsx(db, plan, target, progress)
        return
    for chunk in text_chunks(fmt, db, plan, progress):
        target.write(chunk.encode("utf-8"))


def filename(plan: ExportPlan, fmt: str, suffix: str = "") -> str:
    """Return a download name such as library-hours-submissions.csv."""
    return f"{plan.consultation.id}-{suffix or 'submissions'}.{fmt}"
