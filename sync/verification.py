"""Check device requests at the hub: signature, clock window and nonce, per device.

The hub refuses an unknown or disabled device, a bad signature, a timestamp outside
its window (either way) and a nonce it has already seen; see `participate.sync.wire`
for what is signed.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from participate import clock, store

from . import devices
from .errors import RequestRefused
from .wire import (
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    HEADERS,
    signature,
)

DEFAULT_WINDOW = 300
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def verify(
    db: sqlite_utils.Database,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    window: float = DEFAULT_WINDOW,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a signed request and remember its nonce; return the device or raise RequestRefused."""
    now = time.time() if now is None else now
    values = {name: headers.get(name, "") for name in HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise RequestRefused(f"missing header {missing[0]}")
    device = devices.get_device(db, values[HEADER_DEVICE])
    if device is None:
        raise RequestRefused("unknown device")
    if device["disabled_at"]:
        raise RequestRefused("device disabled")
    stamp = values[HEADER_TIMESTAMP]
    if not _TIMESTAMP.fullmatch(stamp):
        raise RequestRefused("malformed timestamp")
    nonce = values[HEADER_NONCE]
    if not _NONCE.fullmatch(nonce):
        raise RequestRefused("malformed nonce")
    # Checked before the compare: compare_digest raises on a str outside ASCII.
    if not _SIGNATURE.fullmatch(values[HEADER_SIGNATURE]):
        raise RequestRefused("malformed signature")
    expected = signature(device["secret"], method, path, stamp, nonce, body)
    if not hmac.compare_digest(expected, values[HEADER_SIGNATURE]):
        devices.record_refusal(db, device["id"], "bad signature")
        raise RequestRefused("bad signature")
    skew = int(stamp) - now
    if abs(skew) > window:
        # Only a correctly signed request tells us the device's clock is off.
        reason = f"timestamp outside window ({skew:+.0f} s; limit {window:.0f} s)"
        devices.record_refusal(db, device["id"], reason, clock_skew=skew)
        raise RequestRefused("timestamp outside window", clock_skew=skew)
    # One transaction (one fsync) for the nonce and the device's last contact.
    with store.write(db):
        fresh = remember_nonce(db, device["id"], nonce, int(stamp) + window, now)
        if fresh:
            devices.touch(db, device["id"])
            devices.clear_refusal(db, device["id"])
    if not fresh:
        devices.record_refusal(db, device["id"], "replayed nonce")
        raise RequestRefused("replayed nonce")
    return device


def remember_nonce(
    db: sqlite_utils.Database, device_id: str, nonce: str, expires: float, now: float
) -> bool:
    """Record a nonce until it could no longer pass the time window; False if already seen."""
    expires_at = clock.to_text(datetime.fromtimestamp(expires, UTC) + timedelta(seconds=1))
    db.execute("DELETE FROM sync_nonces WHERE expires_at < ?", [_text(now)])
    cursor = db.execute(
        "INSERT OR IGNORE INTO sync_nonces (device_id, nonce, expires_at) VALUES (?, ?, ?)",
        [device_id, nonce, expires_at],
    )
    return cursor.rowcount == 1


def _text(moment: float) -> str:
    return clock.to_text(datetime.fromtimestamp(moment, UTC))
