"""The report, the cross-tab and the staff pages' fixes (issue 14's "Staff pages") in
Debian's Chromium against a real waitress hub, axe checked on each state."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api
from pypdf import PdfReader

from participate import consultations, store, tallies
from participate.hub import quotes, users
from participate.sync import devices
from tests.conftest import EXAMPLE, record_submission
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    hub_server,
    new_context,
    quick_password_hashing,
)
from tests.test_hub_browser import PASSWORD, log_in

pytestmark = pytest.mark.browser
PSEUDONYM = "5f0e" + "a1" * 30  # 64 hex characters, as the SMS channel makes them
expect = sync_api.expect


@pytest.fixture(scope="module")
def hub_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub with the example answered on one day by a named kiosk and by SMS, one quote."""
    path = tmp_path_factory.mktemp("report") / "hub.db"
    with quick_password_hashing(), store.open_db(path, migrate=True) as db:
        example = consultations.read_file(EXAMPLE)
        consultations.save(db, [example])
        kiosk, _ = devices.add_device(db, "Bibliothèque Frontenac")
        answers = [
            ({"visits": "weekly", "evenings": True, "rating": 4, "hours_per_week": 2}, "fr"),
            ({"visits": "rarely", "evenings": False, "rating": 2, "hours_per_week": 9}, "en"),
            ({"visits": "weekly", "evenings": True, "rating": 5, "hours_per_week": 15}, "fr"),
        ]
        made = [
            record_submission(
                db,
                example,
                {**a, "comments": f"Été : oui, merci n° {i} 🙂"},
                language=lang,
                complete=False,
            )
            for i, (a, lang) in enumerate(answers)
        ]
        db.execute("UPDATE submissions SET device_id = ? WHERE id = ?", [kiosk, made[0]["id"]])
        record_submission(
            db,
            example,
            {"visits": "monthly", "rating": 3},
            channel="sms",
            respondent=PSEUDONYM,
            complete=False,
        )
        db.conn.commit()
        tallies.rebuild(db)  # the kept counts follow the submissions moved above
        quotes.mark(db, made[0]["id"], "comments", "quote", "staff@example.org")
        for role in users.ROLES:
            users.create_user(db, f"{role}@example.org", PASSWORD, role)
    return path


@pytest.fixture(scope="module")
def server(hub_path: Path) -> Iterator[ServerThread]:
    yield from hub_server(hub_path)


@pytest.fixture
def page(browser, server: ServerThread) -> Iterator:
    ctx = new_context(browser, viewport={"width": 1280, "height": 900})
    tab = ctx.new_page()
    log_in(tab, server, "admin")
    yield tab
    ctx.close()


def test_report_prints_without_navigation_a_page_a_question_in_grey(
    page, server: ServerThread
) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/")
    page.get_by_role("link", name="Report for printing").click()
    expect(page.get_by_role("heading", name="Library opening hours", level=1)).to_be_visible()
    expect(page.get_by_text("asked of 4, answered by 4").first).to_be_visible()
    expect(page.get_by_text("Été : oui, merci n° 0 🙂")).to_be_visible()
    assert_no_axe_violations(page, "report")
    page.emulate_media(media="print")
    expect(page.locator(".hub-header")).to_be_hidden()
    expect(page.get_by_role("link", name="Download as PDF")).to_be_hidden()
    breaks = page.eval_on_selector_all(
        ".report-question", "els => els.map(e => getComputedStyle(e).breakBefore)"
    )
    assert len(breaks) == 6 and set(breaks) == {"page"}
    fills = page.eval_on_selector_all(
        ".report .chart-bar", "els => [...new Set(els.map(e => getComputedStyle(e).fill))]"
    )
    assert fills == ["rgb(85, 85, 85)"]
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    assert len(pdf.pages) >= 7  # the participation, then a page a question
    assert "Staff accounts" not in pdf.pages[0].extract_text()


def test_report_side_by_side_and_pdf_download(page, server: ServerThread) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/report?lang=fr")
    page.get_by_role("link", name="Dans les deux langues côte à côte").click()
    expect(page.get_by_text("Chaque semaine").first).to_be_visible()
    expect(page.get_by_text("Every week").first).to_be_visible()
    assert_no_axe_violations(page, "bilingual report")
    response = page.request.get(f"{server.url}/staff/c/library-hours/report.pdf?lang=fr")
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.body())).pages).split()
    )
    assert "Bibliothèque Frontenac" in text and "posée à 4, répondue par 4" in text


