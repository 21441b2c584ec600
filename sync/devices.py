"""The hub's device registry and fleet health: enrolled nodes, what they report, what is missing.

A node is enrolled with `add_device`, which makes its id and the secret it signs requests
with. The sync API records each device's latest heartbeat (`record_heartbeat`), refused
requests (`record_refusal`) and refused submissions (`record_rejection`) here, so the
staff pages can show the fleet with `list_devices` without knowing how sync works.

The ledger: a node numbers its submissions 1, 2, 3, ...; the hub holds some of those
numbers (stored submissions, plus rejected ones, which are accounted for); `ledger_gaps`
lists the numbers up to the node's highest reported one that the hub has not received.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from participate import clock, store
from participate.errors import NotFound
from participate.submissions import CHANNELS

# Thresholds for the `attention` list; list_devices takes overrides.
STALE_AFTER = 15 * 60  # seconds without contact
BACKLOG_DEPTH = 1000  # queued submissions
BACKLOG_AGE = 60 * 60  # seconds the oldest queued submission has waited
SKEW_LIMIT = 60  # seconds of clock difference
LOW_DISK = 200 * 1024 * 1024  # bytes
REFUSAL_QUIET = 60  # seconds in which the same refusal of a device is noted only once

# The attention flags, in the order staff should read them.
ATTENTION = (
    "disabled",  # staff disabled the device; its requests are refused
    "never seen",  # enrolled, but no request has arrived yet
    "stale",  # no contact for longer than STALE_AFTER
    "gaps",  # the hub lacks numbers of the node's ledger that should have arrived
    "rejected",  # the hub refused some of its submissions (sync_rejections)
    "backed up",  # a long queue, or an old submission still waiting
    "sync error",  # the node reports that its last sync failed
    "refused",  # its last request was refused (signature, clock window, ...)
    "clock skew",  # its clock differs from the hub's by more than SKEW_LIMIT
    "low disk",  # less than LOW_DISK free on the node
    "audio missing",  # the node cannot read questions aloud (no espeak-ng or encoder)
    "sms gateway",  # the node's SMS gateway reports a problem (modem, daemon, phone)
)

# What a heartbeat reports, and the JSON types each field may take (None: not reported).
HEARTBEAT_TYPES: dict[str, tuple[type, ...]] = {
    "version": (str,),
    "queue_depth": (int,),
    "oldest_unsynced_age": (int, float),
    "highest_seq": (int,),
    "rejected_count": (int,),
    "node_clock": (str,),
    "free_disk": (int,),
    "last_error": (str,),
    "audio": (str,),  # "ok" or "missing"; older nodes do not report it
}


# What a heartbeat's `gateway` object may say of the node's SMS gateway.
GATEWAY_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "in_today": (int,),
    "out_today": (int,),
    "queued": (int,),
    "last_error": (str,),
    "last_error_at": (str,),
    "signal": (int,),
    "battery": (int,),
    "checked_at": (str,),
}


def checked_gateway(value: Any) -> dict[str, Any]:
    """Return the well-typed fields of a heartbeat's gateway report ({} where there is none)."""
    if not isinstance(value, Mapping):
        return {}
    clean: dict[str, Any] = {}
    for name, types in GATEWAY_TYPES.items():
        field = value.get(name)
        if isinstance(field, types) and not isinstance(field, bool):
            clean[name] = field[:500] if isinstance(field, str) else field
    return clean


# What a newly enrolled node may push: kiosk visits. A gateway's channel (`sms`, later
# `voice`) is granted with `set_channels` when the gateway is enabled on that node.
DEFAULT_CHANNELS = ("kiosk",)


def add_device(
    db: sqlite_utils.Database, name: str, channels: Iterable[str] = DEFAULT_CHANNELS
) -> tuple[str, str]:
    """Enrol a node under `name` and return its new (device id, secret); show the secret once.

    `channels` are those it may push submissions for (see `set_channels`).
    """
    name = name.strip()
    if not name:
        raise ValueError("a device needs a name")
    allowed = checked_channels(channels)
    device_id = f"dev-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(32)
    with store.write(db):
        db.execute(
            "INSERT INTO devices (id, name, secret, created_at, channels) VALUES (?, ?, ?, ?, ?)",
            [device_id, name, secret, clock.utcnow(), ",".join(allowed)],
        )
    return device_id, secret


