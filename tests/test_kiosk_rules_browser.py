"""Skip logic and closing times in Debian's Chromium against a real waitress server.

The consultation is the one of test_kiosk_rules.py: "lieux" is asked only if
"eclairage" is yes, "stationnement" only if "transport" (a multi) includes the bike or
the scooter. In-process tests there cover every path; these check what a visitor sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from playwright import sync_api

from participate import clock, consultations, store
from participate.app import create_app
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    new_context,
    record_requests,
)
from tests.test_kiosk_rules import STREETS

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 800}
CLOSING = {
    "id": "soirees",
    "title": {"en": "Evening events", "fr": "Activités du soir"},
    "keywords": {"en": ["EVENINGS"], "fr": ["SOIREES"]},
    "opens": "2026-12-01",
    "closes": "2026-12-10T17:00",
}
WORDS = {
    "en": {
        "topic": "Our streets",
        "of": "of",
        "yes": "Yes",
        "no": "No",
        "bike": "By bike",
        "foot": "On foot",
        "shelter": "In a shelter",
        "next": "Next",
        "review": "Review my answers",
        "check": "Check your answers",
        "send": "Send my answers",
        "change": "Change",
        "skipped": "Where first?",
        "park": "Where would you park it?",
        "again": "Start again",
    },
    "fr": {
        "topic": "Nos rues",
        "of": "sur",
        "yes": "Oui",
        "no": "Non",
        "bike": "À vélo",
        "foot": "À pied",
        "shelter": "Dans un abri",
        "next": "Suivant",
        "review": "Vérifier mes réponses",
        "check": "Vérifiez vos réponses",
        "send": "Envoyer mes réponses",
        "change": "Modifier",
        "skipped": "Où d’abord ?",
        "park": "Où la garez-vous ?",
        "again": "Recommencer",
    },
}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kiosk-rules") / "node.db"
    streets = yaml.safe_load(STREETS)
    with store.open_db(path, migrate=True) as db:
        consultations.save(
            db,
            [
                consultations.parse(streets, "rues.yaml"),
                consultations.parse({**streets, **CLOSING}, "soirees.yaml"),
            ],
        )
    return path


@pytest.fixture(scope="module")
def server(store_path: Path) -> Iterator[ServerThread]:
    app = create_app(
        {
            "DATABASE": str(store_path),
            "ROLE": "node",
            "DEVICE_ID": "node-rules-browser",
            "SECRET_KEY": "test",
            "TIMEZONE": "America/Toronto",
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


@pytest.fixture
def local_time(monkeypatch: pytest.MonkeyPatch) -> dict[str, datetime]:
    """The node's local time, to the minute, as the server (in this process) reads it."""
    now = {"value": datetime(2026, 12, 10, 16, 58)}
    monkeypatch.setattr(clock, "local_now", lambda timezone="UTC", at=None: now["value"])
    return now


