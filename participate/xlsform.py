"""XLSForm: read a consultation from an ODK or KoboToolbox spreadsheet, and write one.

`read` turns a workbook's `survey`, `choices` and `settings` sheets into the definition
`consultations.parse` takes (the shape of a YAML file); `write` makes a workbook of a
consultation that `read` turns back into the same version. What XLSForm can say and
Participate cannot (groups, calculations, other question types, a `relevant` beyond
the small skip-logic subset) is refused with its sheet and row, never dropped.

This module works on definitions (plain mappings), not on `Consultation` objects:
`consultations.read_file` reads `.xlsx` files through it, so importing `consultations`
here would make an import cycle.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from participate.errors import ConsultationError

# The same limit as a YAML or JSON file: a form needs a few kilobytes.
MAX_BYTES = 1024 * 1024
# What the workbook may unpack to, and how many rows a sheet may have: an .xlsx is a zip
# of XML, and a few kilobytes of it can unpack to gigabytes.
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_ROWS = 2000
# The ids Participate takes (consultations._ID): a stricter rule than XLSForm's names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
# Language names XLSForm columns are written with (`label::French (fr)`), both ways.
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "ar": "Arabic",
    "zh": "Chinese",
}
_NAMED_LANGUAGES = {name.lower(): code for code, name in LANGUAGE_NAMES.items()} | {
    "français": "fr",
    "francais": "fr",
    "español": "es",
}
# Rows KoboToolbox and ODK add to record how a form was filled in: nothing to ask.
METADATA_TYPES = {
    "start",
    "end",
    "today",
    "deviceid",
    "subscriberid",
    "simserial",
    "phonenumber",
    "username",
    "email",
    "audit",
}
_STRUCTURE_TYPES = {
    "begin_group": "groups are not supported: put the questions one after another",
    "end_group": "groups are not supported: put the questions one after another",
    "begin_repeat": "repeats are not supported: a consultation asks each question once",
    "end_repeat": "repeats are not supported: a consultation asks each question once",
    "calculate": "calculations are not supported",
}
SUPPORTED_TYPES = (
    "select_one LIST, select_multiple LIST, integer, decimal, text, range,"
    " and note before the first question (the intro)"
)
_TYPE_ALIASES = {"int": "integer", "string": "text"}
# Types pyxform also takes written with spaces (`select one LIST`, `begin group`).
_SPACED_TYPES = {
    "select all that apply": "select_multiple",
    "select one": "select_one",
    "select multiple": "select_multiple",
    "begin group": "begin_group",
    "end group": "end_group",
    "begin repeat": "begin_repeat",
    "end repeat": "end_repeat",
}
# Survey columns that would change what is asked or stored; refused when filled in.
_UNSUPPORTED_COLUMNS = {
    "choice_filter": "choice filters are not supported",
    "default": "default answers are not supported",
    "read_only": "read-only questions are not supported",
    "calculation": "calculations are not supported",
    "trigger": "triggers are not supported",
    "repeat_count": "repeats are not supported",
}
_TRUE = {"yes", "true", "true()", "1"}
_FALSE = {"no", "false", "false()", "0", ""}
_YES_NO_LIST = "yes_no"
# The title in the other languages, as Participate writes it: pyxform takes `form_title`
# in one language only, and fails on `form_title::French (fr)` (which `read` accepts).
_TRANSLATED_TITLE = "translated_title"
_YES_NO_LABELS = {"en": ("Yes", "No"), "fr": ("Oui", "Non")}
# The range parameters pyxform takes by default.
_RANGE_DEFAULTS = {"start": 1, "end": 10, "step": 1}
_RANGE_PRESENTATION = {"tick_interval", "placeholder", "tick_labelset"}
MAX_SCALE_POINTS = 11
MAX_TEXT_LENGTH = 5000
DEFAULT_TEXT_LENGTH = 500
RELEVANT_SUBSET = (
    "Participate understands ${q} = 'value', ${q} = 3 (a number), selected(${q}, 'value'),"
    " and several of these about the same question joined by 'or'"
)
_NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
_REF = r"\$\{\s*(?P<ref>[^}]*?)\s*\}"
_QUOTED = r"'(?P<single>[^']*)'|\"(?P<double>[^\"]*)\""
_EQUALS = re.compile(rf"{_REF}\s*=\s*(?:{_QUOTED}|(?P<number>{_NUMBER}))")
_SELECTED = re.compile(rf"selected\s*\(\s*{_REF}\s*,\s*(?:{_QUOTED})\s*\)")
_OR = re.compile(r"\s+or\s+")
_BOUND = re.compile(
    rf"^(?P<subject>\.|string-length\(\s*\.\s*\)|count-selected\(\s*\.\s*\))"
    rf"\s*(?P<op><=|>=|<|>|=|!=)\s*(?P<value>{_NUMBER})$"
)
_AND = re.compile(r"\s+and\s+")
_PIPING = re.compile(r"\$\{[^}]*\}")
# Office's escape for a character in a cell's text (ECMA-376 ST_Xstring): _x000D_ is a
# carriage return, which a sheet's XML would otherwise turn into a line feed, and
# _x005F_ an underscore, to keep a text that happens to read "_x000D_" as it is.
# openpyxl neither writes nor reads these escapes, so this module does, as Excel does.
_OFFICE_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ESCAPED_UNDERSCORE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


# A row's cells by column name (`values`: by the column's meaning, without its language).
_Cells = Mapping[str, Any]


class _Definition(Protocol):
    """What `write` reads of a `consultations.Consultation`."""

    @property
    def definition(self) -> Mapping[str, Any]: ...

    @property
    def version(self) -> str: ...


# --- reading -------------------------------------------------------------------------


def read(source: Path | bytes, name: str = "<xlsform>") -> dict[str, Any]:
    """Read an XLSForm workbook (a path or its bytes) into a consultation definition."""
    raw = _workbook_bytes(source, name)
    sheets = _read_sheets(raw, name)
    return _FormReader(name, sheets).definition()


def _workbook_bytes(source: Path | bytes, name: str) -> bytes:
    if isinstance(source, bytes | bytearray):
        raw = bytes(source)
    else:
        try:
            raw = Path(source).read_bytes()
        except FileNotFoundError:
            raise ConsultationError("no such file", source=name) from None
        except OSError as exc:
            raise ConsultationError(f"cannot be read ({exc.strerror})", source=name) from None
    if len(raw) > MAX_BYTES:
        raise ConsultationError(f"is {len(raw)} bytes; the limit is {MAX_BYTES}", source=name)
    return raw


@dataclass
class _Sheet:
    """One sheet: its column names (row 1) and its other rows, numbered as Excel shows them."""

    name: str
    headers: list[str]
    rows: list[tuple[int, dict[str, Any]]]


def _read_sheets(raw: bytes, name: str) -> dict[str, _Sheet]:
    """Return the survey, choices and settings sheets found in the workbook."""
    # openpyxl warns of what it does not keep (data validation, conditional formatting,
    # a missing default style): nothing an XLSForm's meaning depends on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _open_sheets(raw, name)


def _open_sheets(raw: bytes, name: str) -> dict[str, _Sheet]:
    not_a_workbook = "is not an Excel workbook (.xlsx), so it cannot be read as an XLSForm"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ConsultationError(not_a_workbook, source=name) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ConsultationError(
            f"unpacks to {unpacked} bytes; the limit is {MAX_UNPACKED_BYTES}", source=name
        )
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    # openpyxl raises many kinds of errors on a zip that is not a workbook (KeyError for
    # a missing part, ValueError, its own InvalidFileException...): all mean the same.
    except Exception:
        raise ConsultationError(not_a_workbook, source=name) from None
    try:
        return {
            key: _read_sheet(key, sheet, name)
            for sheet in book.worksheets
            if (key := str(sheet.title).strip().lower()) in ("survey", "choices", "settings")
        }
    except ConsultationError:
        raise
    except Exception as exc:  # a damaged sheet, whatever openpyxl makes of it
        raise ConsultationError(f"{not_a_workbook} ({exc})", source=name) from None
    finally:
        book.close()


def _read_sheet(key: str, sheet: Any, name: str) -> _Sheet:
    rows: list[tuple[int, dict[str, Any]]] = []
    headers: list[str] = []
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
        if number > MAX_ROWS + 1:
            raise ConsultationError(f"the {key} sheet has more than {MAX_ROWS} rows", source=name)
        if number == 1:
            headers = [_text(value).strip() for value in values]
            continue
        row = {
            h: _OFFICE_ESCAPE.sub(lambda found: chr(int(found[1], 16)), v)
            if isinstance(v, str)
            else v
            for h, v in zip(headers, values, strict=False)
            if h and v is not None
        }
        if any(_text(value).strip() for value in row.values()):
            rows.append((number, row))
    return _Sheet(key, headers, rows)


def _text(value: Any) -> str:
    """Return a cell's value as text: 3 for a whole number, not 3.0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Column:
    """A column name split into its meaning and its language: `label::French (fr)`."""

    base: str
    language: str | None  # the code; None for a column without a language part


