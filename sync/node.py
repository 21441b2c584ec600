"""The node's side of sync: push the queue, pull consultations, report health, back off.

Plain functions that take a store and a `HubClient`, so a test can drive each one with
no scheduler and no server; the scheduler in `sync.schedule` and the `participate sync`
command are thin wrappers around them. A node marks a submission synced only when the
hub has acknowledged it (stored or duplicate), in one transaction per batch, so a crash
at any point loses nothing and at worst sends a batch twice, which the hub answers as
duplicates.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import logging
import random
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from participate import (
    __version__,
    clock,
    consultations,
    fleet,
    followups,
    privacy,
    speech,
    store,
)
from participate.errors import ConsultationError, ParticipateError
from participate.submissions import device_id as store_device_id
from participate.submissions import next_seq

from .client import HubClient, Transport
from .errors import BatchTooLarge, NotEnrolled, SyncError
from .wire import PUSH_FIELDS

log = logging.getLogger(__name__)

BATCH_SIZE = 500
ACKNOWLEDGED = ("stored", "duplicate")  # the hub's outcomes that mean "I hold it"
BACKOFF_BASE = 5.0
BACKOFF_CAP = 600.0


@dataclass
class PushReport:
    """What one push moved: batches sent, each outcome counted, the queue left, reasons."""

    batches: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    remaining: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        """Return how many submissions the hub now holds from this push."""
        return self.stored + self.duplicate

    def add(self, later: PushReport) -> None:
        """Count a later push of the same run in this report; its queue left is the one now."""
        self.batches += later.batches
        self.stored += later.stored
        self.duplicate += later.duplicate
        self.rejected += later.rejected
        self.reasons.extend(later.reasons)
        self.remaining = later.remaining


@dataclass
class SyncReport:
    """What one sync run did: versions pulled, the push, numbers re-sent and the hub's gaps."""

    pulled: int = 0
    push: PushReport = field(default_factory=PushReport)
    requeued: int = 0
    followups: int = 0  # numbers for results texts handed to the hub, then forgotten here
    gaps: list[tuple[int, int]] = field(default_factory=list)
    erased: int = 0  # submissions erased at the hub's order (an erasure request)
    problem: str = ""  # what went wrong short of failing the run (shown as the last error)


# --- enrolment ---------------------------------------------------------------------


def save_enrolment(db: sqlite_utils.Database, hub_url: str, device_id: str, secret: str) -> None:
    """Remember which hub this node syncs with and as which device (for `participate sync`)."""
    with store.write(db):
        store.set_meta(db, "sync_hub_url", hub_url)
        store.set_meta(db, "device_id", device_id)
        store.set_meta(db, "sync_device_secret", secret)


def client_from_store(
    db: sqlite_utils.Database, *, transport: Transport | None = None, timeout: float = 30.0
) -> HubClient:
    """Build a client for the hub and device this node was last started with."""
    hub_url = store.get_meta(db, "sync_hub_url")
    device = store.get_meta(db, "device_id")
    secret = store.get_meta(db, "sync_device_secret")
    if not (hub_url and device and secret):
        raise NotEnrolled(
            "this store has no hub enrolment: start it once with"
            " `participate node --hub URL --device-id ID --device-secret SECRET`"
        )
    return HubClient(hub_url, device, secret, transport=transport, timeout=timeout)


# --- the queue ---------------------------------------------------------------------


def queue_depth(db: sqlite_utils.Database) -> int:
    """Return how many submissions wait to be pushed (rejected ones excluded)."""
    row = db.execute(
        "SELECT count(*) FROM submissions WHERE synced_at IS NULL AND sync_error = ''"
    ).fetchone()
    return int(row[0])


def has_queue(db: sqlite_utils.Database) -> bool:
    """Say whether any submission waits to be pushed (cheap: used by the prompt job)."""
    row = db.execute(
        "SELECT 1 FROM submissions WHERE synced_at IS NULL AND sync_error = '' LIMIT 1"
    ).fetchone()
    return row is not None


@dataclass
class _Batch:
    ids: list[str]
    first: int  # rowids: capture order, which is ledger order
    last: int
    body: bytes


