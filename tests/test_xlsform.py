"""XLSForm workbooks: a KoboToolbox export loads and runs, a written one reads back to the
same version, and what Participate cannot honour is refused with its sheet and row."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from participate import consultations, store, xlsform
from participate.answers import validate_answers
from participate.cli import main
from participate.errors import AnswersError, ConsultationError
from tests.conftest import EXAMPLE
from tests.test_consultations import RULES

SURVEY_COLUMNS = [
    "type",
    "name",
    "label::English (en)",
    "label::French (fr)",
    "hint::English (en)",
    "hint::French (fr)",
    "required",
    "relevant",
    "constraint",
    "parameters",
    "appearance",
]

# A form as KoboToolbox exports it ("Download XLS"): its metadata rows first, `true` and
# `false` in `required`, its skip logic written by the form builder. The numbers are the
# rows as a spreadsheet shows them (the column names are row 1).
KOBO: dict[str, list[list[Any]]] = {
    "survey": [
        SURVEY_COLUMNS,
        ["start", "start"],  # row 2
        ["end", "end"],  # row 3
        ["note", "bienvenue", "Help us plan the park.", "Aidez-nous à planifier le parc."],
        [
            "select_one freq",  # row 5
            "frequence",
            "How often do you visit the park?",
            "À quelle fréquence visitez-vous le parc ?",
            "Pick one",
            "Choisissez-en une",
            "true",
        ],
        [
            "select_one yes_no",  # row 6
            "eclairage",
            "Should the paths be lit at night?",
            "Faut-il éclairer les sentiers la nuit ?",
            None,
            None,
            "true",
        ],
        [
            "select_multiple moments",  # row 7
            "moments",
            "When do you come?",
            "Quand venez-vous ?",
            None,
            None,
            "false",
            "${frequence} = 'weekly' or ${frequence} = 'monthly'",
            "count-selected(.) <= 2",
            None,
            "minimal",
        ],
        [
            "integer",  # row 8
            "lampadaires",
            "How many lamps?",
            "Combien de lampadaires ?",
            None,
            None,
            "true",
            "${eclairage} = 'yes'",
            ". >= 0 and . <= 50",
        ],
        [
            "range",  # row 9
            "note_globale",
            "How do you rate the park?",
            "Comment évaluez-vous le parc ?",
            None,
            None,
            "true",
            None,
            None,
            "start=1;end=5;step=1",
        ],
        [
            "text",  # row 10
            "commentaire",
            "What would make evenings better?",
            "Qu’est-ce qui améliorerait les soirées ?",
            None,
            None,
            "false",
            "selected(${moments} , 'evenings')",
        ],
        [
            "decimal",  # row 11
            "distance",
            "How far away do you live (km)?",
            "À quelle distance habitez-vous (km) ?",
            None,
            None,
            "false",
            None,
            ". >= 0",
        ],
    ],
    "choices": [
        ["list_name", "name", "label::English (en)", "label::French (fr)"],
        ["freq", "weekly", "Every week", "Chaque semaine"],
        ["freq", "monthly", "Every month", "Chaque mois"],
        ["freq", "rarely", "Rarely", "Rarement"],
        ["yes_no", "yes", "Yes", "Oui"],
        ["yes_no", "no", "No", "Non"],
        ["moments", "mornings", "Mornings", "Le matin"],
        ["moments", "afternoons", "Afternoons", "L’après-midi"],
        ["moments", "evenings", "Evenings", "Le soir"],
    ],
    "settings": [
        ["form_title", "form_id", "version", "default_language"],
        ["Parc Jarry", "parc-jarry", "vGxq8sLk2", "English (en)"],
    ],
}


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """Return an .xlsx of these sheets, the first row of each its column names."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def changed(**cells: Any) -> dict[str, list[list[Any]]]:
    """Return KOBO with cells changed, as `survey__7__relevant="..."` (sheet, row, column),
    or whole rows as `survey__12=[...]` (a row past the end is added)."""
    sheets = json.loads(json.dumps(KOBO))
    for key, value in cells.items():
        sheet, row, *column = key.split("__")
        rows = sheets[sheet]
        index = int(row) - 1
        if not column:
            if index < len(rows):
                rows[index] = value
            else:
                rows.append(value)
            continue
        name = {"label_fr": "label::French (fr)"}.get(column[0], column[0])
        position = rows[0].index(name)
        line = rows[index]
        line.extend([None] * (position + 1 - len(line)))
        line[position] = value
    return sheets


