"""Webhooks out: each new submission at the hub POSTed, signed, to the URLs staff registered.

The outbox (`webhook_deliveries`) is filled by a trigger on `submissions` (schema
m006), so a delivery is queued in the very transaction that stores a submission,
whichever path stored it (a kiosk's batch from a node, an SMS on the hub, an import),
once, and intake never waits on a receiver. `deliver_due` (a job) sends what is due,
outside any transaction, and records every attempt; a failure is retried with growing
delays for WEBHOOK_RETRY_HOURS, then given up.

Each request carries `Participate-Timestamp` (Unix seconds) and `Participate-Signature:
t=<timestamp>,v1=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` keyed with the
webhook's secret, so a receiver can check who sent it and refuse old replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlite_utils

from participate import clock, consultations, store, submissions

from .errors import WebhookError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Participate-Signature"
TIMESTAMP_HEADER = "Participate-Timestamp"
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=2)
LEASE = timedelta(minutes=5)  # a claimed delivery is not claimed again before this
MAX_URL = 2000


@dataclass(frozen=True)
class Answer:
    """What one attempt got back: an HTTP status, or an error with none."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        """Say whether the receiver took it (any 2xx)."""
        return self.status is not None and 200 <= self.status < 300


Post = Callable[[str, bytes, dict[str, str], float], Answer]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST a delivery with requests; never follow redirects (the URL registered is the one)."""
    try:
        response = requests.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.RequestException as exc:
        return Answer(None, type(exc).__name__ + ": " + str(exc)[:300])
    return Answer(response.status_code, "" if response.ok else response.reason or "")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header's value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """Check a signature header as a receiver would: right key, right body, recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body)
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, header)


# --- registration ------------------------------------------------------------------


def check_url(url: str) -> str:
    """Return a URL fit to register (http or https, a host), or raise WebhookError."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("A webhook URL starts with https:// (or http://) and names a host.")
    if parts.username or parts.password:
        raise WebhookError("Put no user name or password in a webhook URL: it is signed instead.")
    return url


def register(
    db: sqlite_utils.Database, consultation_id: str, url: str, *, created_by: str = ""
) -> dict[str, Any]:
    """Register a URL for a consultation's new submissions; return it with its new secret."""
    url = check_url(url)
    consultations.get(db, consultation_id)  # NotFound for an unknown one
    secret = "whsec_" + secrets.token_urlsafe(32)
    cursor = db.execute(
        "INSERT INTO webhooks (consultation_id, url, secret, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?)",
        [consultation_id, url, secret, clock.utcnow(), created_by],
    )
    log.info("webhook.registered", extra={"consultation": consultation_id, "url": url})
    return {"id": cursor.lastrowid, "url": url, "secret": secret}


def remove(db: sqlite_utils.Database, webhook_id: int) -> bool:
    """Stop a webhook; what it still had queued is given up. False if there was none live."""
    now = clock.utcnow()
    with store.write(db):
        cursor = db.execute(
            "UPDATE webhooks SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
            [now, webhook_id],
        )
        db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = NULL, given_up_at = ?"
            " WHERE webhook_id = ? AND next_attempt_at IS NOT NULL",
            [now, webhook_id],
        )
    return cursor.rowcount == 1


