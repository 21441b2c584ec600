"""The kiosk's skip logic and closing times, through Flask's test client on a node app.

Skip logic: a consultation whose YAML (written here) asks "lieux" only if "eclairage" is
yes and "stationnement" only if "transport" (a multi) includes the bike or the scooter.
Closing times: a consultation closing at 17:00 local, on a node whose hub is unreachable,
with the node's local clock (`participate.clock.local_now`) set to the minute.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from flask import Flask
from flask.testing import FlaskClient

from participate import clock, consultations
from participate.kiosk import render_audio
from participate.sync.scheduling import NodeSync

STREETS = """
id: rues
title: {en: "Our streets", fr: "Nos rues"}
languages: [en, fr]
keywords: {en: STREETS, fr: RUES}
questions:
  - id: eclairage
    type: yesno
    text:
      en: "Should the street lighting be improved?"
      fr: "Faut-il améliorer l’éclairage des rues ?"
  - id: lieux
    type: multi
    ask_if: {question: eclairage, equals: yes}
    text: {en: "Where first?", fr: "Où d’abord ?"}
    choices:
      - {id: parc, text: {en: "Parks", fr: "Les parcs"}}
      - {id: ruelle, text: {en: "Lanes", fr: "Les ruelles"}}
  - id: transport
    type: multi
    text: {en: "How do you get around?", fr: "Comment vous déplacez-vous ?"}
    choices:
      - {id: marche, text: {en: "On foot", fr: "À pied"}}
      - {id: velo, text: {en: "By bike", fr: "À vélo"}}
      - {id: trottinette, text: {en: "By scooter", fr: "En trottinette"}}
  - id: stationnement
    type: choice
    ask_if: {question: transport, in: [velo, trottinette]}
    text: {en: "Where would you park it?", fr: "Où la garez-vous ?"}
    choices:
      - {id: rue, text: {en: "On the street", fr: "Dans la rue"}}
      - {id: abri, text: {en: "In a shelter", fr: "Dans un abri"}}
  - id: note
    type: scale
    min: 1
    max: 5
    text: {en: "How safe do you feel at night?", fr: "Vous sentez-vous en sécurité le soir ?"}
"""

NUMBERS = {"eclairage": 1, "lieux": 2, "transport": 3, "stationnement": 4, "note": 5}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def down_hub() -> str:
    """The address of a hub that is not there (a port nobody listens on)."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture
def app_settings(down_hub: str) -> dict:
    # A node enrolled with a hub it cannot reach: the kiosk decides everything locally.
    return {
        "ROLE": "node",
        "DEVICE_ID": "node-rules",
        "HUB_URL": down_hub,
        "DEVICE_SECRET": "secret-for-tests",
        "TIMEZONE": "America/Toronto",
    }


@pytest.fixture
def streets(db: sqlite_utils.Database) -> consultations.Consultation:
    parsed = consultations.parse(yaml.safe_load(STREETS), "rues.yaml")
    consultations.save(db, [parsed])
    return parsed


def token_of(html: str) -> str:
    match = re.search(r'name="visit" value="([^"]+)"', html)
    assert match, "the page carries no visit token"
    return match.group(1)


def progress(html: str) -> str:
    match = re.search(r'<p id="progress-text">([^<]+)</p>', html)
    assert match, "the page shows no progress"
    return match.group(1)


def start(client: FlaskClient, consultation: str = "rues", lang: str = "en") -> str:
    response = client.post("/start", data={"consultation": consultation, "lang": lang})
    assert response.status_code == 303, response.get_data(as_text=True)
    return token_of(client.get(response.headers["Location"]).get_data(as_text=True))


def post(client: FlaskClient, token: str, question: str, values, action: str = "next", **extra):
    return client.post(
        f"/question/{NUMBERS[question]}",
        data={"visit": token, "question": question, "answer": values, "action": action, **extra},
    )


def visit_answers(db: sqlite_utils.Database) -> dict:
    (row,) = db.execute("SELECT answers FROM kiosk_visits").fetchall()
    return json.loads(row[0])


def review_rows(html: str) -> list[str]:
    return re.findall(r'<dt lang="[a-z]+">([^<]+)</dt>', html)


# --- skip logic ----------------------------------------------------------------------------


