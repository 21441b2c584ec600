"""Read what a test needs to check straight from a store (no product code does this)."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def is_opted_out(db: sqlite_utils.Database, phone: str) -> bool:
    """Say whether a number has opted out of every message."""
    rows = db.query("SELECT opted_out_at FROM sms_contacts WHERE phone = ?", [phone])
    return any(row["opted_out_at"] for row in rows)


def rejections(db: sqlite_utils.Database, device_id: str | None = None) -> list[dict[str, Any]]:
    """Return the submissions the hub refused (all devices, or one), newest first."""
    return list(
        db.query(
            "SELECT device_id, submission_id, seq, reason, payload, first_at, last_at"
            " FROM sync_rejections WHERE ? IS NULL OR device_id = ?"
            " ORDER BY last_at DESC, id DESC",
            [device_id, device_id],
        )
    )
