"""The SMS webhook and conversation engine, driven through signed Twilio requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from participate import clock, consultations, submissions
from participate.app import create_app
from participate.sms import config as sms_config
from participate.sms import conversations, segments
from participate.sms.errors import SmsConfigError
from tests.conftest import EXAMPLE

TOKEN = "twilio-test-token-0123456789abcdef"
PUBLIC_URL = "https://participate.example.org"
PEPPER = "pepper-for-the-tests-0123456789"
PHONE = "+15555550123"
OTHER_PHONE = "+15555550199"
_sids = count(1)


def example_definition() -> dict:
    """Return the example consultation without dates, so no test depends on the calendar."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    return data


@pytest.fixture
def app_settings() -> dict:
    return {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_FROM": "+15555550100",
        "PUBLIC_URL": PUBLIC_URL,
        "PHONE_PEPPER": PEPPER,
    }


@pytest.fixture
def consultation(db) -> consultations.Consultation:
    loaded = consultations.parse(example_definition(), "example")
    consultations.save(db, [loaded])
    return loaded


def sign(url: str, params: dict[str, str]) -> str:
    """Sign like Twilio does, with the SDK."""
    return RequestValidator(TOKEN).compute_signature(url, params)


def post_signed(
    client: FlaskClient,
    path: str,
    params: dict[str, str],
    *,
    query: str = "",
    signature: str | None = None,
) -> object:
    url = PUBLIC_URL + path + (f"?{query}" if query else "")
    headers = {"X-Twilio-Signature": signature if signature is not None else sign(url, params)}
    return client.post(path + (f"?{query}" if query else ""), data=params, headers=headers)


def inbound(body: str, phone: str = PHONE, sid: str | None = None, **extra: str) -> dict:
    params = {
        "MessageSid": sid or f"SM{next(_sids):032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": "+15555550100",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return params


def replies(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())  # noqa: S314 (our own TwiML)
    assert root.tag == "Response"
    return [message.text or "" for message in root.iter("Message")]


@pytest.fixture
def text(client: FlaskClient, consultation) -> Callable[..., list[str]]:
    """Text the channel through the signed webhook and return the replies."""

    def send(body: str, phone: str = PHONE, **extra: str) -> list[str]:
        return replies(post_signed(client, "/sms/twilio", inbound(body, phone, **extra)))

    return send


def count_rows(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def sms_submissions(db) -> list[dict]:
    ids = [r[0] for r in db.execute("SELECT id FROM submissions ORDER BY seq").fetchall()]
    return [submissions.get(db, i) for i in ids]


def conversation_row(db, phone: str = PHONE) -> dict | None:
    row = db.execute(
        "SELECT v.status, v.position, v.answers, v.language FROM sms_conversations v"
        " JOIN sms_contacts c ON c.id = v.contact_id WHERE c.phone = ?"
        " ORDER BY v.id DESC LIMIT 1",
        [phone],
    ).fetchone()
    if row is None:
        return None
    return {"status": row[0], "position": row[1], "answers": json.loads(row[2]), "lang": row[3]}


# --- signatures -------------------------------------------------------------------


def test_sdk_validator_matches_twilio_published_vector() -> None:
    validator = RequestValidator("12345")
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validator.compute_signature(url, params) == expected
    assert validator.validate(url, params, expected)
    assert not validator.validate(url, {**params, "Digits": "1235"}, expected)


def test_signed_message_gets_twiml_reply(client, consultation, db) -> None:
    response = post_signed(client, "/sms/twilio", inbound("HOURS"))
    assert response.headers["Content-Type"].startswith("text/xml")
    texts = replies(response)
    assert "Library opening hours" in texts[0] and "STOP" in texts[0]
    assert texts[1].startswith("1/6 How often do you visit?\n1) Every week")
    assert count_rows(db, "sms_inbound") == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p, s: (p, None), id="missing-signature"),
        pytest.param(lambda p, s: (p, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), id="forged-signature"),
        pytest.param(lambda p, s: ({**p, "Body": "STOP"}, s), id="tampered-body"),
        pytest.param(lambda p, s: ({**p, "From": OTHER_PHONE}, s), id="tampered-sender"),
        pytest.param(lambda p, s: ({**p, "Extra": "1"}, s), id="added-parameter"),
        pytest.param(
            lambda p, s: (
                p,
                RequestValidator("wrong-token").compute_signature(PUBLIC_URL + "/sms/twilio", p),
            ),
            id="signed-with-another-token",
        ),
    ],
)
def test_bad_signatures_are_refused_and_change_nothing(client, consultation, db, tamper) -> None:
    params = inbound("HOURS")
    signature = sign(PUBLIC_URL + "/sms/twilio", params)
    params, signature = tamper(params, signature)
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = client.post("/sms/twilio", data=params, headers=headers)
    assert response.status_code == 403
    for table in ("sms_inbound", "sms_contacts", "sms_conversations", "submissions"):
        assert count_rows(db, table) == 0


