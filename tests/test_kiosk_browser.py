"""The kiosk in Debian's Chromium against a real waitress server, as a visitor would use it.

The screens at each screen shape, and the screenshots in docs/, are in test_kiosk_screens.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from playwright import sync_api

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

VIEWPORT = {"width": 1280, "height": 800}
MAX_SCREEN_BYTES = 150 * 1024
MIN_TARGET_PX = 48


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a store holding the example consultation, without dates (open any day)."""
    path = tmp_path_factory.mktemp("kiosk") / "node.db"
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.pop("opens", None)
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, [consultations.parse(data, "library-hours.yaml")])
    return path


@pytest.fixture(scope="module")
def server(store_path: Path) -> Iterator[ServerThread]:
    """Serve a node's kiosk on a free loopback port."""
    app = create_app(
        {
            "DATABASE": str(store_path),
            "ROLE": "node",
            "DEVICE_ID": "node-browser",
            "SECRET_KEY": "test",
            "KIOSK_THANKS_SECONDS": 2,
        }
    )
    with ServerThread(app) as running:
        yield running


@pytest.fixture
def db(store_path: Path) -> Iterator[sqlite_utils.Database]:
    connection = store.open_db(store_path)
    connection.execute("DELETE FROM submissions")
    connection.execute("DELETE FROM kiosk_visits")
    yield connection
    connection.close()


def stored(db: sqlite_utils.Database) -> list[dict]:
    rows = db.execute("SELECT answers, language, channel FROM submissions").fetchall()
    return [{"answers": json.loads(a), "language": lang, "channel": ch} for a, lang, ch in rows]


