"""The phone call channel, driven through signed Twilio webhooks as Twilio drives a call."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from itertools import count
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from participate import clock, consultations, submissions
from participate.sms import conversations
from participate.voice import calls
from tests.conftest import EXAMPLE

TOKEN = "twilio-test-token-0123456789abcdef"
PUBLIC_URL = "https://participate.example.org"
PEPPER = "pepper-for-the-tests-0123456789"
PHONE = "+15555550123"
_sids = count(1)


@pytest.fixture
def app_config(db_path: Path) -> dict:
    return {
        "TESTING": True,
        "DATABASE": str(db_path),
        "SECRET_KEY": "test",
        "ROLE": "hub",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_URL": PUBLIC_URL,
        "PHONE_PEPPER": PEPPER,
    }


@pytest.fixture
def consultation(db) -> consultations.Consultation:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    loaded = consultations.parse(data, "example")
    consultations.save(db, [loaded])
    return loaded


def post_signed(
    client: FlaskClient, url: str, params: dict[str, str], *, signature: str | None = None
):
    """POST like Twilio: to the absolute public URL, signed over it and every parameter."""
    path = url.removeprefix(PUBLIC_URL)
    signed = (
        signature
        if signature is not None
        else RequestValidator(TOKEN).compute_signature(url, params)
    )
    return client.post(path, data=params, headers={"X-Twilio-Signature": signed})


class Call:
    """A caller on the line, following each <Gather action> (<Redirect> on silence) as Twilio."""

    def __init__(self, client: FlaskClient, *, query: str = "", phone: str = PHONE) -> None:
        self.client = client
        self.sid = f"CA{next(_sids):032d}"
        self.phone = phone
        self.heard: list[tuple[str, str]] = []  # (language, text)
        self.next_url: str | None = PUBLIC_URL + "/voice/twilio" + (f"?{query}" if query else "")
        self.silence_url: str | None = None
        self.last = self._post(self.next_url, {})

    def _post(self, url: str, extra: dict[str, str]):
        params = {
            "CallSid": self.sid,
            "From": self.phone,
            "To": "+15555550100",
            "AccountSid": "AC" + "0" * 32,
            **extra,
        }
        response = post_signed(self.client, url, params)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/xml"
        self._read(response.get_data(as_text=True), url)
        return response

    def _read(self, twiml: str, url: str) -> None:
        root = ET.fromstring(twiml)  # noqa: S314 (our own TwiML)
        self.said = [(say.get("language", ""), say.text or "") for say in root.iter("Say")]
        self.heard += self.said
        gather = root.find("Gather")
        record = root.find("Record")
        redirect = root.find("Redirect")
        target = gather if gather is not None else record
        self.gather = gather
        self.next_url = urljoin(url, target.get("action")) if target is not None else None
        self.silence_url = urljoin(url, redirect.text) if redirect is not None else None
        self.hung_up = root.find("Hangup") is not None

    def press(self, digits: str):
        assert self.next_url, "the call is not waiting for a key"
        return self._post(self.next_url, {"Digits": digits})

    def silence(self):
        assert self.silence_url
        return self._post(self.silence_url, {})

    def text(self) -> str:
        return " ".join(text for _, text in self.said)


def stored(db) -> list[dict]:
    return [
        submissions.to_record(row) for row in db.query("SELECT * FROM submissions ORDER BY seq")
    ]


def test_a_full_french_call_answers_every_question_type(client, db, consultation) -> None:
    call = Call(client)
    assert call.said == [
        ("en-CA", "For English, press 1."),
        ("fr-CA", "Pour le français, appuyez sur le 2."),
    ]
    assert call.gather.get("input") == "dtmf" and call.gather.get("numDigits") == "1"
    call.press("2")
    assert all(lang == "fr-CA" for lang, _ in call.said)
    assert (
        "Aidez-nous" in call.text()
        and "Chaque semaine" in call.text()
        and "appuyez sur 1" in call.text()
    )
    call.press("1")  # visits: weekly
    assert "dièse" not in call.text() and "carré" in call.text()  # multi: one key at a time, then #
    call.press("3")
    assert "Le dimanche" in call.text()
    call.press("1")
    call.press("#")  # times: mornings, sundays
    assert "oui, appuyez sur 1" in call.text()
    call.press("1")  # evenings: yes
    call.press("4")  # rating: 4
    assert call.gather.get("finishOnKey") == "#"  # a number ends with #
    call.press("12")  # hours a week
    # The text question is skipped on a phone: the thanks, and the call ends.
    assert "Merci" in call.text() and call.hung_up
    [record] = stored(db)
    assert record["channel"] == "voice" and record["complete"] and record["language"] == "fr"
    assert record["answers"] == {
        "visits": "weekly",
        "times": ["mornings", "sundays"],
        "evenings": True,
        "rating": 4,
        "hours_per_week": 12,
    }
    # The same pseudonym as the number's texts.
    texted = conversations.receive
    assert record["respondent"] and PHONE not in json.dumps(record)
    del texted


def test_the_export_holds_the_call_with_channel_voice(
    client, db, consultation, runner, db_path, tmp_path
) -> None:
    from participate.cli import main

    call = Call(client)
    for key in ("2", "2", "2", "#", "2", "5", "#"):
        call.press(key)
    assert call.hung_up
    out = tmp_path / "export.json"
    result = runner.invoke(
        main,
        [
            "export",
            "--db",
            str(db_path),
            "--consultation",
            consultation.id,
            "--format",
            "json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    [exported] = json.loads(out.read_text())["submissions"]
    assert exported["channel"] == "voice"
    assert exported["answers"] == {
        "visits": "monthly",
        "times": ["evenings"],
        "evenings": False,
        "rating": 5,
    }


def test_a_repeated_step_is_answered_the_same_and_changes_nothing(client, db, consultation) -> None:
    call = Call(client)
    call.press("1")
    url = call.next_url
    first = call.press("1")  # visits: weekly
    again = call._post(url, {"Digits": "3"})  # Twilio retries the same CallSid and step
    assert again.get_data() == first.get_data()
    session = next(db.query("SELECT position, answers FROM voice_sessions"))
    assert session["position"] == 1 and json.loads(session["answers"]) == {"visits": "weekly"}


def test_a_forged_signature_is_refused(client, db, consultation) -> None:
    params = {"CallSid": "CA" + "f" * 32, "From": PHONE}
    response = post_signed(client, PUBLIC_URL + "/voice/twilio", params, signature="forged")
    assert response.status_code == 403
    unsigned = client.post("/voice/twilio", data=params)
    assert unsigned.status_code == 403
    assert db.execute("SELECT count(*) FROM voice_calls").fetchone()[0] == 0
    status = post_signed(
        client,
        PUBLIC_URL + "/voice/twilio/status",
        {"CallSid": "x", "CallStatus": "completed"},
        signature="forged",
    )
    assert status.status_code == 403


@pytest.mark.parametrize(
    ("keys", "hint"),
    [
        (["7"], "Sorry, that key does not answer this question."),  # no 7th choice
        ([""], "Sorry, that key does not answer this question."),  # empty Digits
        (["#"], "Sorry, that key does not answer this question."),  # a required question
    ],
)
def test_unexpected_keys_get_a_spoken_hint_and_the_question_again(
    client, db, consultation, keys, hint
) -> None:
    call = Call(client)
    call.press("1")
    for key in keys:
        call.press(key)
    assert call.said[0] == ("en-CA", hint)
    assert "How often do you visit?" in call.text() and not call.hung_up
    session = next(db.query("SELECT position, answers, retries FROM voice_sessions"))
    assert session["position"] == 0 and session["answers"] == "{}" and session["retries"] == 1


def test_star_repeats_and_silence_retries_three_times_then_goodbye(
    client, db, consultation
) -> None:
    call = Call(client)
    call.press("1")
    question = call.text()
    call.press("*")
    assert (
        call.text()
        == question.split("Press star")[-1].split("or 9 to stop receiving our invitations. ")[-1]
    )
    call.silence()
    assert call.said[0] == ("en-CA", "We did not hear a key.")
    call.press("8")
    call.silence()
    assert call.hung_up and "call again to continue" in call.text()
    assert stored(db) == []  # nothing answered yet: nothing to keep


def test_an_optional_question_moves_on_after_three_unclear_keys(client, db, consultation) -> None:
    call = Call(client)
    for key in ("1", "1", "1", "#", "1", "3"):  # to hours_per_week (optional)
        call.press(key)
    for _ in range(3):
        call.press("99999")
    assert "Thank you" in call.text() and call.hung_up
    [record] = stored(db)
    assert "hours_per_week" not in record["answers"] and record["complete"]


def test_nine_opts_the_number_out_and_keeps_the_answers(client, db, consultation) -> None:
    call = Call(client)
    call.press("2")
    call.press("1")
    call.press("9")
    assert call.hung_up and "invitations" in call.text()
    assert db.execute("SELECT opted_out_at IS NOT NULL FROM sms_contacts").fetchone()[0] == 1
    [record] = stored(db)
    assert not record["complete"] and record["answers"] == {"visits": "weekly"}


def test_a_dropped_call_resumes_and_expires_as_incomplete(client, app, db, consultation) -> None:
    call = Call(client)
    call.press("1")
    call.press("2")  # visits: monthly
    status = post_signed(
        client,
        PUBLIC_URL + "/voice/twilio/status",
        {"CallSid": call.sid, "CallStatus": "completed"},
    )
    assert status.status_code == 204
    again = Call(client)
    again.press("1")
    assert "Welcome back" in again.text() and "When would you come?" in again.text()
    assert stored(db) == []
    later = clock.parse(clock.utcnow()) + timedelta(hours=25)
    assert calls.expire_idle(db, app.extensions["voice"], now=later) == 1
    [record] = stored(db)
    assert record["channel"] == "voice" and not record["complete"]
    assert record["answers"] == {"visits": "monthly"}


def test_a_call_for_an_unknown_consultation_is_told_so(client, db, consultation) -> None:
    call = Call(client, query="consultation=no-such-thing")
    assert call.hung_up
    assert [lang for lang, _ in call.said] == ["en-CA", "fr-CA"]
    assert "cannot be answered by phone" in call.text()
    assert db.execute("SELECT count(*) FROM voice_calls").fetchone()[0] == 0


def test_a_hidden_number_is_told_why_it_cannot_answer(client, db, consultation) -> None:
    call = Call(client, phone="anonymous")
    assert call.hung_up and "not hidden" in call.text() and "masqué" in call.text()
    assert db.execute("SELECT count(*) FROM voice_calls").fetchone()[0] == 0


def test_the_same_number_has_the_same_pseudonym_by_phone_and_by_text(
    client, app, db, consultation
) -> None:
    from participate.sms import config as sms_config

    call = Call(client)
    for key in ("1", "1", "1", "#", "1", "3", "#"):
        call.press(key)
    with app.app_context():
        settings = sms_config.get(app)
        for body in ("HOURS", "1", "1", "yes", "3", "SKIP", "SKIP"):
            conversations.receive(
                db, settings, conversations.Inbound(PHONE, body, f"SM{next(_sids)}")
            )
    by_channel = {r["channel"]: r["respondent"] for r in stored(db)}
    assert by_channel["voice"] == by_channel["sms"]


def test_recorded_answers_are_kept_as_audio_references(app_config, db, consultation) -> None:
    from participate.app import create_app

    app = create_app({**app_config, "VOICE_RECORDINGS": True})
    client = app.test_client()
    call = Call(client)
    for key in ("1", "1", "1", "#", "1", "3", "#"):
        call.press(key)
    assert "after the tone" in call.text()
    call._post(
        call.next_url,
        {
            "RecordingSid": "RE" + "1" * 32,
            "RecordingUrl": "https://api.twilio.com/rec/RE1",
            "RecordingDuration": "7",
        },
    )
    assert call.hung_up
    [record] = stored(db)
    assert record["answers"]["comments"].startswith("[recorded answer, 7 s")
    kept = next(db.query("SELECT question_id, recording_sid FROM voice_recordings"))
    assert kept["question_id"] == "comments"


RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC00/Recordings/RE" + "2" * 32


def test_recordings_are_fetched_home_and_deleted_at_twilio(db, db_path, consultation) -> None:
    from participate.voice import recordings

    db.execute(
        "INSERT INTO voice_recordings (submission_id, question_id, recording_sid, recording_url,"
        " created_at) VALUES ('s', 'comments', ?, ?, 'now'), ('s2', 'comments', ?, ?, 'now')",
        ["RE" + "2" * 32, RECORDING_URL, "RE" + "3" * 32, "https://evil.example/RE3"],
    )
    asked, deleted = [], []

    def download(url, auth):
        asked.append((url, auth))
        return b"RIFF....WAVE"

    auth = ("AC00", "token")
    fetched = recordings.fetch_pending(
        db, db_path, auth, download=download, delete=lambda url, a: deleted.append(url)
    )
    assert fetched == 1
    assert asked == [(RECORDING_URL + ".wav", auth)]  # never to another host
    assert deleted == [RECORDING_URL + ".json"]
    kept = recordings.folder(db_path) / ("RE" + "2" * 32 + ".wav")
    assert kept.read_bytes() == b"RIFF....WAVE"
    rows = {r["recording_sid"][:3]: r for r in db.query("SELECT * FROM voice_recordings")}
    assert rows["RE2"]["path"] == str(kept) and rows["RE2"]["fetched_at"]
    assert rows["RE3"]["path"] is None and rows["RE3"]["attempts"] == 1
    assert "not on Twilio's API host" in rows["RE3"]["last_error"]


def test_a_failed_download_is_tried_again_later(db, db_path, consultation) -> None:
    from participate.voice import recordings

    db.execute(
        "INSERT INTO voice_recordings (submission_id, question_id, recording_sid, recording_url,"
        " created_at) VALUES ('s', 'comments', ?, ?, 'now')",
        ["RE" + "2" * 32, RECORDING_URL],
    )

    def down(url, auth):
        raise recordings.RecordingError("Twilio answered 503")

    assert recordings.fetch_pending(db, db_path, ("a", "b"), download=down) == 0
    assert recordings.fetch_pending(db, db_path, ("a", "b"), download=lambda u, a: b"x",
                                    delete=lambda u, a: None) == 1  # fmt: skip


@pytest.mark.parametrize(
    ("keys", "value"),
    [("12", 12), ("2*5", 2.5), ("*5", 0.5), ("7*", 7.0), ("1*2*3", None), ("*", None), ("", None)],
)
def test_star_is_the_decimal_point_inside_a_number(keys, value) -> None:
    from participate.errors import AnswerError

    question = consultations.parse(
        {
            "id": "n",
            "title": "N",
            "languages": ["en"],
            "questions": [{"id": "km", "type": "number", "text": "How far?", "min": 0, "max": 100}],
        }
    ).questions[0]
    if value is None:
        with pytest.raises(AnswerError):
            calls._parse(question, keys)
    else:
        assert calls._parse(question, keys) == value
