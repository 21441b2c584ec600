"""The consultation model: parse and check files, version them, keep every version in the store.

A consultation file (YAML, JSON, or an XLSForm workbook that `participate.xlsform` reads)
is parsed into a `Consultation` whose `definition` is the canonical dict of the file;
its `version` is a hash of that dict, so a file that only changes formatting keeps its
version and any change of content makes a new one.
The question types are defined here and nowhere else; `participate.answers` validates
answers against them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

from participate import clock, store, xlsform
from participate.errors import ConsultationError, NotFound
from participate.keywords import RESERVED_WORDS, normalize

QUESTION_TYPES = ("choice", "multi", "scale", "yesno", "number", "text")

# The fields each question type accepts beyond the common ones.
_COMMON_FIELDS = {"id", "type", "text", "required", "help", "ask_if"}
# The question types a skip rule (`ask_if`) may look at: those with a fixed set of answers.
RULE_SOURCE_TYPES = ("choice", "multi", "yesno", "scale")
_TYPE_FIELDS = {
    "choice": {"choices"},
    "multi": {"choices", "min_choices", "max_choices"},
    "scale": {"min", "max", "labels"},
    "yesno": set(),
    "number": {"min", "max", "integer"},
    "text": {"max_length"},
}
_TOP_FIELDS = {
    "id",
    "title",
    "intro",
    "languages",
    "keywords",
    "opens",
    "closes",
    "retention_days",
    "questions",
    "thanks",
    "results_by_text",
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_FILE_BYTES = 1024 * 1024
# Lists and mappings inside each other: a consultation needs about 6 (questions, a
# question, its choices, a choice, its texts). Checked before parsing, because both
# parsers recurse once a level and a 100,000-deep file exhausts Python's stack.
MAX_NESTING = 20
MAX_SCALE_POINTS = 11
MAX_TEXT_LENGTH = 5000
DEFAULT_TEXT_LENGTH = 500
MAX_RETENTION_DAYS = 36500

Text = dict[str, str]


@dataclass(frozen=True)
class Choice:
    id: str
    text: Text


@dataclass(frozen=True)
class Rule:
    """Skip logic: ask a question only when an earlier question's answer is one of `values`
    (for a multi question, when any chosen choice is). An earlier question left blank or
    not asked matches nothing, so whatever hangs on it is not asked either."""

    question: str
    values: tuple[Any, ...]

    def matches(self, answer: Any) -> bool:
        if isinstance(answer, list):
            return any(item in self.values for item in answer)
        return answer is not None and answer in self.values


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    text: Text
    required: bool = True
    help: Text = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    integer: bool = False
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    min_choices: int = 0
    max_choices: int | None = None
    max_length: int = DEFAULT_TEXT_LENGTH
    ask_if: Rule | None = None

    def choice(self, choice_id: str) -> Choice | None:
        """Return the choice with this id, or None."""
        return next((c for c in self.choices if c.id == choice_id), None)


@dataclass(frozen=True)
class Consultation:
    id: str
    version: str
    title: Text
    intro: Text
    languages: tuple[str, ...]
    keywords: dict[str, tuple[str, ...]]
    opens: date | None
    closes: date | None
    questions: tuple[Question, ...]
    thanks: Text
    definition: dict[str, Any]
    # Offer, after the thanks, a text when the results are published ("you said, we did").
    results_by_text: bool = False
    # Days after closing that submissions keep their pseudonyms (None: RETENTION_DAYS).
    retention_days: int | None = None
    # The local times answers are taken from (inclusive) and until (exclusive): a day
    # alone opens at its midnight and closes at the end of the day.
    opens_at: datetime | None = None
    closes_at: datetime | None = None

    def question(self, question_id: str) -> Question | None:
        """Return the question with this id, or None."""
        return next((q for q in self.questions if q.id == question_id), None)

    def is_open(self, when: date | datetime) -> bool:
        """Say whether the file's dates admit answers at `when`: a local (naive) time, to
        the minute, or a day (taking answers at any time of it)."""
        if isinstance(when, datetime):
            if self.opens_at and when < self.opens_at:
                return False
            return not (self.closes_at and when >= self.closes_at)
        if self.opens and when < self.opens:
            return False
        return not (self.closes and when > self.closes)

    def asked(
        self, answers: Mapping[str, Any], *, reached: Collection[str] | None = None
    ) -> tuple[Question, ...]:
        """Return the questions put to a respondent with these answers, in order.

        Without `reached`, the answers are final: a question whose rule looks at a
        question left blank is not asked. With `reached` (the questions already put to
        the respondent), a rule looking at a question not reached yet may still hold,
        so its question counts as asked: the total of "2/6" then shrinks as answers
        come in, never grows.
        """
        asked: list[Question] = []
        asked_ids: set[str] = set()
        for question in self.questions:
            rule = question.ask_if
            if rule is not None:
                if rule.question not in asked_ids:
                    continue
                pending = reached is not None and rule.question not in reached
                if not pending and not rule.matches(answers.get(rule.question)):
                    continue
            asked.append(question)
            asked_ids.add(question.id)
        return tuple(asked)

    def next_asked(self, answers: Mapping[str, Any], after: int) -> int | None:
        """Return the index of the first question after index `after` that the answers
        put to the respondent (-1: from the start), or None when none is left. A rule
        looks only at earlier questions, reached already, so the answers settle it."""
        asked = {question.id for question in self.asked(answers)}
        for index in range(after + 1, len(self.questions)):
            if self.questions[index].id in asked:
                return index
        return None

    def only_asked(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Return `answers` without those to questions the rules no longer ask (an earlier
        answer changed): what is left passes validation's "not_asked" check."""
        asked = {question.id for question in self.asked(answers)}
        return {key: value for key, value in answers.items() if key in asked}

    def language(self, wanted: str | None) -> str:
        """Return `wanted` if this consultation offers it, else its first language."""
        return wanted if wanted in self.languages else self.languages[0]


