"""Answer validation: one table of cases per question type, shared by every channel."""

from __future__ import annotations

import pytest

from participate import answers, consultations
from participate.errors import AnswerError, AnswersError
from tests.test_consultations import ALL_TYPES, RULES

C = consultations.parse(ALL_TYPES, "test")
Q = {q.id: q for q in C.questions}
OPTIONAL_CHOICE = consultations.Question(
    id="opt",
    type="choice",
    text={"en": "?"},
    required=False,
    choices=(consultations.Choice("a", {"en": "A"}), consultations.Choice("b", {"en": "B"})),
)
INTEGER = consultations.Question(id="n", type="number", text={"en": "?"}, integer=True, min=0)

VALID = [
    ("q_choice", "a", "a"),
    ("q_multi", ["z", "x"], ["x", "z"]),  # normalised to the file's order
    ("q_multi", ["y"], ["y"]),
    ("q_scale", 0, 0),
    ("q_scale", 10, 10),
    ("q_scale", 7.0, 7),
    ("q_yesno", True, True),
    ("q_yesno", False, False),
    ("q_number", -5, -5),
    ("q_number", 5.5, 5.5),
    ("q_number", 0, 0),
    ("q_text", "  Bonjour, ça va ? 👋 ", "Bonjour, ça va ? 👋"),
    ("q_text", "a\r\nb", "a\nb"),
    ("q_text", "x" * 20, "x" * 20),
    ("q_text", "e\u0301", "é"),  # NFC
    ("q_text", "   ", answers.SKIPPED),
    ("q_text", None, answers.SKIPPED),
]

INVALID = [
    ("q_choice", "c", "not_a_choice"),
    ("q_choice", 1, "wrong_type"),
    ("q_choice", ["a"], "wrong_type"),
    ("q_choice", None, "required"),
    ("q_choice", "", "required"),
    ("q_multi", "x", "wrong_type"),
    ("q_multi", ["x", "y", "z"], "too_many"),
    ("q_multi", ["x", "x"], "repeated"),
    ("q_multi", ["w"], "not_a_choice"),
    ("q_multi", [], "required"),
    ("q_multi", [1], "wrong_type"),
    ("q_scale", 11, "out_of_range"),
    ("q_scale", -1, "out_of_range"),
    ("q_scale", 2.5, "not_integer"),
    ("q_scale", "5", "wrong_type"),
    ("q_scale", True, "wrong_type"),
    ("q_yesno", "yes", "wrong_type"),
    ("q_yesno", 1, "wrong_type"),
    ("q_number", 5.6, "out_of_range"),
    ("q_number", -6, "out_of_range"),
    ("q_number", float("nan"), "wrong_type"),
    ("q_number", float("inf"), "wrong_type"),
    ("q_number", "3", "wrong_type"),
    ("q_text", "x" * 21, "too_long"),
    ("q_text", 12, "wrong_type"),
    ("q_text", {"a": 1}, "wrong_type"),
]


@pytest.mark.parametrize(("question", "value", "expected"), VALID)
def test_valid_answers_are_normalised(question: str, value: object, expected: object) -> None:
    assert answers.validate_answer(Q[question], value) == expected


@pytest.mark.parametrize(("question", "value", "code"), INVALID)
def test_invalid_answers_are_refused_with_a_code(question: str, value: object, code: str) -> None:
    with pytest.raises(AnswerError) as caught:
        answers.validate_answer(Q[question], value)
    assert caught.value.code == code
    assert caught.value.question == question


def test_control_characters_are_removed_from_text() -> None:
    assert answers.validate_answer(Q["q_text"], "a\x00b\x1bc\td") == "abc\td"


def test_text_length_counts_characters_not_bytes() -> None:
    assert answers.validate_answer(Q["q_text"], "é" * 20) == "é" * 20


def test_integer_numbers() -> None:
    assert answers.validate_answer(INTEGER, 4.0) == 4
    with pytest.raises(AnswerError, match="whole number"):
        answers.validate_answer(INTEGER, 4.5)


def test_optional_choice_may_be_skipped() -> None:
    assert answers.validate_answer(OPTIONAL_CHOICE, None) is answers.SKIPPED


