"""Every kiosk screen at the three screen shapes, in both languages, in normal and larger text.

A visit is walked screen by screen, in each state a visitor meets (empty, filled in, in
error), and each screen is checked as a first-time visitor would meet it: the button
that goes on (Next, Send) is inside the screen and not covered, nothing runs off the
side, and axe-core finds nothing. "Without JavaScript" blocks the kiosk's script, so the
page is the one a browser without it shows, while axe can still run.

Set PARTICIPATE_SCREENSHOTS=1 to (re)write docs/screenshots/kiosk-<shape>-<lang>-*.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import yaml
from playwright import sync_api

from participate import consultations, store
from participate.app import create_app
from tests.conftest import EXAMPLE, ROOT
from tests.support.browser import ServerThread, assert_no_axe_violations, new_context

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ROOT / "docs" / "screenshots"
SHAPES = {
    "landscape": {"width": 1280, "height": 800},
    "tablet": {"width": 768, "height": 1024},
    "portrait": {"width": 1080, "height": 1920},
}
WORDS = {
    "en": {
        "title": "Library opening hours",
        "next": "Next",
        "review": "Review my answers",
        "send": "Send my answers",
        "larger": "Larger text",
        "start_over": "Start over",
        "keep": "No, keep my answers",
        "monthly": "Every month",
        "mornings": "Mornings",
        "sundays": "Sundays",
        "yes": "Yes",
        "keypad": "Keypad",
        "keyboard": "Keyboard",
        "space": "Space",
        "comment": "more seats",
    },
    "fr": {
        "title": "Heures d’ouverture de la bibliothèque",
        "next": "Suivant",
        "review": "Vérifier mes réponses",
        "send": "Envoyer mes réponses",
        "larger": "Texte plus grand",
        "start_over": "Recommencer",
        "keep": "Non, garder mes réponses",
        "monthly": "Chaque mois",
        "mornings": "Le matin",
        "sundays": "Le dimanche",
        "yes": "Oui",
        "keypad": "Pavé numérique",
        "keyboard": "Clavier",
        "space": "Espace",
        "comment": "plus de places",
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """Serve a node's kiosk with the example (open any day) on a free loopback port."""
    path = tmp_path_factory.mktemp("screens") / "node.db"
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.pop("opens", None)
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, [consultations.parse(data, "library-hours.yaml")])
    app = create_app(
        {"DATABASE": str(path), "ROLE": "node", "DEVICE_ID": "node-screens", "SECRET_KEY": "t"}
    )
    with ServerThread(app) as running:
        yield running


@dataclass
class Walk:
    """One walk through the kiosk: checks each screen, and keeps its screenshot if asked."""

    page: sync_api.Page
    shape: str
    language: str
    screenshots: bool
    script: bool = True
    seen: list[str] = field(default_factory=list)

    @property
    def words(self) -> dict[str, str]:
        return WORDS[self.language]

    def check(self, name: str, go_on: str | None = None, keys: str | None = None) -> None:
        """Check the screen now shown; `go_on` names the button that must be in reach.

        `keys` names the on-screen keypad or keyboard group whose every key must be in
        reach too (a key under the bottom bar would need a scroll nobody thinks of).
        """
        page = self.page
        page.wait_for_load_state("load")
        where = f"{self.shape} {self.language} {name}"
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{where}: runs {overflow}px off the side"
        if go_on:
            assert_within_reach(page, page.get_by_role("button", name=go_on, exact=True), where)
        if keys and self.script:
            group = page.get_by_role("group", name=self.words[keys], exact=True)
            found = group.get_by_role("button").all()
            assert found, f"{where}: no {self.words[keys]!r} keys"
            for key in found:
                assert_within_reach(page, key, f"{where} {keys}")
        assert_no_axe_violations(page, where)
        self.seen.append(name)
        if self.screenshots:
            number = len(self.seen)
            path = SCREENSHOTS / f"kiosk-{self.shape}-{self.language}-{number:02d}-{name}.png"
            page.screenshot(path=str(path))