def localize(text: Mapping[str, str], language: str) -> str:
    """Return `text` in `language`, falling back to its first language."""
    if language in text:
        return text[language]
    return next(iter(text.values()), "")


# --- parsing -----------------------------------------------------------------------


class _DefinitionReader:
    """Read the fields of one definition, raising a ConsultationError that says where
    the problem is (file, question, field)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.question = ""

    def fail(self, field_name: str, message: str) -> ConsultationError:
        return ConsultationError(
            message, source=self.source, question=self.question, field=field_name
        )

    def ident(self, value: Any, field_name: str) -> str:
        if isinstance(value, bool):
            raise self.fail(field_name, f"must be text, got {value!r}: put it in quotes")
        if not isinstance(value, str) or not _ID.match(value):
            raise self.fail(
                field_name,
                f"must be 1-64 letters, digits, '-' or '_', got {value!r}",
            )
        return value

    def text(self, value: Any, field_name: str, languages: tuple[str, ...]) -> Text:
        if isinstance(value, str):
            if not value.strip():
                raise self.fail(field_name, "must not be empty")
            return {lang: value for lang in languages}
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in languages]
            if unknown:
                raise self.fail(
                    field_name,
                    f"has text for {unknown[0]!r}, which is not in languages {list(languages)}",
                )
            missing = [lang for lang in languages if lang not in value]
            if missing:
                raise self.fail(field_name, f"has no text for language {missing[0]!r}")
            for lang, text in value.items():
                if not isinstance(text, str) or not text.strip():
                    raise self.fail(field_name, f"text for {lang!r} must be a non-empty string")
            return {lang: value[lang] for lang in languages}
        raise self.fail(field_name, "must be a string or a mapping of language to string")

    def boolean(self, value: Any, field_name: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field_name, f"must be true or false, got {value!r}")
        return value

    def number(self, value: Any, field_name: str, *, integer: bool = False) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field_name, f"must be a number, got {value!r}")
        if integer and not float(value).is_integer():
            raise self.fail(field_name, f"must be a whole number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(field_name, "must be a finite number")
        return int(value) if integer or float(value).is_integer() else value

    def moment(self, value: Any, field_name: str) -> date | datetime:
        """Read a day (2026-11-01) or a local time to the minute (2026-11-01T17:00)."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            except ValueError:
                value = None
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                raise self.fail(
                    field_name,
                    "must be a local time without a zone offset: times are in the"
                    " organisation's time zone (TIMEZONE)",
                )
            return value.replace(second=0, microsecond=0)
        if isinstance(value, date):
            return value
        raise self.fail(
            field_name, f"must be a date like 2026-11-01 or 2026-11-01T17:00, got {value!r}"
        )


