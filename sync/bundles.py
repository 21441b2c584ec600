"""Bundles: a node's unsynced submissions in one signed file, carried to the hub on a USB stick.

For a branch the network never reaches. `write_bundle` puts every queued submission
(in ledger order, as a push would send them), the node's health report (its highest
ledger number, so the hub can show gaps) and a SHA-256 checksum into one JSON file,
signed with the device's secret exactly as a push request is (`wire.signature`). The
node marks nothing synced: the hub's import answers with a receipt, signed with the
same secret, and `apply_receipt` marks what it acknowledged, as a push's answer would.
If the network comes back first, the next push gets "duplicate" for each and marks them.

This module is the node's side and the file format both sides share; it never imports
the hub's modules (`participate.sync.intake` reads bundles at the hub).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from participate import clock, store

from . import node
from .errors import SyncError
from .wire import PUSH_FIELDS, signature

BUNDLE_FORMAT = "participate-bundle/1"
RECEIPT_FORMAT = "participate-receipt/1"
# What the signature's "method" and "path" are for a file (it is never sent over HTTP).
BUNDLE_METHOD, BUNDLE_PATH = "BUNDLE", "/bundle"
RECEIPT_METHOD, RECEIPT_PATH = "RECEIPT", "/bundle/receipt"


class BundleError(SyncError):
    """A bundle or receipt file is refused: not one, altered, forged, or for another device."""


@dataclass(frozen=True)
class SignedFile:
    """A bundle or a receipt as read from its file, before its signature is checked."""

    kind: str
    device_id: str
    timestamp: str
    nonce: str
    checksum: str
    signature: str
    payload: str  # the signed JSON text, exactly as written

    def data(self) -> dict[str, Any]:
        """Return the payload, once its checksum matches (an altered file is refused)."""
        if hashlib.sha256(self.payload.encode("utf-8")).hexdigest() != self.checksum:
            raise BundleError("the file was altered or damaged: its checksum does not match")
        data = json.loads(self.payload)
        if not isinstance(data, dict):
            raise BundleError("the file's content is not a JSON object")
        return data

    def check_signature(self, secret: str, method: str, path: str) -> None:
        """Refuse the file unless it was signed with `secret` (the device's key)."""
        expected = signature(
            secret, method, path, self.timestamp, self.nonce, self.payload.encode("utf-8")
        )
        if not hmac.compare_digest(expected, self.signature):
            raise BundleError("the signature does not match: forged, or signed with another key")


def sign_file(kind: str, device_id: str, secret: str, payload: dict[str, Any]) -> str:
    """Return the text of a signed bundle or receipt holding `payload`."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    method, path = _SIGNED_AS[kind]
    timestamp, nonce = clock.utcnow(), secrets.token_urlsafe(18)
    envelope = {
        "format": kind,
        "device_id": device_id,
        "timestamp": timestamp,
        "nonce": nonce,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "signature": signature(secret, method, path, timestamp, nonce, text.encode("utf-8")),
        "payload": text,
    }
    return json.dumps(envelope, ensure_ascii=False) + "\n"


_SIGNED_AS = {
    BUNDLE_FORMAT: (BUNDLE_METHOD, BUNDLE_PATH),
    RECEIPT_FORMAT: (RECEIPT_METHOD, RECEIPT_PATH),
}


def read_signed(text: str) -> SignedFile:
    """Read a bundle or receipt file's envelope (its checksum and signature unchecked yet)."""
    try:
        envelope = json.loads(text)
    except ValueError:
        raise BundleError("not a bundle or receipt: the file is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("format") not in _SIGNED_AS:
        raise BundleError("not a Participate bundle or receipt")
    fields = ("device_id", "timestamp", "nonce", "sha256", "signature", "payload")
    if not all(isinstance(envelope.get(name), str) for name in fields):
        raise BundleError("the file lacks a device, timestamp, nonce, checksum or signature")
    return SignedFile(
        envelope["format"],
        envelope["device_id"],
        envelope["timestamp"],
        envelope["nonce"],
        envelope["sha256"],
        envelope["signature"],
        envelope["payload"],
    )


def is_signed_file(first_line: str) -> bool:
    """Say whether a file's first line opens a bundle or receipt (for `participate import`)."""
    return first_line.startswith('{"format": "participate-')


# --- the node's side ----------------------------------------------------------------


def _enrolment(db: sqlite_utils.Database) -> tuple[str, str]:
    device = store.get_meta(db, "device_id")
    secret = store.get_meta(db, "sync_device_secret")
    if not (device and secret):
        raise BundleError(
            "this store has no device key: start it once with"
            " `participate node --hub URL --device-id ID --device-secret SECRET`"
        )
    return str(device), str(secret)


def write_bundle(db: sqlite_utils.Database) -> tuple[str, int]:
    """Return a signed bundle of every queued submission, and how many it holds."""
    device, secret = _enrolment(db)
    rows = db.execute(
        f"SELECT {', '.join(PUSH_FIELDS)} FROM submissions"  # noqa: S608 (constants)
        " WHERE synced_at IS NULL AND sync_error = '' ORDER BY rowid"
    ).fetchall()
    items = []
    for row in rows:
        item = dict(zip(PUSH_FIELDS, row, strict=True))
        item["answers"] = json.loads(item["answers"])
        item["complete"] = bool(item["complete"])
        items.append(item)
    seqs = [item["seq"] for item in items if item["device_id"] == device]
    payload = {
        "submissions": items,
        "health": node.health(db),
        "ledger": {"first": min(seqs, default=None), "last": max(seqs, default=None)},
    }
    return sign_file(BUNDLE_FORMAT, device, secret, payload), len(items)


@dataclass
class AckReport:
    """What a receipt acknowledged: marked synced, refused by the hub, and not in this store."""

    acknowledged: int = 0
    refused: int = 0
    unknown: int = 0


def apply_receipt(db: sqlite_utils.Database, text: str) -> AckReport:
    """Check the hub's receipt for this device and mark what it acknowledged, as a push would."""
    device, secret = _enrolment(db)
    receipt = read_signed(text)
    if receipt.kind != RECEIPT_FORMAT:
        raise BundleError("this is a bundle, not the hub's receipt for one")
    if receipt.device_id != device:
        raise BundleError(f"this receipt is for device {receipt.device_id}, not {device}")
    data = receipt.data()
    receipt.check_signature(secret, RECEIPT_METHOD, RECEIPT_PATH)
    results = data.get("results")
    if not isinstance(results, list):
        raise BundleError("the receipt holds no results")
    acknowledged = [
        r["id"] for r in results if isinstance(r, dict) and r.get("status") in node.ACKNOWLEDGED
    ]
    refused = {
        r["id"]: str(r.get("reason") or "rejected by the hub")
        for r in results
        if isinstance(r, dict) and r.get("status") == "rejected" and isinstance(r.get("id"), str)
    }
    held = {
        row[0]
        for row in db.execute(
            "SELECT id FROM submissions WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps([*acknowledged, *refused])],
        )
    }
    node.mark_results(db, [i for i in acknowledged if i in held], refused)
    report = AckReport(sum(i in held for i in acknowledged), sum(i in held for i in refused))
    report.unknown = len(acknowledged) + len(refused) - report.acknowledged - report.refused
    return report