@functools.lru_cache(maxsize=512)
def _column(header: str) -> _Column:
    parts = [part.strip() for part in header.split("::")]
    if parts[0].lower() in ("bind", "body") and len(parts) > 1:
        parts = parts[1:]
    base = parts[0].lower().replace(" ", "_")
    base = {"caption": "label", "relevance": "relevant"}.get(base, base)
    return _Column(base, _language_code(parts[1]) if len(parts) == 2 else None)


def _language_code(label: str) -> str:
    """Return the code of `English (en)`, `en` or `English`; "" when it names none."""
    found = re.search(r"\(([^()]*)\)\s*$", label)
    code = found.group(1).strip() if found else label.strip()
    if _LANGUAGE.match(code):
        return code
    return _NAMED_LANGUAGES.get(code.lower(), "")


@dataclass
class _Question:
    """A question read so far, with what a later `relevant` needs to know of it."""

    data: dict[str, Any]
    list_name: str = ""
    choice_names: list[str] = field(default_factory=list)


class _FormReader:
    """Turn the sheets into a definition, raising errors that name the sheet and row."""

    def __init__(self, name: str, sheets: dict[str, _Sheet]) -> None:
        self.name = name
        self.sheets = sheets
        self._survey()  # the first thing to miss
        self.settings = self._settings_row()
        self.languages = self._languages()
        self.choices = self._choice_lists()
        self.questions: dict[str, _Question] = {}
        self.seen: dict[str, int] = {}  # the row of every name taken so far (questions, notes)

    def fail(self, where: str, message: str) -> ConsultationError:
        return ConsultationError(f"{where}: {message}" if where else message, source=self.name)

    # settings and languages

    def _settings_row(self) -> dict[str, Any]:
        sheet = self.sheets.get("settings")
        if sheet is None:
            raise self.fail("", "has no settings sheet: it needs form_id and form_title")
        if len(sheet.rows) > 1:
            raise self.fail(
                f"settings row {sheet.rows[1][0]}", "the settings sheet has one row of values"
            )
        return sheet.rows[0][1] if sheet.rows else {}

    def _setting(self, base: str) -> str:
        for header, value in self.settings.items():
            column = _column(header)
            if column.base == base and column.language is None:
                return _text(value).strip()
        return ""

    def _settings_texts(self, base: str, *aliases: str) -> dict[str, str]:
        """Return a settings text per language (`thanks::French (fr)`); a column without a
        language gives every language that lacks its own."""
        plain = ""
        texts: dict[str, str] = {}
        for header, value in self.settings.items():
            column = _column(header)
            if column.base not in (base, *aliases) or not _text(value).strip():
                continue
            if column.language is None:
                plain = _text(value)
            elif column.language not in self.languages:
                raise self.fail(
                    f"settings column {header!r}",
                    f"names a language the survey has no label column for ({column.language})",
                )
            else:
                texts[column.language] = _text(value)
        if not texts and not plain:
            return {}
        if plain:
            texts = {lang: texts.get(lang, plain) for lang in self.languages}
        missing = [lang for lang in self.languages if lang not in texts]
        if missing:
            raise self.fail(f"settings column '{base}'", f"has no text in {missing[0]!r}")
        return {lang: texts[lang] for lang in self.languages}

    def _languages(self) -> list[str]:
        """Return the languages of the form, the default first: those of the survey's label
        columns, a plain `label` column being in `default_language` (English if unset)."""
        survey = self._survey()
        default_setting = self._setting("default_language")
        default = _language_code(default_setting) if default_setting else ""
        if default_setting and not default:
            raise self.fail(
                "settings column 'default_language'",
                f"{default_setting!r} names no language code: write it like English (en)",
            )
        translated: list[str] = []
        plain = False
        for header in survey.headers:
            column = _column(header) if header else None
            if column is None or column.base != "label":
                continue
            if len(header.split("::")) > 2 or column.language == "":
                raise self.fail(
                    f"survey column {header!r}",
                    "names no language code: write it like label::English (en)",
                )
            if column.language is None:
                plain = True
            elif column.language not in translated:
                translated.append(column.language)
        if not plain and not translated:
            raise self.fail("survey row 1", "has no label column (label, or label::English (en))")
        if plain:
            if translated and not default:
                raise self.fail(
                    "survey column 'label'",
                    "has no language while other label columns do: set default_language in"
                    " the settings sheet, like English (en)",
                )
            default = default or "en"
            if default in translated:
                raise self.fail(
                    "survey column 'label'",
                    f"is in the default language ({default}), and so is another label column",
                )
            return [default, *translated]
        if default and default not in translated:
            raise self.fail(
                "settings column 'default_language'",
                f"is {default_setting!r}, and the survey has no label column in it",
            )
        default = default or translated[0]
        return [default, *(lang for lang in translated if lang != default)]

    def _survey(self) -> _Sheet:
        survey = self.sheets.get("survey")
        if survey is None:
            raise self.fail("", "has no survey sheet: an XLSForm lists its questions there")
        for required in ("type", "name"):
            if not any(_column(h).base == required for h in survey.headers if h):
                raise self.fail("survey row 1", f"has no {required!r} column")
        return survey

    def texts(self, row: Mapping[str, Any], base: str, sheet: str = "") -> dict[str, str]:
        """Return the texts of a row in a column family (label, hint, keywords...), per
        language: a column without a language is the default language's."""
        texts: dict[str, str] = {}
        for header, value in row.items():
            column = _column(header)
            if column.base != base or not _text(value).strip():
                continue
            language = self.languages[0] if column.language is None else column.language
            if language not in self.languages:
                raise self.fail(
                    f"{sheet} column {header!r}".lstrip(),
                    "names a language the survey has no label column for",
                )
            texts[language] = _text(value)
        return texts

    def translated(
        self, where: str, row: Mapping[str, Any], base: str, *, required: bool
    ) -> dict[str, str] | None:
        """Return a text in every language, refusing one missing in some language."""
        texts = self.texts(row, base)
        if not texts and not required:
            return None
        for lang in self.languages:
            if lang not in texts:
                language = _language_column("", lang)[2:] if len(self.languages) > 1 else ""
                raise self.fail(where, f"{base} is empty" + (f" in {language}" if language else ""))
        for text in texts.values():
            if _PIPING.search(text):
                raise self.fail(
                    where,
                    f"{base} {text!r} refers to another answer (${{...}}): Participate shows"
                    " texts as written",
                )
        return {lang: texts[lang] for lang in self.languages}

    # choices

    def _choice_lists(self) -> dict[str, list[tuple[int, _Cells]]]:
        """Return the rows of each choice list, in the sheet's order (read when a question
        uses the list: a list no question uses is no concern of Participate's)."""
        sheet = self.sheets.get("choices")
        lists: dict[str, list[tuple[int, _Cells]]] = {}
        for number, row in sheet.rows if sheet else ():
            values = {_column(h).base: v for h, v in row.items()}
            list_name = _text(values.get("list_name")).strip()
            if not list_name:
                raise self.fail(f"choices row {number}", "list_name is empty")
            lists.setdefault(list_name, []).append((number, row))
        return lists

    def _choices(self, list_name: str) -> list[dict[str, Any]]:
        """Return a choice list's choices as {id, text}, refusing one with its row."""
        choices: list[dict[str, Any]] = []
        for number, row in self.choices[list_name]:
            where = f"choices row {number} (list {list_name!r})"
            choice = _text({_column(h).base: v for h, v in row.items()}.get("name")).strip()
            if not _NAME.match(choice):
                raise self.fail(
                    where,
                    f"name {choice!r} is not one Participate can use: 1-64 letters, digits,"
                    " '-' or '_', starting with a letter or digit",
                )
            if any(c["id"] == choice for c in choices):
                raise self.fail(where, f"choice {choice!r} is in this list twice")
            choices.append(
                {"id": choice, "text": self.translated(where, row, "label", required=True)}
            )
        return choices

    # the survey

    def definition(self) -> dict[str, Any]:
        intro: list[dict[str, str]] = []
        names = self._names()
        for number, row in self._survey().rows:
            self._read_row(number, row, names, intro)
        if not self.questions:
            raise self.fail("survey", "has no question")
        definition: dict[str, Any] = {
            "id": self._form_id(),
            "title": self._title(),
            "languages": list(self.languages),
            "questions": [q.data for q in self.questions.values()],
        }
        if intro:
            definition["intro"] = {
                lang: "\n\n".join(note[lang] for note in intro) for lang in self.languages
            }
        definition.update(self._extras())
        return definition

    def _names(self) -> dict[str, int]:
        """Return the row of every name in the survey, to tell a forward reference."""
        names: dict[str, int] = {}
        for number, row in self._survey().rows:
            values = {_column(h).base: v for h, v in row.items()}
            names.setdefault(_text(values.get("name")).strip(), number)
        return names

    def _read_row(
        self,
        number: int,
        row: Mapping[str, Any],
        names: Mapping[str, int],
        intro: list[dict[str, str]],
    ) -> None:
        values = {_column(h).base: v for h, v in row.items() if _column(h).language is None}
        qtype = _type_name(_text(values.get("type")))
        name = _text(values.get("name")).strip()
        where = f"survey row {number}" + (f" (question {name!r})" if name else "")
        kind, _, list_name = qtype.partition(" ")
        kind = _TYPE_ALIASES.get(kind.lower(), kind.lower())
        if not kind and not name and not self.texts(row, "label"):
            return  # a row of notes in columns of the author's own
        if not kind:
            raise self.fail(where, "type is empty")
        if kind in METADATA_TYPES:
            return
        if kind in _STRUCTURE_TYPES:
            raise self.fail(where, f"type {qtype!r}: {_STRUCTURE_TYPES[kind]}")
        self._check_name(where, name, number, is_id=kind != "note")
        for column, why in _UNSUPPORTED_COLUMNS.items():
            if _text(values.get(column)).strip():
                raise self.fail(where, f"column {column!r}: {why}")
        if kind == "note":
            if self.questions:
                raise self.fail(
                    where,
                    "a note is taken only before the first question, as the intro; Participate"
                    " shows no text between questions",
                )
            self._refuse_logic(where, values, "a note")
            intro.append(self.translated(where, row, "label", required=True))
            return
        reader = _QUESTION_TYPES.get(kind)
        if reader is None:
            raise self.fail(
                where, f"type {qtype!r} is not supported: Participate takes {SUPPORTED_TYPES}"
            )
        question: dict[str, Any] = {
            "id": name,
            "type": "",
            "text": self.translated(where, row, "label", required=True),
            "required": self._required(where, values.get("required")),
        }
        help_text = self.translated(where, row, "hint", required=False)
        if help_text:
            question["help"] = help_text
        entry = _Question(question, list_name.strip())
        reader(self, where, values, row, entry)
        relevant = _text(values.get("relevant")).strip()
        if relevant:
            question["ask_if"] = self._rule(where, relevant, name, names)
        self.questions[name] = entry

    def _check_name(self, where: str, name: str, number: int, *, is_id: bool) -> None:
        if not name:
            raise self.fail(where, "name is empty")
        if is_id and not _NAME.match(name):
            raise self.fail(
                where,
                f"name {name!r} is not one Participate can use: 1-64 letters, digits, '-' or"
                " '_', starting with a letter or digit",
            )
        if name in self.seen:
            raise self.fail(where, f"name {name!r} is also used on row {self.seen[name]}")
        self.seen[name] = number

    def _refuse_logic(self, where: str, values: Mapping[str, Any], what: str) -> None:
        for column in ("relevant", "constraint"):
            if _text(values.get(column)).strip():
                raise self.fail(where, f"{what} takes no {column}")

    def _required(self, where: str, raw: Any) -> bool:
        value = _text(raw).strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise self.fail(
            where,
            f"required {value!r} must be yes or no (true or false): a condition is not supported",
        )

    # each question type

    def _select_one(self, where: str, values: _Cells, row: _Cells, entry: _Question) -> None:
        choices = self._list(where, entry.list_name, "select_one")
        ids = [c["id"] for c in choices]
        self._no_constraint(where, values, "select_one")
        if entry.list_name == _YES_NO_LIST and sorted(ids) == ["no", "yes"]:
            entry.data["type"] = "yesno"
            entry.choice_names = ["yes", "no"]
            return
        entry.data.update(type="choice", choices=choices)
        entry.choice_names = ids

    def _select_multiple(self, where: str, values: _Cells, row: _Cells, entry: _Question) -> None:
        choices = self._list(where, entry.list_name, "select_multiple")
        entry.data.update(type="multi", choices=choices)
        entry.choice_names = [c["id"] for c in choices]
        bounds = self._bounds(where, values, "count-selected(.)", integer=True)
        low, high = bounds.get("min", 0), bounds.get("max", len(choices))
        if not 0 <= low <= len(choices) or not max(low, 1) <= high <= len(choices):
            raise self.fail(
                where,
                f"constraint allows {low} to {high} choices, and the list has {len(choices)}",
            )
        entry.data.update(min_choices=low, max_choices=high)

    def _list(self, where: str, list_name: str, kind: str) -> list[dict[str, Any]]:
        if not list_name:
            raise self.fail(where, f"type {kind} needs a choice list: {kind} LIST_NAME")
        if " " in list_name:
            raise self.fail(
                where,
                f"type '{kind} {list_name}': 'or_other' and other options after the list"
                " name are not supported",
            )
        if list_name not in self.choices:
            raise self.fail(where, f"choice list {list_name!r} is not on the choices sheet")
        choices = self._choices(list_name)
        if len(choices) < 2:
            raise self.fail(where, f"choice list {list_name!r} needs at least two choices")
        return choices

    def _number(
        self, where: str, values: _Cells, row: _Cells, entry: _Question, *, integer: bool
    ) -> None:
        entry.data.update(type="number", integer=integer)
        bounds = self._bounds(where, values, ".", integer=integer)
        if "min" in bounds and "max" in bounds and bounds["max"] < bounds["min"]:
            raise self.fail(where, "constraint: the highest answer is below the lowest")
        entry.data.update(bounds)

    def _integer(self, where: str, values: _Cells, row: _Cells, entry: _Question) -> None:
        self._number(where, values, row, entry, integer=True)

    def _decimal(self, where: str, values: _Cells, row: _Cells, entry: _Question) -> None:
        self._number(where, values, row, entry, integer=False)

    def _text_question(self, where: str, values: _Cells, row: _Cells, entry: _Question) -> None:
        bounds = self._bounds(where, values, "string-length(.)", integer=True, only="max")
        length = bounds.get("max", DEFAULT_TEXT_LENGTH)
        if not 1 <= length <= MAX_TEXT_LENGTH:
            raise self.fail(where, f"constraint: a text may be 1 to {MAX_TEXT_LENGTH} characters")
        entry.data.update(type="text", max_length=length)

    def _range(self, where: str, values: _Cells, row: _Cells, entry: _Question) -> None:
        self._no_constraint(where, values, "range")
        parameters = dict(_RANGE_DEFAULTS)
        written = re.sub(r"\s*=\s*", "=", _text(values.get("parameters")).strip())
        for item in re.split(r"[\s;,]+", written):
            if not item:
                continue
            key, _, number = item.partition("=")
            key = key.strip().lower()
            if key in _RANGE_PRESENTATION:
                continue
            if key not in parameters:
                raise self.fail(where, f"parameters: {key!r} is not start, end or step")
            try:
                parameters[key] = _whole(number)
            except ValueError:
                raise self.fail(
                    where, f"parameters: {key} must be a whole number, got {number!r}"
                ) from None
        low, high = parameters["start"], parameters["end"]
        if parameters["step"] != 1:
            raise self.fail(
                where,
                f"parameters: step={parameters['step']}: a range becomes a scale, whose every"
                " point can be chosen, so step must be 1",
            )
        if high <= low:
            raise self.fail(where, f"parameters: end ({high}) must be greater than start ({low})")
        if high - low + 1 > MAX_SCALE_POINTS:
            raise self.fail(where, f"parameters: a scale has at most {MAX_SCALE_POINTS} points")
        entry.data.update(type="scale", min=low, max=high)
        entry.choice_names = [str(point) for point in range(low, high + 1)]
        low_labels = self.translated(where, row, "low_label", required=False)
        high_labels = self.translated(where, row, "high_label", required=False)
        if bool(low_labels) != bool(high_labels):
            raise self.fail(where, "a scale's labels need both low_label and high_label")
        if low_labels and high_labels:
            entry.data["labels"] = {
                lang: [low_labels[lang], high_labels[lang]] for lang in self.languages
            }

    def _no_constraint(self, where: str, values: Mapping[str, Any], kind: str) -> None:
        if _text(values.get("constraint")).strip():
            raise self.fail(where, f"constraint: a {kind} question takes no constraint")

    def _bounds(
        self,
        where: str,
        values: Mapping[str, Any],
        subject: str,
        *,
        integer: bool,
        only: str = "",
    ) -> dict[str, Any]:
        """Read `constraint` as lowest and highest answers: `. >= 0 and . <= 10`."""
        constraint = _text(values.get("constraint")).strip()
        bounds: dict[str, Any] = {}
        if not constraint:
            return bounds
        subset = f"Participate understands {subject} >= N, {subject} <= N, or both joined by 'and'"
        for term in _AND.split(constraint):
            found = _BOUND.match(term.strip())
            if not found or re.sub(r"\s", "", found["subject"]) != subject:
                raise self.fail(where, f"constraint {constraint!r} is not supported: {subset}")
            op = found["op"]
            if op not in ("<=", ">="):
                raise self.fail(
                    where,
                    f"constraint {constraint!r}: {op} is not supported, limits are inclusive:"
                    f" {subset}",
                )
            bound = "min" if op == ">=" else "max"
            if bound in bounds or (only and bound != only):
                raise self.fail(where, f"constraint {constraint!r} is not supported: {subset}")
            number = _number_value(found["value"])
            if integer and not float(number).is_integer():
                raise self.fail(where, f"constraint {constraint!r}: {number} is not whole")
            bounds[bound] = int(number) if integer else number
        return bounds

    # skip logic

    def _rule(
        self, where: str, relevant: str, name: str, names: Mapping[str, int]
    ) -> dict[str, Any]:
        """Read `relevant` in the supported subset into `{question, in: [values]}`."""
        terms = _relevant_terms(relevant)
        if terms is None:
            raise self.fail(
                where, f"relevant {relevant!r} is not supported{_why(relevant)}: {RELEVANT_SUBSET}"
            )
        sources = {ref for ref, _, _ in terms}
        if len(sources) > 1:
            raise self.fail(
                where,
                f"relevant {relevant!r} looks at {' and '.join(sorted(sources))}: a rule looks at"
                " one question",
            )
        source_name = sources.pop()
        source = self._rule_source(where, relevant, source_name, name, names)
        values = [self._rule_value(where, relevant, source, how, raw) for _, how, raw in terms]
        return {"question": source_name, "in": list(dict.fromkeys(values))}

    def _rule_source(
        self, where: str, relevant: str, source: str, name: str, names: Mapping[str, int]
    ) -> _Question:
        if source == name:
            raise self.fail(where, f"relevant {relevant!r} looks at this question itself")
        question = self.questions.get(source)
        if question is None:
            if source in names and names[source] > names.get(name, 0):
                raise self.fail(
                    where,
                    f"relevant {relevant!r} looks at {source!r}, which comes later (row"
                    f" {names[source]}): a rule looks at an earlier question",
                )
            raise self.fail(
                where,
                f"relevant {relevant!r} looks at {source!r}, which is not a question asked"
                " before this one",
            )
        if question.data["type"] not in ("choice", "multi", "yesno", "scale"):
            raise self.fail(
                where,
                f"relevant {relevant!r} looks at {source!r}: a rule can look at a select_one,"
                " select_multiple or range question",
            )
        return question

    def _rule_value(self, where: str, relevant: str, source: _Question, how: str, raw: str) -> Any:
        qtype = source.data["type"]
        if qtype == "multi" and how == "=":
            raise self.fail(
                where,
                f"relevant {relevant!r}: {source.data['id']!r} is a select_multiple question;"
                f" write selected(${{{source.data['id']}}}, '{raw}')",
            )
        if raw not in source.choice_names:
            raise self.fail(
                where,
                f"relevant {relevant!r}: {raw!r} is not an answer {source.data['id']!r} can have"
                f" ({', '.join(source.choice_names)})",
            )
        if qtype == "yesno":
            return raw == "yes"
        if qtype == "scale":
            return int(raw)
        return raw

    # settings

    def _form_id(self) -> str:
        form_id = self._setting("form_id") or self._setting("id_string")
        if not form_id:
            raise self.fail(
                "settings",
                "form_id is empty: it is the consultation's id (1-64 letters, digits, '-' or '_')",
            )
        if not _NAME.match(form_id):
            raise self.fail(
                "settings column 'form_id'",
                f"{form_id!r} is not an id Participate can use: 1-64 letters, digits, '-' or '_'",
            )
        return form_id

    def _title(self) -> dict[str, str]:
        title = self._settings_texts("form_title", _TRANSLATED_TITLE)
        if not title:
            raise self.fail("settings", "form_title is empty: it is the consultation's title")
        return title

    def _extras(self) -> dict[str, Any]:
        """Return the settings only Participate reads: keywords, dates, thanks and more."""
        extras: dict[str, Any] = {}
        thanks = self._settings_texts("thanks")
        if thanks:
            extras["thanks"] = thanks
        keywords = {
            lang: [word for word in re.split(r"[\s,;]+", text) if word]
            for lang, text in self.texts(self.settings, "keywords", "settings").items()
        }
        if keywords:
            extras["keywords"] = keywords
        for moment in ("opens", "closes"):
            value = self._setting_value(moment)
            if value is not None:
                extras[moment] = _moment(value)
        retention = self._setting("retention_days")
        if retention:
            try:
                extras["retention_days"] = _whole(retention)
            except ValueError:
                raise self.fail(
                    "settings column 'retention_days'", f"{retention!r} is not a whole number"
                ) from None
        results_by_text = self._setting("results_by_text").lower()
        if results_by_text:
            if results_by_text not in _TRUE | _FALSE:
                raise self.fail("settings column 'results_by_text'", "must be yes or no")
            extras["results_by_text"] = results_by_text in _TRUE
        return extras

    def _setting_value(self, base: str) -> Any:
        for header, value in self.settings.items():
            if _column(header).base == base and _text(value).strip():
                return value
        return None