def parse(data: Any, source: str = "<definition>") -> Consultation:
    """Check a definition (the decoded file) and return it as a Consultation."""
    reader = _DefinitionReader(source)
    _check_top_fields(reader, data)
    consultation_id = reader.ident(data["id"], "id")
    languages = _parse_languages(reader, data.get("languages", ["en"]))
    title = reader.text(data["title"], "title", languages)
    intro = reader.text(data["intro"], "intro", languages) if "intro" in data else {}
    thanks = reader.text(data["thanks"], "thanks", languages) if "thanks" in data else {}
    keywords = _parse_keywords(reader, data.get("keywords", {}), languages)
    opens, closes = _parse_dates(reader, data)
    opens_at, closes_at = _bounds(opens, closes)
    retention_days = _parse_retention(reader, data)
    questions = _parse_questions(reader, data["questions"], languages)
    results_by_text = reader.boolean(data.get("results_by_text", False), "results_by_text")
    definition = _canonical_definition(
        {
            "id": consultation_id,
            "title": title,
            "languages": list(languages),
            "questions": [_question_definition(q) for q in questions],
        },
        optional={
            "intro": intro,
            "thanks": thanks,
            "keywords": {lang: list(kws) for lang, kws in keywords.items()},
            "opens": _moment_text(opens),
            "closes": _moment_text(closes),
            "results_by_text": results_by_text,
            "retention_days": retention_days,
        },
    )
    return Consultation(
        id=consultation_id,
        version=_version(definition),
        title=title,
        intro=intro,
        languages=languages,
        keywords=keywords,
        opens=_day(opens),
        closes=_day(closes),
        opens_at=opens_at,
        closes_at=closes_at,
        questions=questions,
        thanks=thanks,
        definition=definition,
        results_by_text=results_by_text,
        retention_days=retention_days,
    )


def _check_top_fields(reader: _DefinitionReader, data: Any) -> None:
    """Refuse a definition that is not a mapping, lacks a required field or has an unknown one."""
    if not isinstance(data, Mapping):
        raise reader.fail("", "must be a mapping with id, title and questions")
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise reader.fail(unknown[0], "is not a known field")
    for required in ("id", "title", "questions"):
        if required not in data:
            raise reader.fail(required, "is required")


def _parse_languages(reader: _DefinitionReader, raw: Any) -> tuple[str, ...]:
    """Return the language codes (one code alone is a list of one), each once."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise reader.fail("languages", "must be a non-empty list of language codes")
    for lang in raw:
        if not isinstance(lang, str) or not _LANGUAGE.match(lang):
            raise reader.fail("languages", f"{lang!r} is not a language code like 'en' or 'fr'")
    if len(set(raw)) != len(raw):
        raise reader.fail("languages", "lists a language twice")
    return tuple(raw)


def _parse_dates(
    reader: _DefinitionReader, data: Mapping[str, Any]
) -> tuple[date | datetime | None, date | datetime | None]:
    """Return when answers open and close (either may be absent): a day or a local time."""
    opens = reader.moment(data["opens"], "opens") if data.get("opens") is not None else None
    closes = reader.moment(data["closes"], "closes") if data.get("closes") is not None else None
    opens_at, closes_at = _bounds(opens, closes)
    if opens_at and closes_at and closes_at <= opens_at:
        raise reader.fail("closes", f"must come after opens ({_moment_text(opens)}), not before")
    return opens, closes


def _bounds(
    opens: date | datetime | None, closes: date | datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Return the first local minute answers are taken and the first they are not."""
    opens_at = closes_at = None
    if opens is not None:
        opens_at = opens if isinstance(opens, datetime) else datetime.combine(opens, time())
    if closes is not None:
        closes_at = (
            closes
            if isinstance(closes, datetime)
            else datetime.combine(closes + timedelta(days=1), time())
        )
    return opens_at, closes_at


def _day(moment: date | datetime | None) -> date | None:
    return moment.date() if isinstance(moment, datetime) else moment


def _moment_text(moment: date | datetime | None) -> str | None:
    if isinstance(moment, datetime):
        return moment.isoformat(timespec="minutes")
    return moment.isoformat() if moment else None


def _parse_retention(reader: _DefinitionReader, data: Mapping[str, Any]) -> int | None:
    """Return the days after closing that pseudonyms are kept, or None for RETENTION_DAYS."""
    if data.get("retention_days") is None:
        return None
    days = int(reader.number(data["retention_days"], "retention_days", integer=True))
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise reader.fail("retention_days", f"must be from 0 to {MAX_RETENTION_DAYS} days")
    return days


def _parse_questions(
    reader: _DefinitionReader, raw: Any, languages: tuple[str, ...]
) -> tuple[Question, ...]:
    """Return the questions in order, each id once; a problem names its question."""
    if not isinstance(raw, list) or not raw:
        raise reader.fail("questions", "must be a non-empty list")
    questions: list[Question] = []
    for index, item in enumerate(raw, start=1):
        name = item.get("id") if isinstance(item, Mapping) else None
        reader.question = name if isinstance(name, str) else f"#{index}"
        question = _parse_question(reader, item, languages, questions)
        if any(q.id == question.id for q in questions):
            raise reader.fail("id", "is used by another question")
        questions.append(question)
    reader.question = ""
    return tuple(questions)


