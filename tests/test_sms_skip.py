"""Skip logic, closing times and "closed" replies in the SMS conversation engine.

Conversations go through the signed Twilio webhook (tests/test_sms.py's helpers), or
straight to the engine at a given moment; a consultation's closing time is checked
with `participate.clock.local_now` patched, or with the moment given to the engine.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count

import pytest
from flask.testing import FlaskClient

from participate import answers, clock, consultations, fleet, store
from participate.app import create_app
from participate.sms import config as sms_config
from participate.sms import conversations, gateway, prompts, segments
from tests.test_sms import (  # noqa: F401 (app_settings is a fixture)
    PHONE,
    app_settings,
    conversation_row,
    count_rows,
    inbound,
    post_signed,
    replies,
    sms_submissions,
)

_sids = count(1)

# A yes/no gate, a multi "in" gate, a rule on a question that has a rule itself (chained),
# and a last question every texter gets.
TRANSIT = {
    "id": "transit",
    "title": {"en": "Bus service", "fr": "Service d'autobus"},
    "languages": ["en", "fr"],
    "keywords": {"en": ["BUS"], "fr": ["AUTOBUS"]},
    "questions": [
        {
            "id": "rides",
            "type": "yesno",
            "text": {"en": "Do you take the bus?", "fr": "Prenez-vous l'autobus ?"},
        },
        {
            "id": "lines",
            "type": "multi",
            "text": {"en": "Which lines?", "fr": "Quelles lignes ?"},
            "choices": [
                {"id": "l24", "text": {"en": "Line 24", "fr": "Ligne 24"}},
                {"id": "l55", "text": {"en": "Line 55", "fr": "Ligne 55"}},
                {"id": "l80", "text": {"en": "Line 80", "fr": "Ligne 80"}},
            ],
            "ask_if": {"question": "rides", "equals": True},
        },
        {
            "id": "night",
            "type": "yesno",
            "required": False,
            "text": {"en": "Do you ride at night?", "fr": "Le prenez-vous le soir ?"},
            "ask_if": {"question": "lines", "in": ["l55", "l80"]},
        },
        {
            "id": "safety",
            "type": "scale",
            "min": 1,
            "max": 5,
            "text": {"en": "How safe do you feel?", "fr": "Vous y sentez-vous en sécurité ?"},
            "ask_if": {"question": "night", "equals": True},
        },
        {
            "id": "comments",
            "type": "text",
            "required": False,
            "text": {"en": "Anything else?", "fr": "Autre chose ?"},
        },
    ],
}
# Each question's wordings, to show one was never sent.
QUESTION_TEXTS = {q["id"]: set(q["text"].values()) for q in TRANSIT["questions"]}


def transit(**changes: object) -> consultations.Consultation:
    data = copy.deepcopy(TRANSIT)
    data.update(changes)
    return consultations.parse(data, "transit")


@pytest.fixture
def consultation(db) -> consultations.Consultation:
    loaded = transit()
    consultations.save(db, [loaded])
    return loaded


@pytest.fixture
def text(client: FlaskClient, consultation) -> Callable[..., list[str]]:
    """Text the channel through the signed webhook and return the replies."""

    def send(body: str) -> list[str]:
        return replies(post_signed(client, "/sms/twilio", inbound(body, PHONE)))

    return send


def first_lines(texts: list[str]) -> list[str]:
    return [t.split("\n")[0] for t in texts]


# --- skip logic -----------------------------------------------------------------------

CONVERSATIONS = [
    # (keyword, [(text, first line of the reply)], stored answers, questions never sent)
    (
        "BUS",
        [("no", "2/2 Anything else?"), ("SKIP", "Thank you! Your answers were saved.")],
        {"rides": False},
        ["lines", "night", "safety"],
    ),
    (
        "BUS",
        [
            ("yes", "2/5 Which lines?"),
            ("1", "3/3 Anything else?"),
            ("Run it later", "Thank you! Your answers were saved."),
        ],
        {"rides": True, "lines": ["l24"], "comments": "Run it later"},
        ["night", "safety"],
    ),
    (
        "BUS",
        [
            ("yes", "2/5 Which lines?"),
            ("1,3", "3/5 Do you ride at night?"),
            ("no", "4/4 Anything else?"),
            ("SKIP", "Thank you! Your answers were saved."),
        ],
        {"rides": True, "lines": ["l24", "l80"], "night": False},
        ["safety"],
    ),
    (
        # An optional gate skipped: what hangs on it is not asked.
        "BUS",
        [
            ("yes", "2/5 Which lines?"),
            ("2", "3/5 Do you ride at night?"),
            ("SKIP", "4/4 Anything else?"),
            ("SKIP", "Thank you! Your answers were saved."),
        ],
        {"rides": True, "lines": ["l55"]},
        ["safety"],
    ),
    (
        "AUTOBUS",
        [
            ("oui", "2/5 Quelles lignes ?"),
            ("2", "3/5 Le prenez-vous le soir ?"),
            ("oui", "4/5 Vous y sentez-vous en sécurité ?"),
            ("4", "5/5 Autre chose ?"),
            ("PASSER", "Merci! Vos réponses ont été enregistrées."),
        ],
        {"rides": True, "lines": ["l55"], "night": True, "safety": 4},
        [],
    ),
    (
        "AUTOBUS",
        [
            ("non", "2/2 Autre chose ?"),
            ("Plus de bancs", "Merci! Vos réponses ont été enregistrées."),
        ],
        {"rides": False, "comments": "Plus de bancs"},
        ["lines", "night", "safety"],
    ),
    (
        "AUTOBUS",
        [
            ("oui", "2/5 Quelles lignes ?"),
            ("Ligne 24", "3/3 Autre chose ?"),
            ("PASSER", "Merci! Vos réponses ont été enregistrées."),
        ],
        {"rides": True, "lines": ["l24"]},
        ["night", "safety"],
    ),
]


@pytest.mark.parametrize(("keyword", "steps", "stored", "never_sent"), CONVERSATIONS)
def test_a_conversation_sends_only_the_questions_its_rules_ask(
    text, db, consultation, keyword, steps, stored, never_sent
) -> None:
    start = text(keyword)
    assert start[1].split("\n")[0] in ("1/5 Do you take the bus?", "1/5 Prenez-vous l'autobus ?")
    sent = list(start)
    for body, expected in steps:
        reply = text(body)
        assert first_lines(reply) == [expected], body
        sent += reply
    for question_id in never_sent:
        for wording in QUESTION_TEXTS[question_id]:
            assert not any(wording in message for message in sent), wording
    [record] = sms_submissions(db)
    assert record["complete"] is True
    assert record["answers"] == stored
    # What was stored is what the shared rules take: no answer to a question not asked.
    assert answers.validate_answers(consultation, record["answers"]) == stored
    assert conversation_row(db)["status"] == "complete"


def test_help_and_the_keyword_again_number_the_question_among_those_asked(text, db) -> None:
    text("BUS")
    assert text("yes")[0].startswith("2/5 Which lines?")
    assert text("1")[0].startswith("3/3 Anything else?")
    [help_reply] = text("HELP")
    assert help_reply == "Bus service: answer below, or STOP to stop.\n3/3 Anything else?\nOr SKIP."
    assert text("BUS") == ["3/3 Anything else?\nOr SKIP."]
    assert text("autobus") == ["3/3 Autre chose ?\nOu PASSER."]
    # Neither moved the conversation.
    assert conversation_row(db)["position"] == 4
    assert conversation_row(db)["answers"] == {"rides": True, "lines": ["l24"]}


def test_skip_on_a_required_gate_is_refused_and_the_total_stays(text, db) -> None:
    text("BUS")
    assert text("SKIP") == [
        "This question needs an answer.\n1/5 Do you take the bus?\nReply YES or NO."
    ]
    assert conversation_row(db)["position"] == 0


def test_the_total_only_shrinks_as_answers_come_in(consultation) -> None:
    # Every path through the rules: the "n/total" of each question sent.
    paths = [
        ({"rides": False}, ["1/5", "2/2"]),
        ({"rides": True, "lines": ["l24"]}, ["1/5", "2/5", "3/3"]),
        ({"rides": True, "lines": ["l80"], "night": False}, ["1/5", "2/5", "3/5", "4/4"]),
        (
            {"rides": True, "lines": ["l80"], "night": True, "safety": 2},
            ["1/5", "2/5", "3/5", "4/5", "5/5"],
        ),
    ]
    for final, expected in paths:
        given: dict = {}
        position = 0
        numbers = []
        while position < len(consultation.questions):
            prompt = prompts.question_prompt(consultation, position, "en", given)
            numbers.append(prompt.split(" ")[0])
            question = consultation.questions[position]
            if question.id in final:
                given[question.id] = final[question.id]
            position = conversations.next_position(consultation, given, position)
        assert numbers == expected, final
        totals = [int(n.split("/")[1]) for n in numbers]
        assert totals == sorted(totals, reverse=True)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ({"rides": True, "lines": ["l55"], "night": True, "safety": 3}, None),
        (
            {"rides": True, "lines": ["l24"], "night": True, "safety": 3},
            {"rides": True, "lines": ["l24"]},
        ),
        (
            {"rides": False, "lines": ["l55"], "night": True, "comments": "x"},
            {"rides": False, "comments": "x"},
        ),
        (
            {"rides": True, "lines": ["l55"], "night": False, "safety": 3},
            {"rides": True, "lines": ["l55"], "night": False},
        ),
    ],
)
def test_answers_to_questions_no_longer_asked_are_dropped(consultation, given, kept) -> None:
    expected = given if kept is None else kept
    assert consultation.only_asked(given) == expected
    assert answers.validate_answers(consultation, expected, complete=False) == expected


CHANGED = [
    # (stored answers changed under the conversation, then the text, the stored answers)
    (
        {"rides": True, "lines": ["l24"], "night": True, "safety": 5},
        "Later buses",
        True,
        {"rides": True, "lines": ["l24"], "comments": "Later buses"},
    ),
    (
        {"rides": False, "lines": ["l55"], "night": True, "safety": 5},
        "STOP",
        False,
        {"rides": False},
    ),
]


@pytest.mark.parametrize(("changed", "body", "complete", "stored"), CHANGED)
def test_a_changed_earlier_answer_drops_what_hung_on_it(
    text, db, consultation, changed, body, complete, stored
) -> None:
    text("BUS")
    for answer in ("yes", "2", "yes"):
        text(answer)
    assert text("5")[0].startswith("5/5 Anything else?")
    # An earlier answer changes under the conversation (here, in its saved state).
    db.execute("UPDATE sms_conversations SET answers = ?", [json.dumps(changed)])
    db.conn.commit()
    text(body)
    [record] = sms_submissions(db)
    assert record["complete"] is complete
    assert record["answers"] == stored
    assert answers.validate_answers(consultation, stored, complete=complete) == stored


# --- a keyword of a consultation that takes no answers ------------------------------------


def at(hour: int, minute: int, day: int = 1) -> Callable[..., datetime]:
    """A stand-in for `clock.local_now`: the organisation's local time, fixed."""

    def local_now(timezone: str = "UTC", at: datetime | None = None) -> datetime:
        return datetime(2026, 12, day, hour, minute)

    return local_now