def _type_name(raw: str) -> str:
    """Return a type as `select_one LIST`, whichever of pyxform's spellings wrote it."""
    qtype = re.sub(r"\s+", " ", raw.strip())
    for spaced, name in _SPACED_TYPES.items():
        if qtype.lower() == spaced or qtype.lower().startswith(spaced + " "):
            return name + qtype[len(spaced) :]
    return qtype


_QUESTION_TYPES = {
    "select_one": _FormReader._select_one,
    "select_multiple": _FormReader._select_multiple,
    "integer": _FormReader._integer,
    "decimal": _FormReader._decimal,
    "text": _FormReader._text_question,
    "range": _FormReader._range,
}


def _relevant_terms(relevant: str) -> list[tuple[str, str, str]] | None:
    """Split `relevant` into (question, "=" or "selected", value) terms, or None when it
    is outside the subset."""
    expression = relevant.strip()
    while expression.startswith("(") and expression.endswith(")") and _balanced(expression[1:-1]):
        expression = expression[1:-1].strip()
    terms = []
    for part in _OR.split(expression):
        part = part.strip()
        while part.startswith("(") and part.endswith(")"):
            part = part[1:-1].strip()
        for pattern, how in ((_EQUALS, "="), (_SELECTED, "selected")):
            found = pattern.fullmatch(part)
            if found:
                terms.append((found["ref"], how, _term_value(found.groupdict())))
                break
        else:
            return None
    return terms