def _canonical_definition(required: dict[str, Any], *, optional: dict[str, Any]) -> dict[str, Any]:
    """Return the definition as stored and hashed: optional fields appear only when set
    (a flag only when true; a number even when 0), so the definition re-parses to itself
    and a version made before a field existed keeps its hash."""
    return _canonical(
        required
        | {
            key: value
            for key, value in optional.items()
            if value not in (None, {}) and value is not False
        }
    )


def _parse_keywords(
    reader: _DefinitionReader, raw: Any, languages: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    if isinstance(raw, str | list):
        raw = {languages[0]: raw}
    if not isinstance(raw, Mapping):
        raise reader.fail("keywords", "must map a language to a keyword or a list of keywords")
    keywords: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()
    for lang, value in raw.items():
        if lang not in languages:
            raise reader.fail(
                "keywords", f"language {lang!r} is not in languages {list(languages)}"
            )
        values = value if isinstance(value, list) else [value]
        normalised = []
        for keyword in values:
            if not isinstance(keyword, str) or not normalize(keyword):
                raise reader.fail("keywords", f"{keyword!r} is not a keyword")
            word = normalize(keyword)
            if " " in word:
                raise reader.fail("keywords", f"{keyword!r} must be a single word")
            if word in RESERVED_WORDS:
                raise reader.fail(
                    "keywords", f"{keyword!r} is reserved for SMS commands or answers"
                )
            if word in seen:
                raise reader.fail("keywords", f"{keyword!r} is listed twice")
            seen.add(word)
            normalised.append(word)
        keywords[lang] = tuple(normalised)
    return keywords


def _parse_question(
    reader: _DefinitionReader,
    raw: Any,
    languages: tuple[str, ...],
    earlier: list[Question],
) -> Question:
    if not isinstance(raw, Mapping):
        raise reader.fail("", "must be a mapping with id, type and text")
    for required in ("id", "type", "text"):
        if required not in raw:
            raise reader.fail(required, "is required")
    question_id = reader.ident(raw["id"], "id")
    qtype = raw["type"]
    if qtype not in QUESTION_TYPES:
        raise reader.fail("type", f"must be one of {', '.join(QUESTION_TYPES)}, got {qtype!r}")
    unknown = sorted(set(raw) - _COMMON_FIELDS - _TYPE_FIELDS[qtype])
    if unknown:
        raise reader.fail(unknown[0], f"is not a field of a {qtype} question")
    options: dict[str, Any] = {
        "id": question_id,
        "type": qtype,
        "text": reader.text(raw["text"], "text", languages),
        "required": reader.boolean(raw.get("required", True), "required"),
    }
    if "help" in raw:
        options["help"] = reader.text(raw["help"], "help", languages)
    if raw.get("ask_if") is not None:
        options["ask_if"] = _parse_rule(reader, raw["ask_if"], question_id, earlier)
    options.update(_TYPE_OPTIONS[qtype](reader, raw, languages))
    return Question(**options)


def _parse_rule(
    reader: _DefinitionReader, raw: Any, question_id: str, earlier: list[Question]
) -> Rule:
    """Read `ask_if: {question: ID, equals: VALUE}` or `{question: ID, in: [VALUE, ...]}`."""
    shape = "must be {question: ID, equals: VALUE} or {question: ID, in: [VALUE, ...]}"
    if not isinstance(raw, Mapping) or set(raw) not in ({"question", "equals"}, {"question", "in"}):
        raise reader.fail("ask_if", shape)
    source_id = raw["question"]
    if source_id == question_id:
        raise reader.fail("ask_if", "looks at this question itself: it must name an earlier one")
    source = next((q for q in earlier if q.id == source_id), None)
    if source is None:
        raise reader.fail(
            "ask_if", f"must name a question asked before this one, and {source_id!r} is not"
        )
    if source.type not in RULE_SOURCE_TYPES:
        raise reader.fail(
            "ask_if",
            f"can look at a {', '.join(RULE_SOURCE_TYPES)} question, and {source_id!r} is a"
            f" {source.type} question",
        )
    values = [raw["equals"]] if "equals" in raw else raw["in"]
    if not isinstance(values, list) or not values:
        raise reader.fail("ask_if", "'in' must be a non-empty list of answers")
    for value in values:
        if not _possible_answer(source, value):
            raise reader.fail("ask_if", f"{value!r} is not an answer {source_id!r} can have")
    return Rule(source_id, tuple(dict.fromkeys(values)))


def _possible_answer(question: Question, value: Any) -> bool:
    """Say whether `value` is one answer (one choice, for a multi) `question` can have."""
    if question.type in ("choice", "multi"):
        return isinstance(value, str) and question.choice(value) is not None
    if question.type == "yesno":
        return isinstance(value, bool)
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and question.min is not None
        and question.max is not None
        and question.min <= value <= question.max
    )