@pytest.mark.parametrize(
    ("language", "javascript"),
    [("en", True), ("fr", True), ("en", False), ("fr", False)],
    ids=["en", "fr", "en-no-js", "fr-no-js"],
)
def test_a_skipped_question_never_shows(
    server, browser, db, local_time, language: str, javascript: bool
) -> None:
    words = WORDS[language]
    context = new_context(browser, javascript_enabled=javascript, viewport=VIEWPORT)
    requests = record_requests(context)
    context.set_default_timeout(10_000)
    page = context.new_page()

    def check(name: str) -> None:
        if javascript:  # axe-core needs the page's script engine
            assert_no_axe_violations(page, f"{name} ({language})")

    def at(place: int, total: int) -> None:
        text = f"Question {place} {words['of']} {total}"
        sync_api.expect(page.get_by_text(text, exact=True)).to_be_visible()
        assert page.title().startswith(text)

    page.goto(f"{server.url}/?lang={language}")
    page.get_by_role("button", name=words["topic"]).click()
    at(1, 5)
    page.get_by_role("radio", name=words["no"]).check()
    page.get_by_role("button", name=words["next"]).click()
    # "Where first?" is skipped: the transport question comes second, of four now.
    at(2, 4)
    check("question after a skipped one")
    page.get_by_role("checkbox", name=words["bike"]).check()
    page.get_by_role("button", name=words["next"]).click()
    at(3, 4)
    page.get_by_role("radio", name=words["shelter"]).check()
    page.get_by_role("button", name=words["next"]).click()
    at(4, 4)
    page.get_by_role("radio", name="2", exact=True).check()
    page.get_by_role("button", name=words["review"]).click()
    sync_api.expect(page.get_by_role("heading", name=words["check"])).to_be_visible()
    terms = page.get_by_role("term")
    sync_api.expect(terms).to_have_count(4)
    assert words["skipped"] not in page.locator("main").inner_text()
    check("review")
    # On foot after all: the parking question goes, and its answer with it.
    page.get_by_role("link", name=re.compile(rf"^{words['change']}\W+question 2$")).click()
    at(2, 4)
    page.get_by_role("checkbox", name=words["bike"]).uncheck()
    page.get_by_role("checkbox", name=words["foot"]).check()
    page.get_by_role("button", name=words["review"]).click()
    sync_api.expect(terms).to_have_count(3)
    body = page.locator("main").inner_text()
    assert words["skipped"] not in body and words["park"] not in body
    assert [text.split(".")[0] for text in terms.all_inner_texts()] == ["1", "2", "3"]
    page.get_by_role("button", name=words["send"]).click()
    sync_api.expect(page.get_by_role("heading", name=words["check"])).to_be_hidden()
    rows = db.execute("SELECT answers, language FROM submissions").fetchall()
    assert [(json.loads(a), lang) for a, lang in rows] == [
        ({"eclairage": False, "transport": ["marche"], "note": 2}, language)
    ]
    requests.assert_local()
    context.close()


def test_a_forged_answer_to_a_skipped_question_is_refused(server, browser, db, local_time) -> None:
    context = new_context(browser, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server.url}/?lang=fr")
    page.get_by_role("button", name="Nos rues").click()
    page.get_by_role("radio", name="Non").check()
    page.get_by_role("button", name="Suivant").click()
    # The transport question's form, made to answer the skipped "lieux" instead.
    page.evaluate(
        """() => {
             const form = document.getElementById("answer-form");
             form.action = "/question/2";
             form.querySelector("input[name=question]").value = "lieux";
             form.querySelector("input[name=answer]").value = "parc";
           }"""
    )
    page.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Suivant").click()
    heading = page.get_by_role("heading", name="Cette question ne vous concerne pas")
    sync_api.expect(heading).to_be_visible()
    assert_no_axe_violations(page, "not asked")
    assert json.loads(db.execute("SELECT answers FROM kiosk_visits").fetchone()[0]) == {
        "eclairage": False
    }
    page.get_by_role("link", name="Retour à mes réponses").click()
    sync_api.expect(page.get_by_role("heading", name="Vérifiez vos réponses")).to_be_visible()
    context.close()


@pytest.mark.parametrize(
    ("language", "topic", "heading"),
    [
        ("en", "Evening events", "This topic closed while you were answering"),
        ("fr", "Activités du soir", "Ce sujet a été fermé pendant que vous répondiez"),
    ],
)
def test_answers_sent_after_the_closing_minute(
    server, browser, db, local_time, language, topic, heading
) -> None:
    context = new_context(browser, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server.url}/?lang={language}")
    page.get_by_role("button", name=topic).click()
    words = WORDS[language]
    page.get_by_role("radio", name=words["no"]).check()
    page.get_by_role("button", name=words["next"]).click()
    page.get_by_role("checkbox", name=words["foot"]).check()
    page.get_by_role("button", name=words["next"]).click()
    page.get_by_role("radio", name="3", exact=True).check()
    page.get_by_role("button", name=words["review"]).click()
    local_time["value"] = datetime(2026, 12, 10, 17, 0)
    page.get_by_role("button", name=words["send"]).click()
    sync_api.expect(page.get_by_role("heading", name=heading)).to_be_visible()
    assert_no_axe_violations(page, f"closed while answering ({language})")
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    page.get_by_role("link", name=words["again"]).click()
    sync_api.expect(page.get_by_role("button", name=words["topic"])).to_be_visible()
    sync_api.expect(page.get_by_role("button", name=topic)).to_have_count(0)
    context.close()