def test_signature_is_checked_against_the_public_url_and_raw_query(client, consultation) -> None:
    params = inbound("HOURS")
    assert post_signed(client, "/sms/twilio", params, query="site=main&x=%20").status_code == 200
    # Signed for the URL without its query string: not what Twilio called.
    wrong = sign(PUBLIC_URL + "/sms/twilio", params)
    response = client.post(
        "/sms/twilio?site=main", data=inbound("HOURS"), headers={"X-Twilio-Signature": wrong}
    )
    assert response.status_code == 403
    # Signed for the internal http:// URL the app sees behind the proxy: refused too.
    local = sign("http://localhost/sms/twilio", params)
    response = client.post(
        "/sms/twilio", data=inbound("HOURS"), headers={"X-Twilio-Signature": local}
    )
    assert response.status_code == 403


def test_without_public_url_the_request_url_is_used(app_config, consultation) -> None:
    app = create_app({**app_config, "PUBLIC_URL": ""})
    params = inbound("HOURS")
    signature = RequestValidator(TOKEN).compute_signature("http://localhost/sms/twilio", params)
    response = app.test_client().post(
        "/sms/twilio", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert len(replies(response)) == 2


def test_public_url_names_the_app_under_a_path_prefix(app_config, consultation) -> None:
    # Mounted under /participate (SCRIPT_NAME), PUBLIC_URL is the app's public root: the
    # same base the status callback URL given to Twilio is made from.
    public = "https://example.org/participate"
    app = create_app({**app_config, "PUBLIC_URL": public})
    assert sms_config.get(app).status_callback == public + "/sms/twilio/status"
    params = inbound("HOURS")
    signature = RequestValidator(TOKEN).compute_signature(public + "/sms/twilio", params)
    response = app.test_client().post(
        "/sms/twilio",
        data=params,
        headers={"X-Twilio-Signature": signature},
        base_url="http://127.0.0.1:8000/participate",
    )
    assert len(replies(response)) == 2


def test_hmac_sha256_signature_settings_are_honoured(client, consultation) -> None:
    params = inbound("HOURS")
    url = PUBLIC_URL + "/sms/twilio"
    signature = RequestValidator(TOKEN).compute_signature(url, params, "HMAC_SHA256")
    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    headers = {"X-Twilio-Signature": signature, "X-Twilio-Webhooks-Signature-Settings": settings}
    assert client.post("/sms/twilio", data=params, headers=headers).status_code == 200
    # The same signature presented as SHA-1 does not match.
    response = client.post(
        "/sms/twilio", data=inbound("HOURS"), headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_without_an_auth_token_the_webhook_refuses_everything(app_config, consultation, db) -> None:
    app = create_app({**app_config, "TWILIO_AUTH_TOKEN": ""})
    params = inbound("HOURS")
    response = app.test_client().post(
        "/sms/twilio", data=params, headers={"X-Twilio-Signature": sign(PUBLIC_URL, params)}
    )
    assert response.status_code == 403
    response = app.test_client().post("/sms/twilio", data=params)
    assert response.status_code == 403
    assert count_rows(db, "sms_inbound") == 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"From": ""}, "From"),
        ({"From": "not a number"}, "From"),
        ({"MessageSid": ""}, "MessageSid"),
        ({"NumMedia": "lots"}, "NumMedia"),
    ],
)
def test_bad_fields_get_400_and_change_nothing(client, consultation, db, change, message) -> None:
    params = {**inbound("HOURS"), **change}
    response = post_signed(client, "/sms/twilio", params)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count_rows(db, "sms_inbound") == 0 and count_rows(db, "sms_contacts") == 0


def test_repeated_message_sid_is_processed_once(client, consultation, db) -> None:
    first = inbound("HOURS", sid="SM" + "a" * 32)
    assert len(replies(post_signed(client, "/sms/twilio", first))) == 2
    answer = inbound("2", sid="SM" + "b" * 32)
    assert replies(post_signed(client, "/sms/twilio", answer))[0].startswith("2/6")
    # Twilio retries both (a timeout, a fallback URL): nothing moves, the reply is empty.
    assert replies(post_signed(client, "/sms/twilio", answer)) == []
    assert replies(post_signed(client, "/sms/twilio", first)) == []
    assert count_rows(db, "sms_conversations") == 1
    assert conversation_row(db) == {
        "status": "active",
        "position": 1,
        "answers": {"visits": "monthly"},
        "lang": "en",
    }


def test_a_message_sid_delivered_at_once_by_many_threads_is_processed_once(app, consultation, db):
    from concurrent.futures import ThreadPoolExecutor

    params = inbound("HOURS", sid="SM" + "d" * 32)

    def deliver(_: int) -> list[str]:
        return replies(post_signed(app.test_client(), "/sms/twilio", params))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, range(16)))
    assert sorted(len(r) for r in results) == [0] * 15 + [2]
    assert count_rows(db, "sms_inbound") == 1
    assert count_rows(db, "sms_conversations") == 1 and count_rows(db, "sms_contacts") == 1
    assert db.execute("PRAGMA index_list(sms_inbound)").fetchall()[0][2] == 1  # unique


