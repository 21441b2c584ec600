"""The wire format both sides of sync share: the signed headers, and what a pushed submission holds.

A node sends four headers with every request to the hub. The signature covers
`METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256-HEX(BODY AS SENT)`, keyed with the
device's secret. The node signs (`sign`); the hub checks (`participate.sync.verification`).
Node-side code imports this module, never the hub's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from participate.submissions import CONTENT_FIELDS

HEADER_DEVICE = "X-Participate-Device"
HEADER_TIMESTAMP = "X-Participate-Timestamp"
HEADER_NONCE = "X-Participate-Nonce"
HEADER_SIGNATURE = "X-Participate-Signature"
HEADERS = (HEADER_DEVICE, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

# What a node pushes for each submission, in this order.
PUSH_FIELDS = ("id", *CONTENT_FIELDS)


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of a request's canonical form under `secret`."""
    message = "\n".join(
        [method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    ).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(
    device_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Return the headers that sign this request as `device_id`."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    nonce = nonce or secrets.token_urlsafe(18)
    return {
        HEADER_DEVICE: device_id,
        HEADER_TIMESTAMP: stamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret, method, path, stamp, nonce, body),
    }