FORM = [
    ("q_choice", ["b"], "b"),
    ("q_multi", ["x", "z"], ["x", "z"]),
    ("q_scale", ["7"], 7),
    ("q_yesno", ["yes"], True),
    ("q_yesno", ["false"], False),
    ("q_number", ["2,5"], 2.5),
    ("q_number", ["-3"], -3),
    ("q_number", [" +4.0 "], 4.0),
    ("q_number", [".5"], 0.5),
    ("q_text", ["hello"], "hello"),
    ("q_text", [""], answers.SKIPPED),
]


@pytest.mark.parametrize(("question", "values", "expected"), FORM)
def test_form_strings_become_typed_values(question: str, values: list, expected: object) -> None:
    assert answers.from_form(Q[question], values) == expected


@pytest.mark.parametrize(
    ("question", "values", "code"),
    [
        ("q_scale", ["seven"], "wrong_type"),
        ("q_number", ["1e999"], "wrong_type"),
        ("q_number", ["1_0"], "wrong_type"),
        ("q_number", ["nan"], "wrong_type"),
        ("q_number", ["inf"], "wrong_type"),
        ("q_number", ["1e2"], "wrong_type"),
        ("q_number", ["1.2.3"], "wrong_type"),
        ("q_yesno", ["maybe"], "wrong_type"),
        ("q_choice", [], "required"),
        ("q_scale", ["99"], "out_of_range"),
    ],
)
def test_bad_form_strings_are_refused(question: str, values: list, code: str) -> None:
    with pytest.raises(AnswerError) as caught:
        answers.from_form(Q[question], values)
    assert caught.value.code == code


def test_validate_answers_reports_every_problem() -> None:
    with pytest.raises(AnswersError) as caught:
        answers.validate_answers(C, {"q_choice": "zz", "nope": 1, "q_scale": 3})
    assert set(caught.value.errors) == {"q_choice", "nope", "q_multi", "q_yesno", "q_number"}
    assert caught.value.errors["nope"].code == "unknown_question"


def test_validate_answers_complete_and_partial() -> None:
    full = {"q_choice": "a", "q_multi": ["y"], "q_scale": 5, "q_yesno": False, "q_number": 1}
    assert answers.validate_answers(C, full) == full  # the optional text is absent, not null
    assert answers.validate_answers(C, {"q_choice": "a"}, complete=False) == {"q_choice": "a"}
    with pytest.raises(AnswersError):
        answers.validate_answers(C, ["not", "a", "mapping"])  # type: ignore[arg-type]


RULED = consultations.parse(RULES, "rules")


@pytest.mark.parametrize(
    "given",
    [
        # q_scale is asked only after "a", q_yesno only if x or y, q_number only after yes.
        {"q_choice": "b", "q_multi": ["z"]},
        {"q_choice": "a", "q_multi": ["z"], "q_scale": 4},
        {"q_choice": "a", "q_multi": ["x"], "q_scale": 4, "q_yesno": False},
        {"q_choice": "a", "q_multi": ["x"], "q_scale": 9, "q_yesno": True, "q_number": 1},
    ],
)
def test_only_asked_questions_are_required(given: dict) -> None:
    assert answers.validate_answers(RULED, given) == given


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({"q_choice": "b", "q_multi": ["z"], "q_scale": 4}, "q_scale"),
        ({"q_choice": "b", "q_multi": ["z"], "q_yesno": True}, "q_yesno"),
        # q_number hangs on q_yesno, which was itself not asked.
        ({"q_choice": "b", "q_multi": ["z"], "q_number": 1}, "q_number"),
        (
            {"q_choice": "a", "q_multi": ["x"], "q_scale": 4, "q_yesno": False, "q_number": 1},
            "q_number",
        ),
    ],
)
def test_an_answer_to_a_question_not_asked_is_refused(given: dict, refused: str) -> None:
    with pytest.raises(AnswersError) as caught:
        answers.validate_answers(RULED, given)
    assert set(caught.value.errors) == {refused}
    assert caught.value.errors[refused].code == "not_asked"


def test_a_partial_set_does_not_refuse_before_the_rule_can_be_judged() -> None:
    # q_scale's rule looks at q_choice, not answered yet: it may still be asked.
    assert answers.validate_answers(RULED, {"q_scale": 4}, complete=False) == {"q_scale": 4}
    with pytest.raises(AnswersError) as caught:
        answers.validate_answers(RULED, {"q_choice": "b", "q_scale": 4}, complete=False)
    assert caught.value.errors["q_scale"].code == "not_asked"