# --- whole conversations ------------------------------------------------------------


def pseudonym(phone: str) -> str:
    return hmac.new(PEPPER.encode(), phone.encode(), hashlib.sha256).hexdigest()


def test_whole_conversation_in_english_over_every_question_type(text, db) -> None:
    first = text("  hours! ")
    assert first[1].endswith("Reply with a number from 1 to 3.")
    assert text("b")[0] == (
        "2/6 When would you come?\n1) Mornings\n2) Evenings\n3) Sundays\n"
        "Reply with one or more numbers, e.g. 1,3."
    )
    assert text("1, 3")[0] == "3/6 Should we open later on weekdays?\nReply YES or NO."
    assert text("Yes")[0] == (
        "4/6 How do you rate the current hours?\nReply 1 (Very poor) to 5 (Very good)."
    )
    assert text("4/5")[0].startswith("5/6 How many hours a week")
    assert text("about 6 hours")[0] == "6/6 Anything else?\nOr SKIP."
    assert text("Open at 8, please!") == ["Thank you! Your answers were saved."]
    [record] = sms_submissions(db)
    assert record["answers"] == {
        "visits": "monthly",
        "times": ["mornings", "sundays"],
        "evenings": True,
        "rating": 4,
        "hours_per_week": 6,
        "comments": "Open at 8, please!",
    }
    assert record["channel"] == "sms" and record["language"] == "en" and record["complete"]
    assert record["respondent"] == pseudonym(PHONE)
    assert conversation_row(db)["status"] == "complete"
    # The number is nowhere in the submissions table, only beside the SMS channel.
    dump = "\n".join(db.conn.iterdump())
    submission_lines = [line for line in dump.splitlines() if 'INTO "submissions"' in line]
    assert submission_lines and not any(PHONE in line for line in submission_lines)
    assert not any(PHONE.lstrip("+") in line for line in submission_lines)


def test_whole_conversation_in_french_with_words_and_skips(text, db) -> None:
    first = text("Horaires")
    assert first[0].startswith("Heures d'ouverture de la bibliothèque.")
    assert "Répondez STOP pour quitter, AIDE pour de l'aide." in first[0]
    assert first[1].endswith("Répondez par un numéro de 1 à 3.")
    assert text("chaque SEMAINE")[0].startswith("2/6 Quand viendriez-vous ?")
    assert text("le matin et le soir")[0].endswith("Répondez OUI ou NON.")
    assert text("non")[0].endswith("Répondez de 1 (Très mauvais) à 5 (Très bon).")
    assert text("très bon")[0].endswith("Répondez par un nombre de 0 à 80. Ou PASSER.")
    assert text("passer")[0] == "6/6 Autre chose ?\nOu PASSER."
    assert text("PASSER") == ["Merci ! Vos réponses ont été enregistrées."]
    [record] = sms_submissions(db)
    assert record["language"] == "fr" and record["complete"]
    assert record["answers"] == {
        "visits": "weekly",
        "times": ["mornings", "evenings"],
        "evenings": False,
        "rating": 5,
    }


def test_french_interface_texts_fit_one_gsm_segment(text) -> None:
    for reply in text("HEURES") + text("aide") + text("n'importe quoi"):
        lines = reply.split("\n")
        # Only the catalog's lines are checked: a consultation's own text may be UCS-2.
        for line in lines:
            if not line.startswith(("1/6", "1)", "2)", "3)")):
                assert segments.measure(line).encoding == segments.GSM7, line
    assert segments.measure(text("ARRET")[0]).encoding == segments.GSM7


@pytest.mark.parametrize(
    "answer, hint",
    [
        ("7", "Sorry, we did not understand."),
        ("maybe", "Sorry, we did not understand."),
        ("skip", "This question needs an answer."),
        ("", "Sorry, we did not understand."),
        ("👍", "Sorry, we did not understand."),
    ],
)
def test_unclear_answer_gets_a_hint_and_the_same_question(text, db, answer, hint) -> None:
    question = text("HOURS")[1]
    reply = text(answer)
    assert reply == [f"{hint}\n{question}"]
    assert conversation_row(db)["position"] == 0


@pytest.mark.parametrize(
    "keyword, answers, reply, hint",
    [
        ("HOURS", ["1", "2", "yes"], "7", "That number is out of range."),
        ("HOURS", ["1", "2", "yes", "4"], "2.5", "Please reply with a whole number."),
        ("HEURES", ["1", "2", "oui"], "9", "Ce nombre est hors limites."),
        ("HEURES", ["1", "2", "oui", "4"], "2,5", "Répondez par un nombre entier."),
    ],
)
def test_a_number_we_understood_but_cannot_take_says_why(text, keyword, answers, reply, hint):
    text(keyword)
    for answer in answers:
        question = text(answer)[0]
    assert text(reply) == [f"{hint}\n{question}"]
    assert segments.measure(hint).encoding == segments.GSM7