def test_a_kobotoolbox_export_loads_with_participate_load_and_runs(runner, tmp_path) -> None:
    path = tmp_path / "parc.xlsx"
    path.write_bytes(workbook(KOBO))
    db_path = tmp_path / "hub.db"
    result = runner.invoke(main, ["load", "--db", str(db_path), str(path)])
    assert result.exit_code == 0, result.output
    assert "parc-jarry: new, version" in result.output
    assert "7 questions, languages en, fr" in result.output
    with store.open_db(db_path) as db:
        assert [row["id"] for row in db.query("SELECT id FROM consultations")] == ["parc-jarry"]
        c = consultations.get(db, "parc-jarry")
    assert c.version in result.output
    assert c.title == {"en": "Parc Jarry", "fr": "Parc Jarry"}
    assert c.intro == {"en": "Help us plan the park.", "fr": "Aidez-nous à planifier le parc."}
    assert [(q.id, q.type, q.required) for q in c.questions] == [
        ("frequence", "choice", True),
        ("eclairage", "yesno", True),
        ("moments", "multi", False),
        ("lampadaires", "number", True),
        ("note_globale", "scale", True),
        ("commentaire", "text", False),
        ("distance", "number", False),
    ]
    frequence, eclairage, moments, lampadaires, note, commentaire, distance = c.questions
    assert frequence.help == {"en": "Pick one", "fr": "Choisissez-en une"}
    assert [choice.id for choice in frequence.choices] == ["weekly", "monthly", "rarely"]
    assert frequence.choice("rarely").text == {"en": "Rarely", "fr": "Rarement"}
    assert moments.ask_if == consultations.Rule("frequence", ("weekly", "monthly"))
    assert (moments.min_choices, moments.max_choices) == (0, 2)
    assert lampadaires.ask_if == consultations.Rule("eclairage", (True,))
    assert (lampadaires.min, lampadaires.max, lampadaires.integer) == (0, 50, True)
    assert (note.min, note.max) == (1, 5)
    assert commentaire.ask_if == consultations.Rule("moments", ("evenings",))
    assert (distance.min, distance.max, distance.integer) == (0, None, False)

    # Answerable, the skip logic honoured: a rare visitor who wants no lights is asked
    # neither when they come nor how many lamps.
    assert validate_answers(c, {"frequence": "rarely", "eclairage": False, "note_globale": 4}) == {
        "frequence": "rarely",
        "eclairage": False,
        "note_globale": 4,
    }
    with pytest.raises(AnswersError) as caught:
        validate_answers(
            c,
            {"frequence": "rarely", "eclairage": False, "note_globale": 4, "moments": ["evenings"]},
        )
    assert caught.value.errors["moments"].code == "not_asked"
    with pytest.raises(AnswersError) as caught:
        validate_answers(c, {"frequence": "weekly", "eclairage": True, "note_globale": 2})
    assert caught.value.errors["lampadaires"].code == "required"
    full = {
        "frequence": "weekly",
        "eclairage": True,
        "moments": ["mornings", "evenings"],
        "lampadaires": 12,
        "note_globale": 5,
        "commentaire": "Plus de bancs",
        "distance": 1.5,
    }
    assert validate_answers(c, full) == full
    with pytest.raises(AnswersError) as caught:
        validate_answers(c, full | {"moments": ["mornings", "afternoons", "evenings"]})
    # The constraint count-selected(.) <= 2 holds.
    assert caught.value.errors["moments"].code == "too_many"


def test_a_workbook_reads_from_bytes_and_from_a_path_alike(tmp_path) -> None:
    raw = workbook(KOBO)
    path = tmp_path / "parc.xlsx"
    path.write_bytes(raw)
    assert xlsform.read(raw) == xlsform.read(path, "parc.xlsx")
    assert consultations.parse(xlsform.read(raw)).version == consultations.read_file(path).version


