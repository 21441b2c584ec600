"""The OData v4 feed: service document, EDMX metadata, and Submissions paged by the server."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import requests
import sqlite_utils
from flask import Flask
from flask.testing import FlaskClient

from participate.api import odata, tokens
from tests.conftest import SMS_RESPONDENT
from tests.support.browser import ServerThread

SVC = "/odata/v1/library-hours.svc"
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@pytest.fixture
def viewer(db: sqlite_utils.Database) -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.create_token(db, "Power BI", "viewer")[1]}


@pytest.fixture
def staff_secret(db: sqlite_utils.Database) -> str:
    return tokens.create_token(db, "analyst", "staff")[1]


def test_the_service_document_lists_submissions(client: FlaskClient, example, viewer) -> None:
    for url in (SVC, SVC + "/"):
        response = client.get(url, headers=viewer)
        assert response.status_code == 200
        assert response.headers["OData-Version"] == "4.0"
        assert response.json["value"] == [
            {"name": "Submissions", "kind": "EntitySet", "url": "Submissions"}
        ]
        assert response.json["@odata.context"].endswith(SVC + "/$metadata")


def test_metadata_is_edmx_with_a_typed_property_a_question(client, example, viewer) -> None:
    response = client.get(SVC + "/$metadata", headers=viewer)
    assert response.status_code == 200
    assert response.content_type.startswith("application/xml")
    root = ET.fromstring(response.data)  # noqa: S314 (our own server's answer)
    assert root.tag == f"{EDMX}Edmx" and root.get("Version") == "4.0"
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    entity = schema.find(f"{EDM}EntityType[@Name='Submission']")
    assert entity.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "__id"
    types = {p.get("Name"): p.get("Type") for p in entity.findall(f"{EDM}Property")}
    assert types == {
        "__id": "Edm.String",
        "__system": "Participate.SystemMetadata",
        "visits": "Edm.String",
        "times": "Edm.String",
        "evenings": "Edm.Boolean",
        "rating": "Edm.Int64",
        "hours_per_week": "Edm.Int64",
        "comments": "Edm.String",
    }
    system = schema.find(f"{EDM}ComplexType[@Name='SystemMetadata']")
    assert {p.get("Name"): p.get("Type") for p in system}["submissionDate"] == "Edm.DateTimeOffset"
    entity_set = schema.find(f"{EDM}EntityContainer/{EDM}EntitySet")
    assert entity_set.get("Name") == "Submissions"
    assert entity_set.get("EntityType") == "Participate.Submission"


@pytest.mark.parametrize(
    ("question_id", "name"), [("visits", "visits"), ("a-b", "a_b"), ("2nd", "_2nd")]
)
def test_question_ids_become_odata_identifiers(question_id: str, name: str) -> None:
    assert odata.property_name(question_id) == name


def test_entities_carry_answers_and_system_metadata(client, answered, viewer) -> None:
    body = client.get(SVC + "/Submissions?$top=1", headers=viewer).json
    [row] = body["value"]
    assert row["__id"] == answered[0]["id"]
    assert row["times"] == "mornings sundays"
    assert row["comments"] is None
    assert row["__system"]["submissionDate"] == "2026-11-10T12:00:00.000000Z"
    assert row["__system"]["channel"] == "kiosk" and row["__system"]["hidden"] is False


def test_a_respondent_that_is_not_a_pseudonym_is_never_served(client, answered, viewer, db):
    # However a number got into the store, the feed writes it as empty, as exports do.
    db.execute(
        "UPDATE submissions SET respondent = '+14155550199' WHERE id = ?", [answered[0]["id"]]
    )
    rows = client.get(SVC + "/Submissions", headers=viewer).json["value"]
    respondents = {row["__id"]: row["__system"]["respondent"] for row in rows}
    assert respondents[answered[0]["id"]] == ""
    assert respondents[answered[5]["id"]] == SMS_RESPONDENT


def test_server_driven_paging_reads_every_visible_row(
    client, answered, viewer, monkeypatch
) -> None:
    monkeypatch.setattr(odata, "PAGE_SIZE", 4)
    url, rows, pages = SVC + "/Submissions?$count=true", [], 0
    while url:
        body = client.get(url, headers=viewer).json
        assert body["@odata.count"] == 11
        rows += body["value"]
        pages += 1
        url = body.get("@odata.nextLink")
        assert url is None or "$skiptoken=" in url
    assert pages == 3
    assert [r["__id"] for r in rows] == [r["id"] for r in answered if not r["hidden"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("$top=2", [0, 1]),
        ("$skip=9", [10, 11]),
        ("$skip=2&$top=3", [2, 4, 5]),
        ("$top=0", []),
        ("$filter=__system/submissionDate ge 2026-11-20T12:00:00Z", [10, 11]),
        ("$filter=__system/submissionDate gt 2026-11-20T12:00:00.000Z", [11]),
        ("$filter=submitted_at lt 2026-11-11T12:00:00%2B00:00", [0]),
        ("$filter=__system/submissionDate le 2026-11-11T13:00:00%2B01:00", [0, 1]),
        (
            "$filter=(__system/submissionDate ge 2026-11-12)"
            " and (__system/submissionDate lt 2026-11-15)",
            [2, 4],
        ),
        ("$filter=submitted_at ge 2026-11-19&$top=1&$count=true", [9]),
    ],
)
def test_top_skip_and_filters(client, answered, viewer, monkeypatch, query, expected) -> None:
    monkeypatch.setattr(odata, "PAGE_SIZE", 2)
    url, rows = f"{SVC}/Submissions?{query}", []
    while url:
        response = client.get(url, headers=viewer)
        assert response.status_code == 200, response.json
        rows += response.json["value"]
        url = response.json.get("@odata.nextLink")
    assert [r["__id"] for r in rows] == [answered[n]["id"] for n in expected]


def test_count_ignores_top_and_skip(client, answered, viewer) -> None:
    body = client.get(
        SVC + "/Submissions?$filter=submitted_at ge 2026-11-19&$top=1&$skip=1&$count=true",
        headers=viewer,
    ).json
    assert body["@odata.count"] == 3 and len(body["value"]) == 1


def test_select_keeps_the_key(client, answered, viewer) -> None:
    row = client.get(SVC + "/Submissions?$top=1&$select=rating", headers=viewer).json["value"][0]
    assert row == {"__id": answered[0]["id"], "rating": 1}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("$filter=rating gt 3", 501),
        ("$filter=__system/submissionDate eq 2026-11-12T00:00:00Z", 501),
        ("$filter=__system/submissionDate ge 2026-11-12T00:00:00", 400),
        ("$filter=__system/submissionDate ge yesterday", 400),
        ("$filter=startswith(comments,'a')", 400),
        ("$filter=submitted_at ge 2026-11-12 or submitted_at lt 2026-11-01", 400),
        ("$orderby=rating", 501),
        ("$expand=*", 501),
        ("$top=-1", 400),
        ("$skip=x", 400),
        ("$skiptoken=nonsense", 400),
        ("$select=nope", 400),
        ("$format=xml", 400),
        ("$bogus=1", 400),
    ],
)
def test_what_the_feed_cannot_do_is_refused_as_odata_errors(
    client, answered, viewer, query, status
) -> None:
    response = client.get(f"{SVC}/Submissions?{query}", headers=viewer)
    assert response.status_code == status
    assert set(response.json["error"]) == {"code", "message"}
    assert response.json["error"]["code"] == str(status)


def test_hidden_rows_only_for_staff_tokens(client, answered, viewer, staff_secret) -> None:
    assert client.get(SVC + "/Submissions?hidden=1", headers=viewer).status_code == 403
    staff = {"Authorization": f"Bearer {staff_secret}"}
    rows = client.get(SVC + "/Submissions?hidden=1", headers=staff).json["value"]
    assert len(rows) == 12 and sum(r["__system"]["hidden"] for r in rows) == 1
    assert len(client.get(SVC + "/Submissions", headers=staff).json["value"]) == 11


def test_basic_authentication_with_the_token_as_password(client, example, db) -> None:
    token, secret = tokens.create_token(db, "Excel", "viewer")
    basic = {"Authorization": "Basic " + base64.b64encode(f"excel:{secret}".encode()).decode()}
    assert client.get(SVC, headers=basic).status_code == 200
    tokens.revoke(db, token.id)
    refused = client.get(SVC, headers=basic)
    assert refused.status_code == 401
    assert "Basic" in refused.headers["WWW-Authenticate"]
    assert refused.json["error"]["code"] == "401"


@pytest.mark.parametrize("path", ["", "/$metadata", "/Submissions"])
def test_no_token_no_feed_and_unknown_consultation_is_404(client, example, viewer, path) -> None:
    assert client.get(SVC + path).status_code == 401
    assert client.get("/odata/v1/nope.svc" + path, headers=viewer).status_code == 404


# --- a client over real HTTP -----------------------------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    with ServerThread(app) as running:
        yield running.url


def test_a_client_reads_every_page_over_http_as_power_bi_does(
    served, answered, staff_secret, monkeypatch
) -> None:
    """What Power BI's OData.Feed does: metadata first, then follow nextLink to the end."""
    monkeypatch.setattr(odata, "PAGE_SIZE", 5)
    session = requests.Session()
    session.auth = ("powerbi", staff_secret)
    session.headers["Accept"] = "application/json;odata.metadata=minimal"
    service = session.get(served + SVC)
    assert service.status_code == 200
    metadata = ET.fromstring(session.get(service.json()["@odata.context"]).content)  # noqa: S314
    names = [p.get("Name") for p in metadata.iter(f"{EDM}Property")]
    url, rows = served + SVC + "/" + service.json()["value"][0]["url"], []
    while url:
        page = session.get(url)
        assert page.status_code == 200 and page.headers["OData-Version"] == "4.0"
        rows += page.json()["value"]
        url = page.json().get("@odata.nextLink")
        assert url is None or url.startswith(served)
    assert len(rows) == 11
    assert all(set(row) <= set(names) for row in rows)
    session.close()


