"""Loading consultation files: every question type, versions, and refusals that say why."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from participate import consultations
from participate.errors import ConsultationError, NotFound
from tests.conftest import DEEPLY_NESTED, EXAMPLE

ALL_TYPES = {
    "id": "all-types",
    "title": {"en": "Everything", "fr": "Tout"},
    "languages": ["en", "fr"],
    "keywords": {"en": "ALL", "fr": ["TOUT"]},
    "questions": [
        {
            "id": "q_choice",
            "type": "choice",
            "text": {"en": "Pick", "fr": "Choisir"},
            "choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}],
        },
        {
            "id": "q_multi",
            "type": "multi",
            "text": "Several",
            "min_choices": 1,
            "max_choices": 2,
            "choices": [
                {"id": "x", "text": {"en": "X", "fr": "Ixe"}},
                {"id": "y", "text": "Y"},
                {"id": "z", "text": "Z"},
            ],
        },
        {
            "id": "q_scale",
            "type": "scale",
            "min": 0,
            "max": 10,
            "labels": {"en": ["Bad", "Good"], "fr": ["Mauvais", "Bon"]},
            "text": "Rate",
        },
        {"id": "q_yesno", "type": "yesno", "text": "Yes?"},
        {"id": "q_number", "type": "number", "min": -5, "max": 5.5, "text": "How much?"},
        {"id": "q_text", "type": "text", "max_length": 20, "required": False, "text": "Say"},
    ],
}


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["all.yaml", "all.json"])
def test_every_question_type_loads_from_yaml_and_json(tmp_path: Path, name: str) -> None:
    c = consultations.read_file(write(tmp_path, name, ALL_TYPES))
    assert [q.type for q in c.questions] == list(consultations.QUESTION_TYPES)
    assert c.title == {"en": "Everything", "fr": "Tout"}
    assert c.question("q_multi").choices[0].text == {"en": "X", "fr": "Ixe"}
    # A plain string is the text in every language.
    assert c.question("q_multi").choices[1].text == {"en": "Y", "fr": "Y"}
    assert c.question("q_scale").labels["fr"] == ("Mauvais", "Bon")
    assert c.question("q_text").required is False
    assert c.keywords == {"en": ("ALL",), "fr": ("TOUT",)}


def test_yaml_and_json_of_the_same_content_share_a_version(tmp_path: Path) -> None:
    from_yaml = consultations.read_file(write(tmp_path, "a.yaml", ALL_TYPES))
    from_json = consultations.read_file(write(tmp_path, "a.json", ALL_TYPES))
    assert from_yaml.version == from_json.version
    assert consultations.from_definition(from_yaml.definition) == from_yaml


def test_example_file_loads() -> None:
    c = consultations.read_file(EXAMPLE)
    assert c.id == "library-hours"
    assert c.languages == ("en", "fr")
    assert c.keywords["fr"] == ("HEURES", "HORAIRES")
    assert c.is_open(date(2026, 12, 1)) and not c.is_open(date(2026, 10, 31))


def test_reload_unchanged_changes_nothing_and_a_change_makes_a_version(db, tmp_path) -> None:
    path = write(tmp_path, "c.yaml", ALL_TYPES)
    [first] = consultations.save(db, consultations.read_files([path]))
    assert first.status == "new"
    [again] = consultations.save(db, consultations.read_files([path]))
    assert again.status == "unchanged"
    assert db.execute("SELECT count(*) FROM consultation_versions").fetchone()[0] == 1

    changed = json.loads(json.dumps(ALL_TYPES))
    changed["title"]["en"] = "Everything, again"
    [second] = consultations.save(
        db, consultations.read_files([write(tmp_path, "c.yaml", changed)])
    )
    assert second.status == "updated" and second.consultation.version != first.consultation.version
    # The old version is kept, the current one moves.
    assert (
        consultations.get(db, "all-types", first.consultation.version).title["en"] == "Everything"
    )
    assert consultations.get(db, "all-types").title["en"] == "Everything, again"
    with pytest.raises(NotFound):
        consultations.get(db, "all-types", "000000000000")


def test_formatting_changes_keep_the_version(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", ALL_TYPES)
    b = tmp_path / "b.yaml"
    b.write_text("# a comment\n" + yaml.safe_dump(ALL_TYPES, default_flow_style=True))
    assert consultations.read_file(a).version == consultations.read_file(b).version


def _broken(**changes: object) -> dict:
    data = json.loads(json.dumps(ALL_TYPES))
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return data


BROKEN = [
    # (description, data, words the message must contain)
    ("no id", _broken(id=KeyError), ["'id'", "is required"]),
    ("bad id", _broken(id="has space"), ["'id'", "letters, digits"]),
    ("no questions", _broken(questions=[]), ["'questions'", "non-empty"]),
    ("unknown type", _broken(**{"questions.0.type": "slider"}), ["q_choice", "'type'", "slider"]),
    (
        "choice without choices",
        _broken(**{"questions.0.choices": KeyError}),
        ["q_choice", "'choices'"],
    ),
    (
        "one choice",
        _broken(**{"questions.0.choices": [{"id": "a", "text": "A"}]}),
        ["q_choice", "at least two"],
    ),
    (
        "duplicate choice id",
        _broken(**{"questions.0.choices.1.id": "a"}),
        ["q_choice", "used twice"],
    ),
    (
        "scale max below min",
        _broken(**{"questions.2.max": -1}),
        ["q_scale", "'max'", "greater than min"],
    ),
    ("scale too long", _broken(**{"questions.2.max": 50}), ["q_scale", "at most 11"]),
    (
        "missing translation",
        _broken(**{"questions.3.text": {"en": "Yes?"}}),
        ["q_yesno", "'text'", "'fr'"],
    ),
    (
        "unknown language",
        _broken(**{"title": {"en": "E", "fr": "F", "de": "D"}}),
        ["'title'", "'de'"],
    ),
    (
        "duplicate question id",
        _broken(**{"questions.1.id": "q_choice"}),
        ["q_choice", "another question"],
    ),
    (
        "typo in field",
        _broken(**{"questions.5.requird": False}),
        ["q_text", "'requird'", "not a field"],
    ),
    ("number max below min", _broken(**{"questions.4.max": -10}), ["q_number", "'max'"]),
    ("text max_length zero", _broken(**{"questions.5.max_length": 0}), ["q_text", "'max_length'"]),
    ("reserved keyword", _broken(keywords={"en": "STOP"}), ["'keywords'", "reserved"]),
    ("two-word keyword", _broken(keywords={"en": "LIBRARY HOURS"}), ["'keywords'", "single word"]),
    (
        "closes before opens",
        _broken(opens="2026-12-01", closes="2026-11-01"),
        ["'closes'", "before"],
    ),
    ("bad date", _broken(opens="next tuesday"), ["'opens'", "date"]),
    (
        "multi max above count",
        _broken(**{"questions.1.max_choices": 9}),
        ["q_multi", "'max_choices'"],
    ),
    ("boolean id from yaml", _broken(**{"questions.0.choices.0.id": True}), ["q_choice", "quotes"]),
    ("labels not a pair", _broken(**{"questions.2.labels": ["only one"]}), ["q_scale", "'labels'"]),
]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(("description", "data", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_definitions_are_refused_with_a_message_that_says_where(
    tmp_path: Path, description: str, data: dict, expected: list[str], suffix: str
) -> None:
    path = write(tmp_path, "broken" + suffix, data)
    with pytest.raises(ConsultationError) as caught:
        consultations.read_file(path)
    message = str(caught.value)
    assert str(path) in message
    for word in expected:
        assert word in message, f"{description}: {word!r} not in {message!r}"


DEEP = "nests lists or mappings more than 20 levels deep"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.yaml", "id: x\ntitle: [unclosed\n", "not valid YAML (line"),
        ("bad.json", '{"id": "x",}', "not valid JSON (line 1"),
        ("bad.txt", "id: x", "must end in .yaml"),
        ("list.yaml", "- 1\n- 2\n", "must be a mapping"),
        ("empty.yaml", "", "must be a mapping"),
        # Refused before parsing: too deep for the parsers' recursion, or aliased.
        *((name, content, DEEP) for name, content in DEEPLY_NESTED.items()),
        ("deep-objects.json", '{"a": ' * 21 + "1" + "}" * 21, DEEP),
        ("fine.json", '{"a": ' * 20 + "1" + "}" * 20, "field 'a': is not a known field"),
        ("block.yaml", "".join(f"{'  ' * n}k{n}:\n" for n in range(21)) + "  " * 21 + "x", DEEP),
        ("alias.yaml", "id: &a [x]\ntitle: *a\n", "uses a YAML alias"),
    ],
)
def test_unreadable_files_are_refused(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConsultationError) as caught:
        consultations.read_file(path)
    assert expected in str(caught.value) and name in str(caught.value)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    text = json.loads(json.dumps(ALL_TYPES))
    text["title"] = {"en": "[" * 50 + '\\"{' * 50, "fr": "]" * 50}
    path = tmp_path / "brackets.json"
    path.write_text(json.dumps(text))
    assert consultations.read_file(path).title["en"].startswith("[[[")


def test_binary_and_missing_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00id")
    with pytest.raises(ConsultationError, match="not UTF-8"):
        consultations.read_file(binary)
    with pytest.raises(ConsultationError, match="no such file"):
        consultations.read_file(tmp_path / "missing.yaml")


def test_nothing_is_half_loaded(db, tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", ALL_TYPES)
    bad = write(tmp_path, "bad.yaml", _broken(id="other", **{"questions.0.type": "slider"}))
    with pytest.raises(ConsultationError):
        consultations.save(db, consultations.read_files([good, bad]))
    assert db.execute("SELECT count(*) FROM consultations").fetchone()[0] == 0


def test_two_files_with_one_id_are_refused(tmp_path: Path) -> None:
    a, b = write(tmp_path, "a.yaml", ALL_TYPES), write(tmp_path, "b.json", ALL_TYPES)
    with pytest.raises(ConsultationError, match="also used by another file"):
        consultations.read_files([a, b])


def test_keyword_unique_across_open_consultations(db, tmp_path: Path) -> None:
    consultations.save(db, consultations.read_files([write(tmp_path, "a.yaml", ALL_TYPES)]))
    other = _broken(id="other", keywords={"fr": "tout"})  # same word, other case
    with pytest.raises(
        ConsultationError, match="'TOUT' is already used by consultation 'all-types'"
    ):
        consultations.save(db, consultations.read_files([write(tmp_path, "b.yaml", other)]))
    # Once the first is closed by staff, its keyword is free again.
    consultations.set_closed(db, "all-types", True)
    consultations.save(db, consultations.read_files([write(tmp_path, "b.yaml", other)]))
    found = consultations.by_keyword(db, "  «Tout» !", date(2026, 12, 1))
    assert found is not None and found[0].id == "other" and found[1] == "fr"


def test_keywords_of_consultations_open_at_different_times_may_repeat(db, tmp_path) -> None:
    winter = _broken(id="winter", opens="2026-12-01", closes="2027-02-28")
    summer = _broken(id="summer", opens="2027-06-01", closes="2027-08-31")
    consultations.save(db, consultations.read_files([write(tmp_path, "w.yaml", winter)]))
    consultations.save(db, consultations.read_files([write(tmp_path, "s.yaml", summer)]))
    assert consultations.by_keyword(db, "all", date(2027, 7, 1))[0].id == "summer"
    assert consultations.by_keyword(db, "ALL", date(2027, 1, 1))[0].id == "winter"
    assert consultations.by_keyword(db, "ALL", date(2027, 4, 1)) is None


def test_open_now_respects_dates_and_staff_closing(db, example) -> None:
    assert [c.id for c in consultations.open_now(db, date(2026, 12, 1))] == ["library-hours"]
    assert consultations.open_now(db, date(2026, 10, 1)) == []
    consultations.set_closed(db, "library-hours", True)
    assert consultations.open_now(db, date(2026, 12, 1)) == []
    with pytest.raises(NotFound):
        consultations.set_closed(db, "nope", True)


def test_localize_falls_back_to_first_language() -> None:
    assert consultations.localize({"en": "Hi", "fr": "Salut"}, "fr") == "Salut"
    assert consultations.localize({"en": "Hi", "fr": "Salut"}, "de") == "Hi"


# Skip logic (`ask_if`) and local opening and closing times.


def _with_rules(*rules: tuple[int, object]) -> dict:
    """ALL_TYPES with `ask_if` set on the questions at these indexes."""
    return _broken(**{f"questions.{index}.ask_if": rule for index, rule in rules})


RULES = _with_rules(
    (2, {"question": "q_choice", "equals": "a"}),  # q_scale only after choice a
    (3, {"question": "q_multi", "in": ["x", "y"]}),  # q_yesno if x or y among the chosen
    (4, {"question": "q_yesno", "equals": True}),  # q_number if yes (so also needs q_multi)
    (5, {"question": "q_scale", "in": [9, 10]}),  # q_text for a high rating
)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, ["q_choice", "q_multi"]),
        ({"q_choice": "a"}, ["q_choice", "q_multi", "q_scale"]),
        ({"q_choice": "b", "q_multi": ["z"]}, ["q_choice", "q_multi"]),
        ({"q_choice": "b", "q_multi": ["z", "y"]}, ["q_choice", "q_multi", "q_yesno"]),
        (
            {"q_choice": "a", "q_multi": ["x"], "q_yesno": True, "q_scale": 10},
            ["q_choice", "q_multi", "q_scale", "q_yesno", "q_number", "q_text"],
        ),
        (
            {"q_choice": "a", "q_multi": ["x"], "q_yesno": False, "q_scale": 3},
            ["q_choice", "q_multi", "q_scale", "q_yesno"],
        ),
        # An answer left behind by a changed mind does not ask what hangs on it.
        ({"q_choice": "b", "q_scale": 10, "q_multi": ["z"]}, ["q_choice", "q_multi"]),
    ],
)
def test_asked_follows_the_rules_in_order(answers: dict, expected: list[str]) -> None:
    consultation = consultations.parse(RULES, "rules")
    assert [q.id for q in consultation.asked(answers)] == expected


def test_asked_while_answering_counts_questions_not_reached_yet_as_maybe() -> None:
    consultation = consultations.parse(RULES, "rules")
    # Nothing reached: every question may still be asked (the "1/6" total).
    assert len(consultation.asked({}, reached=())) == 6
    # "b" chosen: q_scale is off, and so is q_text that hangs on it.
    reached = ["q_choice"]
    assert [q.id for q in consultation.asked({"q_choice": "b"}, reached=reached)] == [
        "q_choice",
        "q_multi",
        "q_yesno",
        "q_number",
    ]


def test_rules_round_trip_in_a_canonical_form(tmp_path: Path) -> None:
    one = consultations.parse(RULES, "rules")
    again = consultations.parse(json.loads(json.dumps(one.definition)), "again")
    assert again.version == one.version
    assert one.definition["questions"][2]["ask_if"] == {"question": "q_choice", "in": ["a"]}
    assert again.question("q_yesno").ask_if == consultations.Rule("q_multi", ("x", "y"))


BROKEN_RULES = [
    ("rule not a mapping", _with_rules((2, "q_choice = a")), ["q_scale", "'ask_if'", "equals"]),
    (
        "rule with both equals and in",
        _with_rules((2, {"question": "q_choice", "equals": "a", "in": ["b"]})),
        ["q_scale", "'ask_if'"],
    ),
    (
        "rule on itself",
        _with_rules((2, {"question": "q_scale", "equals": 1})),
        ["q_scale", "'ask_if'", "itself"],
    ),
    (
        "rule looking forward",
        _with_rules((2, {"question": "q_yesno", "equals": True})),
        ["q_scale", "'ask_if'", "before this one", "q_yesno"],
    ),
    (
        "rule on an unknown question",
        _with_rules((2, {"question": "nope", "equals": "a"})),
        ["q_scale", "'ask_if'", "nope"],
    ),
    (
        "rule on a text question",
        _broken(
            **{
                "questions.5.required": True,
                "questions": [
                    *ALL_TYPES["questions"],
                    {
                        "id": "later",
                        "type": "yesno",
                        "text": "?",
                        "ask_if": {"question": "q_text", "equals": "x"},
                    },
                ],
            }
        ),
        ["later", "'ask_if'", "text question"],
    ),
    (
        "rule on a choice that does not exist",
        _with_rules((2, {"question": "q_choice", "equals": "c"})),
        ["q_scale", "'c'", "not an answer"],
    ),
    (
        "rule on a yes/no with a string",
        _with_rules((4, {"question": "q_yesno", "equals": "yes"})),
        ["q_number", "'yes'", "not an answer"],
    ),
    (
        "rule on a rating out of range",
        _with_rules((5, {"question": "q_scale", "in": [11]})),
        ["q_text", "11", "not an answer"],
    ),
    (
        "rule with an empty list",
        _with_rules((2, {"question": "q_choice", "in": []})),
        ["q_scale", "non-empty"],
    ),
    (
        "closing time before opening time",
        _broken(opens="2026-12-01T17:00", closes="2026-12-01T09:00"),
        ["'closes'", "after opens", "2026-12-01T17:00"],
    ),
    (
        "closing time with a zone",
        _broken(closes="2026-12-01T17:00+05:00"),
        ["'closes'", "without a zone"],
    ),
    ("half a time", _broken(closes="2026-12-01T25:00"), ["'closes'", "2026-11-01T17:00"]),
]


@pytest.mark.parametrize(
    ("description", "data", "expected"), BROKEN_RULES, ids=[b[0] for b in BROKEN_RULES]
)
def test_broken_rules_and_times_are_refused_with_where(
    tmp_path, description, data, expected
) -> None:
    with pytest.raises(ConsultationError) as caught:
        consultations.read_files([write(tmp_path, "c.yaml", data)])
    for word in expected:
        assert word in str(caught.value), (description, str(caught.value))


@pytest.mark.parametrize(
    ("opens", "closes", "when", "expected"),
    [
        ("2026-12-01", "2026-12-01", datetime(2026, 12, 1, 0, 0), True),
        ("2026-12-01", "2026-12-01", datetime(2026, 12, 1, 23, 59), True),
        ("2026-12-01", "2026-12-01", datetime(2026, 12, 2, 0, 0), False),
        ("2026-12-01", "2026-12-01", datetime(2026, 11, 30, 23, 59), False),
        ("2026-12-01T09:30", "2026-12-01T17:00", datetime(2026, 12, 1, 9, 29), False),
        ("2026-12-01T09:30", "2026-12-01T17:00", datetime(2026, 12, 1, 9, 30), True),
        ("2026-12-01T09:30", "2026-12-01T17:00", datetime(2026, 12, 1, 16, 59), True),
        ("2026-12-01T09:30", "2026-12-01T17:00", datetime(2026, 12, 1, 17, 0), False),
        ("2026-12-01T09:30", "2026-12-01T17:00", date(2026, 12, 1), True),
        (None, "2026-12-01T17:00", datetime(2020, 1, 1), True),
    ],
)
def test_opening_and_closing_times_are_local_minutes(opens, closes, when, expected) -> None:
    consultation = consultations.parse(_broken(opens=opens, closes=closes), "times")
    assert consultation.is_open(when) is expected


def test_a_closing_time_is_kept_to_the_minute(tmp_path) -> None:
    consultation = consultations.parse(_broken(closes="2026-12-01T17:00:59"), "times")
    assert consultation.definition["closes"] == "2026-12-01T17:00"
    assert consultation.closes == date(2026, 12, 1)


def test_keywords_may_repeat_when_one_closes_at_the_minute_the_other_opens(db, tmp_path) -> None:
    morning = _broken(id="morning", opens="2026-12-01T08:00", closes="2026-12-01T12:00")
    afternoon = _broken(id="afternoon", opens="2026-12-01T12:00", closes="2026-12-01T18:00")
    consultations.save(db, consultations.read_files([write(tmp_path, "m.yaml", morning)]))
    consultations.save(db, consultations.read_files([write(tmp_path, "a.yaml", afternoon)]))
    assert consultations.by_keyword(db, "all", datetime(2026, 12, 1, 11, 59))[0].id == "morning"
    assert consultations.by_keyword(db, "all", datetime(2026, 12, 1, 12, 0))[0].id == "afternoon"
    closed = consultations.closed_by_keyword(db, "tout", datetime(2026, 12, 1, 18, 0))
    assert closed is not None and closed[1] == "fr"
    assert consultations.closed_by_keyword(db, "tout", datetime(2026, 12, 1, 12, 0)) is None
    assert consultations.closed_by_keyword(db, "nothing", datetime(2026, 12, 1, 18, 0)) is None


def test_order_and_archive(db, tmp_path) -> None:
    for name in ("one", "two", "three"):
        data = _broken(id=name, keywords={"en": name.upper()})
        consultations.save(db, consultations.read_files([write(tmp_path, f"{name}.yaml", data)]))
    assert [c.id for c in consultations.current_all(db)] == ["one", "three", "two"]
    consultations.set_order(db, ["two", "one"])
    assert [c.id for c in consultations.open_now(db, date(2026, 12, 1))] == ["two", "one", "three"]
    consultations.set_archived(db, "one", True)
    assert [c.id for c in consultations.open_now(db, date(2026, 12, 1))] == ["two", "three"]
    assert [c.id for c in consultations.current_all(db)] == ["two", "one", "three"]
    assert consultations.by_keyword(db, "ONE", date(2026, 12, 1)) is None
    assert consultations.closed_by_keyword(db, "ONE", date(2026, 12, 1)) is None
    consultations.set_archived(db, "one", False)
    assert consultations.by_keyword(db, "ONE", date(2026, 12, 1))[0].id == "one"
    with pytest.raises(NotFound):
        consultations.set_order(db, ["two", "nope"])
    with pytest.raises(NotFound):
        consultations.set_archived(db, "nope", True)


@pytest.mark.parametrize(
    ("answers", "after", "expected"),
    [
        ({}, -1, 0),
        ({"q_choice": "b"}, 0, 1),
        ({"q_choice": "b", "q_multi": ["z"]}, 1, None),  # nothing after hangs on b or z
        ({"q_choice": "b", "q_multi": ["y"]}, 1, 3),  # q_scale skipped, q_yesno asked
        ({"q_choice": "a", "q_multi": ["x"], "q_scale": 9, "q_yesno": False}, 3, 5),
    ],
)
def test_next_asked_is_the_first_question_after_that_the_answers_ask(
    answers: dict, after: int, expected: int | None
) -> None:
    assert consultations.parse(RULES, "rules").next_asked(answers, after) == expected
