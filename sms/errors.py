"""Exceptions of the SMS channel, translated at its edges (403/400 in views, CLI errors).

SmsError (a ParticipateError)
├── SmsConfigError   the channel cannot run safely with this configuration
├── InvalidNumber    a phone number cannot be read as an E.164 number
├── GatewayError     the SMS gateway (modem daemon, phone) cannot be used right now
│   └── BadMessage   one received message cannot be read (binary, empty, MMS, ...)
└── SendError        sending one outbound message failed
    ├── TransientSendError   worth retrying later (network, 20429, 30003, 5xx)
    └── PermanentSendError   never retried (21211, 21614, 30006, 21610, other 4xx)
"""

from __future__ import annotations

from participate.errors import ParticipateError


class SmsError(ParticipateError):
    """Base class for the SMS channel's errors."""


class SmsConfigError(SmsError):
    """The channel cannot run safely as configured (e.g. Twilio credentials but no pepper)."""


class InvalidNumber(SmsError):
    """A phone number cannot be read as an E.164 number."""


class GatewayError(SmsError):
    """The gateway cannot be used now: its config is missing, its daemon is not running, ..."""


class BadMessage(GatewayError):
    """One received message cannot be read as a text; it is set aside, never dropped."""


class SendError(SmsError):
    """Sending one outbound message failed; `code` is Twilio's error code when known."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class TransientSendError(SendError):
    """A failure worth retrying later: the network, rate limits, an unreachable handset."""


class PermanentSendError(SendError):
    """A failure that retrying cannot fix: a bad number, a landline, an opted-out number."""
