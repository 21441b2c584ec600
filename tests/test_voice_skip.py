"""Skip logic and closing times in the phone call engine, through signed Twilio webhooks."""

from __future__ import annotations

import json

import pytest

from participate import answers, clock, consultations
from tests.test_sms_skip import QUESTION_TEXTS, at, transit
from tests.test_voice import Call, app_config, stored  # noqa: F401 (app_config is a fixture)


@pytest.fixture
def consultation(db) -> consultations.Consultation:
    loaded = transit()
    consultations.save(db, [loaded])
    return loaded


def heard(call: Call) -> str:
    return " ".join(text for _, text in call.heard)


CALLS = [
    # (keys: the language first, then the answers; stored answers; questions never said)
    (["1", "2"], {"rides": False}, ["lines", "night", "safety"]),
    (["1", "1", "1", "#"], {"rides": True, "lines": ["l24"]}, ["night", "safety"]),
    (["1", "1", "2", "#", "2"], {"rides": True, "lines": ["l55"], "night": False}, ["safety"]),
    # The optional gate skipped with the pound key: what hangs on it is not asked.
    (["1", "1", "3", "#", "#"], {"rides": True, "lines": ["l80"]}, ["safety"]),
    (
        ["2", "1", "1", "2", "#", "1", "4"],
        {"rides": True, "lines": ["l24", "l55"], "night": True, "safety": 4},
        [],
    ),
    (["2", "2"], {"rides": False}, ["lines", "night", "safety"]),
]


@pytest.mark.parametrize(("keys", "expected", "never_said"), CALLS)
def test_a_call_says_only_the_questions_its_rules_ask(
    client, db, consultation, keys, expected, never_said
) -> None:
    call = Call(client)
    for key in keys:
        assert not call.hung_up
        call.press(key)
    # The text question is passed on a keypad: the thanks, and the call ends.
    assert call.hung_up and ("Thank you" in call.text() or "Merci" in call.text())
    for question_id in never_said:
        for wording in QUESTION_TEXTS[question_id]:
            assert wording not in heard(call), wording
    [record] = stored(db)
    assert record["channel"] == "voice" and record["complete"] is True
    assert record["answers"] == expected
    assert answers.validate_answers(consultation, expected) == expected


def test_a_changed_earlier_answer_drops_what_hung_on_it_in_a_call(client, db, consultation):
    call = Call(client)
    for key in ("1", "1", "2", "#", "1"):
        call.press(key)
    assert "How safe do you feel?" in call.text()
    # An earlier answer changes under the call (in its saved state): night is now no.
    db.execute(
        "UPDATE voice_sessions SET answers = ?",
        [json.dumps({"rides": True, "lines": ["l55"], "night": False})],
    )
    db.conn.commit()
    call.press("4")  # the safety answer, to a question no longer asked
    assert call.hung_up
    [record] = stored(db)
    assert record["complete"] is True
    assert record["answers"] == {"rides": True, "lines": ["l55"], "night": False}


CLOSED_MIDWAY = [
    ("time", "1", "This survey is now closed. Your answers so far are kept. Goodbye."),
    ("staff", "1", "This survey is now closed. Your answers so far are kept. Goodbye."),
    (
        "time",
        "2",
        "Ce sondage est maintenant fermé. Vos réponses sont gardées. Au revoir.",
    ),
]


@pytest.mark.parametrize(("how", "language_key", "goodbye"), CLOSED_MIDWAY)
def test_a_call_whose_consultation_closes_midway_ends_and_keeps_its_answers(
    client, db, monkeypatch, how, language_key, goodbye
) -> None:
    consultations.save(db, [transit(opens="2026-11-01", closes="2026-12-01T17:00")])
    monkeypatch.setattr(clock, "local_now", at(16, 59))
    call = Call(client)
    call.press(language_key)
    call.press("1")  # rides: yes
    assert "Which lines?" in call.text() or "Quelles lignes ?" in call.text()
    if how == "time":
        monkeypatch.setattr(clock, "local_now", at(17, 0))
    else:
        consultations.set_closed(db, "transit", True)
    call.press("2")
    assert call.hung_up
    assert call.text() == goodbye
    [record] = stored(db)
    assert record["complete"] is False and record["answers"] == {"rides": True}
    session = next(db.query("SELECT status FROM voice_sessions"))
    assert session["status"] == "abandoned"
    # A call from then on is told no survey can be answered by phone.
    later = Call(client)
    assert later.hung_up and "cannot be answered by phone right now" in later.text()


@pytest.mark.parametrize(("hour", "minute", "open_"), [(16, 59, True), (17, 0, False)])
def test_a_call_starting_just_before_or_at_closing_time(
    client, db, monkeypatch, hour, minute, open_
) -> None:
    consultations.save(db, [transit(opens="2026-11-01", closes="2026-12-01T17:00")])
    monkeypatch.setattr(clock, "local_now", at(hour, minute))
    call = Call(client, query="consultation=transit")
    assert call.hung_up is not open_
    assert ("For English, press 1." in call.text()) is open_
