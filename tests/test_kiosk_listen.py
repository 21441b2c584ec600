"""Read aloud at the kiosk: the Listen block on each screen and the audio it plays."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlite_utils
import yaml

from participate import consultations, speech
from tests.conftest import EXAMPLE

DEVICE = "node-listen"


@pytest.fixture
def app_config(db_path: Path) -> dict:
    return {
        "TESTING": True,
        "DATABASE": str(db_path),
        "SECRET_KEY": "test",
        "ROLE": "node",
        "DEVICE_ID": DEVICE,
    }


@pytest.fixture
def consultation(db: sqlite_utils.Database) -> consultations.Consultation:
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.pop("opens", None)
    parsed = consultations.parse(data, "library-hours.yaml")
    consultations.save(db, [parsed])
    return parsed


def fetch(client, src: str, **options):
    """GET a file and close the response (send_file keeps the file open until then)."""
    response = client.get(src, **options)
    response.get_data()
    response.close()
    return response


def audio_src(html: str) -> str:
    match = re.search(r'<audio controls preload="none" src="([^"]+)"', html)
    assert match, "the screen has no audio element"
    return match.group(1).replace("&amp;", "&")


def test_each_question_screen_has_its_audio_in_the_visit_language(client, consultation) -> None:
    client.post("/start", data={"consultation": consultation.id, "lang": "fr"})
    for number, question in enumerate(consultation.questions, start=1):
        html = client.get(f"/question/{number}").get_data(as_text=True)
        src = audio_src(html)
        assert src == f"/audio/{consultation.id}/{consultation.version}/fr/q-{question.id}.ogg"
        assert "autoplay" not in html.split("<audio", 1)[1].split(">", 1)[0]
        assert 'aria-label="Écouter cet écran"' in html and "Écouter</span>" in html
        assert "Plus lentement" in html
        response = fetch(client, src)
        assert response.status_code == 200 and response.mimetype == "audio/ogg"
        assert response.data[:4] == b"OggS"
        expected = speech.cached(
            speech.audio_dir(client.application.config["DATABASE"]),
            speech.question_text(question, "fr"),
            "fr",
        )
        assert expected is not None and expected.read_bytes() == response.data
        slow = fetch(client, src + "?speed=slow")
        assert slow.status_code == 200 and slow.data != response.data


def test_welcome_and_thanks_screens_read_their_text(client, consultation) -> None:
    welcome = client.get("/?lang=fr").get_data(as_text=True)
    assert audio_src(welcome).endswith("/fr/intro.ogg")
    client.post("/start", data={"consultation": consultation.id, "lang": "en"})
    token = re.search(
        r'name="visit" value="([^"]+)"', client.get("/question/1").get_data(as_text=True)
    )[1]
    answers = {"visits": "weekly", "times": "mornings", "evenings": "yes", "rating": "3"}
    for number, question in enumerate(consultation.questions, start=1):
        data = {"visit": token, "question": question.id, "action": "next"}
        if question.id in answers:
            data["answer"] = answers[question.id]
        client.post(f"/question/{number}", data=data)
    client.post("/submit", data={"visit": token})
    thanks = client.get("/thanks").get_data(as_text=True)
    assert audio_src(thanks).endswith("/en/thanks.ogg")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/audio/library-hours/{version}/fr/q-nope.ogg", 404),
        ("/audio/library-hours/{version}/de/q-visits.ogg", 404),
        ("/audio/library-hours/0000/fr/q-visits.ogg", 404),
        ("/audio/nope/{version}/fr/q-visits.ogg", 404),
        ("/audio/library-hours/{version}/fr/q-visits.ogg?speed=fast", 400),
    ],
)
def test_bad_audio_requests_are_refused(client, consultation, path, status) -> None:
    response = fetch(client, path.format(version=consultation.version))
    assert response.status_code == status


def test_without_espeak_the_kiosk_works_and_shows_no_listen_button(
    client, consultation, monkeypatch, tmp_path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    client.post("/start", data={"consultation": consultation.id, "lang": "en"})
    page = client.get("/question/1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "How often do you visit?" in html
    assert "<audio" not in html and "Listen" not in html
    src = f"/audio/{consultation.id}/{consultation.version}/en/q-visits.ogg"
    # The audio element asks for audio: it gets the reason (a person asking for a page
    # gets the kiosk's own "This page does not exist" in the screen's language).
    refused = fetch(client, src, headers={"Accept": "audio/*"})
    assert refused.status_code == 404
    assert "espeak-ng is missing" in refused.get_data(as_text=True)


def test_audio_rendered_before_espeak_went_missing_is_still_offered(
    client, consultation, monkeypatch, tmp_path
) -> None:
    folder = speech.audio_dir(client.application.config["DATABASE"])
    speech.render(folder, speech.question_text(consultation.questions[0], "en"), "en")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    client.post("/start", data={"consultation": consultation.id, "lang": "en"})
    html = client.get("/question/1").get_data(as_text=True)
    assert fetch(client, audio_src(html)).status_code == 200


def test_the_setting_asks_the_screen_to_read_on_arrival(app_config, consultation) -> None:
    from participate.app import create_app

    client = create_app({**app_config, "KIOSK_READ_ALOUD_ON_ARRIVAL": True}).test_client()
    client.post("/start", data={"consultation": consultation.id, "lang": "en"})
    html = client.get("/question/1").get_data(as_text=True)
    assert "data-autoplay" in html
    assert "autoplay" not in html.split("<audio", 1)[1].split(">", 1)[0]


def test_the_render_job_reads_aloud_what_the_node_shows(app, consultation) -> None:
    from participate.kiosk import render_audio

    folder = speech.audio_dir(app.config["DATABASE"])
    assert render_audio(app) == 32  # 8 texts, 2 languages, 2 speeds: a version just pulled
    for language in consultation.languages:
        for item in speech.items(consultation, language):
            for speed in speech.SPEEDS:
                assert speech.cached(folder, item.text, language, speed) is not None
    assert render_audio(app) == 0  # nothing twice