# Each path: the answers given in turn, and for each screen shown (the first one and each
# one the answer leads to) its progress text; then what the review lists.
PATHS = [
    (
        "no light, on foot",
        [("eclairage", ["no"]), ("transport", ["marche"]), ("note", ["3"])],
        ["Question 1 of 5", "Question 2 of 4", "Question 3 of 3"],
        ["1. Should the street lighting be improved?", "2. How do you get around?", "3. How safe"],
        {"eclairage": False, "transport": ["marche"], "note": 3},
    ),
    (
        "light, by bike",
        [
            ("eclairage", ["yes"]),
            ("lieux", ["parc"]),
            ("transport", ["marche", "velo"]),
            ("stationnement", ["abri"]),
            ("note", ["2"]),
        ],
        [f"Question {n} of 5" for n in range(1, 6)],
        ["1. Should", "2. Where first?", "3. How do", "4. Where would you park it?", "5. How safe"],
        {
            "eclairage": True,
            "lieux": ["parc"],
            "transport": ["marche", "velo"],
            "stationnement": "abri",
            "note": 2,
        },
    ),
    (
        "light, by scooter (the multi rule's other value)",
        [
            ("eclairage", ["yes"]),
            ("lieux", ["ruelle"]),
            ("transport", ["trottinette"]),
            ("stationnement", ["rue"]),
            ("note", ["5"]),
        ],
        [f"Question {n} of 5" for n in range(1, 6)],
        ["1. Should", "2. Where first?", "3. How do", "4. Where would you park it?", "5. How safe"],
        {
            "eclairage": True,
            "lieux": ["ruelle"],
            "transport": ["trottinette"],
            "stationnement": "rue",
            "note": 5,
        },
    ),
]


@pytest.mark.parametrize(
    ("lang", "count"), [("en", "Up to 5 questions"), ("fr", "Jusqu’à 5 questions")]
)
def test_the_welcome_screen_says_how_many_questions_at_most(
    client: FlaskClient, streets, example, lang: str, count: str
) -> None:
    html = client.get(f"/?lang={lang}").get_data(as_text=True)
    assert count in html
    # A consultation without rules asks every question: its count is exact.
    assert ">6 questions<" in html


@pytest.mark.parametrize(
    ("answers", "shown", "listed", "stored"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS]
)
def test_next_goes_to_the_next_question_asked_and_the_count_follows(
    client: FlaskClient, db: sqlite_utils.Database, streets, answers, shown, listed, stored
) -> None:
    token = start(client)
    location = "/question/1"
    for (question_id, values), expected in zip(answers, shown, strict=True):
        assert location == f"/question/{NUMBERS[question_id]}"
        page = client.get(location)
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert progress(html) == expected
        assert f'name="question" value="{question_id}"' in html
        response = post(client, token, question_id, values)
        assert response.status_code == 303
        location = response.headers["Location"]
    assert location == "/review"
    review = client.get("/review").get_data(as_text=True)
    rows = review_rows(review)
    assert len(rows) == len(listed)
    assert all(row.startswith(start) for row, start in zip(rows, listed, strict=True))
    assert client.post("/submit", data={"visit": token}).status_code == 303
    (row,) = db.execute("SELECT answers FROM submissions").fetchall()
    assert json.loads(row[0]) == stored


def test_the_last_question_asked_offers_the_review(client: FlaskClient, streets) -> None:
    token = start(client)
    post(client, token, "eclairage", ["no"])
    post(client, token, "transport", ["marche"])
    html = client.get("/question/5").get_data(as_text=True)
    assert progress(html) == "Question 3 of 3"
    assert ">Review my answers</button>" in html
    # With a rule still open ahead, the button says Next.
    assert ">Next</button>" in client.get("/question/3").get_data(as_text=True)


def test_back_goes_to_the_previous_question_asked(client: FlaskClient, streets) -> None:
    token = start(client)
    post(client, token, "eclairage", ["no"])
    post(client, token, "transport", ["marche"])
    back = post(client, token, "note", ["3"], action="back")
    assert back.headers["Location"] == "/question/3"
    back = post(client, token, "transport", ["marche"], action="back")
    assert back.headers["Location"] == "/question/1"
    review = client.get("/review").get_data(as_text=True)
    assert 'class="button back" href="/question/5"' in review


