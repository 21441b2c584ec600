"""Authoring in Debian's Chromium against a real waitress hub: a staff member writes a
consultation in English and French with a skipped question, reads its SMS cost, and
publishes it; with JavaScript and without; every authoring page passes axe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from participate import consultations, store
from participate.hub import users
from tests.conftest import EXAMPLE
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    hub_server,
    new_context,
    quick_password_hashing,
)

pytestmark = pytest.mark.browser
expect = sync_api.expect

PASSWORD = "correct horse battery"
MISSING = re.compile(r"^\W*Translation missing$")
WIDE = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def hub_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a hub store with the example published and one account per role."""
    path = tmp_path_factory.mktemp("hub") / "hub.db"
    with quick_password_hashing(), store.open_db(path, migrate=True) as db:
        consultations.save(db, [consultations.read_file(EXAMPLE)])
        for role in users.ROLES:
            users.create_user(db, f"{role}@example.org", PASSWORD, role)
    return path


@pytest.fixture(scope="module")
def server(hub_path: Path) -> Iterator[ServerThread]:
    yield from hub_server(hub_path)


def log_in(page: sync_api.Page, server: ServerThread, role: str = "staff") -> None:
    page.goto(f"{server.url}/staff/")
    page.get_by_label("Email").fill(f"{role}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def question(page: sync_api.Page, number: int) -> sync_api.Locator:
    return page.get_by_role("region", name=re.compile(rf"^Question {number} ·"))


def add_question(page: sync_api.Page, kind: str, english: str, french: str) -> sync_api.Locator:
    page.get_by_label("Type of the new question").select_option(label=kind)
    page.get_by_role("button", name="Add a question").click()
    count = page.get_by_role("region", name=re.compile(r"^Question \d+ ·")).count()
    section = question(page, count)
    section.get_by_label("Question (English)").fill(english)
    section.get_by_label("Question (French)").fill(french)
    return section


def test_staff_write_a_bilingual_consultation_with_a_skipped_question_and_publish_it(
    browser, server: ServerThread, hub_path: Path
) -> None:
    context = new_context(browser, viewport=WIDE)
    page = context.new_page()
    log_in(page, server)
    page.get_by_role("navigation").get_by_role("link", name="Authoring").click()
    expect(page.get_by_role("heading", name="Author consultations", level=1)).to_be_visible()
    assert_no_axe_violations(page, "authoring list")
    page.get_by_role("button", name="New consultation").click()
    expect(page.get_by_role("heading", name="New consultation", level=1)).to_be_visible()

    page.get_by_label("Identifier (letters, digits, - and _)").fill("parks")
    page.get_by_label("Title (English)").fill("Our parks")
    page.get_by_label("SMS keywords (English)").fill("PARKS")
    page.get_by_label("SMS keywords (French)").fill("PARCS")
    page.get_by_label("Opens on").fill("2026-01-01")
    lighting = add_question(page, "Yes or no", "Is the lighting enough?", "L’éclairage suffit-il ?")
    expect(lighting).to_be_visible()
    # The French title is still missing: said in words beside its field.
    expect(page.get_by_text(MISSING)).to_have_count(1)
    page.get_by_label("Title (French)").fill("Nos parcs")
    why = add_question(page, "Written answer", "What should change?", "Êtes-vous mal à l’aise ?")
    # Choosing the question a rule looks at saves the draft (the script) and shows its answers.
    why.get_by_label("Ask this question").select_option(label="only if the answer to q1 is…")
    question(page, 2).get_by_label("No").check()

    # The live preview follows the typing: the SMS conversation, its cost, the UCS-2 culprit.
    preview = page.get_by_role("complementary", name="Preview of the draft")
    french = preview.get_by_role("region", name="SMS in French")
    expect(french.get_by_text("Write “E” instead of “Ê”.")).to_be_visible()
    expect(
        french.get_by_text(re.compile(r"The whole conversation: from \d+ segments"))
    ).to_be_visible()
    expect(french.get_by_text("sent only if the answer to q1 is: No")).to_be_visible()
    english = preview.get_by_role("region", name="SMS in English")
    expect(english.get_by_text("What should change?", exact=False)).to_be_visible()
    expect(page.get_by_text(MISSING)).to_have_count(0)
    # Typing alone redraws the preview (the script saves the draft and fetches it).
    page.get_by_label("Thank-you message, if any (English)").fill("Thanks, neighbours!")
    expect(english.get_by_text("Thanks, neighbours!")).to_be_visible()
    page.get_by_label("Thank-you message, if any (French)").fill("Merci, chers voisins\u00a0!")
    frame = page.frame_locator("iframe[title='Kiosk screen preview']")
    expect(frame.get_by_role("heading", name="Is the lighting enough?")).to_be_visible()
    preview.get_by_label("Screen").select_option(label="Question 2 · q2")
    preview.get_by_label("Language").select_option(label="French")
    preview.get_by_role("button", name="Show this screen").click()
    expect(frame.get_by_role("heading", name="Êtes-vous mal à l’aise ?")).to_be_visible()
    expect(frame.get_by_role("button", name="Vérifier mes réponses")).to_be_visible()
    assert_no_axe_violations(page, "editor with its preview")
    kiosk = context.new_page()
    screen = page.locator("iframe[title='Kiosk screen preview']").get_attribute("src")
    kiosk.goto(f"{server.url}{screen}")
    expect(kiosk.get_by_role("heading", level=1)).to_be_visible()
    assert_no_axe_violations(kiosk, "kiosk screen preview")
    kiosk.close()

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(re.compile(r"parks is published: version \w+"))).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Our parks"))
    expect(row.get_by_role("cell", name="open", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile(r"published \(version"))).to_be_visible()
    with store.open_db(hub_path) as db:
        published = consultations.get(db, "parks")
    assert published.title == {"en": "Our parks", "fr": "Nos parcs"}
    assert published.questions[1].ask_if == consultations.Rule("q1", (False,))
    assert published.keywords == {"en": ("PARKS",), "fr": ("PARCS",)}
    context.close()


