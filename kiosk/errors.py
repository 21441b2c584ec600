"""Errors of the kiosk, turned into a kiosk page (never a stack trace) by its views.

KioskError (a ParticipateError)
├── VisitGone            the visit's token names no live visit: it ended, expired or never was
├── ConsultationClosed   the consultation takes no answers today
└── UnknownQuestion      a form names a question the visit's consultation does not have
"""

from __future__ import annotations

from participate.errors import ParticipateError


class KioskError(ParticipateError):
    """Base class for the kiosk's own errors."""


class VisitGone(KioskError):
    """The visit ended, expired or never existed; the kiosk simply starts again."""


class ConsultationClosed(KioskError):
    """The consultation is closed (by its dates or by staff); nothing is stored."""


class UnknownQuestion(KioskError):
    """A form names a question, or a position, the consultation does not have."""
