"""Exceptions shared by every feature, translated to 4xx pages or CLI errors at the edges.

ParticipateError
├── ConsultationError   a consultation file or definition is invalid
├── AnswerError         one answer does not fit its question
│   └── AnswersError    a set of answers has one or more AnswerErrors
├── NotFound            an id names nothing in the store
├── Conflict            a write contradicts what the store already holds
└── InvalidPhone        a number typed for a results text cannot receive one
"""

from __future__ import annotations


class ParticipateError(Exception):
    """Base class for every error the application raises on purpose."""


class ConfigError(ParticipateError):
    """A setting has a value the application cannot run with."""


class ConsultationError(ParticipateError):
    """A consultation file or definition is invalid; says which file, question and field."""

    def __init__(
        self, message: str, *, source: str = "", question: str = "", field: str = ""
    ) -> None:
        self.source = source
        self.question = question
        self.field = field
        self.detail = message
        where = [part for part in (source, f"question {question!r}" if question else "") if part]
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class AnswerError(ParticipateError):
    """One answer does not fit its question; `code` is stable, `message` is for people."""

    def __init__(
        self, code: str, message: str, *, question: str = "", params: dict | None = None
    ) -> None:
        self.code = code
        self.question = question
        self.params = params or {}
        super().__init__(message)


class AnswersError(AnswerError):
    """Several answers failed validation; `errors` maps question id to its AnswerError."""

    def __init__(self, errors: dict[str, AnswerError]) -> None:
        self.errors = errors
        summary = "; ".join(f"{qid}: {err}" for qid, err in errors.items())
        super().__init__("invalid_answers", summary)


class NotFound(ParticipateError):
    """An id names nothing in the store."""


class Conflict(ParticipateError):
    """A write contradicts what the store already holds."""


class InvalidPhone(ParticipateError):
    """A phone number typed for "you said, we did" is not one a text can reach."""