def _term_value(groups: Mapping[str, str | None]) -> str:
    """Return a term's value as text: what was quoted, or a number as 3 (not 3.0)."""
    if groups.get("number") is not None:
        return _text(_number_value(str(groups["number"])))
    return groups["single"] if groups["single"] is not None else groups["double"] or ""


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _why(relevant: str) -> str:
    """Name, when one is plain to see, the part of `relevant` outside the subset."""
    unquoted = re.sub(_QUOTED, "''", relevant)
    if re.search(r"\band\b", unquoted):
        return " ('and' is not supported)"
    if re.search(r"\bnot\s*\(", unquoted):
        return " ('not' is not supported)"
    operator = re.search(r"!=|<=|>=|<|>", unquoted)
    if operator:
        return f" ({operator.group()!r} is not supported)"
    function = re.search(r"([A-Za-z][\w:-]*)\s*\(", unquoted)
    if function and function.group(1) != "selected":
        return f" (the function {function.group(1)}() is not supported)"
    return ""


def _number_value(text: str) -> int | float:
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _whole(value: Any) -> int:
    """Return a whole number written as text or as a cell's number; raise ValueError."""
    number = float(_text(value).strip())
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def _moment(value: Any) -> Any:
    """Return an opening or closing as the text a YAML file has: a date cell is a day, a
    date and time cell (not at midnight) a time to the minute, text is left as written."""
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return _text(value).strip()


