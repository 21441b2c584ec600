"""Outbound SMS: a persistent queue, sent by a job through the gateway's sender.

The senders: Twilio, the simulator, a GSM modem (`gammu`) or an Android phone
(`android`); a gateway that takes a message and reports later holds it `accepted`
until its report settles it as `sent` or `failed`. A gateway without a synchronous
reply (gammu, android) queues each reply to a text here too (`queue_replies`), so
replies share the rate limit; quiet hours hold invitations and reminders, never the
answer to someone who has just texted.

`enqueue` stores a message for a number that has not opted out. `send_due` (the
scheduled job) claims due messages one at a time, waits for the sender's rate limit
(or, with wait=False, stops where it holds one back), sends outside any transaction,
and records the result (`deliver`; a gateway taking a text may claim its reply in the
same transaction with `claim_now`, which never waits): `sent` (handed to Twilio; its
status callbacks then move it to delivered, undelivered or failed), a retry with
doubling delay for transient errors up to SMS_MAX_ATTEMPTS, or `failed` at once for
permanent ones. Error 21610 (the number opted out at Twilio) marks the contact opted
out and cancels what is queued for it. Nothing is sent during quiet hours. A message
found `sending` after a crash is marked `unknown`, never resent: a duplicate text to a
citizen is worse than a missing one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

import requests
import sqlite_utils
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from participate import clock, store

from . import contacts, phones, segments
from .config import SmsConfig
from .errors import PermanentSendError, SendError, TransientSendError

log = logging.getLogger(__name__)

KINDS = ("invitation", "reminder", "results", "reply")
OPTED_OUT = 21610
# Twilio error codes worth another try later; anything else from a 4xx is permanent.
TRANSIENT_CODES = frozenset({20429, 30003, 21611, 30001, 30008, 20500, 20503})
PERMANENT_CODES = frozenset({21211, 21612, 21614, 30006, 30005, 30007, 21408, OPTED_OUT})
MAX_RETRY_DELAY = timedelta(hours=1)
STALE_SENDING = timedelta(minutes=10)
# Twilio's delivery statuses, in order; a late callback never moves a message backwards.
STATUS_RANK = {"accepted": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}


class Sender(Protocol):
    """What the queue sends through: Twilio, or the simulator without credentials."""

    key: str  # what the rate limit is per: the sending number or service
    reports_later: bool  # True: a sent message is `accepted` until the gateway reports

    def send(self, to: str, body: str) -> str:
        """Send one message and return its MessageSid, or raise a SendError."""
        ...


def classify(code: int | None, status: int | None) -> type[SendError]:
    """Say whether a Twilio error is worth retrying (TransientSendError) or not."""
    if code in TRANSIENT_CODES or (status or 0) >= 500 or status == 429:
        return TransientSendError
    if code in PERMANENT_CODES:
        return PermanentSendError
    return PermanentSendError if status and 400 <= status < 500 else TransientSendError


class TwilioSender:
    """Send through the Twilio REST API (a `Client`, whose HTTP client tests replace)."""

    def __init__(self, client: Client, config: SmsConfig) -> None:
        self.client = client
        self.config = config
        self.key = config.messaging_service_sid or config.from_number
        self.reports_later = False

    def send(self, to: str, body: str) -> str:
        """Send one message and return its MessageSid, or raise a SendError."""
        options: dict[str, str] = {"to": to, "body": body}
        if self.config.messaging_service_sid:
            options["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            options["from_"] = self.config.from_number
        if self.config.status_callback:
            options["status_callback"] = self.config.status_callback
        try:
            message = self.client.messages.create(**options)
        except TwilioException as exc:
            code = getattr(exc, "code", None)
            status = getattr(exc, "status", None)
            kind = classify(code, status)
            # `msg`, not str(exc): that adds terminal colours on a tty. Twilio's messages
            # name the number ("The 'To' number +1... is not valid"): it stays out.
            detail = phones.redact(str(getattr(exc, "msg", "") or exc))
            raise kind(
                f"Twilio refused the message ({code or status}): {detail}", code=code
            ) from exc
        except (requests.RequestException, OSError) as exc:
            raise TransientSendError(f"could not reach Twilio: {phones.redact(str(exc))}") from exc
        return str(message.sid)


class SimulatorSender:
    """Deliver to the simulator page: the queue's sender when there are no Twilio credentials."""

    key = "simulator"
    reports_later = False

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def send(self, to: str, body: str) -> str:
        """Show the message on the simulator page and return a made-up MessageSid."""
        from . import simulator

        simulator.log_message(self.db, to, "out", body)
        return "SMsim" + uuid.uuid4().hex


