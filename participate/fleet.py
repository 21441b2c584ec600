"""What every store of the fleet shares about texters: the phone pepper and the opt-outs.

One person has one pseudonym and one opt-out across the fleet. The hub's phone pepper
is handed to each enrolled node over the signed heartbeat and kept beside the node's
store (never inside it, never logged), so a number gets the same pseudonym everywhere.
An opt-out (STOP) or opt-in (START) taken by any store is written to `opt_outs` by
pseudonym; a node sends its own changes to the hub with its heartbeat and takes the
hub's changes back in the answer. A trigger (schema m006) applies every change, wherever
it was made, to the store's contact of that pseudonym and cancels what is queued for it.
The latest change wins.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from participate import store
from participate.errors import ConfigError

log = logging.getLogger(__name__)

PEPPER_SUFFIX = ".phone-pepper"
MIN_PEPPER = 16
# A pseudonym is a hex HMAC-SHA256: anything else from the wire is refused.
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
# Most opt-out changes one heartbeat carries either way; the rest follow the next time.
BATCH = 500


# --- the pepper ------------------------------------------------------------------------


def pepper_file(database: str | Path) -> Path:
    """Return where a generated or received pepper is kept: beside the store, never inside."""
    database = Path(database)
    return database.with_name(database.name + PEPPER_SUFFIX)


def read_pepper(database: str | Path) -> bytes | None:
    """Return the pepper kept beside the store, or None if there is none yet."""
    try:
        value = pepper_file(database).read_text().strip()
    except FileNotFoundError:
        return None
    if len(value) < MIN_PEPPER:
        raise ConfigError(f"{pepper_file(database)} holds no usable pepper; delete it")
    return value.encode("utf-8")


def generate_pepper(database: str | Path) -> bytes:
    """Return the pepper kept beside the store, making a random one first if there is none."""
    path = pepper_file(database)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        log.warning("fleet.pepper_generated", extra={"path": str(path)})
    pepper = read_pepper(database)
    assert pepper is not None
    return pepper


def hub_pepper(configured: str, database: str | Path) -> bytes:
    """Return the hub's pepper: PHONE_PEPPER, else the one generated beside its store."""
    if configured:
        if len(configured) < MIN_PEPPER:
            raise ConfigError("PHONE_PEPPER must be at least 16 characters long")
        return configured.encode("utf-8")
    return generate_pepper(database)


def keep_pepper(database: str | Path, pepper: str) -> bool:
    """Keep the hub's pepper beside a node's store (owner-only); say whether it changed."""
    if len(pepper) < MIN_PEPPER:
        raise ConfigError("the hub sent a phone pepper too short to use")
    if read_pepper(database) == pepper.encode("utf-8"):
        return False
    path = pepper_file(database)
    temporary = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pepper)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    log.info("fleet.pepper_received")  # the value itself is never logged
    return True


# --- opt-outs ----------------------------------------------------------------------


def _next_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT coalesce(max(version), 0) + 1 FROM opt_outs").fetchone()[0])


def record_opt_out(
    db: sqlite_utils.Database,
    respondent: str,
    opted_out: bool,
    changed_at: str,
    *,
    pushed: bool = False,
) -> bool:
    """Note a pseudonym's opt-out state unless a later change is held; say whether it applied.

    Run inside the caller's write transaction. A node's own change waits to be pushed
    (`pushed` False); a change taken from the hub, or a hub's own, needs no push.
    """
    row = db.execute(
        "SELECT opted_out, changed_at FROM opt_outs WHERE respondent = ?", [respondent]
    ).fetchone()
    if row is not None and row[1] >= changed_at:
        return False  # a later change is held
    if row is not None and bool(row[0]) == opted_out:
        # The same state again (a second STOP): nothing to apply or to send.
        db.execute(
            "UPDATE opt_outs SET changed_at = ? WHERE respondent = ?", [changed_at, respondent]
        )
        return False
    # Replaced, not updated: the trigger that applies a change runs on insert.
    db.execute(
        "INSERT OR REPLACE INTO opt_outs (respondent, opted_out, changed_at, version, pushed)"
        " VALUES (?, ?, ?, ?, ?)",
        [respondent, int(opted_out), changed_at, _next_version(db), int(pushed)],
    )
    return True