def test_multi_answer_beyond_its_limits_gets_the_rules_hint(text, db, consultation) -> None:
    text("HOURS")
    text("1")
    # Four picks of three choices: one is not a choice at all.
    assert text("1,2,4")[0].startswith("Sorry, we did not understand.\n2/6")
    assert conversation_row(db)["position"] == 1


def test_help_during_a_question_repeats_it_and_is_never_an_answer(text, db) -> None:
    text("HOURS")
    text("1")
    [reply] = text("help")
    assert reply.startswith("Library opening hours: answer below, or STOP to stop.\n2/6")
    [reply] = text("INFO")
    assert "2/6 When would you come?" in reply
    assert conversation_row(db)["position"] == 1
    assert conversation_row(db)["answers"] == {"visits": "weekly"}
    assert segments.measure(reply).segments == 1  # help plus the whole question, one text


def test_help_outside_a_conversation_lists_keywords(text) -> None:
    assert text("HELP") == ["Text HOURS to take part. Reply STOP to stop."]
    assert text("aide") == ["Envoyez HEURES pour participer. Répondez STOP pour quitter."]


def test_unknown_word_gets_a_short_help_reply(text, db) -> None:
    [reply] = text("hello there")
    assert reply == "Text HOURS to take part. Reply STOP to stop."
    assert segments.measure(reply).segments == 1
    assert count_rows(db, "sms_conversations") == 0


def test_an_auto_responder_cannot_keep_us_replying(text, db) -> None:
    # Another system's automatic reply to our help would get help again, for ever, each
    # message billed: a number gets a few help or hint replies an hour, then silence.
    assert [len(text("Out of office")) for _ in range(7)] == [1] * 5 + [0] * 2
    assert len(text("HELP")) == 1  # asked for, always answered
    text("HOURS")
    assert len(text("Out of office")) == 1  # new in this conversation: a hint
    assert text("Out of office") == []  # the same again: the loop guard
    assert text("2")[0].startswith("2/6")  # real answers go on
    assert count_rows(db, "sms_inbound") == 12


def test_a_confused_texter_in_a_conversation_always_gets_the_hint(text, db) -> None:
    # Issue 18: five unclear replies in an hour used to silence a person mid-conversation.
    text("HOURS")
    unclear = ["maybe", "not sure", "what?", "often", "umm", "the second", "idk", "often-ish"]
    for attempt in unclear:
        [reply] = text(attempt)
        assert reply.startswith("Sorry, we did not understand.\n1/6 How often"), attempt
    assert text("2")[0].startswith("2/6")


def test_the_same_unclear_text_again_and_again_meets_the_loop_guard(text, db) -> None:
    text("HOURS")
    assert [len(text("I am driving")) for _ in range(8)] == [1] * 6 + [0] * 2
    withheld = db.execute("SELECT sum(withheld) FROM sms_reply_budget").fetchone()[0]
    assert withheld == 2


def test_a_flood_from_one_number_is_kept_but_not_answered_past_the_budget(
    app_config, consultation, db, caplog
) -> None:
    client = create_app({**app_config, "SMS_REPLY_BUDGET": 20}).test_client()
    caplog.set_level("WARNING", logger="participate.sms.budget")
    answered = 0
    for number in range(60):
        body = "HOURS" if number == 0 else f"flood {number}"
        answered += len(replies(post_signed(client, "/sms/twilio", inbound(body))))
    assert answered == 20  # the budget, however the texts were answered
    assert count_rows(db, "sms_inbound") == 60  # every text processed
    # Another number is not held back by this one's flood.
    assert len(replies(post_signed(client, "/sms/twilio", inbound("HOURS", OTHER_PHONE)))) == 2
    [logged] = [r for r in caplog.records if r.getMessage() == "sms.replies_withheld"]
    assert logged.respondent == pseudonym(PHONE)[:12] and logged.reason == "budget"
    assert PHONE not in caplog.text


def test_a_person_answering_quickly_gets_every_question_within_the_default_budget(text, db) -> None:
    got = [text("HOURS")]
    for answer in ["2", "1", "yes", "4", "3", "skip"] * 6:  # six times round, in one hour
        got.append(text(answer))
        if got[-1][0].startswith("Thank you"):
            got.append(text("HOURS"))
    assert all(got), "a reply was withheld"


@pytest.mark.parametrize("value", [0, 19, "many"])
def test_a_reply_budget_too_small_to_answer_a_consultation_is_refused(app_config, value):
    with pytest.raises(SmsConfigError):
        create_app({**app_config, "SMS_REPLY_BUDGET": value})


def test_empty_body_and_mms_without_text(text, db) -> None:
    assert text("") == ["Text HOURS to take part. Reply STOP to stop."]
    text("HOURS")
    reply = text(
        "", NumMedia="1", MediaUrl0="https://api.twilio.com/media/1", MediaContentType0="image/jpeg"
    )
    assert reply[0].startswith("We can only read text.\n1/6 How often")
    assert conversation_row(db)["position"] == 0