def checked_channels(channels: Iterable[str]) -> tuple[str, ...]:
    """Return `channels` without repeats, in CHANNELS order; ValueError if one is unknown."""
    wanted = {channel.strip() for channel in channels} - {""}
    unknown = wanted - set(CHANNELS)
    if unknown:
        raise ValueError(
            f"unknown channel {', '.join(sorted(unknown))}: the channels are {', '.join(CHANNELS)}"
        )
    if not wanted:
        raise ValueError(f"a device needs at least one channel of {', '.join(CHANNELS)}")
    return tuple(channel for channel in CHANNELS if channel in wanted)


def set_channels(
    db: sqlite_utils.Database, device_id: str, channels: Iterable[str]
) -> tuple[str, ...]:
    """Set the channels a device may push submissions for; return them in CHANNELS order.

    The hub refuses a pushed submission whose channel is not among them. A node running
    an SMS gateway needs `("kiosk", "sms")`.
    """
    allowed = checked_channels(channels)
    with store.write(db):
        cursor = db.execute(
            "UPDATE devices SET channels = ? WHERE id = ?", [",".join(allowed), device_id]
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no device {device_id!r}")
    return allowed


def get_channels(db: sqlite_utils.Database, device_id: str) -> tuple[str, ...]:
    """Return the channels a device may push submissions for (NotFound if not enrolled)."""
    row = store.first_row(db, "SELECT channels FROM devices WHERE id = ?", [device_id])
    if row is None:
        raise NotFound(f"no device {device_id!r}")
    return tuple(row["channels"].split(","))


def replace_secret(db: sqlite_utils.Database, device_id: str) -> str:
    """Give a device a new secret (the old one stops working at once) and return it."""
    secret = secrets.token_urlsafe(32)
    with store.write(db):
        cursor = db.execute("UPDATE devices SET secret = ? WHERE id = ?", [secret, device_id])
        if cursor.rowcount == 0:
            raise NotFound(f"no device {device_id!r}")
    return secret


def get_device(db: sqlite_utils.Database, device_id: str) -> dict[str, Any] | None:
    """Return a device's registry row (secret included, for checking signatures), or None."""
    row = db.execute(
        "SELECT id, name, secret, created_at, disabled_at, last_seen_at FROM devices WHERE id = ?",
        [device_id],
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "name", "secret", "created_at", "disabled_at", "last_seen_at")
    return dict(zip(keys, row, strict=True))


def disable_device(db: sqlite_utils.Database, device_id: str) -> None:
    """Refuse a device's requests from now on (its submissions already held are kept)."""
    _set_disabled(db, device_id, clock.utcnow())


def enable_device(db: sqlite_utils.Database, device_id: str) -> None:
    """Accept a disabled device's requests again."""
    _set_disabled(db, device_id, None)


def _set_disabled(db: sqlite_utils.Database, device_id: str, when: str | None) -> None:
    with store.write(db):
        cursor = db.execute("UPDATE devices SET disabled_at = ? WHERE id = ?", [when, device_id])
        if cursor.rowcount == 0:
            raise NotFound(f"no device {device_id!r}")


def touch(db: sqlite_utils.Database, device_id: str, when: str | None = None) -> None:
    """Note that a device's signed request arrived (its last contact)."""
    db.execute(
        "UPDATE devices SET last_seen_at = ? WHERE id = ?", [when or clock.utcnow(), device_id]
    )


def record_heartbeat(
    db: sqlite_utils.Database, device_id: str, report: Mapping[str, Any], *, now: str | None = None
) -> None:
    """Keep a device's latest heartbeat (the fields of HEARTBEAT_TYPES) and its clock skew."""
    now = now or clock.utcnow()
    values = {name: report.get(name) for name in HEARTBEAT_TYPES}
    values["version"] = str(values["version"] or "")
    values["last_error"] = str(values["last_error"] or "")
    values["audio"] = str(values["audio"] or "")[:16]
    skew = None
    if values["node_clock"]:
        try:
            skew = (clock.parse(str(values["node_clock"])) - clock.parse(now)).total_seconds()
        except ValueError:
            values["node_clock"] = None
    with store.write(db):
        _ensure_status(db, device_id)
        db.execute(
            "UPDATE device_status SET reported_at = ?, version = ?, queue_depth = ?,"
            " oldest_unsynced_age = ?, highest_seq = ?, rejected_count = ?, node_clock = ?,"
            " clock_skew = ?, free_disk = ?, last_error = ?, audio = ?, gateway = ?"
            " WHERE device_id = ?",
            [
                now,
                values["version"],
                values["queue_depth"],
                values["oldest_unsynced_age"],
                values["highest_seq"],
                values["rejected_count"],
                values["node_clock"],
                skew,
                values["free_disk"],
                values["last_error"],
                values["audio"],
                json.dumps(report.get("gateway") or {}),
                device_id,
            ],
        )
        touch(db, device_id, now)


def note_highest_seq(db: sqlite_utils.Database, device_id: str, seq: int) -> None:
    """Note a device's highest ledger number learnt some other way (a bundle), never lowering it."""
    db.execute(
        "INSERT INTO device_status (device_id, highest_seq) VALUES (?, ?)"
        " ON CONFLICT (device_id) DO UPDATE"
        " SET highest_seq = max(coalesce(highest_seq, 0), excluded.highest_seq)",
        [device_id, seq],
    )


def record_refusal(
    db: sqlite_utils.Database, device_id: str, reason: str, *, clock_skew: float | None = None
) -> None:
    """Note that a known device's request was refused, and why (shown to staff).

    The same reason again within REFUSAL_QUIET seconds is not written again: anyone who
    knows a device's id can send forged requests, and each must not cost a write.
    """
    now = clock.utcnow()
    last = db.execute(
        "SELECT refused_at, refused_reason FROM device_status WHERE device_id = ?", [device_id]
    ).fetchone()
    if (
        last is not None
        and last[0]
        and last[1] == reason
        and (clock.parse(now) - clock.parse(last[0])).total_seconds() < REFUSAL_QUIET
    ):
        return
    with store.write(db):
        _ensure_status(db, device_id)
        db.execute(
            "UPDATE device_status SET refused_at = ?, refused_reason = ?,"
            " clock_skew = coalesce(?, clock_skew) WHERE device_id = ?",
            [now, reason, clock_skew, device_id],
        )


def clear_refusal(db: sqlite_utils.Database, device_id: str) -> None:
    """Forget a device's last refusal once one of its requests is accepted again."""
    db.execute(
        "UPDATE device_status SET refused_reason = '' WHERE device_id = ? AND refused_reason != ''",
        [device_id],
    )


def _ensure_status(db: sqlite_utils.Database, device_id: str) -> None:
    db.execute("INSERT OR IGNORE INTO device_status (device_id) VALUES (?)", [device_id])


def record_rejection(
    db: sqlite_utils.Database,
    device_id: str,
    submission_id: str,
    seq: int | None,
    reason: str,
    payload: Mapping[str, Any] | Any,
) -> None:
    """Keep a submission the hub refused, with the reason, so staff can see it (inside a write)."""
    now = clock.utcnow()
    db.execute(
        "INSERT INTO sync_rejections"
        " (device_id, submission_id, seq, reason, payload, first_at, last_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (device_id, submission_id) DO UPDATE SET reason = excluded.reason,"
        " seq = excluded.seq, payload = excluded.payload, last_at = excluded.last_at",
        [
            device_id,
            submission_id,
            seq,
            reason,
            json.dumps(payload, ensure_ascii=False, default=str)[:20_000],
            now,
            now,
        ],
    )


def ledger_gaps(
    db: sqlite_utils.Database, device_id: str, highest_seq: int | None = None
) -> list[tuple[int, int]]:
    """Return the ranges (first, last) of a device's ledger numbers the hub has not received.

    The ledger runs from 1 to the device's highest number: the one it last reported
    (or `highest_seq`), or the highest the hub holds. Rejected numbers count as received.
    """
    if highest_seq is None:
        row = db.execute(
            "SELECT highest_seq FROM device_status WHERE device_id = ?", [device_id]
        ).fetchone()
        highest_seq = row[0] if row and row[0] is not None else 0
    count, highest_held = held_summary(db, device_id)
    rejected = db.execute(
        "SELECT 1 FROM sync_rejections WHERE device_id = ? AND seq IS NOT NULL LIMIT 1",
        [device_id],
    ).fetchone()
    if count == highest_held and not rejected:
        # Numbers 1..highest_held are all held (they are unique): only the tail can be missing.
        return [(highest_held + 1, int(highest_seq))] if highest_seq > highest_held else []
    rows = db.execute(
        """
        WITH held AS (
            SELECT seq FROM submissions WHERE device_id = :device
            UNION
            SELECT seq FROM sync_rejections WHERE device_id = :device AND seq IS NOT NULL
            UNION
            SELECT seq FROM submission_erasures WHERE device_id = :device
        ),
        ordered AS (SELECT seq, lag(seq, 1, 0) OVER (ORDER BY seq) AS previous FROM held)
        SELECT previous + 1, seq - 1 FROM ordered WHERE seq - previous > 1
        UNION ALL
        SELECT coalesce(max(seq), 0) + 1, :highest FROM held
        HAVING coalesce(max(seq), 0) < :highest
        """,
        {"device": device_id, "highest": int(highest_seq)},
    ).fetchall()
    return sorted((int(first), int(last)) for first, last in rows)


def held_summary(db: sqlite_utils.Database, device_id: str) -> tuple[int, int]:
    """Return how many of a device's submissions the hub holds, and the highest number held."""
    # An erased submission's ledger place (submission_erasures) counts as held.
    count, highest = db.execute(
        "SELECT count(*), coalesce(max(seq), 0) FROM (SELECT seq FROM submissions"
        " WHERE device_id = :d UNION ALL SELECT seq FROM submission_erasures WHERE device_id = :d)",
        {"d": device_id},
    ).fetchone()
    return int(count), int(highest)


def format_gaps(gaps: list[tuple[int, int]]) -> str:
    """Say which ledger numbers are missing, e.g. "118-120, 131"."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in gaps)


@dataclass(frozen=True)
class Thresholds:
    """When a device needs staff attention (see ATTENTION); list_devices takes overrides."""

    stale_after: float = STALE_AFTER
    backlog_depth: int = BACKLOG_DEPTH
    backlog_age: float = BACKLOG_AGE
    skew_limit: float = SKEW_LIMIT


_FLEET_SQL = """
    SELECT d.id, d.name, d.channels, d.created_at, d.disabled_at, d.last_seen_at,
           s.reported_at, s.version, s.queue_depth, s.oldest_unsynced_age, s.highest_seq,
           s.clock_skew, s.free_disk, s.last_error, s.refused_at, s.refused_reason,
           s.audio, s.gateway,
           (SELECT count(*) FROM sync_rejections r WHERE r.device_id = d.id) AS rejected
    FROM devices d LEFT JOIN device_status s ON s.device_id = d.id
    ORDER BY d.name COLLATE NOCASE, d.id
"""


def list_devices(
    db: sqlite_utils.Database,
    *,
    now: datetime | None = None,
    stale_after: float = STALE_AFTER,
    backlog_depth: int = BACKLOG_DEPTH,
    backlog_age: float = BACKLOG_AGE,
    skew_limit: float = SKEW_LIMIT,
) -> list[dict[str, Any]]:
    """Return every enrolled device with its health and the flags that need staff attention.

    Each dict has: id, name, channels (tuple), created_at, disabled_at, last_seen_at (last contact),
    seconds_since_contact, reported_at, version, queue_depth, oldest_unsynced_age
    (seconds, aged to now), highest_seq (reported), held_count, highest_held, gaps (list
    of (first, last)), missing (count of missing numbers), rejected (count held at the
    hub), clock_skew (seconds), last_error, refused_reason, free_disk (bytes), audio ("ok",
    "missing", or "" if never reported), gateway (what its SMS gateway last reported, {}
    for none) and attention (a list of ATTENTION flags, most important first). The
    secret is left out.
    """
    moment = now or clock.parse(clock.utcnow())
    limits = Thresholds(stale_after, backlog_depth, backlog_age, skew_limit)
    result = []
    for row in db.query(_FLEET_SQL):
        device = _registry(row) | _reported(row, moment) | _ledger(db, row)
        device["attention"] = _attention(device, limits)
        result.append(device)
    return result


def _registry(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the hub knows of a device by itself: its enrolment and last refusal."""
    return {
        "id": row["id"],
        "name": row["name"],
        "channels": tuple(row["channels"].split(",")),
        "created_at": row["created_at"],
        "disabled_at": row["disabled_at"],
        "last_seen_at": row["last_seen_at"],
        "rejected": int(row["rejected"]),
        "refused_at": row["refused_at"],
        "refused_reason": row["refused_reason"] or "",
    }


def _reported(row: Mapping[str, Any], moment: datetime) -> dict[str, Any]:
    """Return what a device's last heartbeat said, aged to `moment` where time matters."""
    last_seen, reported_at, depth = row["last_seen_at"], row["reported_at"], row["queue_depth"]
    oldest = row["oldest_unsynced_age"]
    if oldest is not None and depth and reported_at:
        # The queue has aged since the node reported it.
        oldest += max(0.0, (moment - clock.parse(reported_at)).total_seconds())
    return {
        "seconds_since_contact": (
            (moment - clock.parse(last_seen)).total_seconds() if last_seen else None
        ),
        "reported_at": reported_at,
        "version": row["version"] or "",
        "queue_depth": depth,
        "oldest_unsynced_age": oldest if depth else None,
        "highest_seq": row["highest_seq"],
        "clock_skew": row["clock_skew"],
        "free_disk": row["free_disk"],
        "last_error": row["last_error"] or "",
        "audio": row["audio"] or "",
        "gateway": json.loads(row["gateway"] or "{}"),
    }


def _ledger(db: sqlite_utils.Database, row: Mapping[str, Any]) -> dict[str, Any]:
    """Return how much of a device's ledger the hub holds, and the numbers it lacks."""
    held_count, highest_held = held_summary(db, row["id"])
    gaps = ledger_gaps(db, row["id"], max(row["highest_seq"] or 0, highest_held))
    return {
        "held_count": held_count,
        "highest_held": highest_held,
        "gaps": gaps,
        "missing": sum(last - first + 1 for first, last in gaps),
    }


def _attention(device: dict[str, Any], limits: Thresholds) -> list[str]:
    flags = set()
    if device["disabled_at"]:
        flags.add("disabled")
    if device["last_seen_at"] is None:
        flags.add("never seen")
    elif device["seconds_since_contact"] > limits.stale_after:
        flags.add("stale")
    # Numbers below the highest one held are holes (the node sends in order); numbers
    # above it are only late while the node still reports a queue.
    holes = [gap for gap in device["gaps"] if gap[1] < device["highest_held"]]
    if holes or (device["gaps"] and not device["queue_depth"]):
        flags.add("gaps")
    if device["rejected"]:
        flags.add("rejected")
    if (device["queue_depth"] or 0) >= limits.backlog_depth or (
        device["oldest_unsynced_age"] or 0
    ) >= limits.backlog_age:
        flags.add("backed up")
    if device["last_error"]:
        flags.add("sync error")
    if device["refused_reason"]:
        flags.add("refused")
    if device["clock_skew"] is not None and abs(device["clock_skew"]) > limits.skew_limit:
        flags.add("clock skew")
    if device["free_disk"] is not None and device["free_disk"] < LOW_DISK:
        flags.add("low disk")
    if device["audio"] == "missing":
        flags.add("audio missing")
    if device["gateway"].get("last_error"):
        flags.add("sms gateway")
    return [flag for flag in ATTENTION if flag in flags]
