"""The simulator page's phone keypad, in a real Chromium against a real waitress server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from participate import consultations, store
from participate.app import create_app
from participate.voice import simulator
from tests.conftest import EXAMPLE
from tests.support.browser import ServerThread, assert_no_axe_violations, new_context

NUMBER = "+15555550142"


def load_example(db_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    with store.open_db(db_path, migrate=True) as db:
        consultations.save(db, [consultations.parse(data, "example")])


@pytest.fixture
def server(db_path: Path) -> Iterator[ServerThread]:
    load_example(db_path)
    app = create_app({"DATABASE": str(db_path), "ROLE": "hub", "SMS_SIMULATOR": True})
    with ServerThread(app) as running:
        yield running


def test_spoken_reads_what_twilio_would_say_and_whether_it_waits() -> None:
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/twilio?step=1">'
        '<Say language="fr-CA">Bonjour</Say></Gather><Redirect>/x</Redirect></Response>'
    )
    assert simulator.spoken(twiml) == (["Bonjour"], True)
    assert simulator.spoken("<Response><Say>Au revoir</Say><Hangup/></Response>") == (
        ["Au revoir"],
        False,
    )


@pytest.mark.browser
def test_a_french_call_from_the_keypad(server, browser, db_path) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{server.url}/sms/simulator?number=%2B15555550142")
    call = page.locator("#call")
    call.get_by_role("button", name="Call").click()
    assert "Pour le français, appuyez sur le 2." in call.inner_text()
    assert_no_axe_violations(page, "simulator keypad in a call")
    keypad = page.get_by_role("group", name="Keypad")
    for key in ("2", "1", "3", "Pound", "2", "4", "Pound"):
        keypad.get_by_role("button", name=key, exact=True).click()
    assert "Merci ! Vos réponses ont été enregistrées." in call.inner_text()
    assert call.get_by_role("button", name="Call").is_visible()  # the call has ended
    assert_no_axe_violations(page, "simulator keypad after a call")
    context.close()
    with store.open_db(db_path) as db:
        row = next(db.query("SELECT channel, answers, complete FROM submissions"))
    assert row["channel"] == "voice" and row["complete"] == 1
    assert json.loads(row["answers"]) == {
        "visits": "weekly",
        "times": ["sundays"],
        "evenings": False,
        "rating": 4,
    }


def test_the_keypad_refuses_an_unknown_key(db_path: Path) -> None:
    load_example(db_path)
    app = create_app(
        {"DATABASE": str(db_path), "ROLE": "hub", "SMS_SIMULATOR": True, "TESTING": True,
         "WTF_CSRF_ENABLED": False}
    )  # fmt: skip
    client = app.test_client()
    assert client.post("/voice/simulator", data={"number": NUMBER, "key": "A"}).status_code == 400
    refused = client.post("/voice/simulator", data={"number": "hello", "action": "call"})
    assert refused.status_code == 400
