"""The read API: consultations, versions, codebook, and submissions paged by cursor."""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from participate.api import tokens
from participate.hub import export

API = "/api/open/v1"


@pytest.fixture
def viewer(db: sqlite_utils.Database) -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.create_token(db, "portal", "viewer")[1]}


@pytest.fixture
def staff(db: sqlite_utils.Database) -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.create_token(db, "analyst", "staff")[1]}


def read_all(client: FlaskClient, headers: dict, query: str = "", limit: int = 5) -> list[dict]:
    """Follow the cursors from the first page to the last; return every record."""
    url = f"{API}/consultations/library-hours/submissions?limit={limit}{query}"
    records: list[dict] = []
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.json
        assert len(response.json["submissions"]) <= limit
        records += response.json["submissions"]
        url = response.json["next"]
    return records


def test_consultations_are_listed_with_their_versions(client, example, viewer) -> None:
    response = client.get(f"{API}/consultations", headers=viewer)
    assert response.status_code == 200
    [listed] = response.json["consultations"]
    assert listed["id"] == "library-hours"
    assert listed["current_version"] == example.version
    assert [v["version"] for v in listed["versions"]] == [example.version]
    assert listed["title"]["fr"] == "Heures d’ouverture de la bibliothèque"


def test_a_consultation_its_version_and_codebook(client, example, viewer) -> None:
    one = client.get(f"{API}/consultations/library-hours", headers=viewer)
    assert one.json["definition"] == example.definition
    version = client.get(
        f"{API}/consultations/library-hours/versions/{example.version}", headers=viewer
    )
    assert version.json == {"version": example.version, "definition": example.definition}
    codebook = client.get(f"{API}/consultations/library-hours/codebook", headers=viewer).json[
        "codebook"
    ]
    assert {"column": "times.sundays", "question": "times", "choice": "sundays"}.items() <= next(
        row for row in codebook if row["column"] == "times.sundays"
    ).items()
    for url in ("/consultations/nope", "/consultations/library-hours/versions/nope"):
        assert client.get(API + url, headers=viewer).status_code == 404


def test_pages_by_cursor_give_the_exports_records(client, db, answered, viewer) -> None:
    records = read_all(client, viewer)
    visible = [r for r in answered if not r["hidden"]]
    assert [r["id"] for r in records] == [r["id"] for r in visible]
    # The same records the JSON Lines export writes, field for field.
    plan = export.plan_export(db, "library-hours")
    exported = [json.loads(line) for line in "".join(export.jsonl_chunks(db, plan)).splitlines()]
    assert records == exported


def test_a_cursor_holds_even_when_submissions_arrive_between_pages(
    client, db, example, answered, viewer
) -> None:
    first = client.get(
        f"{API}/consultations/library-hours/submissions?limit=3", headers=viewer
    ).json
    db.execute(
        "UPDATE submissions SET submitted_at = '2026-11-01T00:00:00.000000Z' WHERE id = ?",
        [answered[-1]["id"]],
    )
    second = client.get(first["next"], headers=viewer).json
    assert second["submissions"][0]["id"] == answered[4]["id"]  # 4th was hidden: no repeat, no skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("&channel=sms", [5]),
        ("&channel=kiosk&language=en", [0, 1, 2, 4, 6, 7, 8, 9, 10, 11]),
        ("&language=fr", [5]),
        ("&complete=0", [5]),
        ("&complete=1&since=2026-11-15&until=2026-11-17", [6, 7]),
        ("&since=2026-11-20", [10, 11]),
        ("&until=2026-11-11", [0, 1]),
        ("&device=nowhere", []),
    ],
)
def test_filters_like_the_staff_pages(client, answered, viewer, query, expected) -> None:
    got = [r["id"] for r in read_all(client, viewer, query, limit=4)]
    assert got == [answered[n]["id"] for n in expected]


def test_hidden_submissions_only_for_staff_tokens(client, answered, viewer, staff) -> None:
    url = f"{API}/consultations/library-hours/submissions?hidden=1&limit=100"
    assert client.get(url, headers=viewer).status_code == 403
    got = client.get(url, headers=staff).json["submissions"]
    assert [r["id"] for r in got] == [r["id"] for r in answered]
    assert [r["hidden"] for r in got].count(True) == 1
    # Without asking, a staff token sees what staff pages show by default.
    assert len(read_all(client, staff)) == 11


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=nonsense",
        "cursor=WzFd",
        "channel=fax",
        "since=yesterday",
        "complete=maybe",
    ],
)
def test_bad_queries_get_400(client, answered, viewer, query) -> None:
    response = client.get(f"{API}/consultations/library-hours/submissions?{query}", headers=viewer)
    assert response.status_code == 400
    assert response.json["detail"]


def test_unknown_consultation_is_404(client, example, viewer) -> None:
    assert client.get(f"{API}/consultations/nope/submissions", headers=viewer).status_code == 404


def test_the_openapi_description_is_valid_and_covers_every_route(client, app) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    description = response.json
    validate(description)
    routes = {
        rule.rule.removeprefix(API).replace("<", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("open_api.") and not rule.rule.endswith("openapi.json")
    }
    assert routes == set(description["paths"])


def test_submissions_list_the_questions_not_asked(client, db, viewer, tmp_path) -> None:
    from tests.conftest import record_submission, save_ruled

    consultation = save_ruled(db, tmp_path)
    never = record_submission(db, consultation, {"frequence": "never", "note": 1})
    weekly = record_submission(db, consultation, {"frequence": "weekly", "note": 2})
    response = client.get(f"{API}/consultations/arret/submissions", headers=viewer)
    assert response.status_code == 200
    found = {r["id"]: r["not_asked"] for r in response.json["submissions"]}
    assert found == {never["id"]: ["lignes", "eclairage", "pourquoi"], weekly["id"]: ["pourquoi"]}
    codebook = client.get(f"{API}/consultations/arret/codebook", headers=viewer).json["codebook"]
    lignes = next(row for row in codebook if row["question"] == "lignes" and not row["column"])
    assert lignes["asked_if"] == "Asked only if “frequence” is one of: daily, weekly."
