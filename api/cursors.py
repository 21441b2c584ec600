"""Opaque page cursors: the (submitted_at, id) of the last row a page gave (keyset paging)."""

from __future__ import annotations

import base64
import binascii
import json

from .errors import QueryError


def encode(submitted_at: str, submission_id: str) -> str:
    """Return the cursor that continues after this submission."""
    raw = json.dumps([submitted_at, submission_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[str, str]:
    """Return the (submitted_at, id) a cursor continues after; QueryError if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise QueryError("The cursor is not one this API gave.") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise QueryError("The cursor is not one this API gave.")
    return value[0], value[1]