# --- writing -------------------------------------------------------------------------


def write(consultation: _Definition) -> bytes:
    """Return an .xlsx XLSForm of a consultation, which `read` turns back into it."""
    from openpyxl import Workbook

    definition = consultation.definition
    languages: list[str] = list(definition["languages"])
    questions: list[Mapping[str, Any]] = definition["questions"]
    lists = _list_names(questions)
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    source = definition["id"]
    survey_headers = _survey_headers(questions, languages)
    _write_rows(survey, survey_headers, _survey_rows(definition, lists), source)
    choice_headers = ["list_name", "name", *_columns("label", languages)]
    _write_rows(
        book.create_sheet("choices"), choice_headers, _choice_rows(questions, lists), source
    )
    settings = _settings_row(definition, consultation.version)
    _write_rows(book.create_sheet("settings"), list(settings), [settings], source)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _write_rows(
    sheet: Any, headers: list[str], rows: Iterable[Mapping[str, Any]], source: str
) -> None:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    for number, row in enumerate([dict(zip(headers, headers, strict=True)), *rows], start=1):
        for column, header in enumerate(headers, start=1):
            value = row.get(header)
            if value is None:
                continue
            if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
                where = f"{sheet.title} row {number}, column {header!r}"
                raise ConsultationError(
                    f"cannot be written as an XLSForm: {where} has a control character,"
                    " which a spreadsheet cannot hold",
                    source=source,
                )
            if isinstance(value, str):
                value = _ESCAPED_UNDERSCORE.sub("_x005F_", value).replace("\r", "_x000D_")
            cell = sheet.cell(row=number, column=column, value=value)
            # A text that starts with "=" is text, not a formula to run when opened.
            if isinstance(value, str):
                cell.data_type = "s"