def test_a_changed_answer_drops_the_answers_it_no_longer_asks(
    client: FlaskClient, db: sqlite_utils.Database, streets
) -> None:
    token = start(client)
    post(client, token, "eclairage", ["yes"])
    post(client, token, "lieux", ["parc"])
    post(client, token, "transport", ["velo"])
    post(client, token, "stationnement", ["abri"])
    post(client, token, "note", ["4"])
    # From the review: lighting is fine after all, and on foot.
    assert post(client, token, "eclairage", ["no"], review="1").headers["Location"] == "/review"
    assert visit_answers(db) == {
        "eclairage": False,
        "transport": ["velo"],
        "stationnement": "abri",
        "note": 4,
    }
    assert post(client, token, "transport", ["marche"], review="1").status_code == 303
    assert visit_answers(db) == {"eclairage": False, "transport": ["marche"], "note": 4}
    review = client.get("/review").get_data(as_text=True)
    assert "Where first?" not in review and "Where would you park it?" not in review
    assert [row.split(".")[0] for row in review_rows(review)] == ["1", "2", "3"]
    # Changed back: the question is asked again, without the dropped answer.
    post(client, token, "eclairage", ["yes"], review="1")
    review = client.get("/review").get_data(as_text=True)
    assert "One question still needs an answer" in review
    assert '<a href="/question/2?review=1" lang="en">Where first?</a>' in review
    assert client.post("/submit", data={"visit": token}).status_code == 422
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    post(client, token, "lieux", ["ruelle"], review="1")
    assert client.post("/submit", data={"visit": token}).status_code == 303
    (row,) = db.execute("SELECT answers FROM submissions").fetchall()
    assert json.loads(row[0]) == {
        "eclairage": True,
        "lieux": ["ruelle"],
        "transport": ["marche"],
        "note": 4,
    }


@pytest.mark.parametrize("action", ["next", "back", "text-size", "language:fr"])
def test_a_form_answering_a_skipped_question_is_refused_and_stores_nothing(
    client: FlaskClient, db: sqlite_utils.Database, streets, action: str
) -> None:
    token = start(client)
    post(client, token, "eclairage", ["no"])
    response = post(client, token, "lieux", ["parc"], action=action)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This question is not for you" in html
    assert "Nothing was saved, and your other answers are kept." in html
    assert 'href="/review"' in html
    assert visit_answers(db) == {"eclairage": False}
    (size, language) = db.execute("SELECT text_size, language FROM kiosk_visits").fetchone()
    assert (size, language) == ("normal", "en")


def test_a_forged_question_refusal_speaks_the_visit_language(
    client: FlaskClient, db: sqlite_utils.Database, streets
) -> None:
    token = start(client, lang="fr")
    post(client, token, "eclairage", ["no"])
    html = post(client, token, "lieux", ["parc"]).get_data(as_text=True)
    assert '<html lang="fr"' in html and "Cette question ne vous concerne pas" in html
    assert "Retour à mes réponses" in html


def test_the_address_of_a_skipped_question_leads_on(client: FlaskClient, streets) -> None:
    token = start(client)
    post(client, token, "eclairage", ["no"])
    response = client.get("/question/2")
    assert (response.status_code, response.headers["Location"]) == (303, "/question/3")
    post(client, token, "transport", ["marche"])
    assert client.get("/question/4").headers["Location"] == "/question/5"
    assert client.get("/question/4?review=1").headers["Location"] == "/review"


def test_submitting_answers_to_skipped_questions_is_refused(
    client: FlaskClient, db: sqlite_utils.Database, streets
) -> None:
    # A visit row altered behind the kiosk's back: validation still refuses it.
    token = start(client)
    post(client, token, "eclairage", ["no"])
    post(client, token, "transport", ["marche"])
    post(client, token, "note", ["3"])
    forged = {"eclairage": False, "lieux": ["parc"], "transport": ["marche"], "note": 3}
    db.execute("UPDATE kiosk_visits SET answers = ?", [json.dumps(forged)])
    response = client.post("/submit", data={"visit": token})
    assert response.status_code == 422
    assert "Some answers could not be accepted" in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


# --- closing at a local minute, the hub unreachable -------------------------------------


CLOSING = {"opens": "2026-12-01", "closes": "2026-12-10T17:00"}