@pytest.mark.parametrize(
    "consultation",
    [consultations.read_file(EXAMPLE), consultations.parse(RULES, "rules")],
    ids=["example", "rules"],
)
def test_a_written_workbook_reads_back_to_the_same_version(consultation) -> None:
    again = consultations.parse(xlsform.read(xlsform.write(consultation)), "again.xlsx")
    assert again.version == consultation.version
    assert again.definition == consultation.definition


# Corners of the mapping: one language, a choice question named like the yes/no list
# with yes and no for its choices, numbers XPath must not write with an exponent, a
# text with spaces around it and a carriage return (which a sheet's XML would turn
# into a line feed), a closing time and every setting only Participate reads.
CORNERS = {
    "id": "corners",
    "title": "Corners",
    "languages": ["fr-CA"],
    "intro": "Bonjour\nDeux lignes",
    "thanks": "Merci !",
    "keywords": {"fr-CA": ["COINS", "ANGLES"]},
    "opens": "2026-11-01T09:30",
    "closes": "2026-12-01",
    "retention_days": 0,
    "results_by_text": True,
    "questions": [
        {
            "id": "yes_no",
            "type": "choice",
            "text": "Oui ou non ?",
            "help": "Une aide",
            "choices": [{"id": "yes", "text": "Oui"}, {"id": "no", "text": "Non"}],
        },
        {
            "id": "yes_no_",
            "type": "multi",
            "text": "Plusieurs",
            "min_choices": 2,
            "choices": [
                {"id": "a", "text": "A"},
                {"id": "b", "text": "B"},
                {"id": "c", "text": "C"},
            ],
            "ask_if": {"question": "yes_no", "equals": "no"},
        },
        {
            "id": "tiny",
            "type": "number",
            "min": 0.00001,
            "max": 1e6,
            "text": " Petit ?\r\nVraiment petit\t😀 ",
        },
        {"id": "long", "type": "text", "max_length": 5000, "required": False, "text": "Long"},
    ],
}


def test_corners_of_the_mapping_read_back_to_the_same_version() -> None:
    consultation = consultations.parse(CORNERS, "corners")
    again = consultations.parse(xlsform.read(xlsform.write(consultation)), "again.xlsx")
    assert again.definition == consultation.definition
    assert again.question("yes_no").type == "choice"


def test_a_text_that_starts_with_an_equals_sign_is_written_as_text_not_a_formula() -> None:
    from openpyxl import load_workbook

    data = json.loads(json.dumps(CORNERS))
    data["questions"][2]["text"] = '=HYPERLINK("http://example.org", "click")'
    consultation = consultations.parse(data, "formula")
    raw = xlsform.write(consultation)
    cell = load_workbook(io.BytesIO(raw))["survey"]["C5"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://example.org", "click")', "s")
    assert consultations.parse(xlsform.read(raw)).version == consultation.version


def test_a_text_a_spreadsheet_cannot_hold_is_refused_by_name() -> None:
    data = json.loads(json.dumps(CORNERS))
    data["questions"][2]["text"] = "Sonnerie\x07"
    with pytest.raises(ConsultationError) as caught:
        xlsform.write(consultations.parse(data, "bell"))
    assert str(caught.value) == (
        "corners: cannot be written as an XLSForm: survey row 5, column 'label::French (fr-CA)'"
        " has a control character, which a spreadsheet cannot hold"
    )


def test_the_example_written_as_xlsform_loads_as_the_same_version(runner, tmp_path) -> None:
    db_path = tmp_path / "hub.db"
    assert runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE)]).exit_code == 0
    path = tmp_path / "library-hours.xlsx"
    path.write_bytes(xlsform.write(consultations.read_file(EXAMPLE)))
    result = runner.invoke(main, ["load", "--db", str(db_path), str(path)])
    assert result.exit_code == 0, result.output
    assert "library-hours: unchanged" in result.output