def test_without_javascript_the_preview_button_and_errors_beside_fields(
    browser, server: ServerThread, hub_path: Path
) -> None:
    context = new_context(browser, viewport=WIDE, javascript_enabled=False)
    page = context.new_page()
    log_in(page, server)
    page.goto(f"{server.url}/staff/authoring/")
    page.get_by_role("button", name="New consultation").click()
    page.get_by_label("Identifier (letters, digits, - and _)").fill("benches")
    page.get_by_label("Title (English)").fill("Benches")
    page.get_by_label("Title (French)").fill("Bancs")
    page.get_by_label("SMS keywords (French)").fill("STOP")
    add_question(page, "Scale", "How comfortable?", "Quel confort ?")
    add_question(page, "Number", "How many?", "Combien ?")
    # Without the script, choosing the rule's question takes a save to show its answers.
    question(page, 2).get_by_label("Ask this question").select_option(
        label="only if the answer to q1 is…"
    )
    page.get_by_role("button", name="Preview", exact=True).click()
    question(page, 2).get_by_label("5").check()
    page.get_by_role("button", name="Preview", exact=True).click()
    preview = page.get_by_role("complementary", name="Preview of the draft")
    expect(preview.get_by_role("region", name="SMS in English")).to_contain_text("How many?")
    # Publishing runs the checks of participate load: STOP is the texters' word.
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("alert")).to_contain_text("Not published.")
    field = page.get_by_label("SMS keywords (French)")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#keywords-fr-error")).to_contain_text("is reserved")
    with store.open_db(hub_path) as db:
        assert (
            db.execute("SELECT count(*) FROM consultations WHERE id = 'benches'").fetchone()[0] == 0
        )
        draft = db.execute(
            "SELECT definition FROM consultation_drafts WHERE definition LIKE '%benches%'"
        ).fetchone()
    assert draft is not None and '"in": [5]' in draft[0]
    # axe needs scripts: the same error page, checked with JavaScript on.
    url = page.url
    context.close()
    checked = new_context(browser, viewport=WIDE)
    page = checked.new_page()
    log_in(page, server)
    page.goto(url)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("alert")).to_contain_text("Not published.")
    assert_no_axe_violations(page, "editor showing an error")
    checked.close()