def list_webhooks(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return the live webhooks with their queue: pending, delivered and given-up counts."""
    return list(
        db.query(
            "SELECT w.id, w.consultation_id, w.url, w.created_at, w.created_by,"
            " count(d.id) FILTER (WHERE d.next_attempt_at IS NOT NULL) AS pending,"
            " count(d.delivered_at) AS delivered, count(d.given_up_at) AS given_up"
            " FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id"
            " WHERE w.removed_at IS NULL GROUP BY w.id ORDER BY w.consultation_id, w.id"
        )
    )


def attempt_log(db: sqlite_utils.Database, limit: int = 100) -> list[dict[str, Any]]:
    """Return the latest delivery attempts, newest first, with their delivery's state."""
    return list(
        db.query(
            "SELECT a.attempted_at, a.status, a.error, a.seconds, d.id AS delivery_id,"
            " d.event, d.submission_id, d.attempts, d.delivered_at, d.given_up_at,"
            " d.next_attempt_at, w.url, w.consultation_id"
            " FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
            " JOIN webhooks w ON w.id = d.webhook_id ORDER BY a.id DESC LIMIT ?",
            [limit],
        )
    )


# --- delivery ----------------------------------------------------------------------


@dataclass
class Delivery:
    id: int
    event: str
    submission_id: str | None
    created_at: str
    attempts: int
    webhook_id: int
    url: str
    secret: str
    consultation_id: str
    removed: bool


_DELIVERY = (
    "SELECT d.id, d.event, d.submission_id, d.created_at, d.attempts, d.webhook_id, w.url,"
    " w.secret, w.consultation_id, w.removed_at IS NOT NULL AS removed"
    " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
)


def retry_delay(attempts: int) -> timedelta:
    """Return the wait after `attempts` failed attempts: 30 s, doubling, at most 2 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


def deliver_due(
    db: sqlite_utils.Database,
    *,
    send: Post = post,
    timeout: float = 10,
    retry_hours: float = 24,
    now: datetime | None = None,
    limit: int = 100,
) -> dict[str, int]:
    """Send up to `limit` due deliveries, one at a time; return how many went and failed."""
    moment = now or datetime.now(UTC)
    report = {"delivered": 0, "failed": 0, "given_up": 0}
    for _ in range(limit):
        delivery = _claim(db, moment)
        if delivery is None:
            break
        outcome = _attempt(db, delivery, send, timeout, moment, retry=timedelta(hours=retry_hours))
        report[outcome] += 1
    return report


def _claim(db: sqlite_utils.Database, moment: datetime) -> Delivery | None:
    """Take the oldest due delivery, leasing it so a concurrent run leaves it alone."""
    with store.write(db):
        rows = list(
            db.query(
                _DELIVERY + " WHERE d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= ?"
                " ORDER BY d.next_attempt_at, d.id LIMIT 1",
                [clock.to_text(moment)],
            )
        )
        if not rows:
            return None
        db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?",
            [clock.to_text(moment + LEASE), rows[0]["id"]],
        )
    row = rows[0]
    row["removed"] = bool(row["removed"])
    return Delivery(**row)


def payload(db: sqlite_utils.Database, delivery: Delivery) -> dict[str, Any]:
    """Return the JSON a delivery sends: the event and, for a submission, its record."""
    body: dict[str, Any] = {
        "event": delivery.event,
        "delivery_id": delivery.id,
        "consultation_id": delivery.consultation_id,
    }
    if delivery.submission_id is not None:
        record = submissions.get(db, delivery.submission_id)
        if not submissions.is_respondent(record["respondent"]):
            record["respondent"] = ""  # never a phone number, as in the exports
        # As in the exports: the questions its rules did not ask, apart from blanks.
        version = consultations.get(db, record["consultation_id"], record["consultation_version"])
        asked = {question.id for question in version.asked(record["answers"])}
        record["not_asked"] = [q.id for q in version.questions if q.id not in asked]
        body["submission"] = record
    return body


def _attempt(
    db: sqlite_utils.Database,
    delivery: Delivery,
    send: Post,
    timeout: float,
    moment: datetime,
    *,
    retry: timedelta,
) -> str:
    """Make one attempt of a claimed delivery and record it; return what became of it."""
    if delivery.removed:
        _finish(db, delivery.id, given_up=True, moment=moment)
        return "given_up"
    body = json.dumps(payload(db, delivery), ensure_ascii=False, sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Participate-Webhooks",
        "Participate-Event": delivery.event,
        "Participate-Delivery": str(delivery.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
    }
    started = time.monotonic()
    answer = send(delivery.url, body, headers, timeout)
    seconds = round(time.monotonic() - started, 3)
    attempts = delivery.attempts + 1
    next_at = moment + retry_delay(attempts)
    expired = next_at > clock.parse(delivery.created_at) + retry or delivery.event == "ping"
    with store.write(db):
        db.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, status, error, seconds)"
            " VALUES (?, ?, ?, ?, ?)",
            [delivery.id, clock.to_text(moment), answer.status, answer.error, seconds],
        )
        db.execute(
            "UPDATE webhook_deliveries SET attempts = ? WHERE id = ?", [attempts, delivery.id]
        )
        if answer.ok:
            _finish(db, delivery.id, given_up=False, moment=moment)
        elif expired:
            _finish(db, delivery.id, given_up=True, moment=moment)
        else:
            db.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?",
                [clock.to_text(next_at), delivery.id],
            )
    extra = {
        "delivery": delivery.id,
        "url": delivery.url,
        "status": answer.status,
        "error": answer.error,
    }
    if answer.ok:
        log.info("webhook.delivered", extra=extra)
        return "delivered"
    log.warning("webhook.failed", extra={**extra, "attempts": attempts, "given_up": expired})
    return "given_up" if expired else "failed"


def _finish(
    db: sqlite_utils.Database, delivery_id: int, *, given_up: bool, moment: datetime
) -> None:
    column = "given_up_at" if given_up else "delivered_at"
    db.execute(
        f"UPDATE webhook_deliveries SET next_attempt_at = NULL, {column} = ? WHERE id = ?",  # noqa: S608
        [clock.to_text(moment), delivery_id],
    )


def ping(
    db: sqlite_utils.Database, webhook_id: int, *, send: Post = post, timeout: float = 10
) -> Answer:
    """Send a signed test event to a webhook now, once, and return what it answered."""
    moment = datetime.now(UTC)
    now = clock.to_text(moment)
    cursor = db.execute(
        "INSERT INTO webhook_deliveries (webhook_id, submission_id, event, created_at,"
        " next_attempt_at) SELECT id, NULL, 'ping', ?, NULL FROM webhooks"
        " WHERE id = ? AND removed_at IS NULL",
        [now, webhook_id],
    )
    if cursor.rowcount != 1:
        raise WebhookError("There is no such webhook.")
    rows = list(db.query(_DELIVERY + " WHERE d.id = ?", [cursor.lastrowid]))
    rows[0]["removed"] = bool(rows[0]["removed"])
    _attempt(db, Delivery(**rows[0]), send, timeout, moment, retry=timedelta(0))
    last = db.execute(
        "SELECT status, error FROM webhook_attempts WHERE delivery_id = ? ORDER BY id DESC LIMIT 1",
        [cursor.lastrowid],
    ).fetchone()
    return Answer(last[0], last[1])