class RateLimiter:
    """Space sends from one sender at least 1/rate seconds apart (per process)."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.monotonic = monotonic
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> None:
        """Book `key`'s next slot, then block until it comes."""
        # Booked under the lock, waited for outside it: `ready_in` never blocks.
        with self._lock:
            now = self.monotonic()
            ready = max(self._next.get(key, now), now)
            self._next[key] = ready + self.interval
        if ready > now:
            self.sleep(ready - now)

    def ready_in(self, key: str) -> float:
        """Return the seconds until `key` may send again (0: now), booking nothing."""
        with self._lock:
            return max(self._next.get(key, 0.0) - self.monotonic(), 0.0)

    def try_take(self, key: str) -> float | None:
        """Book `key`'s slot if it is free now and return when (else None); never blocks."""
        with self._lock:
            now = self.monotonic()
            if self._next.get(key, now) > now:
                return None
            self._next[key] = now + self.interval
            return now

    def give_back(self, key: str, taken: float) -> None:
        """Free a slot `try_take` booked for a message that did not go (none was due)."""
        with self._lock:
            if self._next.get(key) == taken + self.interval:  # nobody booked after it
                self._next[key] = taken


@dataclass
class SendReport:
    """What one run of the queue did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    quiet: bool = False
    next_in: float = 0.0  # with wait=False: seconds until the rate limit lets the next go


def in_quiet_hours(config: SmsConfig, now: datetime) -> bool:
    """Say whether `now` falls in the quiet hours (local time; the span may cross midnight)."""
    if config.quiet_hours is None:
        return False
    start, end = config.quiet_hours
    local = now.astimezone(ZoneInfo(config.timezone)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def enqueue(
    db: sqlite_utils.Database,
    config: SmsConfig,
    phone: str,
    body: str,
    *,
    kind: str,
    consultation_id: str = "",
    now: datetime | None = None,
) -> int | None:
    """Queue a message to an E.164 number; return its id, or None if the number opted out."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbound kind {kind!r}")
    body = stored_body(body)
    stamp = clock.to_text(now) if now else clock.utcnow()
    with store.write(db):
        contact = contacts.ensure(db, phone, phones.pseudonym(phone, config.pepper), stamp)
        if contact.opted_out_at:
            return None
        return _insert(db, contact.id, kind, consultation_id, body, stamp)


def _insert(
    db: sqlite_utils.Database,
    contact_id: int,
    kind: str,
    consultation_id: str,
    body: str,
    stamp: str,
) -> int:
    measured = segments.measure(body)
    cursor = db.execute(
        "INSERT INTO sms_outbound (contact_id, kind, consultation_id, body, encoding, segments,"
        " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [contact_id, kind, consultation_id, body, measured.encoding, measured.segments]
        + [stamp] * 3,
    )
    return int(cursor.lastrowid)


def stored_body(text: str) -> str:
    """Return a message's text as the queue keeps and sends it."""
    return segments.plain(text)[: segments.MAX_BODY]


def queue_replies(
    db: sqlite_utils.Database, config: SmsConfig, phone: str, replies: list[str], stamp: str
) -> list[int]:
    """Queue the replies to a text inside the caller's transaction (gateways without TwiML)."""
    if not replies:
        return []
    contact = contacts.ensure(db, phone, phones.pseudonym(phone, config.pepper), stamp)
    return [_insert(db, contact.id, "reply", "", stored_body(reply), stamp) for reply in replies]


def _utcnow() -> datetime:
    return clock.parse(clock.utcnow())


def send_due(
    db: sqlite_utils.Database,
    config: SmsConfig,
    sender: Sender,
    limiter: RateLimiter,
    *,
    now: Callable[[], datetime] = _utcnow,
    batch: int = 50,
    wait: bool = True,
) -> SendReport:
    """Send up to `batch` due messages, respecting opt-outs, quiet hours and the rate limit.

    wait=False: stop at the first message the rate limit holds back instead of waiting
    for its slot (`report.next_in` says when it comes), so a caller with other work (the
    modem's watcher, taking texts) is never held by the modem's pace.
    """
    report = SendReport()
    pending = db.execute(
        "SELECT 1 FROM sms_outbound WHERE status IN ('queued', 'sending') LIMIT 1"
    ).fetchone()
    if pending is None:
        return report  # the usual case: take no write lock at all
    _recover_stale(db, now())
    for _ in range(batch):
        if wait:
            claimed = _claim_due(db, config, report, now())
            if claimed is None:
                break
            limiter.wait(sender.key)
        else:
            claimed = claim_now(db, config, limiter, sender.key, report, now=now)
            if claimed is None:
                held = limiter.ready_in(sender.key)
                report.next_in = held if held > 0 and _due(db, now()) else 0.0
                break
        deliver(db, config, sender, claimed, report, now=now)
    return report


def _claim_due(
    db: sqlite_utils.Database, config: SmsConfig, report: SendReport, moment: datetime
) -> Claimed | None:
    quiet = in_quiet_hours(config, moment)
    report.quiet = report.quiet or quiet
    return _claim(db, moment, report, replies_only=quiet)


