"""Moderation: hide or unhide a submission with a reason, kept in an audit log.

A hidden submission is kept, never deleted; charts and exports leave it out unless
asked. Every change is one transaction that updates the submission and appends to
`moderation_log` (who, when, why).
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from flask_babel import gettext as _

from participate import clock, store, tallies
from participate.errors import NotFound

from .errors import ModerationError

MAX_REASON = 500
ACTIONS = ("hide", "unhide")


def moderate(
    db: sqlite_utils.Database, submission_id: str, action: str, reason: str, user_email: str
) -> bool:
    """Hide or unhide a submission and log who did it and why; return whether it changed."""
    reason = reason.strip()
    if action not in ACTIONS:
        raise ModerationError(_("The action must be hide or unhide."))
    if not reason:
        raise ModerationError(_("Give a reason."))
    if len(reason) > MAX_REASON:
        raise ModerationError(_("The reason must be at most %(n)d characters.", n=MAX_REASON))
    hidden = action == "hide"
    with store.write(db):
        row = store.first_row(db, "SELECT hidden FROM submissions WHERE id = ?", [submission_id])
        if row is None:
            raise NotFound(f"no submission {submission_id!r}")
        if bool(row["hidden"]) == hidden:
            return False
        before = tallies.rows_for(db, "s.id = ?", [submission_id])
        tallies.remove(db, before)
        db.execute(
            "UPDATE submissions SET hidden = ?, hidden_reason = ? WHERE id = ?",
            [int(hidden), reason if hidden else "", submission_id],
        )
        tallies.add(db, [{**row, "hidden": int(hidden)} for row in before])
        db.execute(
            "INSERT INTO moderation_log (submission_id, action, reason, user_email, at)"
            " VALUES (?, ?, ?, ?, ?)",
            [submission_id, action, reason, user_email, clock.utcnow()],
        )
    return True


def history(db: sqlite_utils.Database, submission_id: str) -> list[dict[str, Any]]:
    """Return a submission's moderation log, oldest first."""
    return list(
        db.query(
            "SELECT action, reason, user_email, at FROM moderation_log WHERE submission_id = ?"
            " ORDER BY at, id",
            [submission_id],
        )
    )
