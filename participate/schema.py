"""The store's schema, as ordered migrations applied at start-up (idempotent).

One migration set for the whole store; each migration is applied once, in order, in its
own transaction, and recorded in `_sqlite_migrations`. Never edit a migration that has
shipped: add a new one at the end.
"""

from __future__ import annotations

import json
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


# --- kiosk tables ---


@migrations()
def m002_kiosk(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- A visit in progress at a kiosk, keyed by a random token the page carries; the
        -- idle reset deletes it, and a submitted visit is deleted when the screen resets.
        CREATE TABLE kiosk_visits (
            token TEXT PRIMARY KEY,
            submission_id TEXT NOT NULL UNIQUE,  -- made at the start: the idempotency key
            consultation_id TEXT NOT NULL,
            consultation_version TEXT NOT NULL,
            language TEXT NOT NULL,
            answers TEXT NOT NULL DEFAULT '{}',  -- JSON object, question id to value
            text_size TEXT NOT NULL DEFAULT 'normal',
            started_at TEXT NOT NULL,
            touched_at TEXT NOT NULL,            -- last request or keep-alive
            submitted_at TEXT,
            FOREIGN KEY (consultation_id, consultation_version)
                REFERENCES consultation_versions (consultation_id, version)
        );
        CREATE INDEX kiosk_visits_touched ON kiosk_visits (touched_at);
        """
    )


# --- sms tables ---


@migrations()
def m003_sms(db: sqlite_utils.Database) -> None:
    # The SMS channel's own tables. The phone number lives in sms_contacts alone (never
    # synced or exported); the other SMS tables point at the contact by id, so erasing a
    # number is deleting one row. Submissions carry the respondent pseudonym,
    # HMAC-SHA256(E.164) under PHONE_PEPPER.
    db.executescript(
        """
        CREATE TABLE sms_contacts (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL UNIQUE,          -- E.164; never synced or exported
            respondent TEXT NOT NULL,            -- the pseudonym stamped on submissions
            language TEXT NOT NULL DEFAULT '',   -- last language used with this number
            opted_out_at TEXT,                   -- set by STOP (or a 21610), cleared by START
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE sms_conversations (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES sms_contacts (id) ON DELETE CASCADE,
            consultation_id TEXT NOT NULL,
            consultation_version TEXT NOT NULL,
            language TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0, -- index of the question being asked
            answers TEXT NOT NULL DEFAULT '{}',  -- JSON, question id to validated value
            submission_id TEXT NOT NULL UNIQUE,  -- made at the start: an idempotent final record
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'complete', 'stopped', 'expired', 'abandoned')),
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            ended_at TEXT,
            FOREIGN KEY (consultation_id, consultation_version)
                REFERENCES consultation_versions (consultation_id, version)
        );
        CREATE UNIQUE INDEX sms_conversations_one_active ON sms_conversations (contact_id)
            WHERE status = 'active';
        CREATE INDEX sms_conversations_idle ON sms_conversations (updated_at)
            WHERE status = 'active';
        -- Every inbound MessageSid processed: a webhook delivered twice is processed once.
        CREATE TABLE sms_inbound (
            message_sid TEXT NOT NULL UNIQUE,
            received_at TEXT NOT NULL
        );
        CREATE TABLE sms_outbound (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES sms_contacts (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder')),
            consultation_id TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL,
            encoding TEXT NOT NULL,
            segments INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN (
                'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed',
                'cancelled', 'unknown')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            message_sid TEXT UNIQUE,
            error_code INTEGER,
            error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX sms_outbound_due ON sms_outbound (next_attempt_at)
            WHERE status = 'queued';
        CREATE INDEX sms_outbound_contact ON sms_outbound (contact_id, status);
        CREATE TABLE sms_status_events (
            id INTEGER PRIMARY KEY,
            message_sid TEXT NOT NULL,
            status TEXT NOT NULL,
            error_code INTEGER,
            received_at TEXT NOT NULL
        );
        CREATE INDEX sms_status_events_sid ON sms_status_events (message_sid);
        -- What the simulator page shows: its inbound texts, the replies and the outbound
        -- messages delivered to it when there are no Twilio credentials.
        CREATE TABLE sms_simulator_log (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES sms_contacts (id) ON DELETE CASCADE,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            body TEXT NOT NULL,
            encoding TEXT NOT NULL DEFAULT '',
            segments INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL
        );
        CREATE INDEX sms_simulator_log_contact ON sms_simulator_log (contact_id, id);
        """
    )


# --- sync tables ---


@migrations()
def m004_sync(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Hub: nonces of signed device requests seen inside the time window (replays refused).
        CREATE TABLE sync_nonces (
            device_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            PRIMARY KEY (device_id, nonce)
        );
        CREATE INDEX sync_nonces_expiry ON sync_nonces (expires_at);
        -- Hub: each device's latest heartbeat and request, for fleet health.
        CREATE TABLE device_status (
            device_id TEXT PRIMARY KEY REFERENCES devices (id),
            reported_at TEXT,                    -- hub time of the last heartbeat
            version TEXT NOT NULL DEFAULT '',
            queue_depth INTEGER,
            oldest_unsynced_age REAL,            -- seconds, as the node saw it when reporting
            highest_seq INTEGER,
            rejected_count INTEGER,
            node_clock TEXT,
            clock_skew REAL,                     -- seconds, node clock minus hub clock
            free_disk INTEGER,                   -- bytes
            last_error TEXT NOT NULL DEFAULT '', -- the node's last sync error
            refused_at TEXT,                     -- hub time of the last refused request
            refused_reason TEXT NOT NULL DEFAULT ''
        );
        -- Hub: submissions a device pushed that the hub refused, kept for staff to see.
        CREATE TABLE sync_rejections (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            submission_id TEXT NOT NULL,
            seq INTEGER,
            reason TEXT NOT NULL,
            payload TEXT NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL,
            UNIQUE (device_id, submission_id)
        );
        CREATE INDEX sync_rejections_seq ON sync_rejections (device_id, seq);
        -- Node: its sync loop's state, one row (failures drive the backoff).
        CREATE TABLE sync_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            last_attempt_at TEXT,
            last_success_at TEXT,
            next_attempt_at TEXT
        );
        INSERT INTO sync_state (id) VALUES (1);
        """
    )


# --- hub tables ---


# What the submission_texts triggers run for a new or changed submission: gather its
# answers to the text questions of its pinned version into one searchable body.
_INDEX_NEW_TEXT_ANSWERS = """\
            INSERT INTO submission_texts (submission_id, body)
            SELECT new.id, group_concat(a.value, char(10))
            FROM consultation_versions v, json_each(v.definition, '$.questions') q,
                json_each(new.answers) a
            WHERE v.consultation_id = new.consultation_id
                AND v.version = new.consultation_version
                AND json_extract(q.value, '$.type') = 'text'
                AND a.key = json_extract(q.value, '$.id')
            HAVING count(*) > 0;"""


@migrations()
def m005_hub(db: sqlite_utils.Database) -> None:
    db.executescript(
        f"""
        -- Staff sign-ins: the cookie holds a random token, the store its SHA-256, so a
        -- logout or a disabled account ends the session at once.
        CREATE TABLE staff_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX staff_sessions_user ON staff_sessions (user_id);
        -- The text answers of each submission (questions of type text in its pinned
        -- version), kept in step by triggers and indexed for full-text search.
        CREATE TABLE submission_texts (
            id INTEGER PRIMARY KEY,
            submission_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL
        );
        CREATE VIRTUAL TABLE submission_texts_fts USING fts5 (
            body, content = 'submission_texts', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER submission_texts_ai AFTER INSERT ON submission_texts BEGIN
            INSERT INTO submission_texts_fts (rowid, body) VALUES (new.id, new.body);
        END;
        CREATE TRIGGER submission_texts_ad AFTER DELETE ON submission_texts BEGIN
            INSERT INTO submission_texts_fts (submission_texts_fts, rowid, body)
            VALUES ('delete', old.id, old.body);
        END;
        CREATE TRIGGER submissions_texts_ai AFTER INSERT ON submissions BEGIN
{_INDEX_NEW_TEXT_ANSWERS}
        END;
        CREATE TRIGGER submissions_texts_ad AFTER DELETE ON submissions BEGIN
            DELETE FROM submission_texts WHERE submission_id = old.id;
        END;
        CREATE TRIGGER submissions_texts_au AFTER UPDATE OF answers ON submissions BEGIN
            DELETE FROM submission_texts WHERE submission_id = old.id;
{_INDEX_NEW_TEXT_ANSWERS}
        END;
        INSERT INTO submission_texts (submission_id, body)
        SELECT s.id, group_concat(a.value, char(10))
        FROM submissions s
            JOIN consultation_versions v
                ON v.consultation_id = s.consultation_id AND v.version = s.consultation_version,
            json_each(v.definition, '$.questions') q, json_each(s.answers) a
        WHERE json_extract(q.value, '$.type') = 'text' AND a.key = json_extract(q.value, '$.id')
        GROUP BY s.id;
        -- Filters on the staff pages.
        CREATE INDEX submissions_consultation_device ON submissions (consultation_id, device_id);
        """  # noqa: S608 (the f-string adds a constant of this module)
    )


@migrations()
def m006_connected(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Hub: tokens other systems read the API with; only a SHA-256 of each is kept.
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'staff')),
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        -- Hub: every request made with a token, under the token's name.
        CREATE TABLE api_token_uses (
            id INTEGER PRIMARY KEY,
            token_id INTEGER NOT NULL REFERENCES api_tokens (id),
            token_name TEXT NOT NULL,
            used_at TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL
        );
        CREATE INDEX api_token_uses_token ON api_token_uses (token_id, used_at);
        -- Hub: URLs told of each new submission of a consultation, signed with `secret`.
        CREATE TABLE webhooks (
            id INTEGER PRIMARY KEY,
            consultation_id TEXT NOT NULL REFERENCES consultations (id),
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL DEFAULT '',
            removed_at TEXT
        );
        -- Hub: the outbox. One row a (webhook, submission) to deliver, or a test ping
        -- (submission_id NULL); filled by the trigger below in the very transaction that
        -- stores the submission, whatever wrote it, so none is missed and none is doubled.
        CREATE TABLE webhook_deliveries (
            id INTEGER PRIMARY KEY,
            webhook_id INTEGER NOT NULL REFERENCES webhooks (id),
            submission_id TEXT,
            event TEXT NOT NULL DEFAULT 'submission.created',
            created_at TEXT NOT NULL,
            next_attempt_at TEXT,                -- NULL once delivered or given up
            attempts INTEGER NOT NULL DEFAULT 0,
            delivered_at TEXT,
            given_up_at TEXT,
            UNIQUE (webhook_id, submission_id)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
            WHERE next_attempt_at IS NOT NULL;
        -- Hub: what each attempt got back, for the staff page.
        CREATE TABLE webhook_attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id),
            attempted_at TEXT NOT NULL,
            status INTEGER,                      -- the HTTP status, NULL if none came back
            error TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL
        );
        CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
        CREATE TRIGGER submissions_webhooks_ai AFTER INSERT ON submissions BEGIN
            INSERT INTO webhook_deliveries (webhook_id, submission_id, created_at, next_attempt_at)
            SELECT w.id, new.id, t.now, t.now
            FROM webhooks w, (SELECT strftime('%Y-%m-%dT%H:%M:%f000Z') AS now) t
            WHERE w.consultation_id = new.consultation_id AND w.removed_at IS NULL;
        END;
        """
    )


# --- voice: read-aloud audio at the kiosk, the phone call channel ---


@migrations()
def m007_voice(db: sqlite_utils.Database) -> None:
    # Submissions may now come by phone call. Widening a CHECK changes no stored row, so,
    # as SQLite's ALTER TABLE documentation describes for such changes, the table's
    # definition is edited in place (no copy of the table, its indexes and triggers).
    old_check = "CHECK (channel IN ('kiosk', 'sms'))"
    new_check = "CHECK (channel IN ('kiosk', 'sms', 'voice'))"
    schema_version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    db.execute(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
        [old_check, new_check, "submissions"],
    )
    db.execute(f"PRAGMA schema_version = {int(schema_version) + 1}")
    db.execute("PRAGMA writable_schema = OFF")
    db.executescript(
        """
        -- Hub: whether a node can read its questions aloud (espeak-ng present), from its heartbeat.
        ALTER TABLE device_status ADD COLUMN audio TEXT NOT NULL DEFAULT '';
        -- One caller's progress through one consultation, over one or more calls (a dropped
        -- call resumes within VOICE_SESSION_HOURS); like sms_conversations.
        CREATE TABLE voice_sessions (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES sms_contacts (id) ON DELETE CASCADE,
            consultation_id TEXT NOT NULL,
            consultation_version TEXT NOT NULL,
            language TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0,  -- index of the question being asked
            answers TEXT NOT NULL DEFAULT '{}',   -- JSON, question id to value
            selected TEXT NOT NULL DEFAULT '[]',  -- multi: choices pressed so far
            retries INTEGER NOT NULL DEFAULT 0,   -- no or unclear input at this question
            submission_id TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            ended_at TEXT
        );
        CREATE UNIQUE INDEX voice_sessions_one_active ON voice_sessions (contact_id)
            WHERE status = 'active';
        CREATE INDEX voice_sessions_idle ON voice_sessions (updated_at) WHERE status = 'active';
        -- One row per call; `stage` is where the call is (language menu, questions, ended).
        CREATE TABLE voice_calls (
            call_sid TEXT PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES sms_contacts (id) ON DELETE CASCADE,
            consultation_id TEXT NOT NULL,
            session_id INTEGER REFERENCES voice_sessions (id),
            stage TEXT NOT NULL DEFAULT 'language', -- language, questions, ended
            language TEXT NOT NULL DEFAULT '',
            retries INTEGER NOT NULL DEFAULT 0,   -- no or unclear key at the language menu
            call_status TEXT NOT NULL DEFAULT '', -- Twilio's, from the status callback
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- The TwiML answered to each step of a call: Twilio retrying a step gets it again.
        CREATE TABLE voice_steps (
            call_sid TEXT NOT NULL REFERENCES voice_calls (call_sid) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            twiml TEXT NOT NULL,
            PRIMARY KEY (call_sid, step)
        );
        -- Spoken answers to text questions (only with VOICE_RECORDINGS), kept as audio here.
        CREATE TABLE voice_recordings (
            id INTEGER PRIMARY KEY,
            submission_id TEXT NOT NULL,
            question_id TEXT NOT NULL,
            recording_sid TEXT NOT NULL UNIQUE,
            recording_url TEXT NOT NULL,
            duration INTEGER,
            path TEXT,                            -- set once fetched from Twilio
            fetched_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        -- What the simulator page's keypad said and heard; never synced or exported.
        CREATE TABLE voice_simulator_log (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES sms_contacts (id) ON DELETE CASCADE,
            call_sid TEXT NOT NULL,
            step INTEGER NOT NULL,                -- the step the next key is sent as
            direction TEXT NOT NULL,              -- in (a key) or out (what was said)
            body TEXT NOT NULL,
            at TEXT NOT NULL
        );
        """
    )


@migrations()
def m008_device_channels(db: sqlite_utils.Database) -> None:
    # The channels a device may push submissions for, comma-separated: every node takes
    # kiosk visits; `sms` (or later `voice`) only once its gateway is enabled.
    db.execute("ALTER TABLE devices ADD COLUMN channels TEXT NOT NULL DEFAULT 'kiosk'")


# --- staff pages at scale: kept tallies, search by word starts ---


@migrations()
def m009_tallies(db: sqlite_utils.Database) -> None:
    # Kept counts the staff pages read instead of scanning submissions (participate.tallies
    # says what each key means), counted here from the submissions already held, with
    # days in UTC; the app recounts them in its TIMEZONE when it starts.
    db.executescript(
        """
        CREATE TABLE tallies (
            consultation_id TEXT NOT NULL,
            question_id TEXT NOT NULL,           -- '' for the submission itself
            day TEXT NOT NULL,                   -- local day (meta tally_timezone); '' all days
            value TEXT NOT NULL,                 -- JSON of the answer; '' for answered at all
            channel TEXT NOT NULL,
            device_id TEXT NOT NULL,
            language TEXT NOT NULL,
            complete INTEGER NOT NULL,
            hidden INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (consultation_id, question_id, day, value, channel, device_id,
                language, complete, hidden)
        ) WITHOUT ROWID;
        WITH types AS (
            SELECT v.consultation_id, v.version, json_extract(q.value, '$.id') AS question_id,
                json_extract(q.value, '$.type') AS type
            FROM consultation_versions v, json_each(v.definition, '$.questions') q
        ),
        answered AS (
            SELECT s.rowid AS sid, a.key AS question_id, a.value, a.type AS json_type,
                coalesce(t.type, '') AS type
            FROM submissions s, json_each(s.answers) a
            LEFT JOIN types t ON t.consultation_id = s.consultation_id
                AND t.version = s.consultation_version AND t.question_id = a.key
        ),
        keys AS (
            SELECT rowid AS sid, '' AS question_id, '' AS value FROM submissions
            UNION ALL
            SELECT sid, question_id, '' FROM answered
            UNION ALL
            SELECT sid, question_id, CASE json_type WHEN 'true' THEN 'true'
                WHEN 'false' THEN 'false' ELSE json_quote(value) END
            FROM answered WHERE type NOT IN ('text', 'multi')
            UNION ALL
            SELECT a.sid, a.question_id, json_quote(c.value)
            FROM answered a, json_each(a.value) c WHERE a.type = 'multi'
        ),
        days AS (SELECT '' AS all_days UNION ALL SELECT NULL)
        INSERT INTO tallies (consultation_id, question_id, day, value, channel, device_id,
            language, complete, hidden, n)
        SELECT s.consultation_id, k.question_id, coalesce(d.all_days, date(s.submitted_at)),
            k.value, s.channel, s.device_id, s.language, s.complete != 0, s.hidden != 0, count(*)
        FROM keys k JOIN submissions s ON s.rowid = k.sid, days d
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
        -- Lists newest first, paged by keyset on (submitted_at, id), whole or by device.
        CREATE INDEX submissions_consultation_time
            ON submissions (consultation_id, submitted_at, id);
        DROP INDEX submissions_consultation;
        DROP INDEX submissions_consultation_device;
        CREATE INDEX submissions_consultation_device_time
            ON submissions (consultation_id, device_id, submitted_at, id);
        """
    )


@migrations()
def m010_search_prefixes(db: sqlite_utils.Database) -> None:
    # The search index also indexes the first 2 to 8 letters of every word, so a search
    # for a word's start reads one list of answers, newest first, and stops at the page
    # instead of merging every word that starts so (measured at a million: 40 ms -> 3 ms).
    db.executescript(
        """
        DROP TABLE submission_texts_fts;
        CREATE VIRTUAL TABLE submission_texts_fts USING fts5 (
            body, content = 'submission_texts', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8'
        );
        INSERT INTO submission_texts_fts (submission_texts_fts) VALUES ('rebuild');
        """
    )


# --- you said, we did: numbers kept to text the results ---


@migrations()
def m011_results_by_text(db: sqlite_utils.Database) -> None:
    # "You said, we did": numbers kept only to text a consultation's results, each row
    # deleted once its text is queued (hub) or the hub acknowledged it (node).
    db.executescript(
        """
        CREATE TABLE followups (
            id TEXT PRIMARY KEY,                 -- made at capture; the key node to hub
            consultation_id TEXT NOT NULL,
            phone TEXT NOT NULL,                 -- E.164
            language TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (consultation_id, phone)
        );
        -- SMS: a texter who was just thanked and asked whether to get the results.
        CREATE TABLE sms_followup_offers (
            contact_id INTEGER PRIMARY KEY REFERENCES sms_contacts (id) ON DELETE CASCADE,
            consultation_id TEXT NOT NULL,
            language TEXT NOT NULL,
            offered_at TEXT NOT NULL
        );
        -- Hub: each published summary (the audit log: who sent what, to how many).
        CREATE TABLE followup_summaries (
            id INTEGER PRIMARY KEY,
            consultation_id TEXT NOT NULL REFERENCES consultations (id),
            texts TEXT NOT NULL,                 -- JSON: language to message
            sent_by TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            queued INTEGER NOT NULL,
            skipped INTEGER NOT NULL             -- opted-out numbers, not texted
        );
        -- Hub: the queued texts of a summary, until each is settled and its number erased.
        CREATE TABLE followup_messages (
            outbound_id INTEGER PRIMARY KEY,
            summary_id INTEGER NOT NULL REFERENCES followup_summaries (id)
        );
        """
    )
    # The queue learns a third kind, 'results': the CHECK widened in place, as m007_voice does.
    old_check = "CHECK (kind IN ('invitation', 'reminder'))"
    new_check = "CHECK (kind IN ('invitation', 'reminder', 'results'))"
    schema_version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    db.execute(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
        [old_check, new_check, "sms_outbound"],
    )
    db.execute(f"PRAGMA schema_version = {int(schema_version) + 1}")
    db.execute("PRAGMA writable_schema = OFF")


# --- privacy: erasure, retention, the reply budget ---


@migrations()
def m012_privacy(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- What is left of an erased submission: its place in its device's ledger (so the
        -- number is never given again, and the hub sees no gap), never its content.
        CREATE TABLE submission_erasures (
            id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            consultation_id TEXT NOT NULL,
            erased_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX submission_erasures_device_seq ON submission_erasures (device_id, seq);
        -- Erasure requests by pseudonym: what was captured before `requested_at` goes,
        -- here and on every node (the hub's heartbeat answer carries the pending ones).
        CREATE TABLE erasure_orders (
            respondent TEXT PRIMARY KEY,
            requested_at TEXT NOT NULL
        );
        CREATE TABLE erasure_acks (
            respondent TEXT NOT NULL REFERENCES erasure_orders (respondent) ON DELETE CASCADE,
            device_id TEXT NOT NULL,
            acknowledged_at TEXT NOT NULL,
            PRIMARY KEY (respondent, device_id)
        );
        -- Who answered an access or erasure request, when, and what it found: no number,
        -- only the start of the pseudonym and counts.
        CREATE TABLE privacy_log (
            id INTEGER PRIMARY KEY,
            action TEXT NOT NULL CHECK (action IN ('erase', 'subject', 'retention')),
            respondent_prefix TEXT NOT NULL DEFAULT '',
            counts TEXT NOT NULL DEFAULT '{}',   -- JSON: what was found or removed
            user_email TEXT NOT NULL DEFAULT '', -- '' for the command line and the job
            at TEXT NOT NULL
        );
        -- Opt-outs by pseudonym: a STOP outlives the number's erasure.
        CREATE TABLE sms_opt_outs (
            respondent TEXT PRIMARY KEY,
            opted_out_at TEXT NOT NULL
        );
        INSERT OR IGNORE INTO sms_opt_outs (respondent, opted_out_at)
            SELECT respondent, opted_out_at FROM sms_contacts WHERE opted_out_at IS NOT NULL;
        -- Replies sent to a number in one clock hour (UTC), to cap what a flood or an
        -- auto-responder loop can cost; `withheld` counts texts processed but not answered.
        CREATE TABLE sms_reply_budget (
            respondent TEXT NOT NULL,
            hour TEXT NOT NULL,                  -- 2026-12-01T10
            replies INTEGER NOT NULL DEFAULT 0,
            unprompted INTEGER NOT NULL DEFAULT 0,  -- help or hints not asked for by a question
            withheld INTEGER NOT NULL DEFAULT 0,
            last_text TEXT NOT NULL DEFAULT '',  -- fingerprint of the last text, for repeats
            PRIMARY KEY (respondent, hour)
        );
        CREATE INDEX sms_reply_budget_hour ON sms_reply_budget (hour);
        CREATE INDEX sms_contacts_respondent ON sms_contacts (respondent);
        CREATE INDEX submissions_respondent ON submissions (respondent) WHERE respondent != '';
        """
    )


@migrations()
def m013_report_quotes(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Text answers staff chose to quote in the consultation report, and who marked
        -- or unmarked them when (kept like moderation_log: never rewritten).
        CREATE TABLE report_quotes (
            submission_id TEXT NOT NULL REFERENCES submissions (id),
            question_id TEXT NOT NULL,
            PRIMARY KEY (submission_id, question_id)
        );
        CREATE TABLE report_quote_log (
            id INTEGER PRIMARY KEY,
            submission_id TEXT NOT NULL REFERENCES submissions (id),
            question_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('quote', 'unquote')),
            user_email TEXT NOT NULL,
            at TEXT NOT NULL
        );
        """
    )


# --- sms gateways and the fleet's opt-outs ---


@migrations()
def m014_sms_gateways(db: sqlite_utils.Database) -> None:
    # A node is an SMS gateway of its own (a GSM modem through gammu-smsd, an Android
    # phone): its replies go through the outbound queue (kind 'reply'), and a gateway
    # that takes a message first and reports it sent later holds it as 'accepted'. Both
    # CHECKs are widened in place, as m007_voice does (whatever kinds others added).
    edits = [
        (
            "CHECK (kind IN ('invitation', 'reminder'",
            "CHECK (kind IN ('invitation', 'reminder', 'reply'",
        ),
        ("'queued', 'sending', 'sent',", "'queued', 'sending', 'accepted', 'sent',"),
    ]
    schema_version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    for old, new in edits:
        db.execute(
            "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
            [old, new, "sms_outbound"],
        )
    db.execute(f"PRAGMA schema_version = {int(schema_version) + 1}")
    db.execute("PRAGMA writable_schema = OFF")
    db.executescript(
        """
        CREATE INDEX sms_outbound_accepted ON sms_outbound (message_sid)
            WHERE status = 'accepted';
        CREATE INDEX IF NOT EXISTS sms_contacts_respondent ON sms_contacts (respondent);
        -- The gateway's own health, one row, as the node reports it in its heartbeat.
        CREATE TABLE sms_gateway_status (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            kind TEXT NOT NULL DEFAULT '',
            last_error TEXT NOT NULL DEFAULT '',
            last_error_at TEXT,
            signal INTEGER,                      -- percent, where the modem reports it
            battery INTEGER,                     -- percent, where the phone reports it
            checked_at TEXT
        );
        INSERT INTO sms_gateway_status (id) VALUES (1);
        -- Every store: the fleet's opt-outs by pseudonym (never a number). `version` is
        -- this store's change counter (a node asks the hub for versions after its
        -- cursor); `pushed` says whether a node's own change has reached the hub.
        CREATE TABLE opt_outs (
            respondent TEXT PRIMARY KEY,
            opted_out INTEGER NOT NULL CHECK (opted_out IN (0, 1)),
            changed_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            pushed INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX opt_outs_version ON opt_outs (version);
        CREATE INDEX opt_outs_unpushed ON opt_outs (respondent) WHERE pushed = 0;
        -- A change from anywhere in the fleet applies to this store's contact of that
        -- pseudonym: its state, and (opted out) the messages still queued for it. A
        -- change is always written as a new row (INSERT OR REPLACE), so one trigger does.
        CREATE TRIGGER opt_outs_apply_insert AFTER INSERT ON opt_outs BEGIN
            UPDATE sms_contacts SET
                opted_out_at = CASE WHEN new.opted_out
                    THEN coalesce(opted_out_at, new.changed_at) END,
                updated_at = new.changed_at
            WHERE respondent = new.respondent;
            UPDATE sms_outbound SET status = 'cancelled', error = 'opted out',
                updated_at = new.changed_at
            WHERE new.opted_out AND status = 'queued' AND contact_id IN
                (SELECT id FROM sms_contacts WHERE respondent = new.respondent);
        END;
        -- Hub: what each node's heartbeat says of its SMS gateway.
        ALTER TABLE device_status ADD COLUMN gateway TEXT NOT NULL DEFAULT '{}';
        """
    )


@migrations()
def m015_lifecycle(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- The order staff set for the kiosk's list (smallest first), and archiving: an
        -- archived consultation takes no answers and leaves the lists, its data stays.
        ALTER TABLE consultations ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE consultations ADD COLUMN archived_at TEXT;
        -- Hub: a consultation as staff are editing it, before it is published. The
        -- definition is kept as typed (it may not pass the checks yet); publishing
        -- checks it and stores it as a new version.
        CREATE TABLE consultation_drafts (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            base_version TEXT,                   -- the version it started from; NULL: new
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL DEFAULT ''
        );
        """
    )


