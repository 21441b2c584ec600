"""Paging through thousands of submissions and searching them, in Chromium, axe clean."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright import sync_api

from participate import clock, consultations, store, submissions, tallies
from participate.hub import users
from tests.conftest import EXAMPLE, save_ruled
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    hub_server,
    new_context,
    quick_password_hashing,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
COUNT = 3000
COMMENTS = ["The reading room is too cold", "Open later on Thursdays", "Plus de soirées", ""]


@pytest.fixture(scope="module")
def hub_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a hub store with a few thousand submissions and an admin."""
    path = tmp_path_factory.mktemp("hub") / "hub.db"
    rng = random.Random(11)
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    with quick_password_hashing(), store.open_db(path, migrate=True) as db:
        example = consultations.read_file(EXAMPLE)
        consultations.save(db, [example])
        rows = []
        for n in range(COUNT):
            moment = clock.to_text(start + timedelta(seconds=37 * n))
            answers = {"visits": "weekly", "times": ["evenings"], "evenings": True, "rating": 4}
            comment = rng.choice(COMMENTS)
            if comment:
                answers["comments"] = f"{comment} ({n})"
            rows.append(
                {
                    "id": f"s{n:05d}-{rng.getrandbits(40):010x}",
                    "consultation_id": example.id,
                    "consultation_version": example.version,
                    "channel": "kiosk",
                    "device_id": f"dev-{n % 3}",
                    "seq": n + 1,
                    "language": rng.choice(["en", "fr"]),
                    "started_at": moment,
                    "submitted_at": moment,
                    "answers": json.dumps(answers),
                    "complete": 1,
                }
            )
        with store.write(db):
            db.table("submissions").insert_all(rows)
            tallies.add(db, rows)
        # A consultation with rules (skip logic): the results say who was asked.
        ruled = save_ruled(db, path.parent)
        for given in (
            {"frequence": "daily", "eclairage": False, "pourquoi": "Des lampes"},
            {"frequence": "weekly", "eclairage": True},
            {"frequence": "never"},
        ):
            submissions.record(
                db,
                ruled,
                channel="kiosk",
                language="fr",
                answers={**given, "note": 3},
                started_at=clock.utcnow(),
            )
        users.create_user(db, "admin@example.org", PASSWORD, "admin")
    return path


@pytest.fixture(scope="module")
def server(hub_path: Path) -> Iterator[ServerThread]:
    yield from hub_server(hub_path)


@pytest.fixture
def page(browser, server: ServerThread) -> Iterator:
    context = new_context(browser, viewport={"width": 768, "height": 1024})
    tab = context.new_page()
    tab.goto(f"{server.url}/staff/")
    tab.get_by_label("Email").fill("admin@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    sync_api.expect(tab.get_by_role("heading", name="Consultations", level=1)).to_be_visible()
    yield tab
    context.close()


def _listed(page) -> list[str]:
    links = page.get_by_role("table").get_by_role("link").all()
    return [href for link in links if (href := link.get_attribute("href")).startswith("/staff/s")]


def test_paging_older_and_newer_through_thousands(page, server: ServerThread) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/submissions")
    sync_api.expect(page.get_by_role("status")).to_contain_text(f"{COUNT} submissions")
    assert_no_axe_violations(page, "submissions, first page")
    pages = [_listed(page)]
    for _ in range(4):
        page.get_by_role("link", name="Older").click()
        pages.append(_listed(page))
    assert_no_axe_violations(page, "submissions, fifth page")
    seen = [href for listed in pages for href in listed]
    assert len(seen) == len(set(seen)) == 5 * len(pages[0])
    page.get_by_role("link", name="Newer").click()
    assert _listed(page) == pages[3]
    page.get_by_role("link", name="First page").click()
    assert _listed(page) == pages[0]
    sync_api.expect(page.get_by_role("link", name="Newer")).to_have_count(0)


def test_search_highlights_matches_and_pages_best_first(page, server: ServerThread) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/submissions")
    page.get_by_label("Search text answers").fill("cold")
    page.get_by_label("Device").select_option("dev-1")
    page.get_by_role("button", name="Apply filters").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("best match first")
    marks = page.locator("mark")
    sync_api.expect(marks.first).to_have_text("cold")
    assert_no_axe_violations(page, "search results with highlights")
    first = _listed(page)
    page.get_by_role("link", name="Next page").click()
    second = _listed(page)
    assert first and second and not set(first) & set(second)
    page.get_by_role("link", name="Previous page").click()
    assert _listed(page) == first
    page.get_by_role("link", name="See the results").click()
    sync_api.expect(page.get_by_role("heading", name="Library opening hours")).to_be_visible()
    assert_no_axe_violations(page, "results with a device filter")


@pytest.mark.parametrize(
    ("lang", "question", "says"),
    [
        ("en", "Is the stop well lit?", "2 people were asked this question (not asked: 1)"),
        ("fr", "L’arrêt est-il bien éclairé ?", "2 personnes ont reçu cette question"),
    ],
)
def test_a_question_with_a_rule_says_who_was_asked_axe_clean(
    page, server: ServerThread, lang: str, question: str, says: str
) -> None:
    page.goto(f"{server.url}/staff/c/arret/?lang={lang}&xrow=eclairage&xcol=frequence")
    section = page.get_by_role("region", name=f"3. {question}")
    sync_api.expect(section).to_contain_text(says)
    assert_no_axe_violations(page, f"results of a consultation with rules ({lang})")