def _language_column(base: str, language: str) -> str:
    return f"{base}::{LANGUAGE_NAMES.get(language.split('-')[0], language)} ({language})"


def _columns(base: str, languages: Iterable[str]) -> list[str]:
    return [_language_column(base, lang) for lang in languages]


def _texts(base: str, text: Mapping[str, str]) -> dict[str, str]:
    return {_language_column(base, lang): value for lang, value in text.items()}


def _list_names(questions: list[Mapping[str, Any]]) -> dict[str, str]:
    """Name each choice question's list after it, clear of the yes/no list and each other."""
    names: dict[str, str] = {}
    for question in questions:
        if question["type"] in ("choice", "multi"):
            name = question["id"]
            while name == _YES_NO_LIST or name in names.values():
                name += "_"
            names[question["id"]] = name
    return names


def _survey_headers(questions: list[Mapping[str, Any]], languages: list[str]) -> list[str]:
    headers = ["type", "name", *_columns("label", languages)]
    if any(q.get("help") for q in questions):
        headers += _columns("hint", languages)
    headers += ["required", "relevant", "constraint", "parameters"]
    if any(q.get("labels") for q in questions):
        headers += _columns("low_label", languages) + _columns("high_label", languages)
    return headers


def _survey_rows(
    definition: Mapping[str, Any], lists: Mapping[str, str]
) -> Iterable[dict[str, Any]]:
    if definition.get("intro"):
        yield {"type": "note", "name": "intro", **_texts("label", definition["intro"])}
    types = {q["id"]: q["type"] for q in definition["questions"]}
    for question in definition["questions"]:
        yield _survey_row(question, lists, types)