def _choice_options(
    reader: _DefinitionReader, raw: Mapping[str, Any], languages: tuple[str, ...]
) -> dict[str, Any]:
    return {"choices": _parse_choices(reader, raw.get("choices"), languages)}


def _multi_options(
    reader: _DefinitionReader, raw: Mapping[str, Any], languages: tuple[str, ...]
) -> dict[str, Any]:
    choices = _parse_choices(reader, raw.get("choices"), languages)
    count = len(choices)
    low = int(reader.number(raw.get("min_choices", 0), "min_choices", integer=True))
    high = int(reader.number(raw.get("max_choices", count), "max_choices", integer=True))
    if not 0 <= low <= count:
        raise reader.fail("min_choices", f"must be between 0 and {count}")
    if not max(low, 1) <= high <= count:
        raise reader.fail("max_choices", f"must be between {max(low, 1)} and {count}")
    return {"choices": choices, "min_choices": low, "max_choices": high}


def _scale_options(
    reader: _DefinitionReader, raw: Mapping[str, Any], languages: tuple[str, ...]
) -> dict[str, Any]:
    for bound in ("min", "max"):
        if bound not in raw:
            raise reader.fail(bound, "is required for a scale")
    low = reader.number(raw["min"], "min", integer=True)
    high = reader.number(raw["max"], "max", integer=True)
    if high <= low:
        raise reader.fail("max", f"must be greater than min ({low})")
    if high - low + 1 > MAX_SCALE_POINTS:
        raise reader.fail("max", f"a scale has at most {MAX_SCALE_POINTS} points")
    options: dict[str, Any] = {"min": low, "max": high}
    if "labels" in raw:
        options["labels"] = _parse_labels(reader, raw["labels"], languages)
    return options


def _yesno_options(
    reader: _DefinitionReader, raw: Mapping[str, Any], languages: tuple[str, ...]
) -> dict[str, Any]:
    return {}


def _number_options(
    reader: _DefinitionReader, raw: Mapping[str, Any], languages: tuple[str, ...]
) -> dict[str, Any]:
    integer = reader.boolean(raw.get("integer", False), "integer")
    options: dict[str, Any] = {"integer": integer}
    for bound in ("min", "max"):
        if raw.get(bound) is not None:
            options[bound] = reader.number(raw[bound], bound, integer=integer)
    low, high = options.get("min"), options.get("max")
    if low is not None and high is not None and high < low:
        raise reader.fail("max", f"must not be less than min ({low})")
    return options


def _text_options(
    reader: _DefinitionReader, raw: Mapping[str, Any], languages: tuple[str, ...]
) -> dict[str, Any]:
    length = reader.number(raw.get("max_length", DEFAULT_TEXT_LENGTH), "max_length", integer=True)
    if not 1 <= length <= MAX_TEXT_LENGTH:
        raise reader.fail("max_length", f"must be between 1 and {MAX_TEXT_LENGTH}")
    return {"max_length": int(length)}


# What each question type reads beyond the common fields (_TYPE_FIELDS names them).
_TYPE_OPTIONS = {
    "choice": _choice_options,
    "multi": _multi_options,
    "scale": _scale_options,
    "yesno": _yesno_options,
    "number": _number_options,
    "text": _text_options,
}


def _parse_choices(
    reader: _DefinitionReader, raw: Any, languages: tuple[str, ...]
) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise reader.fail("choices", "must be a list of at least two choices")
    choices: list[Choice] = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping) or "id" not in item or "text" not in item:
            raise reader.fail("choices", f"choice {index} must have an id and a text")
        unknown = sorted(set(item) - {"id", "text"})
        if unknown:
            raise reader.fail("choices", f"choice {index}: {unknown[0]!r} is not a known field")
        choice_id = reader.ident(item["id"], f"choices[{index}].id")
        if any(c.id == choice_id for c in choices):
            raise reader.fail("choices", f"choice id {choice_id!r} is used twice")
        choices.append(
            Choice(choice_id, reader.text(item["text"], f"choices[{index}].text", languages))
        )
    return tuple(choices)