CLOSED_KEYWORDS = [
    # (what makes it take no answers, keyword, the reply)
    ("staff", "BUS", "Bus service: this consultation is closed."),
    ("staff", "autobus", "Service d'autobus : cette consultation est fermée."),
    ("closes", "BUS", "Bus service: this consultation is closed."),
    ("closes", "Autobus!", "Service d'autobus : cette consultation est fermée."),
    ("opens", "bus", "Bus service: this consultation is not open yet."),
    ("opens", "AUTOBUS", "Service d'autobus : cette consultation n'est pas encore ouverte."),
    ("opens and staff", "BUS", "Bus service: this consultation is closed."),
    # Archived: forgotten, an unknown word (help in the number's language, English here).
    ("archived", "BUS", "No consultation is open right now. Reply STOP to stop."),
    ("archived", "AUTOBUS", "No consultation is open right now. Reply STOP to stop."),
]


def make_unavailable(db, how: str) -> None:
    dates = {
        "closes": {"opens": "2026-11-01", "closes": "2026-12-01T17:00"},
        "opens": {"opens": "2026-12-02T09:00"},
        "opens and staff": {"opens": "2026-12-02T09:00"},
    }.get(how, {})
    consultations.save(db, [transit(**dates)])
    if "staff" in how:
        consultations.set_closed(db, "transit", True)
    if how == "archived":
        consultations.set_archived(db, "transit", True)