def test_crosstab_by_device_names_them(page, server: ServerThread) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/")
    page.get_by_label("Answers to (rows)").select_option(label="How often do you visit?")
    page.get_by_label("Broken down by (columns)").select_option(label="Device")
    page.get_by_role("button", name="Cross").click()
    table = page.locator("table.crosstab-table")
    expect(table.get_by_role("columnheader", name="Bibliothèque Frontenac")).to_be_visible()
    expect(table.get_by_role("rowheader", name="Every week")).to_be_visible()
    expect(table.locator("tfoot td").last).to_have_text("4")
    assert_no_axe_violations(page, "results with a cross-tab")


def test_french_staff_pages_name_values_and_keep_the_time_zone(page, server: ServerThread) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/?lang=fr")
    expect(page.get_by_text("Aller au contenu")).to_be_attached()
    expect(page.get_by_label("Du (jour, UTC)")).to_be_visible()
    expect(page.get_by_label("Au (jour, UTC)")).to_be_visible()
    channel = page.get_by_label("Canal", exact=True)
    assert channel.locator("option").all_inner_texts() == [
        "Tous",
        "Borne",
        "SMS",
        "Appel téléphonique",
    ]
    languages = page.get_by_label("Langue", exact=True).locator("option").all_inner_texts()
    assert "Français" in languages and "fr" not in languages
    devices_shown = page.get_by_label("Appareil", exact=True).locator("option").all_inner_texts()
    assert "Bibliothèque Frontenac" in devices_shown
    stats = page.locator("dl.stats").first
    expect(stats).to_contain_text("Complètes")
    expect(stats).to_contain_text("Incomplètes")
    expect(page.get_by_role("table", name="Par canal")).to_contain_text("Borne")
    expect(page.get_by_role("table", name="Par langue")).to_contain_text("Français")
    assert_no_axe_violations(page, "French results")


def test_submission_detail_names_things_and_steps_between_submissions(
    page, server: ServerThread
) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/submissions?channel=sms")
    page.locator("table.list tbody a").first.click()
    expect(page.get_by_text("3 out of 5")).to_be_visible()
    meta = page.locator("dl.meta")
    expect(meta).to_contain_text(PSEUDONYM[:10])
    expect(meta).not_to_contain_text(PSEUDONYM)
    expect(meta).to_contain_text("SMS")
    assert_no_axe_violations(page, "SMS submission")
    seen = {page.url}
    while page.get_by_role("link", name="Older submission").count():
        page.get_by_role("link", name="Older submission").click()
        seen.add(page.url)
    assert len(seen) == 4
    expect(page.get_by_role("link", name="Newer submission")).to_be_visible()
    page.get_by_role("link", name="Newer submission").click()
    assert page.url in seen


def test_one_day_is_a_column_and_every_histogram_bar_is_labelled(
    page, server: ServerThread
) -> None:
    page.goto(f"{server.url}/staff/c/library-hours/")
    days = page.locator("svg[aria-labelledby='days-title'] rect.chart-bar")
    assert days.count() == 1 and float(days.get_attribute("width")) <= 60
    histogram = page.locator("svg[aria-labelledby='chart-hours_per_week-title']")
    bars = histogram.locator("rect.chart-bar").count()
    assert bars >= 3 and histogram.locator("text.chart-label").count() == bars


def test_overview_refreshes_every_minute_on_request(page, server: ServerThread) -> None:
    first = page.goto(f"{server.url}/staff/")
    assert "refresh" not in first.headers
    with page.expect_navigation() as navigation:
        page.get_by_role("link", name="Refresh every minute").click()
    assert navigation.value.headers["refresh"] == "60"
    expect(page.get_by_role("link", name="Stop refreshing")).to_be_visible()
    assert_no_axe_violations(page, "overview refreshing")


def test_disabling_a_device_asks_first(page, server: ServerThread, hub_path: Path) -> None:
    page.goto(f"{server.url}/staff/devices")
    page.get_by_role("link", name="Disable Bibliothèque Frontenac").click()
    expect(page.get_by_role("heading", name="Disable Bibliothèque Frontenac?")).to_be_visible()
    assert_no_axe_violations(page, "disable confirmation")
    page.get_by_role("link", name="Cancel").click()
    with store.open_db(hub_path) as db:
        assert db.execute("SELECT disabled_at FROM devices").fetchone()[0] is None
    page.get_by_role("link", name="Disable Bibliothèque Frontenac").click()
    page.get_by_role("button", name="Disable Bibliothèque Frontenac").click()
    expect(page.get_by_text("Device disabled.")).to_be_visible()
    with store.open_db(hub_path) as db:
        assert db.execute("SELECT disabled_at FROM devices").fetchone()[0] is not None
