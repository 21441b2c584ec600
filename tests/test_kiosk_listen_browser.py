"""Read aloud in Debian's Chromium: the Listen button plays the real audio; without JS, controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from participate import consultations, store
from participate.app import create_app
from tests.conftest import EXAMPLE
from tests.support.browser import ServerThread, assert_no_axe_violations, new_context

pytestmark = pytest.mark.browser

PLAYED = "() => document.querySelector('[data-listen] audio').currentTime"


def wait_until_played(page, seconds: float = 0.3, timeout: float = 15) -> None:
    """Wait until the screen's audio has played `seconds` (its time advances), or fail."""
    deadline = time.monotonic() + timeout
    while page.evaluate(PLAYED) <= seconds:
        assert time.monotonic() < deadline, "the audio's time did not advance"
        page.wait_for_timeout(100)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("listen") / "node.db"
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.pop("opens", None)
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, [consultations.parse(data, "library-hours.yaml")])
    return path


def serve(store_path: Path, **settings: object) -> ServerThread:
    config = {"DATABASE": str(store_path), "ROLE": "node", "DEVICE_ID": "node-listen"}
    return ServerThread(create_app({**config, "SECRET_KEY": "test", **settings}))


@pytest.fixture(scope="module")
def server(store_path: Path) -> Iterator[ServerThread]:
    with serve(store_path) as running:
        yield running


def start_visit(page, base_url: str, language: str) -> None:
    page.goto(f"{base_url}/?lang={language}")
    page.get_by_role("button", name="Heures d’ouverture" if language == "fr" else "Library").click()
    page.wait_for_url("**/question/1")


def test_listen_plays_the_question_and_stops_when_the_visitor_moves_on(server, browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    start_visit(page, server.url, "fr")
    listen = page.get_by_role("button", name="Écouter")
    assert listen.is_visible() and listen.get_attribute("aria-pressed") == "false"
    assert listen.bounding_box()["height"] >= 48
    assert not page.locator("[data-listen] audio").is_visible()  # the button replaces the controls
    assert_no_axe_violations(page, "question with the Listen button")
    listen.click()
    wait_until_played(page)
    assert page.get_by_role("button", name="Arrêter").get_attribute("aria-pressed") == "true"
    src = page.evaluate("() => document.querySelector('[data-listen] audio').currentSrc")
    assert src.endswith("/fr/q-visits.ogg")
    page.get_by_role("button", name="Arrêter").click()  # the same button stops it
    assert page.evaluate("() => document.querySelector('[data-listen] audio').paused")
    page.get_by_role("button", name="Plus lentement").click()
    wait_until_played(page)
    assert page.evaluate("() => document.querySelector('[data-listen] audio').currentSrc").endswith(
        "q-visits.ogg?speed=slow"
    )
    # Moving on stops the reading: noted as the form leaves, read on the next screen.
    page.evaluate(
        """() => window.addEventListener("submit", () => sessionStorage.setItem(
            "paused-on-submit", String(document.querySelector("[data-listen] audio").paused)))"""
    )
    assert not page.evaluate("() => document.querySelector('[data-listen] audio').paused")
    page.get_by_role("radio", name="Chaque semaine").check()
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**/question/2")
    assert page.evaluate("() => sessionStorage.getItem('paused-on-submit')") == "true"
    context.close()


def test_without_javascript_the_audio_is_a_plain_player(server, browser) -> None:
    context = new_context(browser, javascript_enabled=False)
    page = context.new_page()
    start_visit(page, server.url, "en")
    audio = page.locator("audio[controls]")
    assert audio.is_visible() and audio.get_attribute("autoplay") is None
    assert not page.get_by_role("button", name="Listen").is_visible()
    context.close()


def test_the_setting_reads_each_screen_on_arrival(store_path, browser) -> None:
    with serve(store_path, KIOSK_READ_ALOUD_ON_ARRIVAL=True) as running:
        context = new_context(browser)
        page = context.new_page()
        start_visit(page, running.url, "en")
        wait_until_played(page)
        assert page.get_by_role("button", name="Stop").get_attribute("aria-pressed") == "true"
        context.close()


def test_a_keyboard_visitor_is_not_read_to_on_arrival(store_path, browser) -> None:
    with serve(store_path, KIOSK_READ_ALOUD_ON_ARRIVAL=True) as running:
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{running.url}/?lang=en")
        topic = page.get_by_role("button", name="Library")
        while not topic.evaluate("element => element === document.activeElement"):
            page.keyboard.press("Tab")  # as a screen reader's user moves
        page.keyboard.press("Enter")
        page.wait_for_url("**/question/1")
        page.wait_for_timeout(1500)
        assert page.evaluate(PLAYED) == 0  # their reader speaks; the page stays silent
        page.get_by_role("button", name="Listen").click()  # until they ask
        wait_until_played(page)
        context.close()


def test_the_idle_warning_stops_the_reading(store_path, browser) -> None:
    with serve(store_path, KIOSK_IDLE_SECONDS=2, KIOSK_WARNING_SECONDS=5) as running:
        context = new_context(browser)
        page = context.new_page()
        start_visit(page, running.url, "en")
        page.get_by_role("button", name="Slower").click()
        wait_until_played(page, 0.1)
        page.get_by_role("alertdialog").wait_for(timeout=10_000)
        assert page.evaluate("() => document.querySelector('[data-listen] audio').paused")
        context.close()
