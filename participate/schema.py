"""The store's schema, as ordered migrations applied at start-up (idempotent).

One migration set for the whole store; each migration is applied once, in order, in its
own transaction, and recorded in `_sqlite_migrations`. Never edit a migration that has
shipped: add a new one at the end.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import sqlite_utils
from sqlite_utils import Migrations

migrations = Migrations("participate")


@migrations()
def m001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        -- One row per consultation: which version is current, and staff overrides.
        CREATE TABLE consultations (
            id TEXT PRIMARY KEY,
            version TEXT NOT NULL,
            closed INTEGER NOT NULL DEFAULT 0,   -- closed by staff, whatever the dates say
            loaded_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            FOREIGN KEY (id, version) REFERENCES consultation_versions (consultation_id, version)
        );
        -- Every version ever loaded or published is kept: submissions pin one.
        CREATE TABLE consultation_versions (
            consultation_id TEXT NOT NULL,
            version TEXT NOT NULL,
            definition TEXT NOT NULL,            -- canonical JSON of the parsed file
            source TEXT NOT NULL DEFAULT '',
            loaded_at TEXT NOT NULL,
            PRIMARY KEY (consultation_id, version)
        );
        -- Keywords of current versions, normalised (upper case, no accents).
        CREATE TABLE keywords (
            keyword TEXT NOT NULL,
            consultation_id TEXT NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
            language TEXT NOT NULL,
            PRIMARY KEY (keyword, consultation_id)
        );
        CREATE TABLE submissions (
            id TEXT PRIMARY KEY,                 -- UUID made at capture
            consultation_id TEXT NOT NULL,
            consultation_version TEXT NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('kiosk', 'sms')),
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,                -- the capturing device's ledger number
            respondent TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL,
            started_at TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            received_at TEXT,                    -- set by the hub
            answers TEXT NOT NULL,               -- JSON object, question id to value
            complete INTEGER NOT NULL DEFAULT 1,
            hidden INTEGER NOT NULL DEFAULT 0,
            hidden_reason TEXT NOT NULL DEFAULT '',
            synced_at TEXT,                      -- node: when the hub acknowledged it
            sync_error TEXT NOT NULL DEFAULT '', -- node: why the hub rejected it
            FOREIGN KEY (consultation_id, consultation_version)
                REFERENCES consultation_versions (consultation_id, version)
        );
        CREATE UNIQUE INDEX submissions_device_seq ON submissions (device_id, seq);
        CREATE INDEX submissions_consultation ON submissions (consultation_id, submitted_at);
        CREATE INDEX submissions_unsynced ON submissions (seq) WHERE synced_at IS NULL;
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret TEXT NOT NULL,                -- HMAC key shared with the node
            created_at TEXT NOT NULL,
            disabled_at TEXT,
            last_seen_at TEXT
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'viewer')),
            created_at TEXT NOT NULL,
            disabled_at TEXT,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            last_login_at TEXT
        );
        CREATE TABLE moderation_log (
            id INTEGER PRIMARY KEY,
            submission_id TEXT NOT NULL REFERENCES submissions (id),
            action TEXT NOT NULL CHECK (action IN ('hide', 'unhide')),
            reason TEXT NOT NULL,
            user_email TEXT NOT NULL,
            at TEXT NOT NULL
        );
        """
    )
    # The store's own device id: the hub stamps SMS submissions with it; a node
    # replaces it with the id the hub gave it when it is enrolled.
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('store_id', ?)",
        [json.dumps(f"store-{uuid.uuid4().hex[:12]}")],
    )


# --- sms tables: add migrations for sms/ below this line (m002_sms, ...) ---


# --- sync tables: add migrations for sync/ below this line (m003_sync, ...) ---


# --- hub tables: add migrations for hub/ below this line (m004_hub, ...) ---


def migrate(db: sqlite_utils.Database) -> None:
    """Apply every pending migration; safe to call on every start and from many processes."""
    for attempt in range(3):
        try:
            migrations.apply(db)
            return
        except sqlite3.OperationalError as exc:
            # Two processes starting together on a new file: the loser finds the
            # table already created; retrying sees the winner's record and skips it.
            if "already exists" not in str(exc) or attempt == 2:
                raise