def test_emoji_and_ucs2_text_answers_are_kept(text, db) -> None:
    text("HOURS")
    for answer in ("1", "2", "no", "3"):
        text(answer)
    text("SKIP")
    comment = "Ça me va 👍 — merci « beaucoup »"
    assert text(comment) == ["Thank you! Your answers were saved."]
    [record] = sms_submissions(db)
    assert record["answers"]["comments"] == comment


def test_a_1600_character_body(text, db) -> None:
    long_body = ("Open later please. " * 90)[:1600]
    assert text(long_body) == ["Text HOURS to take part. Reply STOP to stop."]
    text("HOURS")
    for answer in ("1", "2", "no", "3", "SKIP"):
        text(answer)
    [reply] = text(long_body)
    assert reply.startswith("Please keep it under 500 characters.\n6/6 Anything else?")
    assert text(long_body[:500]) == ["Thank you! Your answers were saved."]


def test_reply_segments_are_logged(db, text, caplog) -> None:
    data = example_definition()
    data["questions"][0]["text"]["fr"] = "À quelle fréquence venez-vous ?"  # À is not GSM-7
    consultations.save(db, [consultations.parse(data, "ucs2")])
    caplog.set_level("INFO", logger="participate.sms.conversations")
    text("HEURES")
    [logged] = [r for r in caplog.records if r.getMessage() == "sms.reply"]
    assert logged.action == "start" and logged.replies == 2
    assert logged.encoding == ["GSM-7", "UCS-2"]  # "À quelle fréquence": the consultation's text
    assert logged.segments == [1, 2]
    assert logged.flagged == "À"
    assert "+1555" not in str(vars(logged))  # no phone number in the logs


def test_typographic_quotes_and_dashes_become_plain(db, client) -> None:
    data = example_definition()
    data["questions"][0]["text"] = {
        "en": "How often do you visit the library’s “main” branch — really…?",
        "fr": "À quelle fréquence ?",
    }
    consultations.save(db, [consultations.parse(data, "quotes")])
    texts = replies(post_signed(client, "/sms/twilio", inbound("HOURS")))
    assert 'the library\'s "main" branch - really...?' in texts[1]
    assert segments.measure(texts[1]).encoding == segments.GSM7


# --- STOP, START, expiry, restarts --------------------------------------------------


def test_stop_midway_keeps_answers_as_incomplete_and_opts_out(text, db) -> None:
    text("HOURS")
    text("3")
    text("2")
    assert text("Stop.") == ["You will get no more messages from us. Reply START to opt back in."]
    [record] = sms_submissions(db)
    assert record["complete"] is False
    assert record["answers"] == {"visits": "rarely", "times": ["evenings"]}
    assert conversation_row(db)["status"] == "stopped"
    opted = db.execute("SELECT opted_out_at FROM sms_contacts WHERE phone = ?", [PHONE]).fetchone()
    assert opted[0]
    # Opted out: a keyword gets how to opt back in, anything else gets nothing.
    assert text("hours") == [
        "You opted out of our messages. Reply START, then HOURS, to take part."
    ]
    assert text("1") == []
    assert count_rows(db, "sms_conversations") == 1
    assert text("START") == ["You can get messages from us again. Reply STOP to opt out."]
    assert text("HOURS")[1].startswith("1/6")


TO_FREE_TEXT = ["1", "2", "no", "3", "SKIP"]  # up to "Anything else?", where any text answers


@pytest.mark.parametrize(
    "word",
    ["STOP", "stopall", "Unsubscribe", "cancel", "END", "quit", "arrêt", "ARRET!", "ARRÊT",
     "Arrêt.", "  stop  ", "«Stop»", "OptOut", "revoke"],
)  # fmt: skip
def test_every_opt_out_word_is_handled_before_the_conversation(text, db, word) -> None:
    text("HOURS")
    for answer in TO_FREE_TEXT:
        text(answer)
    assert len(text(word)) == 1
    assert conversation_row(db)["status"] == "stopped"
    assert "comments" not in sms_submissions(db)[0]["answers"]


@pytest.mark.parametrize(
    "word", ["START", "unstop", "Start!", "HELP", "help?", "Info", "AIDE", "aide !"]
)
def test_opt_in_and_help_words_are_never_answers(text, db, word) -> None:
    text("HOURS")
    for answer in TO_FREE_TEXT:
        text(answer)
    assert len(text(word)) == 1
    row = conversation_row(db)
    assert row["status"] == "active" and row["position"] == 5
    assert "comments" not in row["answers"]


def test_yes_opts_an_opted_out_number_back_in_as_it_does_at_twilio(text, db) -> None:
    # Twilio's standard opt-in words are START, UNSTOP and YES: after STOP a "yes" re-opens
    # the number at Twilio, so it must here too (else the two records disagree).
    text("STOP")
    assert text("Yes!") == ["You can get messages from us again. Reply STOP to opt out."]
    assert db.execute("SELECT opted_out_at FROM sms_contacts").fetchone()[0] is None
    # Not opted out, "yes" is only a word (an answer in a conversation).
    assert text("yes") == ["Text HOURS to take part. Reply STOP to stop."]