@pytest.mark.parametrize(
    ("kind", "integer", "edm"),
    [
        ("choice", False, "Edm.String"),
        ("multi", False, "Edm.String"),
        ("text", False, "Edm.String"),
        ("yesno", False, "Edm.Boolean"),
        ("scale", False, "Edm.Int64"),
        ("number", True, "Edm.Int64"),
        ("number", False, "Edm.Decimal"),
    ],
)
def test_each_question_type_has_an_edm_type(kind: str, integer: bool, edm: str) -> None:
    from participate.consultations import Question

    assert odata.edm_type(Question(id="q", type=kind, text={}, integer=integer)) == edm


def test_a_consultation_of_many_questions_fits_sqlites_argument_limit(client, db, viewer) -> None:
    from participate import consultations, submissions

    questions = [
        {"id": f"q{n}", "type": "yesno" if n % 2 else "text", "text": f"Question {n}?"}
        for n in range(150)
    ]
    many = consultations.parse(
        {
            "id": "many",
            "title": "Many",
            "languages": ["en"],
            "questions": questions,
            "thanks": "Thanks",
        }
    )
    consultations.save(db, [many])
    answers = {f"q{n}": (n % 4 == 1) if n % 2 else f"answer {n}" for n in range(150)}
    submissions.record(db, many, channel="kiosk", language="en", answers=answers, started_at="")
    [row] = client.get("/odata/v1/many.svc/Submissions", headers=viewer).json["value"]
    assert {k: v for k, v in row.items() if not k.startswith("__")} == answers


