"""The SMS simulator page in a real Chromium against a real waitress server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from participate import consultations, store
from participate.app import create_app
from tests.conftest import EXAMPLE
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    new_context,
    record_requests,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def server(db_path: Path) -> Iterator[ServerThread]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.pop("opens", None)
    with store.open_db(db_path) as db:
        consultations.save(db, [consultations.parse(data, "example")])
    app = create_app({"DATABASE": str(db_path), "ROLE": "hub", "SMS_SIMULATOR": True})
    with ServerThread(app) as running:
        yield running


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()


def test_text_the_channel_from_the_simulator(server, browser, db_path) -> None:
    context = new_context(browser)
    page = context.new_page()
    requests = record_requests(context)
    page.goto(server.url + "/sms/simulator")
    assert_no_axe_violations(page, "empty simulator")
    page.get_by_label("Your phone number").fill("+1 555 555 0142")
    send(page, "HOURS")
    conversation = page.get_by_role("list")
    assert "1/6 How often do you visit?" in conversation.inner_text()
    assert "GSM-7, 1 segment" in conversation.inner_text()
    for answer in ("2", "1,3", "yes", "4", "SKIP"):
        send(page, answer)
    send(page, "Open on Sundays 👍")
    items = page.get_by_role("listitem")
    assert "Thank you! Your answers were saved." in items.last.inner_text()
    assert page.get_by_label("Your phone number").input_value() == "+15555550142"
    assert_no_axe_violations(page, "simulator after a conversation")
    requests.assert_local()
    context.close()
    with store.open_db(db_path) as db:
        row = db.execute("SELECT answers, complete, respondent FROM submissions").fetchone()
    assert '"comments": "Open on Sundays 👍"' in row[0] and row[1] == 1
    assert "5555550142" not in row[2]


def test_simulator_works_without_javascript(server, browser) -> None:
    context = new_context(browser, javascript_enabled=False)
    page = context.new_page()
    page.goto(server.url + "/sms/simulator?lang=fr")
    assert page.get_by_role("heading", name="Simulateur SMS").is_visible()
    page.get_by_label("Votre numéro de téléphone").fill("+33612345678")
    page.get_by_label("Message").fill("heures")
    page.get_by_role("button", name="Envoyer").click()
    assert "1/6 Quelle est la fréquence de vos visites ?" in page.get_by_role("list").inner_text()
    assert "GSM-7, 1 segment" in page.get_by_role("list").inner_text()
    context.close()


def test_a_bad_number_is_explained(server, browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(server.url + "/sms/simulator")
    page.get_by_label("Your phone number").fill("hello")
    send(page, "HOURS")
    assert page.get_by_text("Enter a phone number, for example +15555550100.").is_visible()
    assert page.get_by_label("Message").input_value() == "HOURS"
    assert_no_axe_violations(page, "simulator with an error")
    context.close()
