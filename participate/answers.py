"""Validate answers against their questions: the one set of rules every channel uses.

`validate_answer` takes a typed value (what JSON or the SMS parser produce) and returns
it normalised, or raises AnswerError with a stable `code` that channels translate for
people. `from_form` turns the strings of an HTML form into typed values first.
`validate_answers` checks a whole submission.

Stored values: a choice id (choice), a list of choice ids in the file's order (multi),
true/false (yesno), an int (scale), an int or float (number), a string (text). A
skipped optional question is absent, never null; so is a question its skip rule
(`ask_if`) left unasked, and an answer to such a question is refused.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from participate.consultations import Consultation, Question, Rule
from participate.errors import AnswerError, AnswersError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


class Skipped:
    """Marker returned for an optional question left empty."""

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED = Skipped()


def _error(question: Question, code: str, message: str, **params: Any) -> AnswerError:
    return AnswerError(code, message, question=question.id, params=params)


def validate_answer(question: Question, value: Any) -> Any:
    """Return `value` normalised for `question`, SKIPPED for an empty optional one, or raise."""
    if value is None or value == "" or value == []:
        if question.required:
            raise _error(question, "required", "an answer is required")
        return SKIPPED
    check = _CHECKS[question.type]
    return check(question, value)


def _choice(question: Question, value: Any) -> str:
    if not isinstance(value, str):
        raise _error(question, "wrong_type", "must be a choice id (a string)")
    if question.choice(value) is None:
        raise _error(question, "not_a_choice", f"{value[:40]!r} is not one of the choices")
    return value


def _multi(question: Question, value: Any) -> list[str] | Skipped:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(question, "wrong_type", "must be a list of choice ids")
    for item in value:
        if question.choice(item) is None:
            raise _error(question, "not_a_choice", f"{item[:40]!r} is not one of the choices")
    if len(set(value)) != len(value):
        raise _error(question, "repeated", "a choice is given twice")
    low = max(question.min_choices, 1 if question.required else 0)
    high = question.max_choices or len(question.choices)
    if len(value) < low:
        raise _error(question, "too_few", f"choose at least {low}", min=low)
    if len(value) > high:
        raise _error(question, "too_many", f"choose at most {high}", max=high)
    chosen = set(value)
    return [c.id for c in question.choices if c.id in chosen]


def _yesno(question: Question, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _error(question, "wrong_type", "must be true or false")
    return value


def _number_value(question: Question, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(question, "wrong_type", "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(question, "wrong_type", "must be a finite number")
    integral = isinstance(value, int) or value.is_integer()
    if (question.type == "scale" or question.integer) and not integral:
        raise _error(question, "not_integer", "must be a whole number")
    if question.min is not None and value < question.min:
        raise _error(
            question,
            "out_of_range",
            f"must be at least {question.min}",
            min=question.min,
            max=question.max,
        )
    if question.max is not None and value > question.max:
        raise _error(
            question,
            "out_of_range",
            f"must be at most {question.max}",
            min=question.min,
            max=question.max,
        )
    return int(value) if integral and (question.type == "scale" or question.integer) else value


def _text(question: Question, value: Any) -> str | Skipped:
    if not isinstance(value, str):
        raise _error(question, "wrong_type", "must be text")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    # Control characters other than newline and tab have no place in an answer.
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = text.strip()
    if not text:
        if question.required:
            raise _error(question, "required", "an answer is required")
        return SKIPPED
    if len(text) > question.max_length:
        raise _error(
            question,
            "too_long",
            f"must be at most {question.max_length} characters",
            max=question.max_length,
        )
    return text


_CHECKS = {
    "choice": _choice,
    "multi": _multi,
    "scale": _number_value,
    "yesno": _yesno,
    "number": _number_value,
    "text": _text,
}


def from_form(question: Question, values: Sequence[str]) -> Any:
    """Turn an HTML form's strings for `question` into a typed value, then validate it."""
    values = [v for v in values if v is not None]
    if question.type == "multi":
        return validate_answer(question, [v for v in values if v != ""])
    raw = values[-1].strip() if values else ""
    if raw == "":
        return validate_answer(question, None)
    if question.type == "yesno":
        lowered = raw.lower()
        if lowered in _TRUE:
            return validate_answer(question, True)
        if lowered in _FALSE:
            return validate_answer(question, False)
        raise _error(question, "wrong_type", "must be yes or no")
    if question.type in ("scale", "number"):
        # Plain decimals only: Python's int() and float() would also take "1_0", "inf",
        # "nan" and "1e5", which no visitor means.
        match = _NUMBER.fullmatch(raw.replace(",", "."))
        if match is None:
            raise _error(question, "wrong_type", "must be a number")
        text = match.group(0)
        number: int | float = int(text) if "." not in text else float(text)
        return validate_answer(question, number)
    if question.type == "text":
        return validate_answer(question, values[-1])
    return validate_answer(question, raw)


def validate_answers(
    consultation: Consultation, answers: Mapping[str, Any], *, complete: bool = True
) -> dict[str, Any]:
    """Validate a whole set of answers; with `complete=False` missing required ones are allowed."""
    if not isinstance(answers, Mapping):
        raise AnswersError({"": AnswerError("wrong_type", "answers must be an object")})
    errors: dict[str, AnswerError] = {}
    for question_id in answers:
        if consultation.question(question_id) is None:
            errors[str(question_id)[:64]] = AnswerError(
                "unknown_question", "no such question", question=str(question_id)[:64]
            )
    result: dict[str, Any] = {}
    asked: set[str] = set()
    for question in consultation.questions:
        value = answers.get(question.id)
        rule = question.ask_if
        if rule is not None and not _is_asked(rule, result, asked, complete=complete):
            if value is not None:
                errors[question.id] = _error(
                    question,
                    "not_asked",
                    f"is not asked after the answer given to {rule.question!r} (ask_if)",
                    source=rule.question,
                )
            continue
        asked.add(question.id)
        if value is None and not complete:
            continue
        try:
            normalised = validate_answer(question, value)
        except AnswerError as error:
            errors[question.id] = error
            continue
        if normalised is not SKIPPED:
            result[question.id] = normalised
    if errors:
        raise AnswersError(errors)
    return result


def _is_asked(rule: Rule, earlier: Mapping[str, Any], asked: set[str], *, complete: bool) -> bool:
    """Say whether a question with this skip rule is put to someone who gave the `earlier`
    answers (valid ones, to the `asked` questions). In an unfinished set, an earlier
    question not answered yet may still be answered, so its rule does not refuse."""
    if rule.question not in asked:
        return False
    if rule.question not in earlier and not complete:
        return True
    return rule.matches(earlier.get(rule.question))