def _parse_labels(
    reader: _DefinitionReader, raw: Any, languages: tuple[str, ...]
) -> dict[str, tuple[str, str]]:
    if isinstance(raw, list):
        raw = {lang: raw for lang in languages}
    if not isinstance(raw, Mapping):
        raise reader.fail("labels", "must be a pair [low, high] or a mapping of language to pair")
    labels = {}
    for lang in languages:
        pair = raw.get(lang)
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(x, str) and x.strip() for x in pair)
        ):
            raise reader.fail("labels", f"needs a pair of texts [low, high] for {lang!r}")
        labels[lang] = (pair[0], pair[1])
    unknown = [k for k in raw if k not in languages]
    if unknown:
        raise reader.fail("labels", f"language {unknown[0]!r} is not in languages")
    return labels


def _question_definition(question: Question) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": question.id,
        "type": question.type,
        "text": question.text,
        "required": question.required,
    }
    if question.help:
        out["help"] = question.help
    if question.ask_if is not None:
        out["ask_if"] = {"question": question.ask_if.question, "in": list(question.ask_if.values)}
    if question.type in ("choice", "multi"):
        out["choices"] = [{"id": c.id, "text": c.text} for c in question.choices]
    if question.type == "multi":
        out["min_choices"], out["max_choices"] = question.min_choices, question.max_choices
    if question.type in ("scale", "number"):
        out.update(
            {b: v for b, v in (("min", question.min), ("max", question.max)) if v is not None}
        )
    if question.type == "scale" and question.labels:
        out["labels"] = {lang: list(pair) for lang, pair in question.labels.items()}
    if question.type == "number":
        out["integer"] = question.integer
    if question.type == "text":
        out["max_length"] = question.max_length
    return out


def _canonical(definition: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(definition, sort_keys=True))
    return result


def _version(definition: Mapping[str, Any]) -> str:
    encoded = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:12]


def from_definition(definition: Mapping[str, Any], source: str = "<store>") -> Consultation:
    """Rebuild a Consultation from a stored canonical definition."""
    return parse(dict(definition), source)


def read_file(path: str | Path) -> Consultation:
    """Read and check one consultation file: YAML, JSON or an XLSForm workbook (.xlsx)."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConsultationError(
                f"is {size} bytes; the limit is {MAX_FILE_BYTES}", source=source
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConsultationError("no such file", source=source) from None
    except OSError as exc:
        raise ConsultationError(f"cannot be read ({exc.strerror})", source=source) from None
    return parse(_read_definition(raw, path.suffix.lower(), source), source)


def _read_definition(raw: bytes, suffix: str, source: str) -> Any:
    """Decode a file's bytes into a definition, by the reader its suffix names."""
    if suffix == ".xlsx":
        return xlsform.read(raw, source)
    if suffix == ".xls":
        raise ConsultationError(
            "is an old Excel .xls file: save it as an Excel Workbook (.xlsx)", source=source
        )
    if suffix not in (".json", ".yaml", ".yml"):
        raise ConsultationError("must end in .yaml, .yml, .json or .xlsx", source=source)
    try:
        raw_text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConsultationError(f"is not UTF-8 text ({exc.reason})", source=source) from None
    try:
        if suffix == ".json":
            _check_json_nesting(raw_text, source)
            return json.loads(raw_text)
        _check_yaml_nesting(raw_text, source)
        return yaml.safe_load(raw_text)
    except json.JSONDecodeError as exc:
        raise ConsultationError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", source=source
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConsultationError(f"is not valid YAML{where}: {problem}", source=source) from None


_TOO_DEEP = (
    f"nests lists or mappings more than {MAX_NESTING} levels deep;"
    " a consultation file needs far fewer"
)
# A JSON string (escapes included) or a bracket: brackets inside strings do not count.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _check_json_nesting(text: str, source: str) -> None:
    """Refuse JSON nested deeper than MAX_NESTING, counting brackets before json.loads."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_NESTING:
                raise ConsultationError(_TOO_DEEP, source=source)
        elif bracket in ("]", "}"):
            depth -= 1


def _check_yaml_nesting(text: str, source: str) -> None:
    """Refuse YAML nested deeper than MAX_NESTING, or with aliases, before building it.

    PyYAML's event parser keeps its own stack, so reading events is safe at any depth;
    only composing them into objects recurses. Aliases (`*name`) are refused too: a few
    lines of them can expand into gigabytes once the definition is written out as JSON.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise ConsultationError(_TOO_DEEP, source=source)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            raise ConsultationError(
                "uses a YAML alias (*name); write the repeated part out in full", source=source
            )


def read_files(paths: Iterable[str | Path]) -> list[Consultation]:
    """Read and check every file, refusing the lot if any one is bad or ids repeat."""
    consultations: list[Consultation] = []
    for path in paths:
        consultation = read_file(path)
        if any(c.id == consultation.id for c in consultations):
            raise ConsultationError(
                f"id {consultation.id!r} is also used by another file being loaded",
                source=str(path),
                field="id",
            )
        consultations.append(consultation)
    return consultations