@pytest.mark.parametrize(("how", "keyword", "expected"), CLOSED_KEYWORDS)
def test_a_keyword_of_a_consultation_taking_no_answers_gets_a_short_closed_reply(
    client, db, monkeypatch, how, keyword, expected
) -> None:
    monkeypatch.setattr(clock, "local_now", at(17, 0))
    make_unavailable(db, how)
    reply = replies(post_signed(client, "/sms/twilio", inbound(keyword)))
    assert reply == [expected]
    measured = segments.measure(reply[0])
    assert (measured.encoding, measured.segments) == (segments.GSM7, 1)
    assert count_rows(db, "sms_conversations") == 0 and count_rows(db, "submissions") == 0


def test_a_closed_reply_leaves_the_title_out_rather_than_take_two_segments(client, db) -> None:
    title = "The future of the bus network in the north-east of the borough, " * 3
    consultations.save(db, [transit(title={"en": title.strip(), "fr": title.strip()})])
    consultations.set_closed(db, "transit", True)
    assert replies(post_signed(client, "/sms/twilio", inbound("BUS"))) == [
        "This consultation is closed."
    ]
    assert replies(post_signed(client, "/sms/twilio", inbound("AUTOBUS"))) == [
        "Cette consultation est fermée."
    ]


def test_a_closed_keyword_mid_conversation_leaves_the_conversation_as_it_was(
    client, db, consultation
) -> None:
    other = {
        "id": "park",
        "title": "The park",
        "keywords": "PARK",
        "questions": [{"id": "like", "type": "yesno", "text": "Do you like the park?"}],
    }
    consultations.save(db, [consultations.parse(other, "park")])
    consultations.set_closed(db, "park", True)

    def send(body: str) -> list[str]:
        return replies(post_signed(client, "/sms/twilio", inbound(body)))

    send("BUS")
    send("yes")
    assert send("park") == [
        "The park: this consultation is closed.\n2/5 Which lines?\n"
        "1) Line 24\n2) Line 55\n3) Line 80\n"
        "Reply with one or more numbers, e.g. 1,3."
    ]
    assert conversation_row(db)["status"] == "active"
    assert send("1")[0].startswith("3/3 Anything else?")


