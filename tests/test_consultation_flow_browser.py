"""From a staff member's browser to a branch kiosk and a texter, and back to the export.

Issue 12's whole path, with every part really started: a staff member writes a
consultation in English and French in Chromium on a real waitress hub, with a question
asked only when the first answer is "No", reads its SMS cost and publishes it. A node
(its own store, its own waitress server) pulls it over the signed sync API; a visitor
answers it on the node's kiosk in French and a texter answers it through the hub's
signed Twilio webhook in English; both answer "Yes", so the follow-up is asked of
neither. The node pushes its answers, and the export the staff member downloads says
"not asked" where it was not asked, which is not the blank of a question left empty.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright import sync_api

from participate import store
from participate.app import create_app
from participate.hub import users
from participate.sync import devices, node
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    new_context,
    quick_password_hashing,
)
from tests.test_authoring_browser import add_question, log_in, question
from tests.test_sms import PEPPER, PUBLIC_URL, TOKEN, inbound, post_signed, replies

pytestmark = pytest.mark.browser
expect = sync_api.expect

PASSWORD = "correct horse battery"
WIDE = {"width": 1400, "height": 1000}
KIOSK = {"width": 1080, "height": 1920}  # a portrait kiosk
NOT_ASKED = "not asked"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[ServerThread, Flask, Path, tuple[str, str]]]:
    """A hub with a staff member and an enrolled kiosk node; Twilio's webhook configured."""
    path = tmp_path / "hub.db"
    with quick_password_hashing(), store.open_db(path, migrate=True) as db:
        users.create_user(db, "staff@example.org", PASSWORD, "staff")
        device = devices.add_device(db, "Branch library kiosk")
    app = create_app(
        {
            "DATABASE": str(path),
            "ROLE": "hub",
            "SECRET_KEY": "test",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_FROM": "+15555550100",
            "PUBLIC_URL": PUBLIC_URL,
            "PHONE_PEPPER": PEPPER,
        }
    )
    with ServerThread(app) as running:
        yield running, app, path, device


def write_and_publish(page: sync_api.Page, server: ServerThread) -> None:
    """Write the consultation in the editor, check its SMS cost, and publish it."""
    log_in(page, server)
    page.goto(f"{server.url}/staff/authoring/")
    page.get_by_role("button", name="New consultation").click()
    page.get_by_label("Identifier (letters, digits, - and _)").fill("parks")
    page.get_by_label("Title (English)").fill("Our parks")
    page.get_by_label("Title (French)").fill("Nos parcs")
    page.get_by_label("SMS keywords (English)").fill("PARKS")
    page.get_by_label("SMS keywords (French)").fill("PARCS")
    page.get_by_label("Opens on").fill("2026-01-01")
    add_question(page, "Yes or no", "Is the lighting enough?", "L’éclairage suffit-il ?")
    why = add_question(page, "Written answer", "What should change?", "Que faudrait-il changer ?")
    why.get_by_label("Ask this question").select_option(label="only if the answer to q1 is…")
    question(page, 2).get_by_label("No").check()
    add_question(page, "Scale", "How safe do you feel?", "Vous sentez-vous en sécurité ?")
    preview = page.get_by_role("complementary", name="Preview of the draft")
    english = preview.get_by_role("region", name="SMS in English")
    expect(
        english.get_by_text(re.compile(r"The whole conversation: from \d+ segments"))
    ).to_be_visible()
    expect(english.get_by_text("sent only if the answer to q1 is: No")).to_be_visible()
    assert_no_axe_violations(page, "editor")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(re.compile(r"parks is published: version \w+"))).to_be_visible()
    assert_no_axe_violations(page, "authoring list after publishing")


def answer_at_the_kiosk(browser, node_server: ServerThread) -> None:
    """A visitor answers in French on the node's kiosk: "Oui", so q2 never shows."""
    context = new_context(browser, viewport=KIOSK)
    page = context.new_page()
    page.goto(f"{node_server.url}/?lang=fr")
    page.get_by_role("button", name="Nos parcs").click()
    expect(page.get_by_text("Question 1 sur 3", exact=True)).to_be_visible()
    page.get_by_role("radio", name="Oui").check()
    page.get_by_role("button", name="Suivant").click()
    # The follow-up is skipped: the safety question is second, of two now.
    expect(page.get_by_role("heading", name="Vous sentez-vous en sécurité ?")).to_be_visible()
    expect(page.get_by_text("Question 2 sur 2", exact=True)).to_be_visible()
    assert_no_axe_violations(page, "kiosk question after a skipped one")
    page.get_by_role("radio", name="4", exact=True).check()
    page.get_by_role("button", name="Vérifier mes réponses").click()
    expect(page.get_by_role("term")).to_have_count(2)
    assert "Que faudrait-il changer" not in page.locator("main").inner_text()
    page.get_by_role("button", name="Envoyer mes réponses").click()
    expect(page.get_by_role("heading", name=re.compile("Merci"))).to_be_visible()
    context.close()


def test_a_consultation_written_in_the_browser_runs_on_a_node_and_by_sms(
    browser, hub, tmp_path: Path
) -> None:
    hub_server, hub_app, hub_path, (device_id, secret) = hub
    staff = new_context(browser, viewport=WIDE)
    page = staff.new_page()
    write_and_publish(page, hub_server)

    # The node pulls what the hub published, over the signed sync API.
    node_path = tmp_path / "node.db"
    node_settings = {
        "DATABASE": str(node_path),
        "ROLE": "node",
        "DEVICE_ID": device_id,
        "DEVICE_SECRET": secret,
        "HUB_URL": hub_server.url,
        "SECRET_KEY": "node",
    }
    node_app = create_app(node_settings)
    with store.open_db(node_path) as db:
        node.save_enrolment(db, hub_server.url, device_id, secret)
        with node.client_from_store(db) as client:
            assert node.pull(db, client) >= 1
    with ServerThread(node_app) as node_server:
        answer_at_the_kiosk(browser, node_server)
    with store.open_db(node_path) as db:
        with node.client_from_store(db) as client:
            report = node.sync_once(db, client)
        assert report.push.stored == 1
        [kiosk_answers] = [json.loads(r[0]) for r in db.execute("SELECT answers FROM submissions")]
    assert kiosk_answers == {"q1": True, "q3": 4}

    # A texter answers in English through the hub's signed Twilio webhook: "YES" skips q2.
    sms = hub_app.test_client()
    first = replies(post_signed(sms, "/sms/twilio", inbound("PARKS")))
    assert any("1/3" in reply for reply in first), first
    after_yes = replies(post_signed(sms, "/sms/twilio", inbound("YES")))
    assert any("2/2" in reply and "How safe" in reply for reply in after_yes), after_yes
    assert not any("What should change" in reply for reply in after_yes)
    replies(post_signed(sms, "/sms/twilio", inbound("5")))

    # The staff member downloads the export: q2 was not asked of either, and says so.
    page.goto(f"{hub_server.url}/staff/c/parks/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV", exact=True).click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert sorted((row["channel"], row["q1"], row["q2"], row["q3"]) for row in rows) == [
        ("kiosk", "yes", NOT_ASKED, "4"),
        ("sms", "yes", NOT_ASKED, "5"),
    ]
    with store.open_db(hub_path) as db:
        assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 2
    staff.close()
