"""Consultations as staff edit them in the browser: drafts, and publishing one.

A draft is kept as typed, in `consultation_drafts`, in the shape of a consultation file
whose texts are always mappings of language to text (an empty one is a translation still
to write). It need not pass the checks: every submit of the editor saves it. Publishing
turns it into a definition (`definition`), checks it exactly as `participate load` does
(`consultations.parse`, then the keyword checks of `consultations.save`) and stores it
as a new version; a refused draft publishes nothing and says which field is at fault
(`error_field`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from werkzeug.datastructures import MultiDict

from participate import clock, consultations, store
from participate.consultations import QUESTION_TYPES, RULE_SOURCE_TYPES, Consultation
from participate.errors import ConsultationError, NotFound

from . import changes
from .errors import DraftFormError

# The texts of a consultation, beside its questions', each a mapping of language to text.
TEXT_FIELDS = ("title", "intro", "thanks")
# What each question type has beyond id, type, text, help, required and ask_if.
TYPE_FIELDS = {
    "choice": ("choices",),
    "multi": ("choices", "min_choices", "max_choices"),
    "scale": ("min", "max", "labels"),
    "yesno": (),
    "number": ("min", "max", "integer"),
    "text": ("max_length",),
}
MAX_QUESTIONS = 200
MAX_CHOICES = 100
MAX_LANGUAGES = 6
MAX_FIELD = consultations.MAX_TEXT_LENGTH
DEFAULT_LANGUAGES = ("en", "fr")
_NUMBER_FIELDS = ("min", "max", "min_choices", "max_choices", "max_length")
_LANGUAGE_TOKEN = re.compile(r"^[A-Za-z0-9-]{1,16}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# A language named in a ConsultationError's message ("has no text for language 'fr'").
_NAMED_LANGUAGE = re.compile(r"(?:for|language) '([^']+)'")
_CHOICE_FIELD = re.compile(r"^choices\[(\d+)\]\.(id|text)$")


@dataclass(frozen=True)
class Draft:
    key: str
    data: dict[str, Any]
    base_version: str | None
    created_at: str
    updated_at: str
    updated_by: str

    @property
    def consultation_id(self) -> str:
        return str(self.data.get("id") or "")


# --- the store ---------------------------------------------------------------------


def create(
    db: sqlite_utils.Database, data: dict[str, Any], *, by: str, base_version: str | None = None
) -> Draft:
    """Keep a new draft and return it (its key is new; the consultation id is in `data`)."""
    key = uuid.uuid4().hex[:12]
    now = clock.utcnow()
    with store.write(db):
        db.execute(
            "INSERT INTO consultation_drafts"
            " (id, definition, base_version, created_at, updated_at, updated_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [key, _dumps(data), base_version, now, now, by],
        )
    return get(db, key)


def get(db: sqlite_utils.Database, key: str) -> Draft:
    """Return a draft; raise NotFound."""
    row = store.first_row(db, "SELECT * FROM consultation_drafts WHERE id = ?", [key])
    if row is None:
        raise NotFound(f"no draft {key!r}")
    return _draft(row)


def all_drafts(db: sqlite_utils.Database) -> list[Draft]:
    """Return every draft, the latest edited first."""
    rows = db.query("SELECT * FROM consultation_drafts ORDER BY updated_at DESC, id")
    return [_draft(row) for row in rows]


def editing(db: sqlite_utils.Database, consultation_id: str) -> Draft | None:
    """Return the draft of changes to a published consultation, if someone started one."""
    row = store.first_row(
        db,
        "SELECT * FROM consultation_drafts WHERE base_version IS NOT NULL"
        " AND json_extract(definition, '$.id') = ? ORDER BY updated_at DESC LIMIT 1",
        [consultation_id],
    )
    return _draft(row) if row else None


def update(db: sqlite_utils.Database, key: str, data: dict[str, Any], *, by: str) -> None:
    """Save a draft as typed (it may not pass the checks yet)."""
    with store.write(db):
        cursor = db.execute(
            "UPDATE consultation_drafts SET definition = ?, updated_at = ?, updated_by = ?"
            " WHERE id = ?",
            [_dumps(data), clock.utcnow(), by, key],
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no draft {key!r}")


def discard(db: sqlite_utils.Database, key: str) -> None:
    """Forget a draft (what was published from it stays)."""
    with store.write(db):
        db.execute("DELETE FROM consultation_drafts WHERE id = ?", [key])


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _draft(row: Mapping[str, Any]) -> Draft:
    return Draft(
        key=row["id"],
        data=normalize(json.loads(row["definition"])),
        base_version=row["base_version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


# --- drafts from definitions ---------------------------------------------------------


def blank(languages: tuple[str, ...] = DEFAULT_LANGUAGES) -> dict[str, Any]:
    """Return an empty draft in these languages, with no question yet."""
    return normalize({"id": "", "languages": list(languages), "questions": []})


def copy_of(consultation: Consultation, new_id: str) -> dict[str, Any]:
    """Return a draft of a consultation under another id (a duplicate to edit)."""
    return normalize({**consultation.definition, "id": new_id})


def free_id(db: sqlite_utils.Database, wanted: str) -> str:
    """Return `wanted-copy` (or -copy-2, ...): an id no consultation or draft uses yet."""
    taken = {row["id"] for row in db.query("SELECT id FROM consultations")}
    taken |= {d.consultation_id for d in all_drafts(db)}
    stem = f"{wanted[:50]}-copy"
    candidate, number = stem, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def normalize(raw: Any) -> dict[str, Any]:
    """Return a definition (a file's, an import's, a stored draft's) in the draft's shape."""
    raw = raw if isinstance(raw, Mapping) else {}
    languages = raw.get("languages") or ["en"]
    languages = [languages] if isinstance(languages, str) else list(languages)
    languages = [str(lang) for lang in languages]
    data: dict[str, Any] = {"id": str(raw.get("id") or ""), "languages": languages}
    for name in TEXT_FIELDS:
        data[name] = _text_map(raw.get(name), languages)
    data["keywords"] = _keyword_map(raw.get("keywords"), languages)
    for name in ("opens", "closes"):
        value = raw.get(name)
        data[name] = str(value) if value not in (None, "") else None
    data["results_by_text"] = raw.get("results_by_text") is True
    data["retention_days"] = raw.get("retention_days")
    questions = raw.get("questions")
    questions = questions if isinstance(questions, list) else []
    data["questions"] = [_question(q, languages) for q in questions if isinstance(q, Mapping)]
    return data


def _text_map(value: Any, languages: list[str]) -> dict[str, str]:
    if isinstance(value, str):
        return {lang: value for lang in languages}
    value = value if isinstance(value, Mapping) else {}
    return {lang: str(value.get(lang) or "") for lang in languages}


def _keyword_map(value: Any, languages: list[str]) -> dict[str, list[str]]:
    if isinstance(value, str | list) and languages:
        value = {languages[0]: value}
    value = value if isinstance(value, Mapping) else {}
    out = {}
    for lang in languages:
        words = value.get(lang) or []
        out[lang] = [str(w) for w in ([words] if isinstance(words, str) else words)]
    return out


def _question(raw: Mapping[str, Any], languages: list[str]) -> dict[str, Any]:
    question: dict[str, Any] = {
        "id": str(raw.get("id") or ""),
        "type": raw.get("type") if raw.get("type") in QUESTION_TYPES else "text",
        "text": _text_map(raw.get("text"), languages),
        "help": _text_map(raw.get("help"), languages),
        "required": raw.get("required", True) is not False,
        "choices": [
            {"id": str(c.get("id") or ""), "text": _text_map(c.get("text"), languages)}
            for c in raw.get("choices") or []
            if isinstance(c, Mapping)
        ],
        "integer": raw.get("integer") is True,
        "labels": _labels(raw.get("labels"), languages),
        "ask_if": _rule(raw.get("ask_if")),
    }
    for name in _NUMBER_FIELDS:
        question[name] = raw.get(name)
    return question


def _labels(value: Any, languages: list[str]) -> dict[str, list[str]]:
    if isinstance(value, list):
        value = {lang: value for lang in languages}
    value = value if isinstance(value, Mapping) else {}
    out = {}
    for lang in languages:
        pair = value.get(lang)
        pair = list(pair) if isinstance(pair, list | tuple) and len(pair) == 2 else ["", ""]
        out[lang] = [str(part or "") for part in pair]
    return out


def _rule(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping) or not value.get("question"):
        return None
    values = [value["equals"]] if "equals" in value else value.get("in") or []
    return {"question": str(value["question"]), "in": list(values)}


# --- drafts from the editor's form -------------------------------------------------------


def from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """Read the editor's form into a draft; raise DraftFormError for a post it never makes."""
    for key, value in form.items(multi=True):
        if len(value) > MAX_FIELD:
            raise DraftFormError(f"the field {key[:40]!r} is longer than {MAX_FIELD} characters")
    languages = _languages(_field(form, "languages"))
    data: dict[str, Any] = {"id": _field(form, "id").strip(), "languages": languages}
    for name in TEXT_FIELDS:
        data[name] = _texts(form, name, languages)
    data["keywords"] = {
        lang: [w for w in re.split(r"[\s,]+", _field(form, f"keywords-{lang}")) if w]
        for lang in languages
    }
    data["opens"] = _moment(form, "opens")
    data["closes"] = _moment(form, "closes")
    data["results_by_text"] = form.get("results_by_text") == "1"
    data["retention_days"] = _number(_field(form, "retention_days"))
    count = _count(form, "questions", MAX_QUESTIONS)
    data["questions"] = [_form_question(form, f"q{i}", languages) for i in range(count)]
    for question in data["questions"]:
        _type_rule_values(question, data["questions"])
    return data


def _field(form: MultiDict[str, str], name: str) -> str:
    return form.get(name, "")


def _languages(text: str) -> list[str]:
    tokens = list(dict.fromkeys(t for t in re.split(r"[\s,]+", text) if t))
    if len(tokens) > MAX_LANGUAGES or not all(_LANGUAGE_TOKEN.match(t) for t in tokens):
        raise DraftFormError("the languages field is not a short list of language codes")
    return tokens


def _texts(form: MultiDict[str, str], name: str, languages: list[str]) -> dict[str, str]:
    return {lang: _field(form, f"{name}-{lang}").strip() for lang in languages}


def _moment(form: MultiDict[str, str], name: str) -> str | None:
    day = _field(form, f"{name}-date").strip()
    at = _field(form, f"{name}-time").strip()
    if not day:
        return None
    return f"{day}T{at}" if at else day


def _number(text: str) -> Any:
    """Return a typed number as int or float; anything else as typed (the checks name it)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


def _count(form: MultiDict[str, str], name: str, limit: int) -> int:
    try:
        count = int(form.get(name, "0"))
    except ValueError:
        raise DraftFormError(f"{name} must be a count") from None
    if not 0 <= count <= limit:
        raise DraftFormError(f"{name} must be from 0 to {limit}")
    return count


def _form_question(form: MultiDict[str, str], prefix: str, languages: list[str]) -> dict[str, Any]:
    qtype = _field(form, f"{prefix}-type")
    if qtype not in QUESTION_TYPES:
        raise DraftFormError(f"{prefix}-type must be one of {', '.join(QUESTION_TYPES)}")
    choices = _count(form, f"{prefix}-choices", MAX_CHOICES)
    rule_source = _field(form, f"{prefix}-if").strip()
    question: dict[str, Any] = {
        "id": _field(form, f"{prefix}-id").strip(),
        "type": qtype,
        "text": _texts(form, f"{prefix}-text", languages),
        "help": _texts(form, f"{prefix}-help", languages),
        "required": form.get(f"{prefix}-required") == "1",
        "choices": [
            {
                "id": _field(form, f"{prefix}-c{j}-id").strip(),
                "text": _texts(form, f"{prefix}-c{j}-text", languages),
            }
            for j in range(choices)
        ],
        "integer": form.get(f"{prefix}-integer") == "1",
        "labels": {
            lang: [
                _field(form, f"{prefix}-low-{lang}").strip(),
                _field(form, f"{prefix}-high-{lang}").strip(),
            ]
            for lang in languages
        },
        "ask_if": (
            {"question": rule_source, "in": form.getlist(f"{prefix}-if-values")}
            if rule_source
            else None
        ),
    }
    for name in _NUMBER_FIELDS:
        question[name] = _number(_field(form, f"{prefix}-{name}"))
    return with_defaults(question)


def with_defaults(question: dict[str, Any]) -> dict[str, Any]:
    """Give a question what its type needs to be edited: two choices, a 1-5 scale."""
    if question["type"] in ("choice", "multi"):
        while len(question["choices"]) < 2:
            add_choice(question)
    if question["type"] == "scale":
        if question["min"] is None:
            question["min"] = 1
        if question["max"] is None:
            question["max"] = 5
    if question["type"] == "text" and question["max_length"] is None:
        question["max_length"] = consultations.DEFAULT_TEXT_LENGTH
    return question


def _type_rule_values(question: dict[str, Any], questions: list[dict[str, Any]]) -> None:
    """Turn a rule's posted values (text) into the source question's answers."""
    rule = question["ask_if"]
    if rule is None:
        return
    source = next((q for q in questions if q["id"] == rule["question"]), None)
    rule["in"] = [rule_value(source, value) for value in rule["in"]]


def rule_value(source: dict[str, Any] | None, text: Any) -> Any:
    """Return an answer of `source` as a rule holds it (yes/no as true/false, a scale point
    as a number) from the text of a form's checkbox."""
    if source is None or not isinstance(text, str):
        return text
    if source["type"] == "yesno":
        return {"yes": True, "no": False}.get(text, text)
    if source["type"] == "scale":
        return _number(text)
    return text


def rule_options(question: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return (form value, answer) for each answer a rule may look for in `question`."""
    if question["type"] in ("choice", "multi"):
        return [(c["id"], c["id"]) for c in question["choices"] if c["id"]]
    if question["type"] == "yesno":
        return [("yes", True), ("no", False)]
    if question["type"] == "scale":
        low, high = question["min"], question["max"]
        if isinstance(low, int) and isinstance(high, int) and 0 <= high - low <= 20:
            return [(str(point), point) for point in range(low, high + 1)]
    return []


# --- editing ---------------------------------------------------------------------------


def new_question(data: dict[str, Any], qtype: str) -> dict[str, Any]:
    """Add a question of `qtype` at the end, with a fresh id, and return it."""
    if qtype not in QUESTION_TYPES:
        raise DraftFormError(f"a question's type must be one of {', '.join(QUESTION_TYPES)}")
    if len(data["questions"]) >= MAX_QUESTIONS:
        raise DraftFormError(f"a consultation has at most {MAX_QUESTIONS} questions")
    taken = {q["id"] for q in data["questions"]}
    question_id = _numbered("q", len(data["questions"]) + 1, taken)
    question = _question({"id": question_id, "type": qtype}, data["languages"])
    data["questions"].append(with_defaults(question))
    return question


def add_choice(question: dict[str, Any]) -> None:
    """Add an empty choice to a question, with a fresh id."""
    if len(question["choices"]) >= MAX_CHOICES:
        raise DraftFormError(f"a question has at most {MAX_CHOICES} choices")
    choice_id = _numbered("c", len(question["choices"]) + 1, {c["id"] for c in question["choices"]})
    languages = list(question["text"]) or ["en"]
    question["choices"].append({"id": choice_id, "text": dict.fromkeys(languages, "")})


def _numbered(prefix: str, number: int, taken: set[str]) -> str:
    """Return `prefix` and the first number from `number` on that makes an id not taken."""
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"


def move(items: list[Any], index: int, step: int) -> None:
    """Move item `index` one place up (step -1) or down (+1); at an end, leave it."""
    target = index + step
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]


# --- publishing ------------------------------------------------------------------------


def definition(data: dict[str, Any]) -> dict[str, Any]:
    """Return a draft as a consultation definition for the checks: empty texts left out
    (so a missing translation is named), each question with its type's fields only."""
    out: dict[str, Any] = {
        "id": data["id"],
        "languages": data["languages"],
        "title": _given(data["title"]),
        "questions": [_question_definition(q) for q in data["questions"]],
    }
    for name in ("intro", "thanks"):
        if _given(data[name]):
            out[name] = _given(data[name])
    keywords = {lang: words for lang, words in data["keywords"].items() if words}
    if keywords:
        out["keywords"] = keywords
    for name in ("opens", "closes"):
        if data[name]:
            out[name] = data[name]
    if data["results_by_text"]:
        out["results_by_text"] = True
    if data["retention_days"] is not None:
        out["retention_days"] = data["retention_days"]
    return out


def _given(texts: Mapping[str, str]) -> dict[str, str]:
    return {lang: text for lang, text in texts.items() if text.strip()}


def _question_definition(question: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": question["id"],
        "type": question["type"],
        "text": _given(question["text"]),
        "required": question["required"],
    }
    if _given(question["help"]):
        out["help"] = _given(question["help"])
    if question["ask_if"]:
        out["ask_if"] = question["ask_if"]
    for name in TYPE_FIELDS[question["type"]]:
        if name == "choices":
            out["choices"] = [
                {"id": c["id"], "text": _given(c["text"])} for c in question["choices"]
            ]
        elif name == "labels":
            labels = {lang: pair for lang, pair in question["labels"].items() if any(pair)}
            if labels:
                out["labels"] = labels
        elif name == "integer":
            out["integer"] = question["integer"]
        elif question[name] is not None:
            out[name] = question[name]
    return out


def check(data: dict[str, Any]) -> Consultation:
    """Check a draft as `participate load` checks a file; raise ConsultationError."""
    return consultations.parse(definition(data), data["id"] or "draft")


def publish(db: sqlite_utils.Database, draft: Draft, *, by: str) -> consultations.Loaded:
    """Check a draft, store it as the consultation's new current version, log who did,
    and forget the draft; raise ConsultationError (nothing stored) when refused."""
    consultation = check(draft.data)
    with store.write(db):
        exists = store.first_row(
            db, "SELECT version FROM consultations WHERE id = ?", [consultation.id]
        )
        if exists and based_on(db, draft) != consultation.id:
            raise ConsultationError(
                f"is already the id of a published consultation, {consultation.id!r}:"
                " choose another id, or edit that consultation instead",
                source=consultation.id,
                field="id",
            )
        loaded = consultations.save(db, [consultation], source=f"staff pages ({by})")[0]
        if loaded.status != "unchanged":
            changes.record(db, consultation.id, "publish", by=by, version=consultation.version)
        db.execute("DELETE FROM consultation_drafts WHERE id = ?", [draft.key])
    return loaded


def based_on(db: sqlite_utils.Database, draft: Draft) -> str | None:
    """Return the id of the consultation a draft of changes started from (None: a new one)."""
    if draft.base_version is None:
        return None
    row = store.first_row(
        db,
        "SELECT consultation_id FROM consultation_versions WHERE version = ?",
        [draft.base_version],
    )
    return row["consultation_id"] if row else None


def published_since(db: sqlite_utils.Database, draft: Draft) -> str | None:
    """Return the version published since a draft of changes started, if there is one
    (publishing the draft would replace it)."""
    base = based_on(db, draft)
    row = store.first_row(db, "SELECT version FROM consultations WHERE id = ?", [base])
    if row and row["version"] != draft.base_version:
        return str(row["version"])
    return None


def error_field(data: dict[str, Any], error: ConsultationError) -> str:
    """Return the name of the editor's field a ConsultationError is about ('' for none)."""
    prefix = ""
    if error.question:
        index = _question_index(data, error)
        if index is None:
            return ""
        prefix = f"q{index}-"
    elif error.field == "id" and _ID.match(data["id"]):
        # A question with no id is named by its place; one with a bad id, by that id.
        index = next((i for i, q in enumerate(data["questions"]) if not _ID.match(q["id"])), None)
        return f"q{index}-id" if index is not None else "id"
    field = error.field
    language = _language_named(data, error, field, prefix)
    choice = _CHOICE_FIELD.match(field)
    if choice:
        number, part = int(choice.group(1)) - 1, choice.group(2)
        return f"{prefix}c{number}-{part}" + (f"-{language}" if part == "text" else "")
    if field in ("title", "intro", "thanks", "text", "help", "keywords"):
        return f"{prefix}{field}-{language}"
    if field == "labels":
        return f"{prefix}low-{language}"
    if field == "ask_if":
        return f"{prefix}if"
    if field in ("opens", "closes"):
        return f"{field}-date"
    return f"{prefix}{field}"


def _question_index(data: dict[str, Any], error: ConsultationError) -> int | None:
    name = error.question
    if name.startswith("#") and name[1:].isdigit():
        return int(name[1:]) - 1
    places = [i for i, q in enumerate(data["questions"]) if q["id"] == name]
    if not places:
        return None
    # A repeated id is refused at its second use: point there.
    duplicate = "used by another question" in error.detail and len(places) > 1
    return places[1] if duplicate else places[0]


def _language_named(data: dict[str, Any], error: ConsultationError, field: str, prefix: str) -> str:
    languages = data["languages"] or ["en"]
    named = _NAMED_LANGUAGE.search(error.detail)
    if named and named.group(1) in languages:
        return named.group(1)
    if field == "keywords":
        word = re.search(r"'([^']+)'", error.detail)
        for lang, words in data["keywords"].items():
            if word and any(w.upper() == word.group(1).upper() for w in words):
                return lang
    return languages[0]


# --- translations ------------------------------------------------------------------------


def missing_translations(data: dict[str, Any]) -> list[str]:
    """Return the fields (editor names) left empty in one language but written in another."""
    missing: list[str] = []

    def look(texts: Mapping[str, str], name: str) -> None:
        if any(t.strip() for t in texts.values()):
            missing.extend(f"{name}-{lang}" for lang, t in texts.items() if not t.strip())

    for field in TEXT_FIELDS:
        look(data[field], field)
    for i, question in enumerate(data["questions"]):
        look(question["text"], f"q{i}-text")
        look(question["help"], f"q{i}-help")
        if "choices" in TYPE_FIELDS[question["type"]]:
            for j, choice in enumerate(question["choices"]):
                look(choice["text"], f"q{i}-c{j}-text")
        if question["type"] == "scale":
            for end, place in (("low", 0), ("high", 1)):
                texts = {lang: pair[place] for lang, pair in question["labels"].items()}
                look(texts, f"q{i}-{end}")
    return missing


def preview_definition(data: dict[str, Any]) -> dict[str, Any]:
    """Return the draft's definition with each missing translation borrowed from another
    language, so the preview shows a draft whose French is still being written (and
    without what the screens do not show: keywords, dates)."""
    filled = json.loads(json.dumps(definition(data)))
    # What the screens and texts do not show cannot hold the preview back.
    for name in ("keywords", "opens", "closes", "retention_days"):
        filled.pop(name, None)
    if not _ID.match(str(filled["id"])):
        filled["id"] = "draft"
    languages = data["languages"]

    def fill(texts: Any) -> Any:
        if isinstance(texts, dict) and texts:
            first = next(iter(texts.values()))
            return {lang: texts.get(lang) or first for lang in languages}
        return texts

    for name in TEXT_FIELDS:
        if name in filled:
            filled[name] = fill(filled[name])
    for question in filled["questions"]:
        for name in ("text", "help"):
            if name in question:
                question[name] = fill(question[name])
        for choice in question.get("choices", []):
            choice["text"] = fill(choice["text"])
        if "labels" in question:
            pairs = question["labels"]
            first = next(iter(pairs.values()))
            question["labels"] = {
                lang: [a or b for a, b in zip(pairs.get(lang, ["", ""]), first, strict=True)]
                for lang in languages
            }
    return filled


def rule_sources(data: dict[str, Any], index: int) -> list[dict[str, Any]]:
    """Return the questions before `index` a skip rule may look at."""
    return [q for q in data["questions"][:index] if q["type"] in RULE_SOURCE_TYPES and q["id"]]