def test_system_metadata_says_which_questions_were_not_asked(client, db, viewer) -> None:
    from participate import consultations, submissions
    from tests.test_consultations import RULES

    ruled = consultations.parse(RULES)
    consultations.save(db, [ruled])
    given = [
        {"q_choice": "b", "q_multi": ["z"]},  # q_scale and everything after hang on "a" or x/y
        # Everything asked; the optional text left blank.
        {"q_choice": "a", "q_multi": ["x"], "q_scale": 9, "q_yesno": True, "q_number": 1},
    ]
    for answers in given:
        submissions.record(
            db, ruled, channel="kiosk", language="en", answers=answers, started_at=""
        )
    metadata = ET.fromstring(client.get("/odata/v1/all-types.svc/$metadata", headers=viewer).data)  # noqa: S314
    system = metadata.find(f"{EDMX}DataServices/{EDM}Schema/{EDM}ComplexType")
    assert {p.get("Name"): p.get("Type") for p in system}["notAsked"] == "Edm.String"
    rows = client.get("/odata/v1/all-types.svc/Submissions", headers=viewer).json["value"]
    by_choice = {row["q_choice"]: row for row in rows}
    # Not asked and left blank are both null; notAsked tells them apart.
    assert by_choice["b"]["q_scale"] is None and by_choice["a"]["q_text"] is None
    assert by_choice["b"]["__system"]["notAsked"] == "q_scale q_yesno q_number q_text"
    assert by_choice["a"]["__system"]["notAsked"] == ""