def _survey_row(
    question: Mapping[str, Any], lists: Mapping[str, str], types: Mapping[str, str]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": _written_type(question, lists),
        "name": question["id"],
        **_texts("label", question["text"]),
        **_texts("hint", question.get("help", {})),
        "required": "yes" if question["required"] else "no",
    }
    if question.get("ask_if"):
        row["relevant"] = _relevant(question["ask_if"], types[question["ask_if"]["question"]])
    row["constraint"] = _constraint(question) or None
    if question["type"] == "scale":
        row["parameters"] = f"start={question['min']} end={question['max']} step=1"
        labels = question.get("labels", {})
        row |= _texts("low_label", {lang: pair[0] for lang, pair in labels.items()})
        row |= _texts("high_label", {lang: pair[1] for lang, pair in labels.items()})
    return row


def _written_type(question: Mapping[str, Any], lists: Mapping[str, str]) -> str:
    qtype = question["type"]
    if qtype == "choice":
        return f"select_one {lists[question['id']]}"
    if qtype == "multi":
        return f"select_multiple {lists[question['id']]}"
    if qtype == "yesno":
        return f"select_one {_YES_NO_LIST}"
    if qtype == "number":
        return "integer" if question["integer"] else "decimal"
    return {"scale": "range", "text": "text"}[qtype]