def test_stop_with_twilio_advanced_opt_out_records_but_does_not_reply_twice(text, db) -> None:
    text("HOURS")
    assert text("STOP", OptOutType="STOP") == []
    assert db.execute("SELECT opted_out_at FROM sms_contacts").fetchone()[0]
    assert text("START", OptOutType="START") == []
    assert db.execute("SELECT opted_out_at FROM sms_contacts").fetchone()[0] is None


def test_stop_please_is_not_a_keyword_but_an_answer_attempt(text, db) -> None:
    text("HOURS")
    assert text("stop please")[0].startswith("Sorry, we did not understand.")
    assert conversation_row(db)["status"] == "active"


def test_french_stop_replies_in_french(text) -> None:
    assert text("ARRÊT") == [
        "Vous ne recevrez plus nos messages. Répondez START pour vous réinscrire."
    ]


def test_restart_midway_loses_nothing(app_config, consultation, db) -> None:
    first = create_app(app_config).test_client()
    replies(post_signed(first, "/sms/twilio", inbound("HEURES")))
    replies(post_signed(first, "/sms/twilio", inbound("2")))
    # A new process on the same store: the conversation carries on where it was.
    second = create_app(app_config).test_client()
    [reply] = replies(post_signed(second, "/sms/twilio", inbound("1")))
    assert reply.startswith("3/6 Devrions-nous ouvrir plus tard en semaine ?")
    assert conversation_row(db)["answers"] == {"visits": "monthly", "times": ["mornings"]}


def engine(app: Flask):
    return sms_config.get(app)


START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def say(app, consultation, db) -> Callable[..., list[str]]:
    """Text the engine directly, at a given time, and return the replies."""

    def send(body: str, at: datetime) -> list[str]:
        message = conversations.Inbound(PHONE, body, f"SM{next(_sids):032d}")
        return conversations.receive(db, engine(app), message, now=at).replies

    return send


def test_idle_conversation_expires_by_the_job_and_keeps_answers(app, db, say) -> None:
    settings = engine(app)
    say("HOURS", START)
    say("1", START + timedelta(minutes=2))
    # 23 hours later the conversation is still there; the job leaves it alone.
    assert conversations.expire_idle(db, settings, now=START + timedelta(hours=23)) == 0
    assert say("2", START + timedelta(hours=23))[0].startswith("3/6")
    assert conversations.expire_idle(db, settings, now=START + timedelta(hours=46)) == 0
    assert conversations.expire_idle(db, settings, now=START + timedelta(hours=47, seconds=1)) == 1
    [record] = sms_submissions(db)
    assert record["complete"] is False
    assert record["answers"] == {"visits": "weekly", "times": ["evenings"]}
    assert record["started_at"] == clock.to_text(START)
    assert conversation_row(db)["status"] == "expired"
    # Texting again afterwards gets the keyword help, not the old question.
    assert say("3", START + timedelta(hours=48)) == ["Text HOURS to take part. Reply STOP to stop."]


def test_an_idle_conversation_is_expired_when_the_next_message_arrives(db, say) -> None:
    say("HOURS", START)
    say("1", START)
    assert say("HOURS", START + timedelta(hours=25))[1].startswith("1/6")
    statuses = db.execute("SELECT status FROM sms_conversations ORDER BY id").fetchall()
    assert statuses == [("expired",), ("active",)]
    assert [r["complete"] for r in sms_submissions(db)] == [False]


def test_help_midway_counts_as_activity_like_any_answer(app, db, say) -> None:
    say("HOURS", START)
    say("HELP", START + timedelta(hours=23))
    assert conversations.expire_idle(db, engine(app), now=START + timedelta(hours=25)) == 0
    assert say("1", START + timedelta(hours=25))[0].startswith("2/6")


def test_expiry_without_answers_records_nothing(app, db, say) -> None:
    say("HOURS", START)
    assert conversations.expire_idle(db, engine(app), now=START + timedelta(days=2)) == 1
    assert count_rows(db, "submissions") == 0


def test_the_keyword_again_resumes_and_another_language_switches(text, db) -> None:
    text("HOURS")
    text("1")
    assert text("HOURS")[0].startswith("2/6 When would you come?")
    assert text("heures")[0].startswith("2/6 Quand viendriez-vous ?")
    assert text("1")[0].startswith("3/6 Devrions-nous")
    assert conversation_row(db)["lang"] == "fr"