def test_a_written_workbook_has_the_sheets_and_columns_kobotoolbox_reads() -> None:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsform.write(consultations.parse(RULES, "rules"))))
    assert book.sheetnames == ["survey", "choices", "settings"]
    survey = [row for row in book["survey"].iter_rows(values_only=True)]
    assert survey[0][:4] == ("type", "name", "label::English (en)", "label::French (fr)")
    rows = {row[1]: dict(zip(survey[0], row, strict=True)) for row in survey[1:]}
    assert rows["q_choice"]["type"] == "select_one q_choice"
    assert rows["q_yesno"]["type"] == "select_one yes_no"
    assert rows["q_yesno"]["relevant"] == "selected(${q_multi}, 'x') or selected(${q_multi}, 'y')"
    assert rows["q_number"]["relevant"] == "${q_yesno} = 'yes'"
    assert rows["q_number"]["constraint"] == ". >= -5 and . <= 5.5"
    assert rows["q_text"]["relevant"] == "${q_scale} = 9 or ${q_scale} = 10"
    assert rows["q_scale"]["parameters"] == "start=0 end=10 step=1"
    settings = list(book["settings"].iter_rows(values_only=True))
    assert dict(zip(*settings, strict=True))["form_id"] == "all-types"


@pytest.mark.parametrize(
    ("raw", "form_id", "binds"),
    [
        (workbook(KOBO), "parc-jarry", ["relevant=\" /data/eclairage  = 'yes'\""]),
        (xlsform.write(consultations.read_file(EXAMPLE)), "library-hours", []),
        (
            xlsform.write(consultations.parse(RULES, "rules")),
            "all-types",
            [
                "relevant=\" /data/q_choice  = 'a'\"",
                "relevant=\"selected( /data/q_multi , 'x') or selected( /data/q_multi , 'y')\"",
                'constraint="count-selected(.) &gt;= 1 and count-selected(.) &lt;= 2"',
            ],
        ),
    ],
    ids=["kobo export", "example written", "rules written"],
)
def test_odks_converter_takes_the_workbooks_read_and_written_here(
    raw: bytes, form_id: str, binds: list[str]
) -> None:
    from pyxform.xls2xform import convert

    warnings: list[str] = []
    xform = convert(xlsform=raw, warnings=warnings).xform
    assert warnings == []
    assert f'<data id="{form_id}"' in xform
    for bind in binds:
        assert bind in xform


@pytest.mark.parametrize(
    ("relevant", "expected"),
    [
        ("${frequence} = 'weekly'", ["weekly"]),
        ('${frequence}="weekly" or ${frequence} = "rarely"', ["weekly", "rarely"]),
        ("selected(${frequence}, 'monthly')", ["monthly"]),
        ("(${frequence} = 'weekly') or (${frequence} = 'monthly')", ["weekly", "monthly"]),
        ("${frequence} = 'weekly' or ${frequence} = 'weekly'", ["weekly"]),
    ],
)
def test_relevant_in_the_subset_becomes_ask_if(relevant: str, expected: list) -> None:
    data = xlsform.read(workbook(changed(survey__7__relevant=relevant)))
    assert data["questions"][2]["ask_if"] == {"question": "frequence", "in": expected}


@pytest.mark.parametrize(
    ("relevant", "expected"),
    [
        (
            "${note_globale} = 4 or ${note_globale} = '5'",
            {"question": "note_globale", "in": [4, 5]},
        ),
        ("${eclairage} = 'no'", {"question": "eclairage", "in": [False]}),
        ("selected(${moments}, 'mornings')", {"question": "moments", "in": ["mornings"]}),
    ],
)
def test_relevant_on_a_range_a_yes_no_or_a_select_multiple(relevant: str, expected: dict) -> None:
    data = xlsform.read(workbook(changed(survey__11__relevant=relevant)))
    assert data["questions"][6]["ask_if"] == expected
    assert consultations.parse(data).question("distance").ask_if is not None