def test_a_texter_who_opted_out_gets_nothing_for_a_closed_keyword(client, db, consultation):
    replies(post_signed(client, "/sms/twilio", inbound("STOP")))
    consultations.set_closed(db, "transit", True)
    assert replies(post_signed(client, "/sms/twilio", inbound("BUS"))) == []


# --- closing time -----------------------------------------------------------------------

CLOSING = [
    # (local time of each text, texts, the replies' first lines, status, stored answers)
    (
        [(16, 58), (16, 59), (16, 59)],
        ["BUS", "yes", "1"],
        [
            ["Bus service. Reply STOP to stop, HELP for help.", "1/5 Do you take the bus?"],
            ["2/5 Which lines?"],
            ["3/3 Anything else?"],
        ],
        "active",
        None,
    ),
    (
        [(16, 59), (17, 0)],
        ["BUS", "yes"],
        [
            ["Bus service. Reply STOP to stop, HELP for help.", "1/5 Do you take the bus?"],
            ["Bus service: this consultation is closed. Your answers so far were kept."],
        ],
        "abandoned",
        None,
    ),
    (
        [(16, 58), (16, 59), (17, 0)],
        ["AUTOBUS", "oui", "2"],
        [
            [
                "Service d'autobus. Répondez STOP pour quitter, AIDE pour de l'aide.",
                "1/5 Prenez-vous l'autobus ?",
            ],
            ["2/5 Quelles lignes ?"],
            ["Service d'autobus : cette consultation est fermée. Vos réponses ont été gardées."],
        ],
        "abandoned",
        {"rides": True},
    ),
    (
        [(17, 0)],
        ["BUS"],
        [["Bus service: this consultation is closed."]],
        None,
        None,
    ),
]


@pytest.mark.parametrize(("times", "texts", "expected", "status", "stored"), CLOSING)
def test_a_consultation_closing_at_17_takes_no_text_from_17(
    client, db, monkeypatch, times, texts, expected, status, stored
) -> None:
    consultations.save(db, [transit(opens="2026-11-01", closes="2026-12-01T17:00")])
    for (hour, minute), body, wanted in zip(times, texts, expected, strict=True):
        monkeypatch.setattr(clock, "local_now", at(hour, minute))
        reply = replies(post_signed(client, "/sms/twilio", inbound(body)))
        assert first_lines(reply) == wanted, body
    row = conversation_row(db)
    assert (row["status"] if row else None) == status
    records = sms_submissions(db)
    if stored is None:
        assert [r["complete"] for r in records] == []
    else:
        [record] = records
        assert record["complete"] is False and record["answers"] == stored


@pytest.mark.parametrize(
    ("utc", "reply"),
    [
        (datetime(2026, 12, 1, 21, 59, 59, tzinfo=UTC), "1/5 Do you take the bus?"),
        (datetime(2026, 12, 1, 22, 0, tzinfo=UTC), "Bus service: this consultation is closed."),
    ],
)
def test_an_offline_node_closes_at_its_local_time(tmp_path, utc, reply) -> None:
    # A node with a phone of its own (android gateway), no hub to ask: 17:00 in Montreal
    # is 22:00 UTC in December.
    path = tmp_path / "node.db"
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, [transit(opens="2026-11-01", closes="2026-12-01T17:00")])
    fleet.keep_pepper(path, "a-pepper-for-the-whole-test-fleet")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(path),
            "SECRET_KEY": "t",
            "ROLE": "node",
            "TIMEZONE": "America/Montreal",
            "SMS_GATEWAY": "android",
            "ANDROID_URL": "http://127.0.0.1:9",
            "ANDROID_USERNAME": "sms",
            "ANDROID_PASSWORD": "secret-password",
            "ANDROID_WEBHOOK_SECRET": "signing-key-set-in-the-app",
        }
    )
    config = sms_config.get(app)
    with store.open_db(path) as db:
        message = conversations.Inbound(PHONE, "BUS", f"SM{next(_sids):032d}")
        outcome = gateway.take(db, config, message, now=utc)
        assert first_lines(outcome.replies)[-1] == reply
        queued = [r["body"] for r in db.query("SELECT body FROM sms_outbound ORDER BY id")]
        assert queued == outcome.replies
