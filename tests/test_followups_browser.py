"""'You said, we did' in Chromium: the kiosk's keypad step and the staff page, axe clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from participate import consultations, followups, store
from participate.app import create_app
from participate.hub import users
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    hub_server,
    new_context,
    quick_password_hashing,
)
from tests.test_followups import offering
from tests.test_hub import PASSWORD
from tests.test_kiosk import FULL_ANSWERS

pytestmark = pytest.mark.browser
MIN_TARGET_PX = 48


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store that is both a kiosk's node and (for the staff page) served as a hub."""
    path = tmp_path_factory.mktemp("followups") / "store.db"
    with quick_password_hashing(), store.open_db(path, migrate=True) as db:
        consultations.save(db, [offering()])
        users.create_user(db, "staff@example.org", PASSWORD, "staff")
    return path


@pytest.fixture(scope="module")
def kiosk(store_path: Path) -> Iterator[ServerThread]:
    config = {"DATABASE": str(store_path), "ROLE": "node", "DEVICE_ID": "node-browser"}
    app = create_app({**config, "SECRET_KEY": "test", "SMS_DEFAULT_REGION": "CA"})
    with ServerThread(app) as running:
        yield running


@pytest.fixture(scope="module")
def hub(store_path: Path) -> Iterator[ServerThread]:
    yield from hub_server(store_path)


def thanked(context, server: ServerThread, lang: str = "en"):
    """Answer the example through the kiosk's forms, then open the thanks screen."""
    http = context.request
    response = http.post(
        f"{server.url}/start", form={"consultation": "library-hours", "lang": lang}
    )
    page = context.new_page()
    page.goto(f"{server.url}/question/1")
    token = page.locator("input[name=visit]").first.get_attribute("value")
    for number, (question_id, values) in enumerate(FULL_ANSWERS, start=1):
        form = {"visit": token, "question": question_id, "action": "next", "answer": values}
        response = http.post(
            f"{server.url}/question/{number}",
            data=urlencode(form, doseq=True),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.ok, response.text()
    assert http.post(f"{server.url}/submit", form={"visit": token}).ok
    page.goto(f"{server.url}/thanks")
    return page


def waiting(store_path: Path) -> list[dict]:
    with store.open_db(store_path) as db:
        rows = followups.waiting(db)
        db.execute("DELETE FROM followups")
    return rows


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_keypad_types_a_number_that_is_kept_before_the_thanks(
    browser, kiosk: ServerThread, store_path: Path, lang: str
) -> None:
    context = new_context(browser, viewport={"width": 1280, "height": 800})
    page = thanked(context, kiosk, lang)
    fr = lang == "fr"
    assert_no_axe_violations(page, f"thanks with the results offer ({lang})")
    submit = page.get_by_role(
        "button",
        name="Recevoir les résultats par texto" if fr else "Text me the results",
        exact=True,
    )
    label = (
        "Recevoir les résultats par texto (facultatif)" if fr else "Text me the results (optional)"
    )
    page.get_by_label(label).fill("555")
    submit.click()
    assert page.get_by_role("alert").is_visible()
    assert_no_axe_violations(page, f"thanks with a wrong number ({lang})")
    page.get_by_label(label).fill("")
    # Found by its data attribute: its French name clashes with voice's "Keypad" (Clavier).
    keypad = page.locator("[data-keypad]")
    for key in "4385550199":
        button = keypad.get_by_role("button", name=key, exact=True)
        box = button.bounding_box()
        assert box and box["width"] >= MIN_TARGET_PX and box["height"] >= MIN_TARGET_PX
        button.click()
    field = page.get_by_label(
        "Recevoir les résultats par texto (facultatif)" if fr else "Text me the results (optional)"
    )
    assert field.input_value() == "4385550199"
    page.get_by_role(
        "button",
        name="Recevoir les résultats par texto" if fr else "Text me the results",
        exact=True,
    ).click()
    status = page.get_by_role("status")
    assert ("Votre numéro est enregistré" if fr else "Your number is saved") in status.inner_text()
    assert_no_axe_violations(page, f"thanks after the number was kept ({lang})")
    assert [(r["phone"], r["language"]) for r in waiting(store_path)] == [("+14385550199", lang)]
    context.close()


def test_without_javascript_a_wrong_number_is_explained_then_a_right_one_kept(
    browser, kiosk: ServerThread, store_path: Path
) -> None:
    context = new_context(browser, javascript_enabled=False)
    page = thanked(context, kiosk)
    field = page.get_by_label("Text me the results (optional)")
    field.fill("555")
    page.get_by_role("button", name="Text me the results", exact=True).click()
    assert "This is not a mobile number" in page.get_by_role("alert").inner_text()
    assert waiting(store_path) == []
    page.get_by_label("Text me the results (optional)").fill("+33 6 12 34 56 78")
    page.get_by_role("button", name="Text me the results", exact=True).click()
    assert "Your number is saved" in page.get_by_role("status").inner_text()
    assert [r["phone"] for r in waiting(store_path)] == ["+33612345678"]
    context.close()


def test_the_staff_page_shows_the_cost_of_each_text_and_passes_axe(
    browser, hub: ServerThread, store_path: Path
) -> None:
    with store.open_db(store_path) as db, store.write(db):
        followups.record(db, "library-hours", "+14385550199", "fr")
    context = new_context(browser, viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.goto(f"{hub.url}/staff/")
    page.get_by_label("Email").fill("staff@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{hub.url}/staff/c/library-hours/results-text")
    assert "1 number is waiting" in page.content()
    assert_no_axe_violations(page, "results text page")
    page.get_by_label("Summary in en").fill("You said: later. We did: open till 9 pm.")
    french = "Vous avez dit : plus tard. Ouvert jusqu’à 21 h, même le samedi."
    page.get_by_label("Summary in fr").fill(french)
    page.get_by_role("button", name="Preview").click()
    assert "GSM-7, 1 segment" in page.content() and "UCS-2, 1 segment" in page.content()
    assert "These characters make it UCS-2: ê" in page.content()
    assert_no_axe_violations(page, "results text preview")
    page.get_by_role("button", name="Send to 1 number").click()
    assert "queued for 1 number" in page.content()
    assert waiting(store_path) == []
    context.close()