@pytest.mark.parametrize(
    ("cell", "required"),
    [("yes", True), ("true", True), ("TRUE()", True), (True, True), (1, True)]
    + [("no", False), ("false", False), ("FALSE()", False), (False, False), (None, False)],
)
def test_required_reads_the_xlsform_spellings_and_defaults_to_optional(cell, required) -> None:
    data = xlsform.read(workbook(changed(survey__5__required=cell)))
    assert data["questions"][0]["required"] is required


@pytest.mark.parametrize(
    "parameters", ["start=2 end=6 step=1", "start=2;end=6", "start = 2, end = 6, step = 1"]
)
def test_range_parameters_in_the_ways_xlsform_writes_them(parameters: str) -> None:
    data = xlsform.read(workbook(changed(survey__9__parameters=parameters)))
    assert (data["questions"][4]["min"], data["questions"][4]["max"]) == (2, 6)


def test_a_row_with_only_the_authors_own_columns_is_skipped() -> None:
    sheets = changed(survey__1=[*SURVEY_COLUMNS, "comments"], survey__12=[None] * 11 + ["todo"])
    assert len(xlsform.read(workbook(sheets))["questions"]) == 7


def test_a_choice_list_no_question_uses_is_not_read() -> None:
    sheets = changed(choices__11=["old list", "n'importe", None, None])
    assert consultations.parse(xlsform.read(workbook(sheets))).id == "parc-jarry"


def test_participate_settings_columns_give_keywords_dates_and_thanks() -> None:
    settings = [
        ["form_title", "form_title::French (fr)", "form_id", "default_language"]
        + ["keywords::English (en)", "keywords::French (fr)", "opens", "closes"]
        + ["thanks::English (en)", "thanks::French (fr)", "retention_days", "results_by_text"],
        ["Jarry Park", "Parc Jarry", "parc-jarry", "English (en)"]
        + ["PARK", "PARC, JARRY", "2026-11-01T09:00", "2026-12-01T17:00"]
        + ["Thanks!", "Merci !", 90, "yes"],
    ]
    c = consultations.parse(xlsform.read(workbook(KOBO | {"settings": settings})))
    assert c.title == {"en": "Jarry Park", "fr": "Parc Jarry"}
    assert c.keywords == {"en": ("PARK",), "fr": ("PARC", "JARRY")}
    assert (c.opens_at.isoformat(), c.closes_at.isoformat()) == (
        "2026-11-01T09:00:00",
        "2026-12-01T17:00:00",
    )
    assert c.thanks == {"en": "Thanks!", "fr": "Merci !"}
    assert (c.retention_days, c.results_by_text) == (90, True)


def test_a_date_cell_in_closes_is_the_whole_day() -> None:
    from datetime import datetime

    settings = [["form_title", "form_id", "closes"], ["Parc", "parc", datetime(2026, 12, 1)]]
    c = consultations.parse(xlsform.read(workbook(KOBO | {"settings": settings})))
    assert c.definition["closes"] == "2026-12-01"
    assert c.closes_at == datetime(2026, 12, 2)


def test_a_form_with_one_plain_label_column_is_in_its_default_language() -> None:
    sheets = {
        "survey": [["type", "name", "label"], ["integer", "age", "Quel âge avez-vous ?"]],
        "settings": [["form_title", "form_id", "default_language"], ["Âge", "age", "French (fr)"]],
    }
    data = xlsform.read(workbook(sheets))
    assert data["languages"] == ["fr"]
    assert data["questions"][0]["text"] == {"fr": "Quel âge avez-vous ?"}