class LocalClock:
    """Stands in for `participate.clock.local_now`, remembering the zone it was asked for."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.zones: list[str] = []

    def __call__(self, timezone: str = "UTC", at: datetime | None = None) -> datetime:
        self.zones.append(timezone)
        return self.now


@pytest.fixture
def local_clock(monkeypatch: pytest.MonkeyPatch) -> LocalClock:
    fake = LocalClock(datetime(2026, 12, 10, 16, 58))
    monkeypatch.setattr(clock, "local_now", fake)
    return fake


@pytest.fixture
def closing(db: sqlite_utils.Database) -> consultations.Consultation:
    parsed = consultations.parse({**yaml.safe_load(STREETS), **CLOSING}, "rues.yaml")
    consultations.save(db, [parsed])
    return parsed


def answer_all(client: FlaskClient, token: str) -> None:
    for question_id, values in [("eclairage", ["no"]), ("transport", ["marche"]), ("note", ["3"])]:
        assert post(client, token, question_id, values).status_code == 303


def test_the_hub_is_really_down(app: Flask, db: sqlite_utils.Database, closing) -> None:
    # What every test below runs beside: the node's sync fails and is retried later.
    assert NodeSync(app.config["DATABASE"], timeout=2).run() is None
    (failures, error) = db.execute("SELECT failures, last_error FROM sync_state").fetchone()
    assert failures == 1 and "TransportError" in error


def test_a_consultation_leaves_the_list_at_its_closing_minute(
    client: FlaskClient, local_clock: LocalClock, closing
) -> None:
    local_clock.now = datetime(2026, 12, 10, 16, 59)
    assert 'name="consultation" value="rues"' in client.get("/").get_data(as_text=True)
    local_clock.now = datetime(2026, 12, 10, 17, 0)
    html = client.get("/").get_data(as_text=True)
    assert 'name="consultation" value="rues"' not in html
    assert "There is nothing to answer right now" in html
    assert set(local_clock.zones) == {"America/Toronto"}


def test_starting_at_the_closing_minute_is_refused(
    client: FlaskClient, db: sqlite_utils.Database, local_clock: LocalClock, closing
) -> None:
    local_clock.now = datetime(2026, 12, 10, 17, 0)
    response = client.post("/start", data={"consultation": "rues", "lang": "en"})
    assert response.status_code == 409
    assert "This topic is closed" in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("lang", "title", "kind"),
    [
        ("en", "This topic closed while you were answering", "Thank you for taking the time"),
        ("fr", "Ce sujet a été fermé pendant que vous répondiez", "Merci d’avoir pris le temps"),
    ],
)
def test_answers_sent_after_the_closing_minute_are_refused_kindly(
    client: FlaskClient,
    db: sqlite_utils.Database,
    local_clock: LocalClock,
    closing,
    lang: str,
    title: str,
    kind: str,
) -> None:
    token = start(client, lang=lang)
    answer_all(client, token)
    local_clock.now = datetime(2026, 12, 10, 17, 0)
    response = client.post("/submit", data={"visit": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert f'<html lang="{lang}"' in html and title in html and kind in html
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    # The answers could never be sent: nothing of the visitor stays on the node.
    assert db.execute("SELECT count(*) FROM kiosk_visits").fetchone()[0] == 0
    assert "kiosk_visit=;" in response.headers["Set-Cookie"]


def test_answers_sent_the_minute_before_closing_are_kept(
    client: FlaskClient, db: sqlite_utils.Database, local_clock: LocalClock, closing
) -> None:
    token = start(client)
    answer_all(client, token)
    local_clock.now = datetime(2026, 12, 10, 16, 59)
    assert client.post("/submit", data={"visit": token}).headers["Location"] == "/thanks"
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 1


def test_read_aloud_audio_is_made_only_for_what_is_open_this_minute(
    app: Flask, local_clock: LocalClock, closing, tmp_path: Path
) -> None:
    local_clock.now = datetime(2026, 12, 10, 17, 0)
    assert render_audio(app) == 0
    local_clock.now = datetime(2026, 12, 10, 16, 59)
    assert render_audio(app) > 0  # espeak-ng is installed here
    assert local_clock.zones == ["America/Toronto", "America/Toronto"]