def assert_within_reach(page: sync_api.Page, button: sync_api.Locator, where: str) -> None:
    """Fail unless `button` is wholly inside the screen, unscrolled, and nothing covers it."""
    viewport = page.viewport_size
    box = button.bounding_box()
    assert box, f"{where}: the button is not shown"
    inside = (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    )
    assert inside, f"{where}: {button} at {box} is outside the {viewport} screen"
    on_top = page.evaluate(
        """([x, y]) => { const hit = document.elementFromPoint(x, y);
             return hit ? (hit.closest('button, a') || hit).textContent.trim() : null; }""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == button.inner_text().strip(), f"{where}: covered by {on_top!r}"


def type_text(walk: Walk, text: str) -> None:
    page, words = walk.page, walk.words
    if not walk.script:
        page.get_by_role("textbox").fill(text)
        return
    keyboard = page.get_by_role("group", name=words["keyboard"])
    for char in text:
        name = words["space"] if char == " " else char
        keyboard.get_by_role("button", name=name, exact=True).click()


def walk_a_visit(walk: Walk, server_url: str, size: str) -> None:
    """Go through every screen of a visit, checking each state on the way."""
    page, words = walk.page, walk.words
    page.goto(f"{server_url}/?lang={walk.language}")
    if size == "large":
        page.get_by_role("button", name=words["larger"]).click()
        page.wait_for_url("**size=large**")
    walk.check("welcome")
    page.get_by_role("button", name=words["title"]).click()
    page.get_by_role("button", name=words["next"]).click()
    sync_api.expect(page.get_by_role("alert")).to_be_visible()
    walk.check("choice-error", go_on=words["next"])
    page.get_by_role("radio", name=words["monthly"]).check()
    walk.check("choice", go_on=words["next"])
    page.get_by_role("button", name=words["next"]).click()
    page.get_by_role("checkbox", name=words["mornings"]).check()
    page.get_by_role("checkbox", name=words["sundays"]).check()
    walk.check("multi", go_on=words["next"])
    page.get_by_role("button", name=words["next"]).click()
    page.get_by_role("radio", name=words["yes"]).check()
    walk.check("yesno", go_on=words["next"])
    page.get_by_role("button", name=words["next"]).click()
    page.get_by_role("radio", name="4", exact=True).check()
    walk.check("scale", go_on=words["next"])
    page.get_by_role("button", name=words["next"]).click()
    walk.check("number", go_on=words["next"], keys="keypad")
    if walk.script:
        keypad = page.get_by_role("group", name=words["keypad"])
        for key in "99":
            keypad.get_by_role("button", name=key, exact=True).click()
    else:
        page.get_by_role("textbox").fill("99")
    page.get_by_role("button", name=words["next"]).click()
    sync_api.expect(page.get_by_role("alert")).to_be_visible()
    walk.check("number-error", go_on=words["next"])
    page.get_by_role("textbox").fill("12")
    page.get_by_role("button", name=words["next"]).click()
    walk.check("text", go_on=words["review"], keys="keyboard")
    type_text(walk, words["comment"])
    walk.check("text-filled", go_on=words["review"])
    page.get_by_role("button", name=words["review"]).click()
    walk.check("review", go_on=words["send"])
    page.get_by_role("button", name=words["start_over"]).click()
    walk.check("start-over")
    page.get_by_role("link", name=words["keep"]).click()
    page.get_by_role("button", name=words["send"]).click()
    walk.check("thanks")


@pytest.mark.parametrize("size", ["normal", "large"])
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_screen_at_every_shape(server, browser, shape, language, size) -> None:
    keep = bool(os.environ.get("PARTICIPATE_SCREENSHOTS")) and size == "normal"
    if keep:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"kiosk-{shape}-{language}-*.png"):
            old.unlink()
    context = new_context(browser, viewport=SHAPES[shape])
    context.set_default_timeout(10_000)
    page = context.new_page()
    walk = Walk(page, shape, language, screenshots=keep)
    walk_a_visit(walk, server.url, size)
    # The screens met away from a visit: a lost page, the idle warning, the attract screen.
    page.goto(f"{server.url}/nowhere?lang={language}")
    walk.check("not-found")
    page.clock.install()
    page.goto(f"{server.url}/?lang={language}")
    page.get_by_role("button", name=walk.words["title"]).click()
    page.get_by_role("radio", name=walk.words["monthly"]).check()
    page.clock.run_for(90_000)
    sync_api.expect(page.get_by_role("alertdialog")).to_be_visible()
    walk.check("idle-warning")
    page.goto(server.url + "/")
    page.clock.run_for(91_000)
    sync_api.expect(page.locator("#attract")).to_be_visible()
    walk.check("attract")
    context.close()


@pytest.mark.parametrize("size", ["normal", "large"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_screen_without_the_script(server, browser, language, size) -> None:
    context = new_context(browser, viewport=SHAPES["landscape"])
    context.route("**/kiosk.js", lambda route: route.abort())
    context.set_default_timeout(10_000)
    page = context.new_page()
    walk = Walk(page, "landscape", language, screenshots=False, script=False)
    walk_a_visit(walk, server.url, size)
    context.close()
