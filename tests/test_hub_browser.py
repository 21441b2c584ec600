"""The staff pages in Debian's Chromium against a real waitress hub, as staff would use them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from playwright import sync_api

from participate import clock, consultations, store
from participate.hub import users
from participate.sync import devices
from tests.conftest import EXAMPLE, record_submission
from tests.support.browser import (
    ServerThread,
    assert_no_axe_violations,
    hub_server,
    new_context,
    quick_password_hashing,
    record_requests,
)

pytestmark = pytest.mark.browser

RESPONDENT = "77aa" + "0" * 60  # the form of a phone pseudonym

PASSWORD = "correct horse battery"
TABLET = {"width": 768, "height": 1024}
PAYLOAD = '=cmd|" /C calc"!A0 <script>window.pwned = 1</script>'


@pytest.fixture(scope="module")
def hub_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a hub store with the example, a few submissions, a device and three accounts."""
    path = tmp_path_factory.mktemp("hub") / "hub.db"
    with quick_password_hashing(), store.open_db(path, migrate=True) as db:
        example = consultations.read_file(EXAMPLE)
        consultations.save(db, [example])
        base = {"visits": "weekly", "times": ["evenings"], "evenings": True, "rating": 4}
        record_submission(db, example, {**base, "comments": "Plus de soirées"}, language="fr")
        record_submission(
            db,
            example,
            {**base, "visits": "rarely", "hours_per_week": 12, "comments": PAYLOAD},
        )
        record_submission(
            db,
            example,
            {"visits": "monthly", "evenings": False, "rating": 2},
            channel="sms",
            respondent=RESPONDENT,
            complete=False,
        )
        device_id, _ = devices.add_device(db, "Central library")
        devices.record_heartbeat(
            db,
            device_id,
            {
                "version": "0.1.0",
                "queue_depth": 0,
                "highest_seq": 0,
                "node_clock": clock.utcnow(),
                # The devices page's SMS gateways table, checked by axe with the rest.
                "gateway": {
                    "kind": "gammu",
                    "in_today": 12,
                    "out_today": 30,
                    "queued": 1,
                    "signal": 42,
                    "last_error": "gammu-smsd is not running",
                },
            },
        )
        for role in users.ROLES:
            users.create_user(db, f"{role}@example.org", PASSWORD, role)
    return path


@pytest.fixture(scope="module")
def server(hub_path: Path) -> Iterator[ServerThread]:
    yield from hub_server(hub_path)


@pytest.fixture
def context(browser) -> Iterator:
    ctx = new_context(browser, viewport=TABLET, accept_downloads=True)
    yield ctx
    ctx.close()


