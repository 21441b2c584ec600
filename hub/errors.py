"""Exceptions of the staff hub, translated to 4xx pages or CLI errors at the edges.

HubError (a ParticipateError)
├── LoginFailed      wrong email or password, or the account is disabled
│   └── AccountLocked too many failed passwords; try again later
├── UserError        a staff account cannot be created or changed as asked
├── ModerationError  a hide or unhide request is incomplete (no reason, unknown action)
├── FilterError      a filter in the query string cannot be understood (also a ValueError)
├── ExportError      an export cannot be made as asked (unknown format, no such consultation)
├── ImportRefused    a file to import is not an export Participate can read, as a whole
├── DraftFormError   an editor's post is not one the editor makes (a 400, nothing saved)
└── UnknownTimeZone  the TIMEZONE setting names no time zone this system knows
"""

from __future__ import annotations

from participate.errors import ParticipateError


class HubError(ParticipateError):
    """Base class for the staff hub's own errors."""


class LoginFailed(HubError):
    """The email and password do not match an active account."""


class AccountLocked(LoginFailed):
    """The account is locked after too many failed passwords; `until` says when it reopens."""

    def __init__(self, message: str, until: str) -> None:
        self.until = until
        super().__init__(message)


class UserError(HubError):
    """A staff account cannot be created or changed as asked."""


class ModerationError(HubError):
    """A moderation request is incomplete (no reason, unknown action)."""


class FilterError(HubError, ValueError):
    """A filter in the query string cannot be understood."""


class ExportError(HubError):
    """An export cannot be made as asked."""


class ImportRefused(HubError):
    """A file to import is refused as a whole (not laid out as an export, bad definitions)."""


class UnknownTimeZone(HubError):
    """The TIMEZONE setting names no time zone this system knows."""


class DraftFormError(HubError):
    """An editor's post is not one the editor's page makes (a field missing or too long,
    an unknown action, too many questions): refused whole, the draft unchanged."""