def claim_now(
    db: sqlite_utils.Database,
    config: SmsConfig,
    limiter: RateLimiter,
    key: str,
    report: SendReport,
    *,
    now: Callable[[], datetime] = _utcnow,
) -> Claimed | None:
    """Claim the next due message if the rate limit lets it go now, and book its slot;
    send it with `deliver` (after the caller's transaction, if any, has committed).

    A gateway that takes a text and queues its reply claims it in the same transaction,
    so the reply costs no commit of its own before it goes. The claim is as durable as
    `send_due`'s: after a crash between that commit and the send, the message is
    `sending`, then `unknown`, never sent twice.
    """
    taken = limiter.try_take(key)  # never waits: the caller may hold the write lock
    if taken is None:
        return None
    claimed = _claim_due(db, config, report, now())
    if claimed is None:
        limiter.give_back(key, taken)
    return claimed


def deliver(
    db: sqlite_utils.Database,
    config: SmsConfig,
    sender: Sender,
    claimed: Claimed,
    report: SendReport,
    *,
    now: Callable[[], datetime] = _utcnow,
    send: Callable[[], str] | None = None,
) -> None:
    """Send a claimed message (its rate-limit slot booked) and record what happened.

    `send`: how, if not `sender.send` (a gateway that wrote the message ahead).
    """
    try:
        sid = send() if send is not None else sender.send(claimed.phone, claimed.body)
    except SendError as error:
        _failed(db, config, claimed, error, now(), report)
        return
    status = "accepted" if sender.reports_later else "sent"
    with store.write(db):
        db.execute(
            "UPDATE sms_outbound SET status = ?, message_sid = ?, error = '',"
            " error_code = NULL, updated_at = ? WHERE id = ?",
            [status, sid, clock.to_text(now()), claimed.id],
        )
        _apply_earlier_statuses(db, config, sid, now())
    report.sent += 1
    log.info(
        "sms.sent",
        extra={
            "outbound_id": claimed.id,
            "sid": sid,
            "attempt": claimed.attempts,
            "encoding": claimed.encoding,
            "segments": claimed.segments,
        },
    )


def _due(db: sqlite_utils.Database, moment: datetime) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM sms_outbound WHERE status = 'queued' AND next_attempt_at <= ? LIMIT 1",
            [clock.to_text(moment)],
        ).fetchone()
        is not None
    )


def _recover_stale(db: sqlite_utils.Database, moment: datetime) -> None:
    cutoff = clock.to_text(moment - STALE_SENDING)
    cursor = db.execute(
        "UPDATE sms_outbound SET status = 'unknown',"
        " error = 'interrupted while sending; not resent to avoid a duplicate', updated_at = ?"
        " WHERE status = 'sending' AND updated_at < ?",
        [clock.to_text(moment), cutoff],
    )
    if cursor.rowcount:
        log.warning("sms.send_interrupted", extra={"messages": cursor.rowcount})


class Claimed(NamedTuple):
    id: int
    contact_id: int
    phone: str
    body: str
    encoding: str
    segments: int
    attempts: int  # counting this one


def _claim(
    db: sqlite_utils.Database, moment: datetime, report: SendReport, *, replies_only: bool
) -> Claimed | None:
    stamp = clock.to_text(moment)
    # In quiet hours only replies go: someone who has just texted is awake.
    with store.write(db):
        while True:
            row = store.first_row(
                db,
                "SELECT o.id, o.contact_id, c.phone, o.body, o.encoding, o.segments,"
                " o.attempts + 1 AS attempts, c.opted_out_at AND o.kind != 'reply' AS held_back"
                " FROM sms_outbound o JOIN sms_contacts c ON c.id = o.contact_id"
                " WHERE o.status = 'queued' AND o.next_attempt_at <= ?"
                " AND (o.kind = 'reply' OR NOT ?)"
                " ORDER BY o.next_attempt_at, o.id LIMIT 1",
                [stamp, replies_only],
            )
            if row is None:
                return None
            # A reply queued after a STOP is its confirmation; what was queued before is
            # cancelled by the STOP itself.
            held_back = row.pop("held_back")
            claimed = Claimed(**row)
            if held_back:
                db.execute(
                    "UPDATE sms_outbound SET status = 'cancelled', error = 'opted out',"
                    " updated_at = ? WHERE id = ?",
                    [stamp, claimed.id],
                )
                report.cancelled += 1
                continue
            db.execute(
                "UPDATE sms_outbound SET status = 'sending', attempts = ?, updated_at = ?"
                " WHERE id = ?",
                [claimed.attempts, stamp, claimed.id],
            )
            return claimed