# --- the store ---------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    consultation: Consultation
    status: str  # "new", "updated" (a new version) or "unchanged"


def save(
    db: sqlite_utils.Database, consultations: Iterable[Consultation], *, source: str = ""
) -> list[Loaded]:
    """Store consultations as their current versions, all or nothing, keeping old versions."""
    consultations = list(consultations)
    now = clock.utcnow()
    results: list[Loaded] = []
    with store.write(db):
        _check_keywords(db, consultations)
        for consultation in consultations:
            results.append(_save_one(db, consultation, source, now))
    return results


def save_version(
    db: sqlite_utils.Database, consultation: Consultation, *, source: str = ""
) -> bool:
    """Keep one version in the store without making it current; return whether it was new."""
    with store.write(db):
        return _insert_version(db, consultation, source, clock.utcnow())


def _insert_version(
    db: sqlite_utils.Database, consultation: Consultation, source: str, now: str
) -> bool:
    """Keep a version's definition (once: versions never change); return whether it was new."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO consultation_versions"
        " (consultation_id, version, definition, source, loaded_at) VALUES (?, ?, ?, ?, ?)",
        [
            consultation.id,
            consultation.version,
            json.dumps(consultation.definition, ensure_ascii=False, sort_keys=True),
            source,
            now,
        ],
    )
    return cursor.rowcount == 1


def _save_one(
    db: sqlite_utils.Database, consultation: Consultation, source: str, now: str
) -> Loaded:
    current = store.first_row(
        db, "SELECT version FROM consultations WHERE id = ?", [consultation.id]
    )
    if current and current["version"] == consultation.version:
        return Loaded(consultation, "unchanged")
    _insert_version(db, consultation, source, now)
    db.execute(
        "INSERT INTO consultations (id, version, loaded_at, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET version = excluded.version,"
        " updated_at = excluded.updated_at",
        [consultation.id, consultation.version, now, now],
    )
    db.execute("DELETE FROM keywords WHERE consultation_id = ?", [consultation.id])
    for language, words in consultation.keywords.items():
        for keyword in words:
            db.execute(
                "INSERT INTO keywords (keyword, consultation_id, language) VALUES (?, ?, ?)",
                [keyword, consultation.id, language],
            )
    return Loaded(consultation, "updated" if current else "new")


def _check_keywords(db: sqlite_utils.Database, incoming: list[Consultation]) -> None:
    """Refuse a keyword that another consultation, open at some time in common, also uses."""
    loading = {c.id for c in incoming}
    others = [
        c
        for c in current_all(db, archived=False)
        if c.id not in loading and not _closed_by_staff(db, c.id)
    ]
    for index, consultation in enumerate(incoming):
        for other in others + incoming[:index]:
            if not _overlap(consultation, other):
                continue
            shared = set(_all_keywords(consultation)) & set(_all_keywords(other))
            if shared:
                raise ConsultationError(
                    f"keyword {sorted(shared)[0]!r} is already used by consultation"
                    f" {other.id!r}, open at the same time",
                    source=consultation.id,
                    field="keywords",
                )


def _all_keywords(consultation: Consultation) -> list[str]:
    return [kw for kws in consultation.keywords.values() for kw in kws]


def _overlap(a: Consultation, b: Consultation) -> bool:
    starts = max(a.opens_at or datetime.min, b.opens_at or datetime.min)
    ends = min(a.closes_at or datetime.max, b.closes_at or datetime.max)
    return starts < ends


def _closed_by_staff(db: sqlite_utils.Database, consultation_id: str) -> bool:
    row = store.first_row(db, "SELECT closed FROM consultations WHERE id = ?", [consultation_id])
    return bool(row and row["closed"])


def get(
    db: sqlite_utils.Database, consultation_id: str, version: str | None = None
) -> Consultation:
    """Return a consultation's current version, or the given version; raise NotFound."""
    if version is None:
        row = store.first_row(
            db,
            "SELECT v.definition FROM consultations c JOIN consultation_versions v"
            " ON v.consultation_id = c.id AND v.version = c.version WHERE c.id = ?",
            [consultation_id],
        )
    else:
        row = store.first_row(
            db,
            "SELECT definition FROM consultation_versions"
            " WHERE consultation_id = ? AND version = ?",
            [consultation_id, version],
        )
    if row is None:
        raise NotFound(
            f"no consultation {consultation_id!r}" + (f" version {version!r}" if version else "")
        )
    return _cached_parse(row["definition"])


