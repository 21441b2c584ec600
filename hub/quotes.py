"""Text answers staff choose to quote in the consultation report, with an audit log.

Marking is like moderation: one transaction updates `report_quotes` and appends to
`report_quote_log` (who, when, which answer). A quote is one text answer of one
submission; a hidden submission's quotes stay marked but the report leaves them out
unless it includes hidden submissions.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from flask_babel import gettext as _

from participate import clock, consultations, store
from participate.errors import NotFound

from .errors import ModerationError
from .results import Filters

ACTIONS = ("quote", "unquote")


def mark(
    db: sqlite_utils.Database, submission_id: str, question_id: str, action: str, user_email: str
) -> bool:
    """Quote or unquote one text answer in the report; return whether it changed."""
    if action not in ACTIONS:
        raise ModerationError(_("The action must be quote or unquote."))
    with store.write(db):
        row = store.first_row(
            db,
            "SELECT consultation_id, consultation_version, json_extract(answers, ?) AS text"
            " FROM submissions WHERE id = ?",
            [f'$."{question_id}"', submission_id],
        )
        if row is None:
            raise NotFound(f"no submission {submission_id!r}")
        version = consultations.get(db, row["consultation_id"], row["consultation_version"])
        question = version.question(question_id)
        if question is None or question.type != "text" or not row["text"]:
            raise ModerationError(_("Only a written answer can be quoted."))
        quoted = store.first_row(
            db,
            "SELECT 1 AS x FROM report_quotes WHERE submission_id = ? AND question_id = ?",
            [submission_id, question_id],
        )
        if (quoted is not None) == (action == "quote"):
            return False
        if action == "quote":
            db.execute(
                "INSERT INTO report_quotes (submission_id, question_id) VALUES (?, ?)",
                [submission_id, question_id],
            )
        else:
            db.execute(
                "DELETE FROM report_quotes WHERE submission_id = ? AND question_id = ?",
                [submission_id, question_id],
            )
        db.execute(
            "INSERT INTO report_quote_log (submission_id, question_id, action, user_email, at)"
            " VALUES (?, ?, ?, ?, ?)",
            [submission_id, question_id, action, user_email, clock.utcnow()],
        )
    return True


def quoted_questions(db: sqlite_utils.Database, submission_id: str) -> set[str]:
    """Return the ids of the questions whose answer in this submission is quoted."""
    rows = db.query(
        "SELECT question_id FROM report_quotes WHERE submission_id = ?", [submission_id]
    )
    return {row["question_id"] for row in rows}


def quoted_in(db: sqlite_utils.Database, submission_ids: list[str]) -> set[tuple[str, str]]:
    """Return the (submission id, question id) pairs quoted among these submissions."""
    if not submission_ids:
        return set()
    marks = ", ".join("?" * len(submission_ids))
    rows = db.query(
        "SELECT submission_id, question_id FROM report_quotes"  # noqa: S608
        f" WHERE submission_id IN ({marks})",
        submission_ids,
    )
    return {(row["submission_id"], row["question_id"]) for row in rows}


def quotes(
    db: sqlite_utils.Database, consultation_id: str, filters: Filters
) -> dict[str, list[dict[str, Any]]]:
    """Return the quoted answers of the filtered submissions by question id, oldest first."""
    where, params = filters.where(consultation_id)
    # CROSS JOIN keeps the quotes (a handful, chosen by staff) as the outer loop: left to
    # itself, SQLite walked every submission in time order to find them (0.3 s at a
    # million).
    rows = db.query(
        "SELECT q.question_id, s.id, s.language, s.channel, s.submitted_at,"  # noqa: S608
        " json_extract(s.answers, '$.\"' || q.question_id || '\"') AS text"
        f" FROM report_quotes q CROSS JOIN submissions s ON s.id = q.submission_id WHERE {where}"
        " ORDER BY s.submitted_at, s.id",
        params,
    )
    result: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        result.setdefault(row["question_id"], []).append(dict(row))
    return result


def history(db: sqlite_utils.Database, submission_id: str) -> list[dict[str, Any]]:
    """Return who quoted or unquoted a submission's answers when, oldest first."""
    return list(
        db.query(
            "SELECT question_id, action, user_email, at FROM report_quote_log"
            " WHERE submission_id = ? ORDER BY at, id",
            [submission_id],
        )
    )