def _zip(names: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in names.items():
            archive.writestr(name, content)
    return out.getvalue()


def _without(sheet: str) -> dict[str, list[list[Any]]]:
    return {name: rows for name, rows in KOBO.items() if name != sheet}


GEOPOINT = ["geopoint", "lieu", "Where?", "Où ?"]

# (what is wrong, the workbook's sheets or bytes, what the error must say)
BROKEN: list[tuple[str, Any, list[str]]] = [
    (
        "unknown type",
        changed(survey__12=GEOPOINT),
        ["survey row 12 (question 'lieu')", "type 'geopoint' is not supported", "select_one"],
    ),
    (
        "select_one with a missing choices list",
        changed(survey__5__type="select_one saisons"),
        ["survey row 5 (question 'frequence')", "choice list 'saisons'", "choices sheet"],
    ),
    (
        "relevant with another operator",
        changed(survey__11__relevant="${lampadaires} > 2"),
        ["survey row 11 (question 'distance')", "'>' is not supported", "joined by 'or'"],
    ),
    (
        "relevant with and",
        changed(survey__11__relevant="${frequence} = 'weekly' and ${eclairage} = 'yes'"),
        ["survey row 11", "'and' is not supported", "selected(${q}, 'value')"],
    ),
    (
        "relevant with not",
        changed(survey__11__relevant="not(selected(${moments}, 'mornings'))"),
        ["survey row 11", "'not' is not supported"],
    ),
    (
        "relevant with another function",
        changed(survey__11__relevant="count-selected(${moments}) > 1"),
        ["survey row 11", "is not supported"],
    ),
    (
        "relevant on two questions joined by or",
        changed(survey__11__relevant="${frequence} = 'weekly' or ${eclairage} = 'yes'"),
        ["survey row 11", "looks at eclairage and frequence", "one question"],
    ),
    (
        "relevant referring forward",
        changed(survey__6__relevant="${note_globale} = 3"),
        ["survey row 6 (question 'eclairage')", "'note_globale', which comes later (row 9)"],
    ),
    (
        "relevant referring to itself",
        changed(survey__6__relevant="${eclairage} = 'yes'"),
        ["survey row 6", "this question itself"],
    ),
    (
        "relevant referring to a note",
        changed(survey__6__relevant="${bienvenue} = 'x'"),
        ["survey row 6", "'bienvenue', which is not a question asked before this one"],
    ),
    (
        "relevant on a number question",
        changed(survey__11__relevant="${lampadaires} = 3"),
        ["survey row 11", "select_one, select_multiple or range"],
    ),
    (
        "relevant with = on a select_multiple",
        changed(survey__11__relevant="${moments} = 'evenings'"),
        ["survey row 11", "select_multiple", "selected(${moments}, 'evenings')"],
    ),
    (
        "relevant with a choice the list lacks",
        changed(survey__11__relevant="${frequence} = 'daily'"),
        ["survey row 11", "'daily' is not an answer 'frequence' can have"],
    ),
    (
        "range with step 2",
        changed(survey__9__parameters="start=1 end=9 step=2"),
        ["survey row 9 (question 'note_globale')", "step=2", "step must be 1"],
    ),
    (
        "range of more than 11 points",
        changed(survey__9__parameters="start=0 end=20"),
        ["survey row 9", "at most 11 points"],
    ),
    (
        "duplicate name",
        changed(survey__12=["text", "frequence", "Again?", "Encore ?"]),
        ["survey row 12 (question 'frequence')", "also used on row 5"],
    ),
    (
        "empty label",
        changed(survey__10__label_fr=None),
        ["survey row 10 (question 'commentaire')", "label is empty in French (fr)"],
    ),
    (
        "empty choice label",
        changed(choices__4=["freq", "rarely", "Rarely", " "]),
        ["choices row 4 (list 'freq')", "label is empty in French (fr)"],
    ),
    (
        "choice name Participate cannot use",
        changed(choices__4=["freq", "hardly ever", "Rarely", "Rarement"]),
        ["choices row 4 (list 'freq')", "'hardly ever'"],
    ),
    (
        "group",
        changed(survey__12=["begin_group", "bloc", "Block", "Bloc"]),
        ["survey row 12", "groups are not supported"],
    ),
    (
        "repeat written with a space",
        changed(survey__12=["begin repeat", "enfants", "Children", "Enfants"]),
        ["survey row 12", "repeats are not supported"],
    ),
    (
        "calculate",
        changed(survey__12=["calculate", "total"]),
        ["survey row 12", "calculations are not supported"],
    ),
    (
        "note after the first question",
        changed(survey__12=["note", "fin", "Bye", "Au revoir"]),
        ["survey row 12", "only before the first question"],
    ),
    (
        "constraint with a strict operator",
        changed(survey__11__constraint=". > 0"),
        ["survey row 11", "> is not supported, limits are inclusive"],
    ),
    (
        "constraint Participate cannot read",
        changed(survey__8__constraint="regex(., '^[0-9]+$')"),
        ["survey row 8 (question 'lampadaires')", "constraint", "is not supported"],
    ),
    (
        "required as a condition",
        changed(survey__8__required="${eclairage} = 'yes'"),
        ["survey row 8", "required", "yes or no"],
    ),
    (
        "a question without a type",
        changed(survey__12=[None, None, "Forgotten?", "Oublié ?"]),
        ["survey row 12", "type is empty"],
    ),
    (
        "a label that shows an earlier answer",
        changed(survey__10__label_fr="Et le ${frequence} ?"),
        ["survey row 10", "refers to another answer"],
    ),
    (
        "select_one or_other",
        changed(survey__5__type="select_one freq or_other"),
        ["survey row 5", "or_other"],
    ),
    ("missing survey sheet", _without("survey"), ["has no survey sheet"]),
    ("missing settings sheet", _without("settings"), ["has no settings sheet", "form_id"]),
    (
        "no form_id",
        changed(settings__2=["Parc Jarry", None, "v1", "English (en)"]),
        ["settings", "form_id is empty"],
    ),
    (
        "a label column without a language code",
        changed(survey__1=[*SURVEY_COLUMNS[:3], "label::Klingon", *SURVEY_COLUMNS[4:]]),
        ["survey column 'label::Klingon'", "label::English (en)"],
    ),
    (
        "a plain label column beside translated ones, and no default language",
        changed(
            survey__1=["type", "name", "label", *SURVEY_COLUMNS[3:]],
            settings__2=["Parc Jarry", "parc-jarry", "v1", None],
        ),
        ["survey column 'label'", "set default_language", "English (en)"],
    ),
    (
        "a default language no label column is in",
        changed(settings__2=["Parc Jarry", "parc-jarry", "v1", "Spanish (es)"]),
        ["settings column 'default_language'", "no label column in it"],
    ),
    (
        "a hint in one language only",
        changed(**{"survey__6__hint::English (en)": "At night"}),
        ["survey row 6 (question 'eclairage')", "hint is empty in French (fr)"],
    ),
    ("not an xlsx at all", b"id: parc\ntitle: Parc\n", ["is not an Excel workbook (.xlsx)"]),
    ("a zip that is no workbook", _zip({"hello.txt": b"hi"}), ["is not an Excel workbook"]),
]


@pytest.mark.parametrize(
    ("description", "sheets", "expected"), BROKEN, ids=[case[0] for case in BROKEN]
)
def test_broken_workbooks_are_refused_with_their_row_and_load_nothing(
    runner, tmp_path: Path, description: str, sheets: Any, expected: list[str]
) -> None:
    path = tmp_path / "parc.xlsx"
    path.write_bytes(sheets if isinstance(sheets, bytes) else workbook(sheets))
    db_path = tmp_path / "hub.db"
    result = runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE), str(path)])
    assert result.exit_code == 1, result.output
    assert f"Error: {path}: " in result.output
    assert "Traceback" not in result.output
    for words in expected:
        assert words in result.output, f"{description}: {words!r} not in {result.output!r}"
    with store.open_db(db_path, migrate=True) as db:
        assert db.execute("SELECT count(*) FROM consultations").fetchone()[0] == 0


