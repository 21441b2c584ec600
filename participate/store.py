"""Open the SQLite store: the one place that connects, sets pragmas and migrates.

Every connection runs in WAL mode with `synchronous=FULL` (an acknowledged write
survives a power cut), a busy timeout, foreign keys on, and `secure_delete` (what is
deleted is overwritten). A connection belongs to the thread that opened it: a request
gets its own (`get_db`, closed on teardown) and so does each background job (`open_db`
in a `with`). Writes that read first go through
`write()`, which takes the write lock up front (`BEGIN IMMEDIATE`) so concurrent
writers queue on the busy timeout instead of failing with SQLITE_BUSY_SNAPSHOT.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from participate import schema

BUSY_TIMEOUT_MS = 30_000


def open_db(path: str | Path, *, migrate: bool = False) -> sqlite_utils.Database:
    """Connect to the store at `path` with the durability pragmas, migrating if asked."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        # Processes starting together on a new file (a hub and its jobs, a demo) would
        # race to switch it to WAL and create its tables; SQLite answers some of those
        # races "database is locked" at once, whatever the busy timeout. One at a time.
        with _file_lock(path.with_name(path.name + ".migrate-lock")):
            db = _connect(path)
            try:
                schema.migrate(db)
            except BaseException:
                db.close()
                raise
        return db
    return _connect(path)


@contextlib.contextmanager
def _file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if missing) across processes."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _connect(path: Path) -> sqlite_utils.Database:
    """Open one connection with the store's pragmas."""
    # isolation_level=None: no implicit transactions; every write is either a single
    # autocommitted statement or an explicit BEGIN (write() or sqlite-utils' atomic()).
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=True
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted rows (a kiosk visit cleared at an idle reset, a conversation's state) are
    # overwritten with zeros, not left readable in free pages of the file.
    conn.execute("PRAGMA secure_delete = ON")
    return sqlite_utils.Database(conn)


@contextlib.contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block as one write transaction that holds the write lock from its start."""
    if db.conn.in_transaction:
        # Nested: let sqlite-utils make a savepoint inside the outer transaction.
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


def first_row(
    db: sqlite_utils.Database, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
) -> dict[str, Any] | None:
    """Return a query's first row as a dict keyed by column name, or None if it has none.

    Rows are read by name everywhere (`db.query()` for many, this for one), never by
    position; the connection itself keeps sqlite3's tuples, which sqlite-utils expects.
    """
    with contextlib.closing(db.query(sql, params)) as rows:
        return next(rows, None)


def get_meta(db: sqlite_utils.Database, key: str, default: Any = None) -> Any:
    """Return a value from the store's key-value `meta` table (JSON-decoded)."""
    row = first_row(db, "SELECT value FROM meta WHERE key = ?", [key])
    return json.loads(row["value"]) if row else default


def set_meta(db: sqlite_utils.Database, key: str, value: Any) -> None:
    """Set a value in the store's key-value `meta` table (JSON-encoded)."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, json.dumps(value)],
    )


def get_db() -> sqlite_utils.Database:
    """Return this request's connection to the app's store, opening it on first use."""
    from flask import current_app, g

    if "db" not in g:
        g.db = open_db(current_app.config["DATABASE"])
    return g.db


def close_db(exc: BaseException | None = None) -> None:
    """Close this request's connection, if one was opened."""
    from flask import g

    db = g.pop("db", None)
    if db is not None:
        db.close()
