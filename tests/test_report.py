"""The consultation report: quotes marked and audited, the print page, and the PDF made
on the hub, opened with pypdf (pages, title, every question's heading and base, accents)."""

from __future__ import annotations

import io
import re

import pytest
import sqlite_utils
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from participate import consultations
from participate.hub import quotes, users
from participate.hub.errors import ModerationError
from participate.hub.results import Filters
from participate.sync import devices
from tests.conftest import record_submission, save_ruled

PASSWORD = "correct horse battery"
QUOTE = "Ouvrir le dimanche matin, s'il vous plaît : ça changerait tout 🙂"


@pytest.fixture
def reported(db: sqlite_utils.Database, example: consultations.Consultation) -> dict:
    """Record kiosk and SMS answers, in English and French, one of them to quote."""
    devices.add_device(db, "Bibliothèque Frontenac")
    quoted = record_submission(
        db,
        example,
        {
            "visits": "weekly",
            "times": ["mornings", "sundays"],
            "evenings": True,
            "rating": 4,
            "hours_per_week": 3,
            "comments": QUOTE,
        },
        language="fr",
    )
    other = record_submission(
        db,
        example,
        {"visits": "rarely", "evenings": False, "rating": 2, "comments": "Not quoted"},
        channel="sms",
        respondent="p-5b1c",
        complete=False,
    )
    for role in ("staff", "viewer"):
        users.create_user(db, f"{role}@example.org", PASSWORD, role)
    return {"quoted": quoted, "other": other}


def _login(app: Flask, role: str = "staff") -> FlaskClient:
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/staff/login",
        data={"email": f"{role}@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    return client


def _token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_quoting_is_audited_and_only_for_written_answers(
    db: sqlite_utils.Database, reported: dict
) -> None:
    submission = reported["quoted"]["id"]
    assert quotes.mark(db, submission, "comments", "quote", "staff@example.org")
    assert not quotes.mark(db, submission, "comments", "quote", "staff@example.org")
    assert quotes.quoted_questions(db, submission) == {"comments"}
    assert quotes.mark(db, submission, "comments", "unquote", "lead@example.org")
    assert [(h["action"], h["user_email"]) for h in quotes.history(db, submission)] == [
        ("quote", "staff@example.org"),
        ("unquote", "lead@example.org"),
    ]
    for question, action in [("visits", "quote"), ("comments", "shout")]:
        with pytest.raises(ModerationError):
            quotes.mark(db, submission, question, action, "staff@example.org")
    assert quotes.quoted_questions(db, submission) == set()


def test_staff_quote_from_the_submissions_page_and_viewers_cannot(
    app: Flask, db: sqlite_utils.Database, reported: dict
) -> None:
    submission = reported["quoted"]["id"]
    viewer = _login(app, "viewer")
    url = f"/staff/submissions/{submission}/quote"
    listing = "/staff/c/library-hours/submissions"
    assert "Quote in report" not in viewer.get(listing).get_data(as_text=True)
    data = {"question": "comments", "action": "quote", "next": listing}
    refused = viewer.post(url, data={**data, "csrf_token": _token(viewer, listing)})
    assert refused.status_code == 403
    staff = _login(app)
    page = staff.get(listing).get_data(as_text=True)
    assert page.count("Quote in report") == 2
    response = staff.post(url, data={**data, "csrf_token": _token(staff, listing)})
    assert response.status_code == 302 and response.headers["Location"] == listing
    assert "Quoted in report" in staff.get(listing).get_data(as_text=True)
    assert quotes.quoted_questions(db, submission) == {"comments"}


def test_report_pdf_has_title_questions_bases_and_accents(
    app: Flask, db: sqlite_utils.Database, reported: dict
) -> None:
    quotes.mark(db, reported["quoted"]["id"], "comments", "quote", "staff@example.org")
    staff = _login(app)
    response = staff.get("/staff/c/library-hours/report.pdf?lang=fr")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) >= 2
    example = consultations.get(db, "library-hours")
    title = example.title["fr"]
    assert "è" in title and reader.metadata.title == title
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert " ".join(title.split()) in flat
    for number, question in enumerate(example.questions, start=1):
        assert f"{number}. {question.text['fr']}" in flat
    assert "posée à 2, répondue par 2" in flat  # visits
    assert "posée à 2, répondue par 1" in flat  # hours_per_week
    assert "Ouvrir le dimanche matin, s'il vous plaît" in flat
    assert "Not quoted" not in flat
    assert "Bibliothèque Frontenac" in flat or "Borne" in flat
    assert "Masquées par la modération" in flat