def _load_batch(db: sqlite_utils.Database, size: int, after: int) -> _Batch | None:
    """Read the next queued submissions after rowid `after` and encode them for the hub."""
    if after <= 0:
        # Start at the oldest queued row through the small partial index, not a table scan.
        row = db.execute(
            "SELECT min(rowid) FROM submissions WHERE synced_at IS NULL AND sync_error = ''"
        ).fetchone()
        if row[0] is None:
            return None
        after = row[0] - 1
    rows = list(
        db.query(
            f"SELECT rowid AS position, {', '.join(PUSH_FIELDS)} FROM submissions"  # noqa: S608
            " WHERE rowid > ? AND synced_at IS NULL AND sync_error = '' ORDER BY rowid LIMIT ?",
            [after, size],
        )
    )
    if not rows:
        return None
    return _Batch(
        ids=[row["id"] for row in rows],
        first=rows[0]["position"],
        last=rows[-1]["position"],
        body=encode_batch(rows),
    )


def encode_batch(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Encode stored rows (PUSH_FIELDS, by name) as the gzip JSON body of a push."""
    items = []
    for row in rows:
        item = {name: row[name] for name in PUSH_FIELDS}
        # The stored answers are already canonical JSON: splice them in, don't re-encode.
        answers = item.pop("answers")
        item["complete"] = bool(item["complete"])
        items.append(json.dumps(item, ensure_ascii=False)[:-1] + ', "answers": ' + answers + "}")
    body = '{"submissions": [' + ", ".join(items) + "]}"
    return gzip.compress(body.encode("utf-8"), compresslevel=5)


def push(
    db: sqlite_utils.Database,
    client: HubClient,
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[PushReport, int], None] | None = None,
) -> PushReport:
    """Send every queued submission in order, in batches, marking what the hub acknowledged.

    One batch is in flight at a time; the next is read and encoded while the hub handles
    it, and a batch is marked while the hub handles the next.
    """
    report = PushReport()
    size = batch_size
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-push") as pool:
        batch = _load_batch(db, size, 0)
        in_flight = pool.submit(client.push_body, batch.body) if batch else None
        while batch is not None and in_flight is not None:
            ahead = _load_batch(db, size, batch.last)
            try:
                results = in_flight.result()
            except BatchTooLarge:
                if len(batch.ids) > 1:
                    size = max(1, len(batch.ids) // 2)
                    batch = _load_batch(db, size, batch.first - 1)
                else:
                    mark_results(db, [], {batch.ids[0]: "too large for the hub to accept"})
                    report.rejected += 1
                    batch = _load_batch(db, size, batch.last)
                in_flight = pool.submit(client.push_body, batch.body) if batch else None
                continue
            in_flight = pool.submit(client.push_body, ahead.body) if ahead else None
            answered = _record_results(db, report, batch, results)
            if on_batch is not None:
                on_batch(report, answered)
            if not answered:
                # The hub answered about none of them: stop rather than loop; retry later.
                if in_flight is not None:
                    with contextlib.suppress(Exception):
                        in_flight.result()
                break
            batch = ahead
    report.remaining = queue_depth(db)
    return report


def _record_results(
    db: sqlite_utils.Database, report: PushReport, batch: _Batch, results: list[dict[str, Any]]
) -> int:
    """Mark what the hub acknowledged or rejected in one transaction; return how many."""
    sent = set(batch.ids)
    acknowledged: list[str] = []
    refused: dict[str, str] = {}
    for result in results:
        submission_id = result.get("id")
        if submission_id not in sent:
            continue
        if result.get("status") in ACKNOWLEDGED:
            acknowledged.append(submission_id)
            if result["status"] == "stored":
                report.stored += 1
            else:
                report.duplicate += 1
        elif result.get("status") == "rejected":
            refused[submission_id] = str(result.get("reason") or "rejected by the hub")
    mark_results(db, acknowledged, refused)
    report.batches += 1
    report.rejected += len(refused)
    report.reasons.extend(refused.values())
    return len(acknowledged) + len(refused)


def mark_results(
    db: sqlite_utils.Database, acknowledged: list[str], refused: dict[str, str]
) -> None:
    """Mark what the hub acknowledged as synced and note why it refused the others."""
    now = clock.utcnow()
    with store.write(db):
        db.execute(
            "UPDATE submissions SET synced_at = ?, sync_error = ''"
            " WHERE id IN (SELECT value FROM json_each(?))",
            [now, json.dumps(acknowledged)],
        )
        db.conn.executemany(
            "UPDATE submissions SET sync_error = ? WHERE id = ? AND synced_at IS NULL",
            [(reason, submission_id) for submission_id, reason in refused.items()],
        )


def push_followups(db: sqlite_utils.Database, client: HubClient, *, batch_size: int = 100) -> int:
    """Send the numbers kept to text results; forget each one the hub answered for."""
    moved = 0
    while rows := followups.waiting(db, limit=batch_size):
        results = client.push_followups(rows)
        answered = {str(r.get("id")) for r in results} & {row["id"] for row in rows}
        for result in results:
            if result.get("status") == "rejected":
                # Kept nowhere: a number the hub refuses would otherwise wait here for ever.
                log.warning("sync.followup_rejected", extra={"reason": result.get("reason")})
        with store.write(db):
            followups.forget(db, answered)
        moved += len(answered)
        if len(answered) < len(rows):
            break  # the hub left some unanswered: try them next run
    return moved


def retry_rejected(db: sqlite_utils.Database) -> int:
    """Put submissions the hub rejected back in the queue (say, after the hub was fixed)."""
    with store.write(db):
        cursor = db.execute(
            "UPDATE submissions SET sync_error = '' WHERE synced_at IS NULL AND sync_error != ''"
        )
    return cursor.rowcount


def requeue(db: sqlite_utils.Database, gaps: list[tuple[int, int]]) -> int:
    """Queue again own submissions in ledger ranges the hub says it lacks (say, after a restore)."""
    device = store_device_id(db)
    count = 0
    with store.write(db):
        for first, last in gaps:
            cursor = db.execute(
                "UPDATE submissions SET synced_at = NULL"
                " WHERE device_id = ? AND seq BETWEEN ? AND ? AND synced_at IS NOT NULL",
                [device, int(first), int(last)],
            )
            count += cursor.rowcount
    return count


# --- pull --------------------------------------------------------------------------


def pull(db: sqlite_utils.Database, client: HubClient) -> int:
    """Fetch the hub's consultations if they changed; keep every version; return versions added.

    Also mirrors what staff decided at the hub: closed, archived (off the kiosk's list,
    no answers taken) and the order of the lists.
    """
    answer = client.consultations(store.get_meta(db, "sync_consultations_etag"))
    if answer is None:
        return 0
    etag, data = answer
    entries = _listing(data)
    added = 0
    current: list[consultations.Consultation] = []
    closed: dict[str, bool] = {}
    archived: dict[str, bool] = {}
    with store.write(db):
        for entry in entries:
            for version in entry["versions"]:
                consultation = consultations.from_definition(version["definition"], "hub")
                if consultations.save_version(db, consultation, source="hub"):
                    added += 1
                if consultation.version == entry.get("current"):
                    current.append(consultation)
            closed[entry["id"]] = bool(entry.get("closed"))
            archived[entry["id"]] = bool(entry.get("archived"))
        consultations.save(db, current, source="hub")
        for consultation_id, is_closed in closed.items():
            consultations.set_closed(db, consultation_id, is_closed)
        for consultation_id, is_archived in archived.items():
            consultations.set_archived(db, consultation_id, is_archived)
        order = _hub_order(entries)
        if order:
            # The kiosk lists them in the staff's order; ones loaded here by hand follow.
            consultations.set_order(db, order)
        store.set_meta(db, "sync_consultations_etag", etag)
    return added


def _hub_order(entries: list[dict[str, Any]]) -> list[str]:
    """Return the ids of the hub's consultations in the staff's order (by `position`, then
    id, as the hub lists them), or none if the hub does not say (an older hub)."""
    if not entries or not all(_is_position(entry.get("position")) for entry in entries):
        return []
    return [entry["id"] for entry in sorted(entries, key=lambda e: (e["position"], e["id"]))]


def _is_position(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _listing(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the hub's consultation entries, or raise ConsultationError if not their shape."""
    entries = data.get("consultations")
    if isinstance(entries, list) and all(
        isinstance(entry, dict)
        and isinstance(entry.get("id"), str)
        and isinstance(entry.get("versions"), list)
        and all(
            isinstance(v, dict) and isinstance(v.get("definition"), dict) for v in entry["versions"]
        )
        for entry in entries
    ):
        return entries
    raise ConsultationError(
        "the hub's list of consultations is not in the expected shape", source="hub"
    )


# --- heartbeat ---------------------------------------------------------------------


def health(db: sqlite_utils.Database, *, now: str | None = None) -> dict[str, Any]:
    """Return the node's health report, as the heartbeat sends it."""
    now = now or clock.utcnow()
    device = store_device_id(db)
    queued = store.first_row(
        db,
        "SELECT count(*) AS depth, min(submitted_at) AS oldest FROM submissions"
        " WHERE synced_at IS NULL AND sync_error = ''",
    )
    assert queued is not None  # an aggregate always gives one row
    depth, oldest = queued["depth"], queued["oldest"]
    highest = next_seq(db, device) - 1  # erased numbers count: they were given
    rejected = db.execute(
        "SELECT count(*) FROM submissions WHERE synced_at IS NULL AND sync_error != ''"
    ).fetchone()[0]
    state = sync_state(db)
    age = (clock.parse(now) - clock.parse(oldest)).total_seconds() if oldest else None
    return {
        "version": __version__,
        "queue_depth": int(depth),
        "oldest_unsynced_age": max(0.0, age) if age is not None else None,
        "highest_seq": int(highest),
        "rejected_count": int(rejected),
        "node_clock": now,
        "free_disk": _free_disk(db),
        "last_error": state["last_error"],
        # Whether the kiosk can read its questions aloud (espeak-ng and an encoder here).
        "audio": "ok" if speech.available() else "missing",
        "gateway": fleet.gateway_report(db),
        "opt_outs": fleet.unpushed(db),
        "opt_out_cursor": int(store.get_meta(db, "opt_out_cursor", 0)),
    }


def _free_disk(db: sqlite_utils.Database) -> int | None:
    path = db_path(db)
    return shutil.disk_usage(path.parent).free if str(path) else None


def heartbeat(db: sqlite_utils.Database, client: HubClient) -> dict[str, Any]:
    """Send health and opt-outs; keep the hub's pepper and opt-outs; return the hub's answer."""
    report = health(db)
    answer = client.heartbeat(report)
    take_fleet(db, report["opt_outs"], answer)
    return answer


def take_fleet(
    db: sqlite_utils.Database, pushed: list[dict[str, Any]], answer: dict[str, Any]
) -> None:
    """Keep what the hub's heartbeat answer says of texters: its pepper and the opt-outs."""
    pepper = answer.get("phone_pepper")
    if isinstance(pepper, str) and pepper:
        fleet.keep_pepper(db_path(db), pepper)
    fleet.mark_pushed(db, pushed)
    changes = fleet.checked_changes(answer.get("opt_outs"))
    applied = fleet.take_changes(db, changes)
    cursor = answer.get("opt_out_cursor")
    if isinstance(cursor, int) and not isinstance(cursor, bool) and cursor >= 0:
        with store.write(db):
            store.set_meta(db, "opt_out_cursor", cursor)
    if applied:
        log.info("sync.opt_outs_taken", extra={"applied": applied})


def db_path(db: sqlite_utils.Database) -> Path:
    """Return the file a connection's main database lives in."""
    row = store.first_row(db, "PRAGMA database_list")
    return Path(row["file"] if row else "")


# --- erasure orders ----------------------------------------------------------------


def apply_erasure_orders(db: sqlite_utils.Database, orders: Any) -> tuple[list[str], int]:
    """Erase what each order names, captured before it; return (pseudonyms done, submissions)."""
    done: list[str] = []
    erased = 0
    for order in orders if isinstance(orders, list) else []:
        if not (
            isinstance(order, dict)
            and isinstance(order.get("respondent"), str)
            and order["respondent"]
            and isinstance(order.get("requested_at"), str)
        ):
            continue
        with store.write(db):
            counts = privacy.erase_respondent(
                db, order["respondent"], captured_before=order["requested_at"]
            )
        erased += counts.get("submissions", 0)
        done.append(order["respondent"])
        log.info("sync.erased", extra={"respondent": order["respondent"][:12], **counts})
    return done, erased


def take_erasure_orders(db: sqlite_utils.Database, client: HubClient, orders: Any) -> int:
    """Apply the hub's erasure orders and acknowledge them at once; return submissions erased."""
    done, erased = apply_erasure_orders(db, orders)
    if done:
        report = health(db)
        take_fleet(db, report["opt_outs"], client.heartbeat({**report, "erased": done}))
    return erased


# --- a full run, with backoff ------------------------------------------------------


@contextlib.contextmanager
def exclusive(database: str | Path) -> Iterator[bool]:
    """Hold the store's sync lock unless another process does; yield whether it is held.

    A file lock, so the scheduler in `participate node` and `participate sync --once`
    never push one queue at the same time; the system drops it if a process dies.
    """
    with open(f"{database}.sync-lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sync_once(
    db: sqlite_utils.Database,
    client: HubClient,
    *,
    batch_size: int = BATCH_SIZE,
    pull_first: bool = True,
    on_batch: Callable[[PushReport, int], None] | None = None,
    rng: random.Random | None = None,
    backoff_cap: float = BACKOFF_CAP,
) -> SyncReport:
    """Pull, push and report health once; record success, or the error and the next attempt."""
    report = SyncReport()
    started = clock.utcnow()
    try:
        if pull_first:
            try:
                report.pulled = pull(db, client)
            except SyncError:
                raise
            except ParticipateError as exc:
                # The hub's definitions don't fit this store (say, a keyword clash with one
                # loaded here by hand): keep the old ones, but never hold back the queue.
                report.problem = f"pull: {type(exc).__name__}: {exc}"
                log.error("sync.pull_refused", extra={"error": report.problem})
        report.push = push(db, client, batch_size=batch_size, on_batch=on_batch)
        report.followups = push_followups(db, client)
        answer = heartbeat(db, client)
        gaps = [
            (int(g[0]), int(g[1]))
            for g in answer.get("gaps") or []
            if isinstance(g, list | tuple) and len(g) == 2
        ]
        report.gaps = gaps
        report.requeued = requeue(db, gaps) if gaps else 0
        if report.requeued:
            report.push.add(push(db, client, batch_size=batch_size, on_batch=on_batch))
        report.erased = take_erasure_orders(db, client, answer.get("erase"))
    except Exception as exc:
        record_failure(db, exc, started, rng=rng, cap=backoff_cap)
        raise
    record_success(db, started, problem=report.problem)
    return report


def backoff_delay(
    failures: int,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    rng: random.Random | None = None,
) -> float:
    """Return seconds to wait after `failures` failures in a row: exponential, capped, jittered."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(failures - 1, 30))
    # "Equal jitter": at least half the delay, so nodes that failed together spread out
    # without any of them hammering the hub.
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def sync_state(db: sqlite_utils.Database) -> dict[str, Any]:
    """Return the node's sync loop state: failures, last error, last attempt/success, next."""
    row = store.first_row(
        db,
        "SELECT failures, last_error, last_attempt_at, last_success_at, next_attempt_at"
        " FROM sync_state WHERE id = 1",
    )
    if row is None:
        keys = ("failures", "last_error", "last_attempt_at", "last_success_at", "next_attempt_at")
        return dict.fromkeys(keys) | {"failures": 0, "last_error": ""}
    return row


def record_failure(
    db: sqlite_utils.Database,
    error: BaseException,
    started: str,
    *,
    rng: random.Random | None = None,
    cap: float = BACKOFF_CAP,
) -> float:
    """Note a failed run and schedule the next attempt with backoff; return the delay."""
    failures = int(sync_state(db)["failures"] or 0) + 1
    delay = backoff_delay(failures, rng=rng, cap=cap)
    next_at = clock.to_text(clock.parse(clock.utcnow()) + timedelta(seconds=delay))
    message = f"{type(error).__name__}: {error}"[:500]
    with store.write(db):
        db.execute(
            "UPDATE sync_state SET failures = ?, last_error = ?, last_attempt_at = ?,"
            " next_attempt_at = ? WHERE id = 1",
            [failures, message, started, next_at],
        )
    return delay


def record_success(db: sqlite_utils.Database, started: str, *, problem: str = "") -> None:
    """Note a run that reached the hub: no more backoff; keep a problem short of failure."""
    with store.write(db):
        db.execute(
            "UPDATE sync_state SET failures = 0, last_error = ?, last_attempt_at = ?,"
            " last_success_at = ?, next_attempt_at = NULL WHERE id = 1",
            [problem[:500], started, clock.utcnow()],
        )


def due(db: sqlite_utils.Database, now: str | None = None) -> bool:
    """Say whether the backoff allows an attempt now."""
    next_at = sync_state(db)["next_attempt_at"]
    return next_at is None or (now or clock.utcnow()) >= next_at