def _relevant(rule: Mapping[str, Any], source_type: str) -> str:
    """Write a rule as `relevant`, each value the way its source question's type reads."""
    ref = f"${{{rule['question']}}}"
    terms = []
    for value in rule["in"]:
        if source_type == "yesno":
            terms.append(f"{ref} = '{'yes' if value else 'no'}'")
        elif source_type == "scale":
            terms.append(f"{ref} = {value}")
        elif source_type == "multi":
            terms.append(f"selected({ref}, '{value}')")
        else:
            terms.append(f"{ref} = '{value}'")
    return " or ".join(terms)


def _constraint(question: Mapping[str, Any]) -> str:
    qtype = question["type"]
    terms = []
    if qtype == "number":
        if question.get("min") is not None:
            terms.append(f". >= {_decimal_text(question['min'])}")
        if question.get("max") is not None:
            terms.append(f". <= {_decimal_text(question['max'])}")
    elif qtype == "multi":
        if question["min_choices"]:
            terms.append(f"count-selected(.) >= {question['min_choices']}")
        if question["max_choices"] != len(question["choices"]):
            terms.append(f"count-selected(.) <= {question['max_choices']}")
    elif qtype == "text" and question["max_length"] != DEFAULT_TEXT_LENGTH:
        terms.append(f"string-length(.) <= {question['max_length']}")
    return " and ".join(terms)


def _decimal_text(number: float) -> str:
    """Write a number as XPath reads it: without an exponent (0.00001, not 1e-05)."""
    return format(Decimal(repr(number)), "f")


def _choice_rows(
    questions: list[Mapping[str, Any]], lists: Mapping[str, str]
) -> Iterable[dict[str, Any]]:
    for question in questions:
        for choice in question.get("choices", ()):
            yield {
                "list_name": lists[question["id"]],
                "name": choice["id"],
                **_texts("label", choice["text"]),
            }
    yesno_languages = next((q["text"] for q in questions if q["type"] == "yesno"), {})
    for index, answer in enumerate(("yes", "no")):
        labels = {
            lang: _YES_NO_LABELS.get(lang.split("-")[0], _YES_NO_LABELS["en"])[index]
            for lang in yesno_languages
        }
        if labels:
            yield {"list_name": _YES_NO_LIST, "name": answer, **_texts("label", labels)}


def _settings_row(definition: Mapping[str, Any], version: str) -> dict[str, Any]:
    """Return the settings: XLSForm's, then the ones only Participate reads."""
    default = definition["languages"][0]
    row: dict[str, Any] = {
        "form_title": definition["title"][default],
        **_texts(_TRANSLATED_TITLE, {k: v for k, v in definition["title"].items() if k != default}),
        "form_id": definition["id"],
        "version": version,
        "default_language": _language_column("", default).removeprefix("::"),
    }
    for lang, words in definition.get("keywords", {}).items():
        row[_language_column("keywords", lang)] = " ".join(words)
    for moment in ("opens", "closes"):
        if definition.get(moment):
            row[moment] = definition[moment]
    row |= _texts("thanks", definition.get("thanks", {}))
    if definition.get("retention_days") is not None:
        row["retention_days"] = definition["retention_days"]
    if definition.get("results_by_text"):
        row["results_by_text"] = "yes"
    return row
