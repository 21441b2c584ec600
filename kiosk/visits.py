"""Kiosk visits kept server-side, so an idle reset leaves nothing of a visitor anywhere.

A visit is a row of `kiosk_visits` keyed by a random token that the page carries (a
cookie and a hidden form field). It holds the submission id made at the start (so the
final submit is idempotent), the consultation version it pinned, the language, the
answers so far and the text size. Ending a visit deletes its row; a visit untouched for
longer than the idle limit is treated as gone and swept away.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from participate import clock, store, submissions
from participate.answers import SKIPPED
from participate.consultations import Consultation

from .errors import VisitGone

TEXT_SIZES = ("normal", "large")


@dataclass
class Visit:
    token: str
    submission_id: str
    consultation_id: str
    consultation_version: str
    language: str
    answers: dict[str, Any] = field(default_factory=dict)
    text_size: str = "normal"
    started_at: str = ""
    touched_at: str = ""
    submitted_at: str | None = None

    @property
    def submitted(self) -> bool:
        """Say whether this visit's answers are already recorded."""
        return self.submitted_at is not None


def _cutoff(max_idle_seconds: float) -> str:
    return clock.to_text(datetime.now(UTC) - timedelta(seconds=max_idle_seconds))


def start(
    db: sqlite_utils.Database,
    consultation: Consultation,
    *,
    language: str,
    text_size: str = "normal",
) -> Visit:
    """Begin a visit of `consultation`, with a new token and the submission id it will use."""
    now = clock.utcnow()
    visit = Visit(
        token=secrets.token_urlsafe(32),
        submission_id=submissions.new_id(),
        consultation_id=consultation.id,
        consultation_version=consultation.version,
        language=consultation.language(language),
        text_size=text_size if text_size in TEXT_SIZES else "normal",
        started_at=now,
        touched_at=now,
    )
    db.execute(
        "INSERT INTO kiosk_visits (token, submission_id, consultation_id, consultation_version,"
        " language, answers, text_size, started_at, touched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            visit.token,
            visit.submission_id,
            visit.consultation_id,
            visit.consultation_version,
            visit.language,
            "{}",
            visit.text_size,
            visit.started_at,
            visit.touched_at,
        ],
    )
    return visit


def load(
    db: sqlite_utils.Database, token: str | None, *, max_idle_seconds: float, touch: bool = True
) -> Visit:
    """Return the live visit named by `token`, marking it touched; raise VisitGone if none."""
    if not token or len(token) > 100:
        raise VisitGone("no visit")
    now = clock.utcnow()
    row = store.first_row(
        db,
        "SELECT token, submission_id, consultation_id, consultation_version, language,"
        " answers, text_size, started_at, touched_at, submitted_at"
        " FROM kiosk_visits WHERE token = ?",
        [token],
    )
    if row is None:
        raise VisitGone("no such visit")
    if row["touched_at"] < _cutoff(max_idle_seconds):
        end(db, token)
        raise VisitGone("visit expired")
    if touch:
        db.execute("UPDATE kiosk_visits SET touched_at = ? WHERE token = ?", [now, token])
        row["touched_at"] = now
    return Visit(**{**row, "answers": json.loads(row["answers"])})


def language_of(db: sqlite_utils.Database, token: str | None) -> str | None:
    """Return the language of the visit named by `token`, without touching it, or None."""
    if not token:
        return None
    row = store.first_row(db, "SELECT language FROM kiosk_visits WHERE token = ?", [token])
    return row["language"] if row else None


def set_answer(
    db: sqlite_utils.Database,
    visit: Visit,
    consultation: Consultation,
    question_id: str,
    value: Any,
) -> None:
    """Keep one answer in the visit (a SKIPPED value removes it).

    An answer kept for a question the answers now skip (the visitor went back and changed
    their mind) is dropped with it: the visit only ever holds answers to questions asked,
    so what it sends passes validation (which refuses answers to questions not asked).
    """
    if value is SKIPPED:
        visit.answers.pop(question_id, None)
    else:
        visit.answers[question_id] = value
    visit.answers = consultation.only_asked(visit.answers)
    db.execute(
        "UPDATE kiosk_visits SET answers = ? WHERE token = ?",
        [json.dumps(visit.answers, ensure_ascii=False), visit.token],
    )


def set_text_size(db: sqlite_utils.Database, visit: Visit, text_size: str) -> None:
    """Remember the text size the visitor chose for the rest of the visit."""
    visit.text_size = text_size if text_size in TEXT_SIZES else "normal"
    db.execute(
        "UPDATE kiosk_visits SET text_size = ? WHERE token = ?", [visit.text_size, visit.token]
    )


def set_language(
    db: sqlite_utils.Database, visit: Visit, consultation: Consultation, language: str
) -> None:
    """Speak `language` for the rest of the visit, if the consultation offers it."""
    if language not in consultation.languages:
        return
    visit.language = language
    db.execute("UPDATE kiosk_visits SET language = ? WHERE token = ?", [language, visit.token])


def submit(db: sqlite_utils.Database, visit: Visit, consultation: Consultation) -> dict[str, Any]:
    """Record the visit's submission and forget its answers, in one transaction; idempotent.

    Call it inside a write transaction of its own, or through `participate.group_commit`, which
    commits many visits' submits together.
    """
    with store.write(db):
        record = submissions.record(
            db,
            consultation,
            channel="kiosk",
            language=visit.language,
            answers=visit.answers,
            started_at=visit.started_at,
            submission_id=visit.submission_id,
        )
        # The answers now live in the submission only; the visit keeps just enough to
        # show the thank-you screen.
        db.execute(
            "UPDATE kiosk_visits SET answers = '{}', submitted_at = coalesce(submitted_at, ?)"
            " WHERE token = ?",
            [record["submitted_at"], visit.token],
        )
    visit.answers = {}
    visit.submitted_at = visit.submitted_at or record["submitted_at"]
    return record


def end(db: sqlite_utils.Database, token: str | None) -> bool:
    """Delete a visit and everything it held; say whether there was one."""
    if not token:
        return False
    return db.execute("DELETE FROM kiosk_visits WHERE token = ?", [token]).rowcount > 0


def sweep(db: sqlite_utils.Database, *, max_idle_seconds: float) -> int:
    """Delete every visit untouched for longer than `max_idle_seconds`; return how many."""
    return db.execute(
        "DELETE FROM kiosk_visits WHERE touched_at < ?", [_cutoff(max_idle_seconds)]
    ).rowcount