def test_another_consultations_keyword_ends_the_first_as_incomplete(text, db) -> None:
    other = {
        "id": "park",
        "title": "The park",
        "keywords": "PARK",
        "questions": [{"id": "like", "type": "yesno", "text": "Do you like the park?"}],
    }
    consultations.save(db, [consultations.parse(other, "park")])
    text("HOURS")
    text("1")
    assert text("park")[1] == "1/1 Do you like the park?\nReply YES or NO."
    assert text("y") == ["Thank you! Your answers were saved."]
    records = sms_submissions(db)
    assert [(r["consultation_id"], r["complete"]) for r in records] == [
        ("library-hours", False),
        ("park", True),
    ]


def test_a_valid_answer_that_is_another_consultations_keyword_is_an_answer(db, client) -> None:
    # "Park" is a choice here and the keyword of another consultation: mid-question it
    # answers; a free-text question still lets the keyword start the other consultation.
    place = {
        "id": "places",
        "title": "Places",
        "keywords": "PLACES",
        "questions": [
            {
                "id": "where",
                "type": "choice",
                "text": "Where do you go most?",
                "choices": [{"id": "library", "text": "Library"}, {"id": "park", "text": "Park"}],
            },
            {"id": "how_many", "type": "number", "text": "How many visits a month?"},
            {"id": "why", "type": "text", "text": "Why?"},
        ],
    }
    park = {
        "id": "park",
        "title": "The park",
        "keywords": ["PARK", "SIX"],
        "questions": [{"id": "like", "type": "yesno", "text": "Do you like the park?"}],
    }
    consultations.save(db, [consultations.parse(place, "places"), consultations.parse(park, "p")])

    def send(body: str) -> list[str]:
        return replies(post_signed(client, "/sms/twilio", inbound(body)))

    send("places")
    assert send("Park!")[0].startswith("2/3 How many visits a month?")
    assert send("six")[0].startswith("3/3 Why?")
    assert conversation_row(db)["answers"] == {"where": "park", "how_many": 6}
    assert send("PARK")[1] == "1/1 Do you like the park?\nReply YES or NO."
    [record] = sms_submissions(db)
    assert record["consultation_id"] == "places" and record["complete"] is False


def test_a_consultation_closed_midway_ends_the_conversation(text, db) -> None:
    text("HOURS")
    text("1")
    consultations.set_closed(db, "library-hours", True)
    assert text("2") == [
        "Library opening hours: this consultation is closed. Your answers so far were kept."
    ]
    [record] = sms_submissions(db)
    assert record["complete"] is False and record["answers"] == {"visits": "weekly"}
    # Its keyword now says it is closed; anything else gets the help, with nothing open.
    assert text("HOURS") == ["Library opening hours: this consultation is closed."]
    assert text("hello") == ["No consultation is open right now. Reply STOP to stop."]


def test_a_new_version_midway_keeps_the_pinned_version(text, db, consultation) -> None:
    text("HOURS")
    data = example_definition()
    data["questions"][0]["text"]["en"] = "How often do you come?"
    consultations.save(db, [consultations.parse(data, "v2")])
    for answer in ("1", "2", "no", "3", "SKIP", "SKIP"):
        reply = text(answer)
    assert reply == ["Thank you! Your answers were saved."]
    [record] = sms_submissions(db)
    assert record["consultation_version"] == consultation.version


def test_final_record_is_idempotent_on_the_conversation_submission_id(app, consultation, db):
    settings = engine(app)
    for body in ("HOURS", "1", "2", "no", "3", "SKIP", "SKIP"):
        conversations.receive(
            db, settings, conversations.Inbound(PHONE, body, f"SM{next(_sids):032d}")
        )
    row = db.execute("SELECT submission_id FROM sms_conversations").fetchone()
    [record] = sms_submissions(db)
    assert record["id"] == row[0]


# --- configuration: the pepper ------------------------------------------------------


def test_twilio_credentials_without_a_pepper_refuse_to_start(app_config) -> None:
    with pytest.raises(SmsConfigError, match="PHONE_PEPPER"):
        create_app({**app_config, "PHONE_PEPPER": ""})


def test_a_short_pepper_is_refused(app_config) -> None:
    with pytest.raises(SmsConfigError, match="16"):
        create_app({**app_config, "PHONE_PEPPER": "short"})


def test_the_simulator_generates_a_pepper_beside_the_database(app_config, db_path, db) -> None:
    config = {**app_config, "PHONE_PEPPER": "", "TWILIO_AUTH_TOKEN": ""}
    app = create_app(config)
    pepper = sms_config.get(app).pepper
    path = Path(str(db_path) + ".phone-pepper")
    assert path.read_text().strip().encode() == pepper and len(pepper) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sms_config.get(create_app(config)).pepper == pepper  # kept, not remade
    dump = "\n".join(db.conn.iterdump())
    assert pepper.decode() not in dump


# --- status callback and simulator edges --------------------------------------------


def test_status_callback_requires_a_signature(client, db) -> None:
    params = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered"}
    assert client.post("/sms/twilio/status", data=params).status_code == 403
    assert post_signed(client, "/sms/twilio/status", params).status_code == 204
    assert count_rows(db, "sms_status_events") == 1
    bad = post_signed(client, "/sms/twilio/status", {"MessageSid": "SMx"})
    assert bad.status_code == 400
    assert count_rows(db, "sms_status_events") == 1


