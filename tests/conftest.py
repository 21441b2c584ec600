"""Shared fixtures: an app on a temporary store, its client, the CLI runner, the example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from participate import clock, consultations, store, submissions
from participate.app import create_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "library-hours.yaml"
# A respondent as an SMS conversation stamps it: the pseudonym of a phone number (its form).
SMS_RESPONDENT = "5e" * 32
# The hostile consultation files of issue 16: each once crashed the parser (RecursionError).
DEEPLY_NESTED = {
    "deep.json": '{"id": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "deep.yaml": "id: " + "[" * 50_000,
}

# A consultation with rules, as staff write one: `lignes` and `eclairage` are asked only
# of people who take the bus, `pourquoi` only of those who find the stop badly lit.
RULED = """
id: arret
title: {en: "Your bus stop", fr: "Votre arrêt d’autobus"}
languages: [en, fr]
keywords: {en: BUS, fr: AUTOBUS}
questions:
  - id: frequence
    type: choice
    text: {en: "How often do you take the bus?", fr: "À quelle fréquence prenez-vous l’autobus ?"}
    choices:
      - {id: daily, text: {en: "Every day", fr: "Chaque jour"}}
      - {id: weekly, text: {en: "Every week", fr: "Chaque semaine"}}
      - {id: never, text: {en: "Never", fr: "Jamais"}}
  - id: lignes
    type: multi
    required: false
    ask_if: {question: frequence, in: [daily, weekly]}
    text: {en: "Which lines?", fr: "Quelles lignes ?"}
    choices:
      - {id: l10, text: {en: "Line 10", fr: "Ligne 10"}}
      - {id: l55, text: {en: "Line 55", fr: "Ligne 55"}}
  - id: eclairage
    type: yesno
    required: false
    ask_if: {question: frequence, in: [daily, weekly]}
    text: {en: "Is the stop well lit?", fr: "L’arrêt est-il bien éclairé ?"}
  - id: pourquoi
    type: text
    required: false
    ask_if: {question: eclairage, equals: false}
    text: {en: "What would help?", fr: "Qu’est-ce qui aiderait ?"}
  - id: note
    type: scale
    min: 1
    max: 5
    text: {en: "Rate the stop", fr: "Notez l’arrêt"}
"""


def save_ruled(db: sqlite_utils.Database, folder: Path) -> consultations.Consultation:
    """Load RULED (a consultation with skip rules) into the store, as `participate load`."""
    path = folder / "arret.yaml"
    path.write_text(RULED, encoding="utf-8")
    consultation = consultations.read_file(path)
    consultations.save(db, [consultation])
    return consultation


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Return the path of a fresh, migrated store."""
    path = tmp_path / "store.db"
    store.open_db(path, migrate=True).close()
    return path


@pytest.fixture
def db(db_path: Path) -> Iterator[sqlite_utils.Database]:
    """Return a connection to the fresh store, closed after the test."""
    connection = store.open_db(db_path)
    yield connection
    connection.close()


@pytest.fixture
def example(db: sqlite_utils.Database) -> consultations.Consultation:
    """Load the example consultation into the store and return it."""
    consultation = consultations.read_file(EXAMPLE)
    consultations.save(db, [consultation])
    return consultation


def make_app_config(database: str | Path, **settings: Any) -> dict[str, Any]:
    """Return the config of a test app on `database`: a hub unless `settings` say otherwise."""
    return {
        "TESTING": True,
        "DATABASE": str(database),
        "SECRET_KEY": "test",
        "ROLE": "hub",
        **settings,
    }


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Return the settings a test module adds to `app_config`; override it in the module."""
    return {}


@pytest.fixture
def app_config(db_path: Path, app_settings: dict[str, Any]) -> dict[str, Any]:
    """Return the config mapping the `app` fixture is built with."""
    return make_app_config(db_path, **app_settings)


@pytest.fixture
def app(app_config: dict) -> Flask:
    """Return an app on the temporary store."""
    return create_app(app_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client of the app."""
    return app.test_client()


def record_submission(
    db: sqlite_utils.Database,
    consultation: consultations.Consultation,
    answers: dict[str, Any],
    *,
    channel: str = "kiosk",
    language: str = "en",
    started_at: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Record a submission as a channel does (a kiosk's in English, started now, unless
    told otherwise) and return its record; `options` go to `submissions.record`."""
    return submissions.record(
        db,
        consultation,
        channel=channel,
        language=language,
        answers=answers,
        started_at=started_at or clock.utcnow(),
        **options,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Launch Debian's Chromium for a module's browser tests (fails, never skips, under CI)."""
    # Imported here so the quick loop (`-m "not browser"`) runs without Playwright.
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch_chromium, require_chromium

    require_chromium()
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def runner() -> CliRunner:
    """Return a runner for the `participate` command."""
    return CliRunner()


@pytest.fixture
def answered(db: sqlite_utils.Database, example: consultations.Consultation) -> list[dict]:
    """Twelve submissions of the example at the hub, one a day from 2026-11-10 (UTC noon):
    the 4th hidden, the 6th by SMS in French and left part-way; returned oldest first."""
    from participate import submissions

    made = []
    for n in range(12):
        sms = n == 5
        record = submissions.record(
            db,
            example,
            channel="sms" if sms else "kiosk",
            language="fr" if sms else "en",
            answers={"visits": "weekly"}
            if sms
            else {
                "visits": "monthly",
                "evenings": n % 2 == 0,
                "rating": 1 + n % 5,
                "times": ["mornings", "sundays"],
            },
            started_at=f"2026-11-{10 + n:02d}T11:59:00.000000Z",
            respondent=SMS_RESPONDENT if sms else "",
            complete=not sms,
        )
        submitted_at = f"2026-11-{10 + n:02d}T12:00:00.000000Z"
        db.execute(
            "UPDATE submissions SET submitted_at = ?, hidden = ? WHERE id = ?",
            [submitted_at, int(n == 3), record["id"]],
        )
        made.append({**record, "submitted_at": submitted_at, "hidden": n == 3})
    return made