def retry_delay(config: SmsConfig, attempts: int) -> timedelta:
    """Return the wait before attempt `attempts + 1`: doubling from SMS_RETRY_SECONDS, capped."""
    delay = timedelta(seconds=config.retry_seconds * 2 ** max(attempts - 1, 0))
    return min(delay, MAX_RETRY_DELAY)


def _failed(
    db: sqlite_utils.Database,
    config: SmsConfig,
    claimed: Claimed,
    error: SendError,
    moment: datetime,
    report: SendReport,
) -> None:
    message_id, contact_id, attempts = claimed.id, claimed.contact_id, claimed.attempts
    stamp = clock.to_text(moment)
    retry = isinstance(error, TransientSendError) and attempts < config.max_attempts
    with store.write(db):
        if retry:
            db.execute(
                "UPDATE sms_outbound SET status = 'queued', next_attempt_at = ?, error_code = ?,"
                " error = ?, updated_at = ? WHERE id = ?",
                [
                    clock.to_text(moment + retry_delay(config, attempts)),
                    error.code,
                    str(error)[:500],
                    stamp,
                    message_id,
                ],
            )
            report.retrying += 1
        else:
            db.execute(
                "UPDATE sms_outbound SET status = 'failed', error_code = ?, error = ?,"
                " updated_at = ? WHERE id = ?",
                [error.code, str(error)[:500], stamp, message_id],
            )
            report.failed += 1
        if error.code == OPTED_OUT:
            report.cancelled += contacts.mark_opted_out(db, contact_id, stamp)
    log.warning(
        "sms.send_failed",
        extra={
            "outbound_id": message_id,
            "attempt": attempts,
            "code": error.code,
            "retrying": retry,
            "error": str(error)[:200],
        },
    )


def record_status(
    db: sqlite_utils.Database,
    config: SmsConfig,
    message_sid: str,
    status: str,
    error_code: int | None,
    *,
    to: str = "",
    now: datetime | None = None,
) -> None:
    """Record a delivery-status callback; requeue a transient failure; opt out on a 21610."""
    moment = now or _utcnow()
    stamp = clock.to_text(moment)
    with store.write(db):
        db.execute(
            "INSERT INTO sms_status_events (message_sid, status, error_code, received_at)"
            " VALUES (?, ?, ?, ?)",
            [message_sid, status, error_code, stamp],
        )
        if not _apply_status(db, config, message_sid, status, error_code, moment):
            # A reply sent as TwiML, not ours, or a send not stored yet (applied then):
            # the event is kept, and a 21610 still opts out `to`, the number it went to.
            contact_id = contacts.find(db, to) if to and error_code == OPTED_OUT else None
            if contact_id is not None:
                contacts.mark_opted_out(db, contact_id, stamp)


def _apply_earlier_statuses(
    db: sqlite_utils.Database, config: SmsConfig, message_sid: str, moment: datetime
) -> None:
    """Apply the callbacks Twilio sent for a message before its send was stored."""
    events = list(
        db.query(
            "SELECT status, error_code FROM sms_status_events WHERE message_sid = ? ORDER BY id",
            [message_sid],
        )
    )
    for event in events:
        _apply_status(db, config, message_sid, event["status"], event["error_code"], moment)


def _apply_status(
    db: sqlite_utils.Database,
    config: SmsConfig,
    message_sid: str,
    status: str,
    error_code: int | None,
    moment: datetime,
) -> bool:
    """Move a queued message along by one status; say whether the MessageSid is in the queue."""
    stamp = clock.to_text(moment)
    message = store.first_row(
        db,
        "SELECT o.id, o.contact_id, o.status, o.attempts, c.opted_out_at FROM sms_outbound o"
        " JOIN sms_contacts c ON c.id = o.contact_id WHERE o.message_sid = ?",
        [message_sid],
    )
    if message is None:
        return False
    attempts, opted_out_at = message["attempts"], message["opted_out_at"]
    if error_code == OPTED_OUT:
        contacts.mark_opted_out(db, message["contact_id"], stamp)
        opted_out_at = stamp
    transient = error_code is not None and classify(error_code, None) is TransientSendError
    if (
        status in ("undelivered", "failed")
        and transient
        and attempts < config.max_attempts
        and not opted_out_at
    ):
        db.execute(
            "UPDATE sms_outbound SET status = 'queued', message_sid = NULL,"
            " next_attempt_at = ?, error_code = ?, error = ?, updated_at = ? WHERE id = ?",
            [
                clock.to_text(moment + retry_delay(config, attempts)),
                error_code,
                f"{status} ({error_code}), retrying",
                stamp,
                message["id"],
            ],
        )
    elif STATUS_RANK.get(status, 0) > STATUS_RANK.get(message["status"], 0):
        db.execute(
            "UPDATE sms_outbound SET status = ?, error_code = ?, updated_at = ? WHERE id = ?",
            [status, error_code, stamp, message["id"]],
        )
    return True