def test_an_old_xls_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "parc.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    with pytest.raises(ConsultationError, match=r"old Excel \.xls file: save it as .*\.xlsx"):
        consultations.read_file(path)


def test_a_workbook_that_unpacks_too_large_is_refused_unopened() -> None:
    bomb = _zip({"xl/sharedStrings.xml": b" " * (xlsform.MAX_UNPACKED_BYTES + 1)})
    assert len(bomb) < xlsform.MAX_BYTES
    with pytest.raises(ConsultationError, match="unpacks to .* bytes; the limit is"):
        xlsform.read(bomb, "bomb.xlsx")


# Any text a consultation may hold: no control character a spreadsheet refuses, and a
# few that are tricky in a workbook mixed in (an Office escape, a carriage return, a
# leading "=", spaces around).
_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters=[chr(c) for c in range(32) if chr(c) not in "\t\n\r"],
    ),
    min_size=1,
    max_size=12,
).filter(lambda text: text.strip() and "${" not in text) | st.sampled_from(
    ["_x000D_", "_x005F_x0041_", "a\r\nb", "=1+1", " x ", "« oui »"]
)
_CHOICE_ID = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,4}", fullmatch=True)


@st.composite
def _definitions(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a consultation definition of every question type, with skip rules."""
    languages = draw(st.sampled_from([["en"], ["fr"], ["en", "fr"], ["fr-CA", "en"]]))

    def text() -> dict[str, str]:
        return {lang: draw(_TEXT) for lang in languages}

    questions: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 5))):
        qtype = draw(st.sampled_from(consultations.QUESTION_TYPES))
        question: dict[str, Any] = {"id": f"q{index}", "type": qtype, "text": text()}
        question["required"] = draw(st.booleans())
        if draw(st.booleans()):
            question["help"] = text()
        question |= draw(_type_fields(qtype, languages))
        sources = [q for q in questions if q["type"] in consultations.RULE_SOURCE_TYPES]
        if sources and draw(st.booleans()):
            source = draw(st.sampled_from(sources))
            answers = _possible(source)
            question["ask_if"] = {
                "question": source["id"],
                "in": draw(st.lists(st.sampled_from(answers), min_size=1, max_size=3, unique=True)),
            }
        questions.append(question)
    definition = {"id": "drawn", "title": text(), "languages": languages, "questions": questions}
    for optional in ("intro", "thanks"):
        if draw(st.booleans()):
            definition[optional] = text()
    if draw(st.booleans()):
        definition["keywords"] = {languages[-1]: ["PARC", "JARRY"]}
    if draw(st.booleans()):
        definition["closes"] = draw(st.sampled_from(["2026-12-01", "2026-12-01T17:00"]))
    return definition


@st.composite
def _type_fields(draw: st.DrawFn, qtype: str, languages: list[str]) -> dict[str, Any]:
    if qtype in ("choice", "multi"):
        ids = draw(st.lists(_CHOICE_ID, min_size=2, max_size=4, unique=True))
        fields: dict[str, Any] = {
            "choices": [{"id": i, "text": {lang: draw(_TEXT) for lang in languages}} for i in ids]
        }
        if qtype == "multi":
            low = draw(st.integers(0, len(ids)))
            fields |= {"min_choices": low, "max_choices": draw(st.integers(max(low, 1), len(ids)))}
        return fields
    if qtype == "scale":
        low = draw(st.integers(-5, 5))
        fields = {"min": low, "max": draw(st.integers(low + 1, low + 10))}
        if draw(st.booleans()):
            fields["labels"] = {lang: [draw(_TEXT), draw(_TEXT)] for lang in languages}
        return fields
    if qtype == "number":
        integer = draw(st.booleans())
        number = (
            st.integers(-1000, 1000)
            if integer
            else st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
        )
        low, high = sorted(draw(st.lists(number, min_size=2, max_size=2)))
        fields = {"integer": integer}
        fields |= {"min": low} if draw(st.booleans()) else {}
        fields |= {"max": high} if draw(st.booleans()) else {}
        return fields
    if qtype == "text":
        return {"max_length": draw(st.integers(1, 5000))}
    return {}


def _possible(question: dict[str, Any]) -> list[Any]:
    if question["type"] in ("choice", "multi"):
        return [choice["id"] for choice in question["choices"]]
    if question["type"] == "yesno":
        return [True, False]
    return list(range(question["min"], question["max"] + 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_definitions())
def test_any_consultation_written_as_xlsform_reads_back_to_the_same_version(
    definition: dict[str, Any],
) -> None:
    consultation = consultations.parse(definition, "drawn")
    again = consultations.parse(xlsform.read(xlsform.write(consultation)), "drawn.xlsx")
    assert again.definition == consultation.definition
    assert again.version == consultation.version