_PARSED: dict[str, Consultation] = {}


def _cached_parse(definition_json: str) -> Consultation:
    # Definitions are immutable per version, so parsing once per process is safe.
    consultation = _PARSED.get(definition_json)
    if consultation is None:
        consultation = from_definition(json.loads(definition_json))
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[definition_json] = consultation
    return consultation


def current_all(db: sqlite_utils.Database, *, archived: bool = True) -> list[Consultation]:
    """Return the current version of every consultation in the store (without the
    archived ones if `archived` is false), in the order staff set, then by id."""
    rows = db.query(
        "SELECT v.definition FROM consultations c JOIN consultation_versions v"
        " ON v.consultation_id = c.id AND v.version = c.version"
        " WHERE ? OR c.archived_at IS NULL ORDER BY c.position, c.id",
        [int(archived)],
    )
    return [_cached_parse(row["definition"]) for row in rows]


def is_accepting(
    db: sqlite_utils.Database, consultation: Consultation, when: date | datetime
) -> bool:
    """Say whether a consultation takes answers at `when` (a local time, or a day): within
    its dates, not closed by staff and not archived."""
    if not consultation.is_open(when):
        return False
    row = store.first_row(
        db, "SELECT closed, archived_at FROM consultations WHERE id = ?", [consultation.id]
    )
    return bool(row) and not row["closed"] and row["archived_at"] is None


def open_now(db: sqlite_utils.Database, when: date | datetime) -> list[Consultation]:
    """Return the consultations taking answers at `when`, in the order staff set."""
    return [c for c in current_all(db, archived=False) if is_accepting(db, c, when)]


def by_keyword(
    db: sqlite_utils.Database, text: str, when: date | datetime
) -> tuple[Consultation, str] | None:
    """Return the consultation taking answers at `when` that a texted keyword starts, with
    the keyword's language."""
    word = normalize(text)
    if not word:
        return None
    rows = list(
        db.query("SELECT consultation_id, language FROM keywords WHERE keyword = ?", [word])
    )
    for row in rows:
        consultation = get(db, row["consultation_id"])
        if is_accepting(db, consultation, when):
            return consultation, row["language"]
    return None


def closed_by_keyword(
    db: sqlite_utils.Database, text: str, when: date | datetime
) -> tuple[Consultation, str] | None:
    """Return the consultation a texted keyword belonged to when none open now takes it
    (closed by its dates or by staff, or not open yet), with the keyword's language: the
    texter is told it is closed rather than that the word is unknown. Archived ones are
    forgotten."""
    if by_keyword(db, text, when) is not None:
        return None
    rows = db.query(
        "SELECT k.consultation_id, k.language FROM keywords k JOIN consultations c"
        " ON c.id = k.consultation_id WHERE k.keyword = ? AND c.archived_at IS NULL"
        " ORDER BY c.updated_at DESC LIMIT 1",
        [normalize(text)],
    )
    row = next(iter(rows), None)
    return (get(db, row["consultation_id"]), row["language"]) if row else None


def set_order(db: sqlite_utils.Database, consultation_ids: Iterable[str]) -> None:
    """Put these consultations first in the lists, in this order (the others follow)."""
    ids = list(consultation_ids)
    with store.write(db):
        known = {row["id"] for row in db.query("SELECT id FROM consultations")}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise NotFound(f"no consultation {unknown[0]!r}")
        for position, consultation_id in enumerate(ids, start=1):
            db.execute(
                "UPDATE consultations SET position = ? WHERE id = ?", [position, consultation_id]
            )
        db.execute(
            "UPDATE consultations SET position = ?"
            " WHERE id NOT IN (SELECT value FROM json_each(?))",
            [len(ids) + 1, json.dumps(ids)],
        )


def set_archived(db: sqlite_utils.Database, consultation_id: str, archived: bool) -> None:
    """Archive a consultation (no answers, off the lists, data kept) or bring it back."""
    with store.write(db):
        now = clock.utcnow()
        cursor = db.execute(
            "UPDATE consultations SET archived_at = CASE WHEN ? THEN coalesce(archived_at, ?)"
            " END, updated_at = ? WHERE id = ?",
            [int(archived), now, now, consultation_id],
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no consultation {consultation_id!r}")


def set_closed(db: sqlite_utils.Database, consultation_id: str, closed: bool) -> None:
    """Close a consultation to new answers (or reopen it), whatever its dates say."""
    with store.write(db):
        cursor = db.execute(
            "UPDATE consultations SET closed = ?, updated_at = ? WHERE id = ?",
            [int(closed), clock.utcnow(), consultation_id],
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no consultation {consultation_id!r}")