def log_in(page, server: ServerThread, role: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/staff/")
    page.get_by_label("Email").fill(f"{role}@example.org")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def fits_tablet(page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} is {overflow}px wider than a tablet"


def test_failed_login_then_login_and_every_page_passes_axe(context, server: ServerThread) -> None:
    requests = record_requests(context)
    page = context.new_page()
    log_in(page, server, "admin", "not the password")
    expect = sync_api.expect
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    assert_no_axe_violations(page, "login page with an error")
    log_in(page, server, "admin")
    expect(page.get_by_role("heading", name="Consultations", level=1)).to_be_visible()
    for name in ["Consultations", "Devices", "Manage consultations", "Staff accounts"]:
        page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
        assert_no_axe_violations(page, name)
        fits_tablet(page)
    page.get_by_role("navigation").get_by_role("link", name="Consultations", exact=True).click()
    page.get_by_role("link", name="Library opening hours", exact=True).click()
    assert_no_axe_violations(page, "results")
    fits_tablet(page)
    page.get_by_role("link", name="See the submissions").click()
    assert_no_axe_violations(page, "submissions")
    fits_tablet(page)
    page.get_by_role("link", name=clock.utcnow()[:4], exact=False).first.click()
    expect(page.get_by_role("heading", name="Submission", level=1)).to_be_visible()
    assert_no_axe_violations(page, "submission detail")
    requests.assert_local()
    # The script payload is shown as text and never ran.
    page.goto(f"{server.url}/staff/c/library-hours/submissions")
    expect(page.get_by_text("window.pwned = 1", exact=False).first).to_be_visible()
    assert page.evaluate("() => window.pwned") is None


def test_results_page_draws_a_chart_with_a_table_for_each_question(
    context, server: ServerThread
) -> None:
    page = context.new_page()
    log_in(page, server, "viewer")
    page.goto(f"{server.url}/staff/c/library-hours/")
    charts = page.get_by_role("img")
    assert charts.count() >= 6  # responses a day + five charted questions
    chart = page.get_by_role("img", name="Answers to: How often do you visit?")
    sync_api.expect(chart).to_be_visible()
    table = page.get_by_role("table", name="Answers to: How often do you visit?")
    row = table.get_by_role("row", name="Every week")
    assert row.get_by_role("cell").first.inner_text() == "1"
    # Filter to SMS: the table follows.
    page.get_by_label("Channel", exact=True).select_option("sms")
    page.get_by_role("button", name="Apply filters").click()
    row = page.get_by_role("table", name="Answers to: How often do you visit?").get_by_role(
        "row", name="Every month"
    )
    assert row.get_by_role("cell").first.inner_text() == "1"
    # The text answers are a searchable list.
    page.goto(f"{server.url}/staff/c/library-hours/")
    page.get_by_label("Search these answers").fill("soirees")
    page.get_by_role("button", name="Search", exact=True).click()
    answers = page.get_by_role("list", name="Text answers to: Anything else?")
    sync_api.expect(answers).to_contain_text("Plus de soirées")
    sync_api.expect(answers).not_to_contain_text("pwned")


def test_role_limits(context, server: ServerThread) -> None:
    page = context.new_page()
    log_in(page, server, "viewer")
    page.goto(f"{server.url}/staff/c/library-hours/submissions")
    assert page.get_by_role("link", name="Download CSV").count() == 0
    page.get_by_role("table").get_by_role("link").first.click()
    assert page.get_by_role("button", name="Hide this submission").count() == 0
    assert page.get_by_role("link", name="Staff accounts").count() == 0
    response = page.goto(f"{server.url}/staff/users")
    assert response.status == 403
    response = page.goto(f"{server.url}/staff/c/library-hours/export.csv")
    assert response.status == 403


def test_staff_hide_a_submission(context, server: ServerThread, hub_path: Path) -> None:
    page = context.new_page()
    log_in(page, server, "staff")
    page.goto(f"{server.url}/staff/c/library-hours/submissions?q=soirees")
    page.get_by_role("table").get_by_role("link").first.click()
    page.get_by_label("Reason for hiding it").fill("Off topic")
    page.get_by_role("button", name="Hide this submission").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("The submission is hidden.")
    sync_api.expect(page.get_by_text("staff@example.org · hid it: Off topic")).to_be_visible()
    assert_no_axe_violations(page, "hidden submission")
    with store.open_db(hub_path) as db:
        assert db.execute("SELECT count(*) FROM submissions WHERE hidden = 1").fetchone()[0] == 1
        page.get_by_label("Reason for showing it again").fill("Mistake")
        page.get_by_role("button", name="Show this submission").click()
        sync_api.expect(page.get_by_role("status")).to_contain_text("shown again")
        assert db.execute("SELECT count(*) FROM submissions WHERE hidden = 1").fetchone()[0] == 0


def test_download_each_export_format_and_open_it(
    context, server: ServerThread, tmp_path: Path
) -> None:
    page = context.new_page()
    log_in(page, server, "staff")
    page.goto(f"{server.url}/staff/c/library-hours/")

    def download(name: str) -> Path:
        with page.expect_download() as info:
            page.get_by_role("link", name=name, exact=True).click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        return target

    csv_path = download("Download CSV")
    assert csv_path.name == "library-hours-submissions.csv"
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert {r["comments"] for r in rows} >= {"Plus de soirées", "'" + PAYLOAD}
    assert RESPONDENT in {r["respondent"] for r in rows}

    xlsx = openpyxl.load_workbook(download("Download Excel (XLSX)"))
    assert xlsx.sheetnames == ["submissions", "codebook"]
    values = [c.value for row in xlsx["submissions"].iter_rows() for c in row]
    assert "'" + PAYLOAD in values
    assert not [c for row in xlsx["submissions"].iter_rows() for c in row if c.data_type == "f"]

    document = json.loads(download("Download JSON").read_text(encoding="utf-8"))
    assert document["consultation"]["id"] == "library-hours"
    assert len(document["submissions"]) == 3
    lines = download("Download JSON Lines").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(
        s["id"] for s in document["submissions"]
    )
    codebook = download("Download the codebook (CSV)").read_text(encoding="utf-8-sig")
    assert "Le dimanche" in codebook
    labelled = download("Download CSV with choice labels").read_text(encoding="utf-8-sig")
    labelled_rows = list(csv.DictReader(io.StringIO(labelled)))
    assert sorted(r["visits"] for r in labelled_rows) == ["Every month", "Every week", "Rarely"]


def test_french_staff_pages_pass_axe(context, server: ServerThread) -> None:
    page = context.new_page()
    log_in(page, server, "admin")
    page.get_by_role("link", name="Français").click()
    sync_api.expect(page.get_by_role("heading", name="Consultations", level=1)).to_be_visible()
    assert page.evaluate("() => document.documentElement.lang") == "fr"
    for path in ["/staff/", "/staff/c/library-hours/", "/staff/devices", "/staff/users"]:
        page.goto(f"{server.url}{path}")
        assert_no_axe_violations(page, f"French {path}")
        fits_tablet(page)
    page.goto(f"{server.url}/staff/c/library-hours/")
    sync_api.expect(
        page.get_by_role("img", name="Réponses à : Quelle est la fréquence de vos visites ?")
    ).to_be_visible()