def test_simulator_is_hidden_with_twilio_credentials(client, db) -> None:
    assert client.get("/sms/simulator").status_code == 404
    response = client.post("/sms/simulator", data={"number": PHONE, "body": "HOURS"})
    assert response.status_code in (400, 404)  # refused by CSRF or by the view, never served
    assert count_rows(db, "sms_inbound") == 0


def test_simulator_form_is_protected_by_csrf(app_config, consultation, db) -> None:
    app = create_app({**app_config, "TWILIO_AUTH_TOKEN": "", "SMS_SIMULATOR": True})
    client = app.test_client()
    response = client.post("/sms/simulator", data={"number": PHONE, "body": "HOURS"})
    assert response.status_code == 400
    assert count_rows(db, "sms_inbound") == 0


def test_with_twilio_the_simulator_never_texts_as_a_real_number(app_config, consultation, db):
    # Served beside real traffic, the page must not let anyone STOP or answer for a
    # resident: only numbers that cannot be in service (555-01xx, Ofcom's drama range).
    import re

    client = create_app({**app_config, "SMS_SIMULATOR": True}).test_client()
    page = client.get("/sms/simulator").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    real = {"number": "+1 415 555 2671", "body": "STOP", "csrf_token": token}
    response = client.post("/sms/simulator", data=real)
    assert response.status_code == 400
    assert "cannot be a real phone" in response.get_data(as_text=True)
    assert count_rows(db, "sms_contacts") == 0 and count_rows(db, "sms_inbound") == 0
    # Nor does it show what waits for a real number (an invitation list is private).
    from participate.sms import outbound

    outbound.enqueue(
        db, sms_config.get(client.application), "+14155552671", "Hi", kind="invitation"
    )
    page = client.get("/sms/simulator?number=%2B14155552671")
    assert page.status_code == 400 and "queued" not in page.get_data(as_text=True)
    for fictional in ("+15555550142", "+447700900123"):
        made_up = {**real, "number": fictional, "body": "HOURS"}
        assert client.post("/sms/simulator", data=made_up).status_code == 303
    assert count_rows(db, "sms_conversations") == 2


def test_the_webhook_works_alongside_the_simulator(app_config, consultation) -> None:
    app = create_app({**app_config, "SMS_SIMULATOR": True})
    client = app.test_client()
    assert client.get("/sms/simulator").status_code == 200
    assert len(replies(post_signed(client, "/sms/twilio", inbound("HOURS")))) == 2


def test_respondent_pseudonym_is_keyed(app) -> None:
    from participate.sms import phones

    assert phones.pseudonym(PHONE, PEPPER.encode()) == pseudonym(PHONE)
    assert phones.pseudonym(PHONE, b"another-pepper-0123456789") != pseudonym(PHONE)
    assert phones.to_e164("(555) 555-0123", "US") == PHONE


def test_replies_with_xml_special_characters_are_escaped(db, client) -> None:
    data = {
        "id": "qa",
        "title": 'Q&A <evening> "night"',
        "keywords": "QA",
        "questions": [{"id": "q", "type": "text", "text": "Ideas for <Q&A>?"}],
    }
    consultations.save(db, [consultations.parse(data, "qa")])
    texts = replies(post_signed(client, "/sms/twilio", inbound("qa")))
    assert texts[0].startswith('Q&A <evening> "night".')
    assert texts[1] == "1/1 Ideas for <Q&A>?"


# --- where the number is kept ------------------------------------------------------


def test_the_number_is_stored_in_sms_contacts_only(app_config, consultation, db) -> None:
    from participate.sms import outbound, simulator

    app = create_app({**app_config, "SMS_SIMULATOR": True})
    settings = sms_config.get(app)
    simulator.send(db, settings, PHONE, "HOURS")
    simulator.send(db, settings, PHONE, "2")
    outbound.enqueue(db, settings, PHONE, "Reminder", kind="reminder")
    digits = PHONE.lstrip("+")
    holders = set()
    for table in db.table_names():
        for row in db.execute(f"SELECT * FROM [{table}]").fetchall():  # noqa: S608
            if any(digits in str(value) for value in row):
                holders.add(table)
    assert holders == {"sms_contacts"}
    # Erasing the number is deleting one row; what pointed at it goes too.
    db.execute("DELETE FROM sms_contacts WHERE phone = ?", [PHONE])
    for table in ("sms_conversations", "sms_outbound", "sms_simulator_log"):
        assert count_rows(db, table) == 0


def test_handle_refuses_to_run_outside_a_transaction(app, db) -> None:
    from participate.sms import config, conversations

    inbound = conversations.Inbound("+15555550123", "HELP", "SM-outside")
    with pytest.raises(RuntimeError, match="write transaction"):
        conversations.handle(db, config.get(app), inbound)
    assert db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0] == 0