def opted_out_since(db: sqlite_utils.Database, respondent: str) -> str | None:
    """Return when a pseudonym opted out, anywhere in the fleet, or None if it has not."""
    row = db.execute(
        "SELECT changed_at FROM opt_outs WHERE respondent = ? AND opted_out = 1", [respondent]
    ).fetchone()
    return row[0] if row else None


def unpushed(db: sqlite_utils.Database, limit: int = BATCH) -> list[dict[str, Any]]:
    """Return a node's own changes the hub has not acknowledged yet, as the heartbeat sends them."""
    rows = db.execute(
        "SELECT respondent, opted_out, changed_at FROM opt_outs WHERE pushed = 0"
        " ORDER BY version LIMIT ?",
        [limit],
    ).fetchall()
    return [{"respondent": r, "opted_out": bool(o), "changed_at": c} for r, o, c in rows]


def mark_pushed(db: sqlite_utils.Database, changes: Iterable[Mapping[str, Any]]) -> None:
    """Note that the hub took these changes (unless the pseudonym changed again since)."""
    with store.write(db):
        for change in changes:
            db.execute(
                "UPDATE opt_outs SET pushed = 1 WHERE respondent = ? AND changed_at = ?",
                [change["respondent"], change["changed_at"]],
            )


def changes_after(
    db: sqlite_utils.Database, cursor: int, limit: int = BATCH
) -> tuple[list[dict[str, Any]], int]:
    """Return the changes after `cursor` (a version) and the cursor to ask from next time."""
    rows = db.execute(
        "SELECT respondent, opted_out, changed_at, version FROM opt_outs WHERE version > ?"
        " ORDER BY version LIMIT ?",
        [cursor, limit],
    ).fetchall()
    changes = [{"respondent": r, "opted_out": bool(o), "changed_at": c} for r, o, c, _ in rows]
    return changes, (rows[-1][3] if rows else cursor)


def checked_changes(value: Any) -> list[dict[str, Any]]:
    """Return the well-formed opt-out changes of a wire list; drop anything else."""
    if not isinstance(value, list):
        return []
    clean = []
    for item in value[:BATCH]:
        if not isinstance(item, Mapping):
            continue
        respondent, opted_out, changed_at = (
            item.get("respondent"),
            item.get("opted_out"),
            item.get("changed_at"),
        )
        if (
            isinstance(respondent, str)
            and _PSEUDONYM.fullmatch(respondent)
            and isinstance(opted_out, bool)
            and isinstance(changed_at, str)
            and 0 < len(changed_at) <= 40
        ):
            clean.append(
                {"respondent": respondent, "opted_out": opted_out, "changed_at": changed_at}
            )
    return clean


def take_changes(
    db: sqlite_utils.Database, changes: Iterable[Mapping[str, Any]], *, pushed: bool = True
) -> int:
    """Apply changes from elsewhere in the fleet in one transaction; return how many applied."""
    applied = 0
    with store.write(db):
        for change in changes:
            applied += record_opt_out(
                db,
                change["respondent"],
                change["opted_out"],
                change["changed_at"],
                pushed=pushed,
            )
    return applied


# --- the SMS gateway's report, for the heartbeat ------------------------------------------


def keep_gateway_report(db: sqlite_utils.Database, report: Mapping[str, Any]) -> None:
    """Keep what the node's SMS gateway last reported (its kind, traffic, problems)."""
    store.set_meta(db, "sms_gateway_report", dict(report))


def gateway_report(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """Return what the node's SMS gateway last reported, or None where there is none."""
    return store.get_meta(db, "sms_gateway_report")