class Screens:
    """Check each screen: axe, weight, touch targets."""

    def __init__(self, page) -> None:
        self.page = page

    def check(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        assert_no_axe_violations(page, name)
        weight = page.evaluate(
            """() => performance.getEntriesByType('navigation')
                 .concat(performance.getEntriesByType('resource'))
                 .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)"""
        )
        assert 0 < weight < MAX_SCREEN_BYTES, f"{name}: {weight} bytes"
        small = page.evaluate(
            """(min) => Array.from(document.querySelectorAll(
                   'button, a.button, .option span, input[type=text], textarea'))
                 .filter((el) => el.offsetParent !== null)
                 .map((el) => [el.textContent.trim() || el.outerHTML.slice(0, 60),
                               el.getBoundingClientRect()])
                 .filter(([, r]) => r.width < min || r.height < min)
                 .map(([label, r]) =>
                      `${label}: ${Math.round(r.width)}x${Math.round(r.height)}`)""",
            MIN_TARGET_PX,
        )
        assert small == [], f"{name}: touch targets under {MIN_TARGET_PX}px: {small}"


def type_on_screen(page, text: str, language: str) -> None:
    """Type `text` with the kiosk's on-screen keyboard, as a visitor taps it."""
    fr = language == "fr"
    keyboard = page.get_by_role("group", name="Clavier" if fr else "Keyboard")
    capitals = keyboard.get_by_role("button", name="Majuscule" if fr else "Capitals")
    for char in text:
        if char == " ":
            keyboard.get_by_role("button", name="Espace" if fr else "Space").click()
            continue
        if char != char.lower():
            capitals.click()
        keyboard.get_by_role("button", name=char.lower(), exact=True).click()


def answer_visit(page, language: str, screens: Screens | None = None) -> None:
    """Answer every question of the example with JavaScript on, checking each screen."""
    fr = language == "fr"

    def check(name: str) -> None:
        if screens:
            screens.check(name)

    # 1 choice: first Next without an answer shows the error, focused.
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    error = page.get_by_role("alert")
    expected = "Veuillez choisir une réponse." if fr else "Please choose an answer."
    sync_api.expect(error).to_contain_text(expected)
    assert page.evaluate("document.activeElement.id") == "answer-error"
    check("error")
    page.get_by_role("radio", name="Chaque mois" if fr else "Every month").check()
    check("question-choice")
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    # 2 multi
    sync_api.expect(
        page.get_by_text("Question 2 sur 6" if fr else "Question 2 of 6")
    ).to_be_visible()
    page.get_by_role("checkbox", name="Le matin" if fr else "Mornings").check()
    page.get_by_role("checkbox", name="Le dimanche" if fr else "Sundays").check()
    check("question-multi")
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    # 3 yes/no
    page.get_by_role("radio", name="Oui" if fr else "Yes").check()
    check("question-yesno")
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    # 4 scale
    page.get_by_role("radio", name="4", exact=True).check()
    check("question-scale")
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    # 5 number, on the keypad
    keypad = page.locator("[data-keypad]")
    keypad.get_by_role("button", name="1", exact=True).click()
    keypad.get_by_role("button", name="2", exact=True).click()
    keypad.get_by_role("button", name="9", exact=True).click()
    keypad.get_by_role("button", name="Effacer" if fr else "Delete").click()
    assert page.get_by_role("textbox").input_value() == "12"
    check("question-number")
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    # 6 text, on the on-screen keyboard
    type_on_screen(page, "Peut-être le soir !" if fr else "More seats", language)
    check("question-text")
    page.get_by_role("button", name="Vérifier mes réponses" if fr else "Review my answers").click()
    heading = "Vérifiez vos réponses" if fr else "Check your answers"
    sync_api.expect(page.get_by_role("heading", name=heading)).to_be_visible()
    check("review")


def expected_answers(text: str) -> dict:
    return {
        "visits": "monthly",
        "times": ["mornings", "sundays"],
        "evenings": True,
        "rating": 4,
        "hours_per_week": 12,
        "comments": text,
    }


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_complete_visit_in_each_language(server, browser, db, language: str) -> None:
    fr = language == "fr"
    context = new_context(browser, viewport=VIEWPORT)
    requests = record_requests(context)
    context.set_default_timeout(10_000)
    page = context.new_page()
    screens = Screens(page)
    page.goto(server.url + "/")
    if fr:
        page.get_by_role("link", name="Français").click()
        sync_api.expect(page.get_by_role("heading", name="Donnez votre avis")).to_be_visible()
    screens.check("welcome")
    title = "Heures d’ouverture de la bibliothèque" if fr else "Library opening hours"
    page.get_by_role("button", name=title).click()
    answer_visit(page, language, screens)
    page.get_by_role("button", name="Envoyer mes réponses" if fr else "Send my answers").click()
    thanks = (
        "Merci ! Vos réponses ont été enregistrées."
        if fr
        else "Thank you! Your answers were saved."
    )
    sync_api.expect(page.get_by_text(thanks)).to_be_visible()
    # Committed before the thank-you screen, exactly as given.
    assert stored(db) == [
        {
            "answers": expected_answers("Peut-être le soir !" if fr else "More seats"),
            "language": language,
            "channel": "kiosk",
        }
    ]
    screens.check("thanks")
    # The thank-you screen returns to the welcome screen by itself.
    page.wait_for_url(server.url + "/", timeout=10_000)
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    # ...in the default language, for the next visitor; Back shows nothing of this one.
    sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
    page.go_back()
    sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
    assert "le soir !" not in page.content() and "More seats" not in page.content()
    requests.assert_local()
    context.close()


def test_idle_reset_clears_everything(server, browser, db) -> None:
    context = new_context(browser, viewport=VIEWPORT)
    requests = record_requests(context)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.clock.install()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Library opening hours").click()
    page.get_by_role("radio", name="Rarely").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("checkbox", name="Evenings").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("radio", name="No").check()
    assert json.loads(db.execute("SELECT answers FROM kiosk_visits").fetchone()[0]) == {
        "visits": "rarely",
        "times": ["evenings"],
    }

    # A touch before the limit keeps the visit going.
    page.clock.run_for(80_000)
    page.get_by_role("heading", name="Should we open later on weekdays?").click()
    page.clock.run_for(80_000)
    assert not page.get_by_role("alertdialog").is_visible()

    page.clock.run_for(11_000)
    dialog = page.get_by_role("alertdialog", name="Still there?")
    sync_api.expect(dialog).to_be_visible()
    assert_no_axe_violations(page, "idle warning")
    # "I'm still here" keeps the visit; the warning comes back after another idle spell.
    dialog.get_by_role("button", name="I'm still here").click()
    sync_api.expect(dialog).to_be_hidden()
    page.clock.run_for(91_000)
    sync_api.expect(dialog).to_be_visible()
    # The countdown is one sentence, in the right grammatical number to the last second.
    page.clock.run_for(28_000)  # the warning came at 90 s, one tick into the 91
    sync_api.expect(dialog).to_contain_text("Your answers will be cleared in 1 second.")
    with page.expect_navigation():
        page.clock.run_for(2_000)
    sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
    assert page.url == server.url + "/"
    # Cleared on the server...
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    assert stored(db) == []
    # ...and Back shows nothing of the visitor: no question, no answer.
    for _ in range(3):
        page.go_back()
        page.wait_for_load_state("load")
        sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
        body = page.locator("body").inner_text()
        assert "Rarely" not in body and "Should we open" not in body
        assert not page.get_by_role("radio").count()
    # Nobody around: the welcome screen turns to its attract state; a touch wakes it.
    page.clock.run_for(91_000)
    attract = page.get_by_text("Touch the screen to begin")
    sync_api.expect(attract).to_be_visible()
    assert_no_axe_violations(page, "attract screen")
    attract.click()
    sync_api.expect(attract).to_be_hidden()
    requests.assert_local()
    context.close()


def test_a_visit_without_javascript(server, browser, db) -> None:
    context = new_context(browser, javascript_enabled=False, viewport=VIEWPORT)
    requests = record_requests(context)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Larger text").click()
    page.get_by_role("button", name="Library opening hours").click()
    assert "text-large" in page.locator("html").get_attribute("class")
    page.get_by_role("button", name="Next").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Please choose an answer.")
    page.get_by_role("radio", name="Every week").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("checkbox", name="Evenings").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("radio", name="No").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("radio", name="2", exact=True).check()
    page.get_by_role("button", name="Next").click()
    assert not page.locator("[data-keypad]").is_visible()  # the keypad needs the script
    page.get_by_role("textbox").fill("81")
    page.get_by_role("button", name="Next").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("from 0 to 80")
    page.get_by_role("textbox").fill("7")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Back").click()
    assert page.get_by_role("textbox").input_value() == "7"
    page.get_by_role("button", name="Next").click()
    assert not page.locator("[data-keyboard]").is_visible()
    page.get_by_role("textbox").fill('Open at 8, please: "early" <birds>')
    page.get_by_role("button", name="Review my answers").click()
    page.get_by_role("button", name="Send my answers").click()
    sync_api.expect(page.get_by_text("Thank you! Your answers were saved.")).to_be_visible()
    assert stored(db) == [
        {
            "answers": {
                "visits": "weekly",
                "times": ["evenings"],
                "evenings": False,
                "rating": 2,
                "hours_per_week": 7,
                "comments": 'Open at 8, please: "early" <birds>',
            },
            "language": "en",
            "channel": "kiosk",
        }
    ]
    # The thank-you screen returns to the start by itself, script or no script.
    page.wait_for_url(server.url + "/", timeout=10_000)
    sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    # Back shows none of the answers, and stores nothing more.
    page.go_back()
    page.wait_for_load_state("load")
    assert "Open at 8" not in page.locator("body").inner_text()
    sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
    assert len(stored(db)) == 1
    requests.assert_local()
    context.close()


def test_the_kiosk_error_page(server, browser, db) -> None:
    context = new_context(browser, viewport=VIEWPORT)
    requests = record_requests(context)
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Library opening hours").click()
    response = page.goto(server.url + "/question/99")
    assert response.status == 404
    sync_api.expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
    assert_no_axe_violations(page, "error page")
    page.get_by_role("link", name="Start again").click()
    sync_api.expect(page.get_by_role("heading", name="Have your say")).to_be_visible()
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    requests.assert_local()
    context.close()


def test_larger_text_enlarges_the_page_and_lasts_the_visit(server, browser, db) -> None:
    context = new_context(browser, viewport=VIEWPORT)
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Library opening hours").click()

    def heading_px() -> float:
        return page.evaluate("parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")

    normal = heading_px()
    button = page.get_by_role("button", name="Larger text")
    button.click()
    sync_api.expect(button).to_have_attribute("aria-pressed", "true")
    # On a short (landscape) screen larger text is 140 % of the 125 % base, not 160 %: a
    # text question's six keyboard rows must still fit above the bottom bar.
    assert heading_px() >= normal * 1.1
    assert_no_axe_violations(page, "larger text")
    # The server remembers it for the next screens of the visit.
    page.get_by_role("radio", name="Rarely").check()
    page.get_by_role("button", name="Next").click()
    sync_api.expect(page.get_by_text("Question 2 of 6")).to_be_visible()
    assert heading_px() >= normal * 1.1
    context.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_enter_in_an_answer_means_next(server, browser, db, javascript: bool) -> None:
    # Kiosks with a keyboard: Enter goes on, it never switches the text size.
    context = new_context(browser, javascript_enabled=javascript, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Library opening hours").click()
    page.get_by_role("radio", name="Rarely").check()
    page.get_by_role("radio", name="Rarely").press("Enter")
    sync_api.expect(page.get_by_text("Question 2 of 6")).to_be_visible()
    assert "text-large" not in page.locator("html").get_attribute("class")
    context.close()


def test_large_french_text_fits_a_portrait_screen(server, browser, db) -> None:
    # A portrait kiosk (800 px wide), French, Larger text: nothing runs off the side of
    # the screen, and each row of the on-screen keyboard stays one row.
    context = new_context(browser, viewport={"width": 800, "height": 1280})
    page = context.new_page()
    page.goto(server.url + "/?lang=fr&size=large")
    page.get_by_role("button", name="Heures d’ouverture de la bibliothèque").click()

    def overflow() -> int:
        return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

    assert overflow() <= 0
    page.goto(server.url + "/question/6")
    assert overflow() <= 0
    rows = page.evaluate(
        """() => Array.from(document.querySelectorAll('.keyboard-row')).map((row) =>
             new Set(Array.from(row.children).map((key) => key.offsetTop)).size)"""
    )
    assert rows and set(rows) == {1}, rows
    assert_no_axe_violations(page, "large French text question")
    context.close()


# --- what a first-time visitor ran into (issue 14) --------------------------------------------


def open_question(server, browser, number: int, *, language: str = "en", **options):
    """Start a visit in a fresh context and go straight to question `number`."""
    context = new_context(browser, viewport=VIEWPORT, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server.url}/?lang={language}")
    title = "Heures d’ouverture" if language == "fr" else "Library opening hours"
    page.get_by_role("button", name=title).click()
    page.wait_for_url("**/question/1")
    if number > 1:
        page.goto(f"{server.url}/question/{number}")
    return context, page


def tap_keypad(page, keys: str, language: str = "en") -> None:
    keypad = page.get_by_role("group", name="Pavé numérique" if language == "fr" else "Keypad")
    for key in keys:
        keypad.get_by_role("button", name=key, exact=True).click()


def test_the_keypad_deletes_the_last_digit_wherever_the_caret_is(server, browser, db) -> None:
    # 99 on a 0-80 question, Next (error), Delete twice, 1: the field reads 1, not 199.
    context, page = open_question(server, browser, 5)
    field = page.get_by_role("textbox", name="How many hours a week do you spend at the library?")
    tap_keypad(page, "99")
    page.get_by_role("button", name="Next").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("from 0 to 80")
    delete = page.get_by_role("button", name="Delete last digit")
    delete.click()
    delete.click()
    tap_keypad(page, "1")
    sync_api.expect(field).to_have_value("1")
    # The same after coming back to the question from the review.
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Review my answers").click()
    page.get_by_role("link", name="question 5").click()
    sync_api.expect(field).to_have_value("1")
    field.click()  # a caret left at the start of the field changes nothing
    page.keyboard.press("Home")
    tap_keypad(page, "2")
    sync_api.expect(field).to_have_value("12")
    delete.click()
    delete.click()
    tap_keypad(page, "7")
    sync_api.expect(field).to_have_value("7")
    context.close()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_error_goes_with_the_next_key(server, browser, db, language: str) -> None:
    fr = language == "fr"
    context, page = open_question(server, browser, 5, language=language)
    tap_keypad(page, "99", language)
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    alert = page.get_by_role("alert")
    sync_api.expect(alert).to_be_visible()
    field = page.get_by_role("textbox")
    sync_api.expect(field).to_have_attribute("aria-invalid", "true")
    assert_no_axe_violations(page, "number error")
    delete = "Effacer le dernier chiffre" if fr else "Delete last digit"
    page.get_by_role("button", name=delete).click()
    sync_api.expect(alert).to_have_count(0)
    assert field.get_attribute("aria-invalid") is None
    assert not page.title().startswith("Erreur" if fr else "Error")
    assert_no_axe_violations(page, "number error cleared")
    # A choice question: the error goes as soon as an answer is chosen.
    page.goto(server.url + "/question/1")
    page.get_by_role("button", name="Suivant" if fr else "Next").click()
    sync_api.expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_role("radio", name="Rarement" if fr else "Rarely").check()
    sync_api.expect(page.get_by_role("alert")).to_have_count(0)
    context.close()


KEYBOARD_TEXTS = ["Café", "été : oui", "(514) 555-0100", "Hélène", "ana@exemple.ca; merci"]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_both_keyboards_type_quebec_text(server, browser, db, language: str) -> None:
    context, page = open_question(server, browser, 6, language=language)
    # Canadian French is QWERTY: the first row of letters reads q w e r t y, in French too.
    rows = page.evaluate(
        """() => Array.from(document.querySelectorAll('.keyboard-row')).map((row) =>
             Array.from(row.querySelectorAll('button'))
               .map((key) => key.textContent.trim()).join(''))"""
    )
    assert [row for row in rows if row[:1].isalpha()][0].startswith("qwerty")
    field = page.get_by_role("textbox")
    for text in KEYBOARD_TEXTS:
        field.fill("")
        type_on_screen(page, text, language)
        sync_api.expect(field).to_have_value(text)
    # What was typed is what is kept.
    review = "Vérifier mes réponses" if language == "fr" else "Review my answers"
    page.get_by_role("button", name=review).click()
    sync_api.expect(page.get_by_text(KEYBOARD_TEXTS[-1])).to_be_visible()
    context.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_start_over_asks_first_and_keeps_the_language(server, browser, db, javascript) -> None:
    context, page = open_question(server, browser, 1, language="fr", javascript_enabled=javascript)
    page.get_by_role("radio", name="Chaque mois").check()
    page.get_by_role("button", name="Suivant").click()
    page.get_by_role("button", name="Recommencer").click()
    sync_api.expect(page.get_by_role("heading", name="Recommencer?")).to_be_visible()
    if javascript:
        assert_no_axe_violations(page, "start over?")
    # No: back to the question, the answers kept.
    page.get_by_role("link", name="Non, garder mes réponses").click()
    sync_api.expect(page.get_by_text("Question 2 sur 6")).to_be_visible()
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 1
    # Yes: cleared, and the welcome screen still speaks French.
    page.get_by_role("button", name="Recommencer").click()
    page.get_by_role("button", name="Oui, effacer mes réponses").click()
    sync_api.expect(page.get_by_role("heading", name="Donnez votre avis")).to_be_visible()
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    context.close()


def test_the_idle_warning_gives_time_and_hides_the_answers(server, browser, db) -> None:
    context, page = open_question(server, browser, 6)
    page.clock.install()
    page.reload()
    page.get_by_role("textbox").fill("My private thoughts")
    page.clock.run_for(90_000)
    dialog = page.get_by_role("alertdialog", name="Still there?")
    sync_api.expect(dialog).to_be_visible()
    # The default warning lasts 30 seconds, long enough to read and reach the button.
    sync_api.expect(dialog).to_contain_text("cleared in 30 seconds")
    # Whoever walks up sees neither the question nor the answer behind the warning.
    sync_api.expect(page.get_by_role("textbox")).to_be_hidden()
    sync_api.expect(page.get_by_text("Anything else?")).to_be_hidden()
    assert_no_axe_violations(page, "idle warning over a typed answer")
    dialog.get_by_role("button", name="I'm still here").click()
    sync_api.expect(page.get_by_role("textbox")).to_have_value("My private thoughts")
    sync_api.expect(page.get_by_role("textbox")).to_be_visible()
    context.close()


def test_the_attract_screen_and_a_lost_page_speak_french(server, browser, db) -> None:
    context = new_context(browser, viewport=VIEWPORT)
    page = context.new_page()
    page.clock.install()
    page.goto(server.url + "/")
    page.clock.run_for(91_000)
    # Nobody has chosen a language yet: it invites in both.
    sync_api.expect(page.get_by_text("Touchez l’écran pour commencer")).to_be_visible()
    sync_api.expect(page.get_by_text("Touch the screen to begin")).to_be_visible()
    assert page.locator("#attract [lang=fr]").inner_text().startswith("Donnez votre avis")
    assert_no_axe_violations(page, "attract screen")
    response = page.goto(server.url + "/nulle-part?lang=fr")
    assert response.status == 404
    sync_api.expect(page.get_by_role("heading", name="Cette page n’existe pas")).to_be_visible()
    assert "Not Found" not in page.content()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert_no_axe_violations(page, "French 404")
    context.close()


def test_an_emoji_answer_shows_in_colour_not_as_a_box(server, browser, db) -> None:
    context, page = open_question(server, browser, 6)
    page.get_by_role("textbox").fill("Merci 👍")
    page.get_by_role("button", name="Review my answers").click()
    answer = page.locator(".answer-value", has_text="Merci")
    # Drawn with the page's own fonts: an emoji font paints colour; a missing glyph, a
    # grey box.
    coloured = answer.evaluate(
        """(el) => {
             const canvas = document.createElement('canvas');
             canvas.width = canvas.height = 64;
             const ctx = canvas.getContext('2d');
             ctx.font = '48px ' + getComputedStyle(el).fontFamily;
             ctx.fillStyle = '#000';
             ctx.fillText('👍', 4, 52);
             const data = ctx.getImageData(0, 0, 64, 64).data;
             let count = 0;
             for (let i = 0; i < data.length; i += 4) {
               const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
               if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) count += 1;
             }
             return count;
           }"""
    )
    assert coloured > 100, "the emoji was not drawn in colour: no emoji font"
    context.close()
