"""The audit log of consultations: who published which version, closed, reopened,
archived or reordered them, and when (table `consultation_log`)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from participate import clock

ACTIONS = ("publish", "close", "reopen", "archive", "unarchive", "order")


def record(
    db: sqlite_utils.Database, consultation_id: str, action: str, *, by: str, version: str = ""
) -> None:
    """Write one entry of the audit log."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    db.execute(
        "INSERT INTO consultation_log (consultation_id, action, version, user_email, at)"
        " VALUES (?, ?, ?, ?, ?)",
        [consultation_id, action, version, by, clock.utcnow()],
    )


def recent(db: sqlite_utils.Database, limit: int = 30) -> list[dict[str, Any]]:
    """Return the latest entries of the audit log, newest first."""
    return list(
        db.query(
            "SELECT consultation_id, action, version, user_email, at FROM consultation_log"
            " ORDER BY id DESC LIMIT ?",
            [limit],
        )
    )