@migrations()
def m016_tallies_not_asked(db: sqlite_utils.Database) -> None:
    # The tallies now also count, for each question with a rule (skip logic), the
    # submissions it was not asked of (participate.tallies, NOT_ASKED). A store holding
    # submissions of a version with rules is recounted: this sets meta `tallies_recount`
    # (participate.tallies.RECOUNT_KEY), and the app as it starts, or `participate
    # check`, rebuilds the tallies in Python, the one place that knows the rules.
    db.execute(
        "INSERT INTO meta (key, value) SELECT 'tallies_recount', 'true'"
        " WHERE EXISTS (SELECT 1 FROM submissions s JOIN consultation_versions v"
        " ON v.consultation_id = s.consultation_id AND v.version = s.consultation_version"
        " WHERE v.definition LIKE '%\"ask_if\"%')"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )


@migrations()
def m017_consultation_log(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Hub: who published which version of a consultation, closed, reopened, archived
        -- or reordered it, and when (the staff pages' audit log of consultations).
        CREATE TABLE consultation_log (
            id INTEGER PRIMARY KEY,
            consultation_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN
                ('publish', 'close', 'reopen', 'archive', 'unarchive', 'order')),
            version TEXT NOT NULL DEFAULT '',
            user_email TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL
        );
        CREATE INDEX consultation_log_consultation ON consultation_log (consultation_id, id);
        """
    )


# The columns the staff pages filter submissions by (hub.results.Filters), kept beside
# each submission's searchable text from m018 on.
_SEARCH_FILTER_COLUMNS = (
    "consultation_id",
    "channel",
    "device_id",
    "language",
    "submitted_at",
    "complete",
    "hidden",
)
# The triggers' insert of a submission's texts, as m005's `_INDEX_NEW_TEXT_ANSWERS` (which
# stays as it shipped: a migration is never edited) with those columns added.
_FILTERS = ", ".join(_SEARCH_FILTER_COLUMNS)
_NEW_FILTERS = ", ".join(f"new.{column}" for column in _SEARCH_FILTER_COLUMNS)
_INDEX_NEW_TEXT_ANSWERS_WITH_FILTERS = f"""\
            INSERT INTO submission_texts (submission_id, body, {_FILTERS})
            SELECT new.id, group_concat(a.value, char(10)), {_NEW_FILTERS}
            FROM consultation_versions v, json_each(v.definition, '$.questions') q,
                json_each(new.answers) a
            WHERE v.consultation_id = new.consultation_id
                AND v.version = new.consultation_version
                AND json_extract(q.value, '$.type') = 'text'
                AND a.key = json_extract(q.value, '$.id')
            HAVING count(*) > 0;"""  # noqa: S608 (constants of this module)


@migrations()
def m018_search_filters(db: sqlite_utils.Database) -> None:
    # A search reads the newest matching texts and keeps those in the page's filters:
    # with the filters' columns beside the text, that is one row a match, not the text
    # then its submission by id (measured at a million, 1,000 matches ranked: 9.2 ms ->
    # 3.8 ms). Triggers keep the copies in step: a new or changed answer inserts them
    # with the text, moderation (or any change of those columns) updates them.
    added = "\n".join(
        f"ALTER TABLE submission_texts ADD COLUMN {column} {kind};"
        for column, kind in (
            ("consultation_id", "TEXT NOT NULL DEFAULT ''"),
            ("channel", "TEXT NOT NULL DEFAULT ''"),
            ("device_id", "TEXT NOT NULL DEFAULT ''"),
            ("language", "TEXT NOT NULL DEFAULT ''"),
            ("submitted_at", "TEXT NOT NULL DEFAULT ''"),
            ("complete", "INTEGER NOT NULL DEFAULT 1"),
            ("hidden", "INTEGER NOT NULL DEFAULT 0"),
        )
    )
    copied = ", ".join(f"{column} = s.{column}" for column in _SEARCH_FILTER_COLUMNS)
    changed = ", ".join(f"{column} = new.{column}" for column in _SEARCH_FILTER_COLUMNS)
    db.executescript(
        f"""
        {added}
        UPDATE submission_texts AS t SET {copied}
        FROM submissions s WHERE s.id = t.submission_id;
        DROP TRIGGER submissions_texts_ai;
        DROP TRIGGER submissions_texts_au;
        CREATE TRIGGER submissions_texts_ai AFTER INSERT ON submissions BEGIN
{_INDEX_NEW_TEXT_ANSWERS_WITH_FILTERS}
        END;
        CREATE TRIGGER submissions_texts_au AFTER UPDATE OF answers ON submissions BEGIN
            DELETE FROM submission_texts WHERE submission_id = old.id;
{_INDEX_NEW_TEXT_ANSWERS_WITH_FILTERS}
        END;
        CREATE TRIGGER submissions_texts_filters AFTER UPDATE OF {_FILTERS} ON submissions
        BEGIN
            UPDATE submission_texts SET {changed} WHERE submission_id = new.id;
        END;
        """  # noqa: S608 (constants of this module)
    )


def migrate(db: sqlite_utils.Database) -> None:
    """Apply every pending migration (the caller serialises processes: `store.open_db`)."""
    migrations.apply(db)