def test_report_in_both_languages_side_by_side(app: Flask, reported: dict) -> None:
    staff = _login(app)
    page = staff.get("/staff/c/library-hours/report?both=1").get_data(as_text=True)
    assert "Library opening hours" in page and "Heures d’ouverture" in page
    assert "Every week" in page and "Chaque semaine" in page
    pdf = PdfReader(io.BytesIO(staff.get("/staff/c/library-hours/report.pdf?both=1").data))
    flat = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "Every week / Chaque semaine" in flat
    assert "asked of 2, answered by 2" in flat


def test_report_follows_the_results_page_filters(app: Flask, reported: dict) -> None:
    staff = _login(app)
    page = staff.get("/staff/c/library-hours/report?channel=sms").get_data(as_text=True)
    assert "asked of 1, answered by 1" in page
    results = staff.get("/staff/c/library-hours/?channel=sms").get_data(as_text=True)
    assert "/staff/c/library-hours/report?channel=sms" in results
    assert "/staff/c/library-hours/report.pdf?channel=sms" in results


def test_report_says_who_was_asked_a_question_with_a_rule(
    app: Flask, db: sqlite_utils.Database, tmp_path
) -> None:
    consultation = save_ruled(db, tmp_path)
    for answers in (
        {"frequence": "daily", "eclairage": False, "pourquoi": "Des lampes"},
        {"frequence": "weekly", "eclairage": True},
        {"frequence": "weekly"},
        {"frequence": "never"},
    ):
        record_submission(db, consultation, {**answers, "note": 4})
    users.create_user(db, "staff@example.org", PASSWORD, "staff")
    staff = _login(app)
    page = staff.get("/staff/c/arret/report").get_data(as_text=True)
    assert (
        "Asked only if “How often do you take the bus?” is one of: Every day, Every week."
        " Asked of 3, answered by 2, not asked of 1."
    ) in page
    assert "asked of 4, answered by 4" in page  # frequence, asked of everyone
    pdf = PdfReader(io.BytesIO(staff.get("/staff/c/arret/report.pdf?lang=fr").data))
    flat = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "Posée à 1, répondue par 1, non posée à 3." in flat  # pourquoi
    assert "Posée seulement si la réponse à" in flat


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(channel="kiosk", language="fr"), Filters(include_hidden=True)],
    ids=["all", "channel+language", "hidden too"],
)
def test_the_report_finds_its_quotes_from_the_quotes_not_every_submission(
    db: sqlite_utils.Database, reported: dict, filters: Filters
) -> None:
    """The report's quotes are looked up from the few quoted answers: its cost does not
    grow with the submissions (the query plan reads report_quotes, then each by its id)."""
    quotes.mark(db, reported["quoted"]["id"], "comments", "quote", "staff@example.org")
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        found = quotes.quotes(db, "library-hours", filters)
    finally:
        db.conn.set_trace_callback(None)
    assert [row["text"] for row in found["comments"]] == [QUOTE]
    (query,) = [s for s in statements if "FROM report_quotes" in s]
    plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}")]
    assert plan[0].startswith("SCAN q"), plan
    assert not any(step.startswith("SCAN s") for step in plan), plan
