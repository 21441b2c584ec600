"""The kiosk's routes through Flask's test client: a visit, bad input, resets, idempotency."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from flask import Flask
from flask.testing import FlaskClient

from participate import consultations, settings
from participate.app import create_app
from participate.kiosk import display, sweep_idle_visits, visits
from tests.conftest import EXAMPLE

DEVICE = "node-test-1"


def example_definition(**changes: object) -> dict:
    """Return the example consultation without its dates (open whatever the day), changed."""
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.pop("opens", None)
    data.pop("closes", None)
    data.update(changes)
    return data


@pytest.fixture
def app_settings() -> dict:
    return {"ROLE": "node", "DEVICE_ID": DEVICE}


@pytest.fixture
def consultation(db: sqlite_utils.Database) -> consultations.Consultation:
    """Load the dateless example into the store."""
    parsed = consultations.parse(example_definition(), "library-hours.yaml")
    consultations.save(db, [parsed])
    return parsed


def token_of(html: str) -> str:
    match = re.search(r'name="visit" value="([^"]+)"', html)
    assert match, "the page carries no visit token"
    return match.group(1)


def start(client: FlaskClient, lang: str = "en") -> str:
    """Start a visit of the example and return its token."""
    response = client.post("/start", data={"consultation": "library-hours", "lang": lang})
    assert response.status_code == 303
    assert response.headers["Location"] == "/question/1"
    page = client.get("/question/1")
    assert page.status_code == 200
    return token_of(page.get_data(as_text=True))


FULL_ANSWERS = [
    ("visits", ["monthly"]),
    ("times", ["sundays", "mornings"]),
    ("evenings", ["yes"]),
    ("rating", ["4"]),
    ("hours_per_week", ["12"]),
    ("comments", ["Plus de bancs, s'il vous plaît."]),
]
EXPECTED = {
    "visits": "monthly",
    "times": ["mornings", "sundays"],
    "evenings": True,
    "rating": 4,
    "hours_per_week": 12,
    "comments": "Plus de bancs, s'il vous plaît.",
}


def answer_all(client: FlaskClient, token: str, answers=FULL_ANSWERS) -> None:
    for number, (question_id, values) in enumerate(answers, start=1):
        response = client.post(
            f"/question/{number}",
            data={"visit": token, "question": question_id, "action": "next", "answer": values},
        )
        assert response.status_code == 303, response.get_data(as_text=True)


def submissions_in(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM submissions ORDER BY seq"))


def visit_rows(db: sqlite_utils.Database) -> list[tuple]:
    return db.execute("SELECT token, answers, submitted_at FROM kiosk_visits").fetchall()


# --- registration and the welcome screen ------------------------------------------------


def test_a_hub_has_no_kiosk(db_path: Path) -> None:
    app = create_app({"TESTING": True, "DATABASE": str(db_path), "ROLE": "hub"})
    assert "kiosk" not in app.blueprints
    assert app.test_client().post("/start").status_code in (404, 405)


def test_welcome_lists_open_consultations_as_buttons(client: FlaskClient, consultation) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="en"' in html
    assert "Library opening hours" in html
    assert 'name="consultation" value="library-hours"' in html
    assert 'hreflang="fr"' in html and ">Français</a>" in html


def test_welcome_in_french(client: FlaskClient, consultation) -> None:
    html = client.get("/?lang=fr").get_data(as_text=True)
    assert '<html lang="fr"' in html
    assert "Heures d’ouverture de la bibliothèque" in html
    assert "Donnez votre avis" in html
    # English only on the attract screen, which greets in every language (marked as such).
    attract = re.search(r'<div class="attract" id="attract" hidden>.*?\n  </div>', html, re.S)
    assert attract and '<div class="attract-invite" lang="en">' in attract[0]
    assert "Have your say" not in html.replace(attract[0], "")


def test_welcome_without_open_consultations(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    consultations.set_closed(db, "library-hours", True)
    html = client.get("/").get_data(as_text=True)
    assert "There is nothing to answer right now" in html
    assert "library-hours" not in html


# --- a complete visit ---------------------------------------------------------------------


def test_a_complete_visit_records_one_submission(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client, "fr")
    answer_all(client, token)
    review = client.get("/review")
    assert review.status_code == 200
    assert "Chaque mois" in review.get_data(as_text=True)
    response = client.post("/submit", data={"visit": token})
    assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    thanks = client.get("/thanks").get_data(as_text=True)
    assert "Merci ! Vos réponses ont été enregistrées." in thanks
    assert 'data-idle="10"' in thanks  # the script returns to the start after 10 s

    (row,) = submissions_in(db)
    assert json.loads(row["answers"]) == EXPECTED
    assert row["channel"] == "kiosk"
    assert row["device_id"] == DEVICE
    assert row["language"] == "fr"
    assert row["respondent"] == ""
    assert row["complete"] == 1
    assert row["consultation_version"] == consultation.version
    assert row["started_at"] <= row["submitted_at"]
    assert row["seq"] == 1
    # The visit no longer holds the answers, and the welcome screen forgets the visit.
    assert visit_rows(db) == [(token, "{}", row["submitted_at"])]
    welcome = client.get("/")
    assert "kiosk_visit=;" in welcome.headers.get("Set-Cookie", "")
    assert visit_rows(db) == []


def test_skipped_optional_questions_are_absent(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answers = [*FULL_ANSWERS[:4], ("hours_per_week", [""]), ("comments", ["   "])]
    answer_all(client, token, answers)
    review = client.get("/review").get_data(as_text=True)
    assert review.count("Skipped") == 2
    client.post("/submit", data={"visit": token})
    (row,) = submissions_in(db)
    assert set(json.loads(row["answers"])) == {"visits", "times", "evenings", "rating"}


def test_back_keeps_answers_and_shows_them_again(client: FlaskClient, consultation) -> None:
    token = start(client)
    answer_all(client, token, FULL_ANSWERS[:2])
    response = client.post(
        "/question/3", data={"visit": token, "question": "evenings", "action": "back"}
    )
    assert response.headers["Location"] == "/question/2"
    html = client.get("/question/2").get_data(as_text=True)
    assert re.search(r'value="mornings"\s+checked', html)
    assert re.search(r'value="sundays"\s+checked', html)
    assert not re.search(r'value="evenings"\s+checked', html)


def test_back_from_the_first_question_ends_the_visit(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    response = client.post(
        "/question/1", data={"visit": token, "question": "visits", "action": "back"}
    )
    assert response.status_code == 303 and response.headers["Location"].startswith("/?")
    assert visit_rows(db) == []


def test_a_change_from_the_review_returns_to_it_and_keeps_the_visit(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    # "Change" on question 1, then Back (or Next): the review again, never the welcome
    # screen with every answer thrown away.
    token = start(client)
    answer_all(client, token)
    review = client.get("/review").get_data(as_text=True)
    assert 'href="/question/1?review=1"' in review
    page = client.get("/question/1?review=1").get_data(as_text=True)
    assert '<input type="hidden" name="review" value="1">' in page
    for action, value in (("back", "weekly"), ("next", "rarely")):
        response = client.post(
            "/question/1",
            data={
                "visit": token,
                "question": "visits",
                "action": action,
                "answer": value,
                "review": "1",
            },
        )
        assert response.status_code == 303 and response.headers["Location"] == "/review"
        answers = json.loads(visit_rows(db)[0][1])
        assert answers["visits"] == value and len(answers) == len(EXPECTED)
    # Switching the text size keeps the way back to the review.
    response = client.post(
        "/question/1",
        data={"visit": token, "question": "visits", "action": "text-size", "review": "1"},
    )
    assert response.headers["Location"] == "/question/1?review=1"


def test_a_visit_keeps_the_version_it_started_with(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    newer = consultations.parse(
        example_definition(thanks={"en": "Cheers", "fr": "Merci"}), "library-hours.yaml"
    )
    consultations.save(db, [newer])
    answer_all(client, token)
    client.post("/submit", data={"visit": token})
    (row,) = submissions_in(db)
    assert row["consultation_version"] == consultation.version != newer.version


# --- bad input: a clear page, nothing stored ---------------------------------------------

BAD_ANSWERS = [
    (1, "visits", ["daily"], "is not one of the options"),
    (1, "visits", [], "Please choose an answer."),
    (2, "times", ["mornings", "mornings"], "not one of the options"),
    (2, "times", ["mornings", "brunch"], "not one of the options"),
    (2, "times", [], "Please choose at least one answer."),
    (3, "evenings", ["maybe"], "not one of the options"),
    (4, "rating", ["0"], "from 1 to 5"),
    (4, "rating", ["6"], "from 1 to 5"),
    (4, "rating", ["2.5"], "whole number"),
    (4, "rating", ["five"], "not one of the options"),
    (5, "hours_per_week", ["81"], "from 0 to 80"),
    (5, "hours_per_week", ["-1"], "from 0 to 80"),
    (5, "hours_per_week", ["1.5"], "whole number"),
    (5, "hours_per_week", ["ten"], "using only digits"),
    (5, "hours_per_week", ["1e400"], "using only digits"),
    (6, "comments", ["x" * 501], "500 characters or fewer"),
    # Two values for a question that takes one: refused, never the last one kept.
    (1, "visits", ["weekly", "monthly"], "not one of the options"),
    (3, "evenings", ["yes", "no"], "not one of the options"),
    (4, "rating", ["1", "5"], "not one of the options"),
    (5, "hours_per_week", ["1", "2"], "using only digits"),
    (6, "comments", ["a", "b"], "as text"),
]


@pytest.mark.parametrize(("number", "question_id", "values", "message"), BAD_ANSWERS)
def test_bad_answers_are_refused_next_to_the_question(
    client: FlaskClient,
    db: sqlite_utils.Database,
    consultation,
    number: int,
    question_id: str,
    values: list[str],
    message: str,
) -> None:
    token = start(client)
    before = visit_rows(db)
    response = client.post(
        f"/question/{number}",
        data={"visit": token, "question": question_id, "action": "next", "answer": values},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    assert 'role="alert"' in html and 'aria-invalid="true"' in html
    assert "<title>Error:" in html
    assert visit_rows(db) == before
    # The refused answer was not kept, so the review still asks for the required ones.
    assert client.post("/submit", data={"visit": token}).status_code == 422
    assert submissions_in(db) == []


def test_an_unknown_consultation_is_a_clear_404(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    response = client.post("/start", data={"consultation": "no-such-thing", "lang": "en"})
    assert response.status_code == 404
    assert "Start again" in response.get_data(as_text=True)
    assert visit_rows(db) == []


@pytest.mark.parametrize(
    ("path", "question_id", "status"),
    [
        ("/question/1", "rating", 404),  # a real question, at another position
        ("/question/1", "nonsense", 404),
        ("/question/7", "visits", 404),
        ("/question/0", "visits", 404),
        ("/question/1", None, 400),
    ],
)
def test_unknown_questions_are_refused(
    client: FlaskClient,
    db: sqlite_utils.Database,
    consultation,
    path: str,
    question_id: str | None,
    status: int,
) -> None:
    token = start(client)
    data = {"visit": token, "action": "next", "answer": "4"}
    if question_id is not None:
        data["question"] = question_id
    response = client.post(path, data=data)
    assert response.status_code == status
    assert "Nothing was saved" in response.get_data(as_text=True)
    assert json.loads(visit_rows(db)[0][1]) == {}


def test_a_refusal_speaks_plainly_in_the_visit_language(
    client: FlaskClient, consultation, caplog: pytest.LogCaptureFixture
) -> None:
    # The reason is for the installer's log; the visitor reads plain words in French.
    start(client, lang="fr")
    with caplog.at_level("INFO", logger="participate.kiosk.views"):
        response = client.get("/question/99")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Cette page n’existe pas" in html and "Rien n’a été enregistré" in html
    assert "question 99" not in html and 'lang="en"' not in html
    reasons = [getattr(record, "detail", None) for record in caplog.records]
    assert "this consultation has no question 99" in reasons


def test_question_out_of_range_is_404(client: FlaskClient, consultation) -> None:
    start(client)
    assert client.get("/question/99").status_code == 404


def test_an_oversized_body_is_refused(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    response = client.post(
        "/question/6",
        data={"visit": token, "question": "comments", "answer": "x" * (3 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert "Nothing was saved" in response.get_data(as_text=True)
    assert json.loads(visit_rows(db)[0][1]) == {}


def test_a_closed_consultation_cannot_be_started(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    consultations.set_closed(db, "library-hours", True)
    response = client.post("/start", data={"consultation": "library-hours", "lang": "en"})
    assert response.status_code == 409
    assert "This topic is closed" in response.get_data(as_text=True)
    assert visit_rows(db) == []


def test_a_topic_closed_since_the_welcome_screen_says_so_in_its_language(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    welcome = client.get("/?lang=fr").get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', welcome).group(1)
    consultations.set_closed(db, "library-hours", True)
    response = client.post(action, data={"consultation": "library-hours", "lang": "fr"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert '<html lang="fr"' in html and "Ce sujet est fermé" in html
    assert 'href="/?lang=fr"' in html
    assert visit_rows(db) == []


def test_a_consultation_closed_during_a_visit_stores_nothing(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token)
    consultations.set_closed(db, "library-hours", True)
    response = client.post("/submit", data={"visit": token})
    assert response.status_code == 409
    assert submissions_in(db) == []


def test_a_consultation_past_its_dates_cannot_be_started(
    client: FlaskClient, db: sqlite_utils.Database
) -> None:
    ended = consultations.parse(
        example_definition(opens="2020-01-01", closes="2020-02-01"), "old.yaml"
    )
    consultations.save(db, [ended])
    assert "library-hours" not in client.get("/").get_data(as_text=True)
    response = client.post("/start", data={"consultation": "library-hours", "lang": "en"})
    assert response.status_code == 409
    assert visit_rows(db) == []


@pytest.mark.parametrize(("lang", "shown"), [("en", "4 out of 5"), ("fr", "4 sur 5")])
def test_the_review_says_what_a_scale_answer_means(
    client: FlaskClient, consultation, lang: str, shown: str
) -> None:
    token = start(client, lang=lang)
    answer_all(client, token)
    assert f'<span class="answer-value" lang="{lang}">{shown}</span>' in client.get(
        "/review"
    ).get_data(as_text=True)


def test_submit_with_missing_answers_shows_them(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token, FULL_ANSWERS[:2])
    response = client.post("/submit", data={"visit": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "2 questions still need an answer" in html
    assert 'href="/question/3?review=1"' in html and 'href="/question/4?review=1"' in html
    assert submissions_in(db) == []


# --- idempotency ---------------------------------------------------------------------------


def test_a_replayed_final_submit_never_makes_two(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token)
    for _ in range(3):  # a double tap, then a resubmitted form
        response = client.post("/submit", data={"visit": token})
        assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    assert len(submissions_in(db)) == 1
    client.get("/")  # the screen returns to the start: the visit is gone
    response = client.post("/submit", data={"visit": token})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert len(submissions_in(db)) == 1


def test_a_submitted_visit_shows_no_answers_again(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token)
    client.post("/submit", data={"visit": token})
    for path in ("/question/1", "/review"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    response = client.post(
        "/question/1", data={"visit": token, "question": "visits", "answer": "rarely"}
    )
    assert response.headers["Location"] == "/thanks"
    assert json.loads(submissions_in(db)[0]["answers"])["visits"] == "monthly"


# --- resets, expiry, stale pages -------------------------------------------------------------


def test_reset_deletes_the_visit_and_back_shows_nothing(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token, FULL_ANSWERS[:3])
    response = client.post("/reset", data={"visit": token, "confirmed": "1", "reason": "idle"})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "kiosk_visit=;" in response.headers["Set-Cookie"]
    assert visit_rows(db) == []
    # Back, with or without the old cookie: the server knows nothing of the visit.
    client.set_cookie("kiosk_visit", token)
    for path in ("/question/2", "/review", "/thanks"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/"
    response = client.post(
        "/question/4", data={"visit": token, "question": "rating", "answer": "3"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert visit_rows(db) == []


@pytest.mark.parametrize("token", ["", "made-up", "x" * 500])
def test_a_stale_or_forged_token_restarts_without_an_error(
    client: FlaskClient, consultation, token: str
) -> None:
    for path in ("/question/1", "/submit", "/text-size"):
        response = client.post(path, data={"visit": token, "question": "visits"})
        assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.post("/keepalive", data={"visit": token}).status_code == 410


def test_without_javascript_the_screen_still_returns_to_the_start(
    client: FlaskClient, consultation
) -> None:
    # The page's script normally does it; a plain refresh is the fallback, timed as the
    # script's reset (idle 90 s + warning 30 s) and the thank-you screen's return (10 s).
    token = start(client)

    def refresh(path: str) -> str | None:
        found = re.search(
            r'<noscript><meta http-equiv="refresh" content="([^"]+)"></noscript>',
            client.get(path).get_data(as_text=True),
        )
        return found.group(1) if found else None

    assert refresh("/question/1") == "120;url=/"
    answer_all(client, token)
    assert refresh("/review") == "120;url=/"
    client.post("/submit", data={"visit": token})
    assert refresh("/thanks") == "10;url=/"
    assert refresh("/") is None


def test_the_idle_countdown_is_one_translatable_sentence(client: FlaskClient, consultation) -> None:
    start(client, lang="fr")
    html = client.get("/question/1").get_data(as_text=True)
    assert 'data-one="Vos réponses seront effacées dans {n} seconde."' in html
    assert 'data-other="Vos réponses seront effacées dans {n} secondes."' in html
    assert re.search(r'effacées dans\s*<span id="idle-count"[^>]*>30</span>\s*secondes\.', html)


def test_an_idle_visit_expires_on_the_server(
    app: Flask, client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token, FULL_ANSWERS[:2])
    assert client.post("/keepalive", data={"visit": token}).status_code == 204
    db.execute("UPDATE kiosk_visits SET touched_at = '2000-01-01T00:00:00.000000Z'")
    response = client.post(
        "/question/3", data={"visit": token, "question": "evenings", "answer": "yes"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert visit_rows(db) == []


def test_the_sweep_removes_only_idle_visits(
    app: Flask, db: sqlite_utils.Database, consultation
) -> None:
    idle = visits.start(db, consultation, language="en")
    fresh = visits.start(db, consultation, language="en")
    db.execute(
        "UPDATE kiosk_visits SET touched_at = '2000-01-01T00:00:00.000000Z' WHERE token = ?",
        [idle.token],
    )
    assert sweep_idle_visits(app) == 1
    assert [row[0] for row in visit_rows(db)] == [fresh.token]


def test_no_cookie_but_the_visit_token_and_no_session(client: FlaskClient, consultation) -> None:
    start(client)
    cookies = {cookie.key for cookie in client._cookies.values()}
    assert cookies == {"kiosk_visit"}


@pytest.mark.parametrize("path", ["/", "/question/1", "/review", "/question/9"])
def test_every_kiosk_page_is_never_cached(client: FlaskClient, consultation, path: str) -> None:
    start(client)
    response = client.get(path)
    assert "no-store" in response.headers["Cache-Control"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_text_size_is_kept_for_the_visit(client: FlaskClient, consultation) -> None:
    html = client.get("/?size=large").get_data(as_text=True)
    assert 'class="text-large"' in html
    client.post("/start", data={"consultation": "library-hours", "lang": "en", "size": "large"})
    html = client.get("/question/1").get_data(as_text=True)
    assert 'class="text-large"' in html
    token = token_of(html)
    response = client.post(
        "/question/1", data={"visit": token, "question": "visits", "action": "text-size"}
    )
    assert response.headers["Location"] == "/question/1"
    assert 'class="text-normal"' in client.get("/question/1").get_data(as_text=True)
    # The page's script sets the size it shows; a stale form's size wins over nothing.
    response = client.post("/text-size", data={"visit": token, "action": "set", "size": "large"})
    assert 'class="text-large"' in client.get("/question/1").get_data(as_text=True)
    client.post("/question/1", data={"visit": token, "question": "visits", "size": "normal"})
    assert 'class="text-normal"' in client.get("/question/1").get_data(as_text=True)
    # The review screen's switch goes back only to a kiosk path, never elsewhere.
    response = client.post("/text-size", data={"visit": token, "back": "https://example.org/"})
    assert response.headers["Location"] == "/review"


def test_the_welcome_text_size_switch_is_a_real_button(client: FlaskClient, consultation) -> None:
    # A link dressed as a button ignores the space bar; a GET form's button does not.
    html = client.get("/?lang=fr").get_data(as_text=True)
    assert 'role="button"' not in html
    switch = re.search(r'<form method="get" action="/"[^>]*>(.*?)</form>', html, re.S).group(1)
    assert '<input type="hidden" name="lang" value="fr">' in switch
    assert '<input type="hidden" name="size" value="large">' in switch
    assert re.search(r'<button type="submit"[^>]*aria-pressed="false"', switch)
    large = client.get("/?lang=fr&size=large").get_data(as_text=True)
    switch = re.search(r'<form method="get" action="/"[^>]*>(.*?)</form>', large, re.S).group(1)
    assert 'name="size"' not in switch and 'aria-pressed="true"' in switch


def test_the_language_is_one_tap_away_during_a_visit(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client)
    answer_all(client, token, FULL_ANSWERS[:1])
    page = client.get("/question/2").get_data(as_text=True)
    assert 'value="language:fr"' in page and ">Français<" in page
    # The answer on the screen is kept, and the same question comes back in French.
    response = client.post(
        "/question/2",
        data={"visit": token, "question": "times", "action": "language:fr", "answer": "sundays"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/question/2"
    page = client.get("/question/2").get_data(as_text=True)
    assert '<html lang="fr"' in page and "Question 2 sur 6" in page
    assert 'value="sundays" checked' in page
    # A language the consultation does not offer changes nothing.
    client.post("/question/2", data={"visit": token, "question": "times", "action": "language:de"})
    assert '<html lang="fr"' in client.get("/question/2").get_data(as_text=True)
    # The review screen switches too, and the submission says the language it ended in.
    answer_all(client, token)
    review = client.get("/review").get_data(as_text=True)
    assert 'action="/language"' in review and ">English<" in review
    response = client.post("/language", data={"visit": token, "lang": "en", "back": "/review"})
    assert response.status_code == 303 and response.headers["Location"] == "/review"
    assert "Check your answers" in client.get("/review").get_data(as_text=True)
    client.post("/submit", data={"visit": token})
    assert submissions_in(db)[0]["language"] == "en"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_on_screen_keyboard_writes_everyday_sentences(language: str) -> None:
    # "Peut-être le soir !", "Open late - please!": a hyphen and an exclamation mark.
    keys = "".join(display.keyboard_rows(language))
    for char in "-!'?,.":
        assert char in keys


def test_the_on_screen_keyboard_can_be_switched_off(app_config: dict, consultation) -> None:
    def text_page(keyboard: bool) -> str:
        client = create_app({**app_config, "KIOSK_ONSCREEN_KEYBOARD": keyboard}).test_client()
        token = start(client, "fr")
        answer_all(client, token, FULL_ANSWERS[:5])
        return client.get("/question/6").get_data(as_text=True)

    with_keyboard = text_page(True)
    assert "data-keyboard" in with_keyboard and ">é</button>" in with_keyboard
    assert "data-keyboard" not in text_page(False)


def test_every_question_type_is_rendered_for_touch(client: FlaskClient, consultation) -> None:
    token = start(client)
    answer_all(client, token, FULL_ANSWERS[:5])
    pages = [client.get(f"/question/{n}").get_data(as_text=True) for n in range(1, 7)]
    assert pages[0].count('type="radio" name="answer"') == 3
    assert pages[1].count('type="checkbox" name="answer"') == 3
    assert ">Yes</span>" in pages[2] and ">No</span>" in pages[2]
    assert pages[3].count('type="radio" name="answer"') == 5 and "1 = Very poor" in pages[3]
    assert "data-keypad" in pages[4] and 'inputmode="numeric"' in pages[4]
    assert "<textarea" in pages[5] and 'maxlength="500"' in pages[5]
    assert "Question 2 of 6" in pages[1]


def test_a_node_schedules_the_sweep_and_a_hub_does_not(app: Flask, db_path: Path) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from participate import kiosk

    scheduler = BackgroundScheduler(timezone="UTC")
    kiosk.schedule(scheduler, app)
    jobs = {job.id: job.args for job in scheduler.get_jobs()}
    # The audio render too, since espeak-ng is installed here (tests/test_kiosk_listen.py).
    assert jobs == {"kiosk.sweep_idle_visits": (app,), "kiosk.render_audio": (app,)}
    hub = create_app({"TESTING": True, "DATABASE": str(db_path), "ROLE": "hub"})
    hub_scheduler = BackgroundScheduler(timezone="UTC")
    kiosk.schedule(hub_scheduler, hub)
    assert hub_scheduler.get_jobs() == []


# --- Start over asks first; the welcome screen's language --------------------------------------


def test_start_over_asks_before_clearing_and_keeps_the_language(
    client: FlaskClient, db: sqlite_utils.Database, consultation
) -> None:
    token = start(client, lang="fr")
    answer_all(client, token, FULL_ANSWERS[:2])
    asked = client.post("/reset", data={"visit": token, "back": "/question/3"})
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Recommencer?" in html
    assert 'href="/question/3"' in html  # "No, keep my answers" returns to the question
    assert len(visit_rows(db)) == 1  # nothing cleared by asking
    done = client.post("/reset", data={"visit": token, "confirmed": "1"})
    assert done.status_code == 303 and done.headers["Location"] == "/?lang=fr"
    assert visit_rows(db) == []


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_start_over_never_links_off_the_kiosk(client: FlaskClient, consultation, back) -> None:
    token = start(client)
    html = client.post("/reset", data={"visit": token, "back": back}).get_data(as_text=True)
    assert 'href="/review"' in html and "evil" not in html


def french_first(db: sqlite_utils.Database) -> None:
    data = example_definition(languages=["fr", "en"])
    consultations.save(db, [consultations.parse(data, "library-hours.yaml")])


def test_welcome_follows_the_first_consultation_when_languages_is_unset(
    app_config: dict, db: sqlite_utils.Database
) -> None:
    french_first(db)
    client = create_app(app_config).test_client()
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="fr"' in html and "<h1>Donnez votre avis</h1>" in html
    # The French 404, for an address no route knows.
    missing = client.get("/nowhere", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert "Cette page n’existe pas" in missing.get_data(as_text=True)


def test_a_languages_setting_wins_over_the_consultation(
    app_config: dict, db: sqlite_utils.Database
) -> None:
    french_first(db)
    client = create_app({**app_config, "LANGUAGES": ["en", "fr"]}).test_client()
    assert "<h1>Have your say</h1>" in client.get("/").get_data(as_text=True)


def test_an_unknown_address_speaks_the_chosen_language(client: FlaskClient, consultation) -> None:
    response = client.get("/nowhere?lang=fr", headers={"Accept": "text/html"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and '<html lang="fr"' in html
    assert "Cette page n’existe pas" in html and "Not Found" not in html
    # A program asking for JSON still gets the plain answer.
    assert client.get("/nowhere", headers={"Accept": "application/json"}).status_code == 404


# --- static files -------------------------------------------------------------------------------


def test_static_files_are_named_by_content_cached_and_gzipped(
    client: FlaskClient, consultation
) -> None:
    html = client.get("/").get_data(as_text=True)
    css = re.search(r'href="(/assets/[0-9a-f]{12}/kiosk/kiosk\.css)"', html)
    js = re.search(r'src="(/assets/[0-9a-f]{12}/kiosk/kiosk\.js)"', html)
    icon = re.search(r'rel="icon" href="(/assets/[0-9a-f]{12}/kiosk/favicon\.svg)"', html)
    assert css and js and icon
    for url in (css[1], js[1], icon[1]):
        response = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Content-Encoding"] == "gzip"
        assert "no-store" not in response.headers["Cache-Control"]
        plain = client.get(url)
        assert "Content-Encoding" not in plain.headers
        assert gzip.decompress(response.data) == plain.data
        # A browser that asks again anyway is told nothing changed.
        again = client.get(
            url, headers={"If-None-Match": response.headers["ETag"], "Accept-Encoding": "gzip"}
        )
        assert again.status_code == 304
        assert client.get(url, headers={"If-None-Match": response.headers["ETag"]}).data


@pytest.mark.parametrize(
    "path",
    [
        "/assets/000000000000/kiosk/kiosk.css",
        "/assets/x/kiosk/../../templates/kiosk/layout.html",
        "/assets/x/hub/hub.css",
        "/assets/x/kiosk/",
    ],
)
def test_an_old_or_foreign_asset_address_is_not_found(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_favicon(client: FlaskClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg")


# --- copy a first-time visitor reads ------------------------------------------------------------


def test_the_review_lists_chosen_answers_one_a_line(client: FlaskClient, consultation) -> None:
    token = start(client, lang="fr")
    answer_all(client, token)
    html = client.get("/review").get_data(as_text=True)
    assert "<li>Le matin</li><li>Le dimanche</li>" in html
    assert "Le matin, Le dimanche" not in html


def test_the_thanks_is_said_once(client: FlaskClient, consultation) -> None:
    token = start(client, lang="fr")
    answer_all(client, token)
    client.post("/submit", data={"visit": token})
    html = client.get("/thanks").get_data(as_text=True)
    assert html.split("<body")[1].count("Merci") == 1  # the title bar aside
    assert '<h1 lang="fr">Merci ! Vos réponses ont été enregistrées.</h1>' in html


def test_the_idle_warning_gives_time_to_read_it() -> None:
    assert settings.DEFAULTS["KIOSK_WARNING_SECONDS"] >= 20
