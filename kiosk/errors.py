"""Errors of the kiosk, turned into a kiosk page (never a stack trace) by its views.

KioskError (a ParticipateError)
├── VisitGone            the visit's token names no live visit: it ended, expired or never was
├── ConsultationClosed   the consultation takes no answers now (its dates and times, staff)
├── UnknownQuestion      a form names a question the visit's consultation does not have
└── NotAsked             a form answers a question the visit's earlier answers skip
"""

from __future__ import annotations

from participate.errors import ParticipateError


class KioskError(ParticipateError):
    """Base class for the kiosk's own errors."""


class VisitGone(KioskError):
    """The visit ended, expired or never existed; the kiosk simply starts again."""


class ConsultationClosed(KioskError):
    """The consultation is closed (by its dates and times or by staff); nothing is stored.

    `during_visit` says it closed while a visitor was answering (their answers were sent
    after it), so the page tells them, kindly, why their answers were not counted.
    """

    def __init__(self, message: str, *, during_visit: bool = False) -> None:
        super().__init__(message)
        self.during_visit = during_visit


class UnknownQuestion(KioskError):
    """A form names a question, or a position, the consultation does not have."""


class NotAsked(KioskError):
    """A form answers a question that the visit's answers skip (its `ask_if` rule does not
    hold): a forged or stale form. Nothing is stored."""
