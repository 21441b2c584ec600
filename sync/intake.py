"""The hub's side of bundles: check a node's signed file and store it as if it were pushed.

A bundle is refused whole when it is not one, names an unknown or disabled device, was
altered (its checksum) or not signed with that device's key. Otherwise its submissions
go through `receive.store_batch`, the same rules as a push (stored, duplicate, or
rejected with a reason), its ledger numbers are recorded so the devices page shows any
gap, and the answer is a receipt signed with the device's key for `participate bundle --ack`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from participate import clock, store

from . import devices, receive
from .bundles import (
    BUNDLE_FORMAT,
    BUNDLE_METHOD,
    BUNDLE_PATH,
    RECEIPT_FORMAT,
    BundleError,
    read_signed,
    sign_file,
)


@dataclass
class BundleIntake:
    """What the hub made of one bundle: each submission's outcome, gaps left, and the receipt."""

    device_id: str
    results: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    receipt: str = ""

    def count(self, status: str) -> int:
        """Return how many submissions had this outcome."""
        return sum(result.get("status") == status for result in self.results)


def accept_bundle(db: sqlite_utils.Database, text: str) -> BundleIntake:
    """Check a bundle's device, checksum and signature, then store it as a push."""
    bundle = read_signed(text)
    if bundle.kind != BUNDLE_FORMAT:
        raise BundleError("this is a receipt, not a bundle: give it to the node")
    device = devices.get_device(db, bundle.device_id)
    if device is None:
        raise BundleError(f"unknown device {bundle.device_id!r}")
    if device["disabled_at"]:
        raise BundleError(f"device {bundle.device_id} is disabled")
    data = bundle.data()
    bundle.check_signature(device["secret"], BUNDLE_METHOD, BUNDLE_PATH)
    items = data.get("submissions")
    if not isinstance(items, list):
        raise BundleError("the bundle holds no list of submissions")
    intake = BundleIntake(bundle.device_id)
    intake.results = receive.store_batch(db, bundle.device_id, items)
    highest = _highest_seq(data, items)
    with store.write(db):
        devices.note_highest_seq(db, bundle.device_id, highest)
        devices.touch(db, bundle.device_id)
    intake.gaps = devices.ledger_gaps(db, bundle.device_id)
    payload = {
        "bundle_sha256": bundle.checksum,
        "hub_time": clock.utcnow(),
        "results": intake.results,
        "gaps": intake.gaps,
    }
    intake.receipt = sign_file(RECEIPT_FORMAT, bundle.device_id, device["secret"], payload)
    return intake


def _highest_seq(data: dict[str, Any], items: list[Any]) -> int:
    """Return the highest ledger number the node says it has made (its report, or its items)."""
    numbers = [
        value
        for value in (
            (data.get("health") or {}).get("highest_seq")
            if isinstance(data.get("health"), dict)
            else None,
            *(item.get("seq") for item in items if isinstance(item, dict)),
        )
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    ]
    return max(numbers, default=0)
