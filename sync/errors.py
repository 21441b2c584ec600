"""Errors of the sync feature, translated to 401/4xx answers at the hub and to CLI errors.

SyncError
├── RequestRefused      hub: a device request's signature, clock or nonce is refused (401)
├── BadBatch            hub: a request body is not what the API expects (400, 413)
├── NotEnrolled         node: no hub URL, device id or secret in the store
├── TransportError      node: the hub could not be reached, or the connection broke
└── UnexpectedAnswer    node: the hub answered with an unexpected status
    ├── HubRefused      the hub refused the device's credentials or clock (401)
    └── BatchTooLarge   the hub refused a batch as too large (413)
"""

from __future__ import annotations

from participate.errors import ParticipateError


class SyncError(ParticipateError):
    """Base class of every sync error."""


class RequestRefused(SyncError):
    """A device request is refused: unknown or disabled device, bad signature, clock, replay."""

    def __init__(self, reason: str, *, clock_skew: float | None = None) -> None:
        self.reason = reason
        self.clock_skew = clock_skew
        super().__init__(reason)


class BadBatch(SyncError):
    """A request body is malformed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class NotEnrolled(SyncError):
    """The node store has no hub URL, device id or secret: start it with `participate node`."""


class TransportError(SyncError):
    """The hub could not be reached, or the connection broke before a full answer."""


class UnexpectedAnswer(SyncError):
    """The hub answered with a status the node did not expect."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"hub answered {status}: {reason}")


class HubRefused(UnexpectedAnswer):
    """The hub refused the device's request (401): credentials, clock or replay."""


class BatchTooLarge(UnexpectedAnswer):
    """The hub refused a batch as too large (413); send fewer submissions at a time."""
