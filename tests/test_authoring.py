"""Authoring consultations in the staff pages: drafts, every question type, skip rules,
publishing through the checks of `participate load`, lifecycle and order, the preview."""

from __future__ import annotations

import html
import io
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlite_utils
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from participate import consultations, store, xlsform
from participate.errors import ConsultationError
from participate.hub import auth, drafts, users
from participate.sms import preview_conversation, total_segments
from tests.conftest import EXAMPLE
from tests.test_consultations import RULES

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords with argon2's cheapest settings: the tests are about authoring."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    monkeypatch.setattr(auth, "FAILED_LOGIN_SECONDS", 0.0)


@pytest.fixture
def accounts(db: sqlite_utils.Database) -> None:
    for role in users.ROLES:
        users.create_user(db, f"{role}@example.org", PASSWORD, role)


def csrf_token(client: FlaskClient, url: str = "/staff/login") -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def signed_in(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    response = client.post(
        "/staff/login",
        data={
            "email": f"{role}@example.org",
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 302
    return client


@pytest.fixture
def staff(app: Flask, accounts: None) -> FlaskClient:
    return signed_in(app, "staff")


class EditorForm(HTMLParser):
    """Read the fields of the editor's form as a browser would send them (no button)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: MultiDict[str, str] = MultiDict()
        self.inside = False
        self.textarea: str | None = None
        self.select: str | None = None
        self.first_option: tuple[str, str] | None = None
        self.selected = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == "editor"
        if not self.inside or "name" not in a:
            if tag == "option" and self.select is not None:
                self._option(a)
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind == "checkbox" and "checked" not in a:
                return
            self.fields.add(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields.add(a["name"], "")
        elif tag == "select":
            self.select, self.first_option, self.selected = a["name"], None, False

    def _option(self, a: dict[str, str]) -> None:
        if self.first_option is None:
            self.first_option = (self.select or "", a.get("value", ""))
        if "selected" in a:
            self.fields.add(self.select or "", a.get("value", ""))
            self.selected = True

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.fields.setlist(self.textarea, [self.fields.get(self.textarea, "") + data])

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self.textarea = None
        elif tag == "select" and self.select is not None:
            if not self.selected and self.first_option:
                self.fields.add(*self.first_option)
            self.select = None
        elif tag == "form":
            self.inside = False


def editor_fields(client: FlaskClient, key: str) -> MultiDict[str, str]:
    page = client.get(f"/staff/drafts/{key}")
    assert page.status_code == 200
    parser = EditorForm()
    parser.feed(page.get_data(as_text=True))
    return parser.fields


def press(
    client: FlaskClient, key: str, action: str, change: dict[str, Any] | None = None, **extra: str
) -> Any:
    """Post the editor's form as shown, with `change` typed in, by pressing `action`."""
    fields = editor_fields(client, key)
    for name, value in (change or {}).items():
        if isinstance(value, list):
            fields.setlist(name, value)
        elif value is None:
            fields.poplist(name)
        else:
            fields.setlist(name, [value])
    fields.setlist("action", [action])
    for name, value in extra.items():
        fields.setlist(name, [value])
    return client.post(f"/staff/drafts/{key}", data=fields)


def new_draft(client: FlaskClient) -> str:
    response = client.post(
        "/staff/authoring/new", data={"csrf_token": csrf_token(client, "/staff/authoring/")}
    )
    assert response.status_code == 303
    return response.location.rsplit("/", 1)[-1]


def stored_draft(db: sqlite_utils.Database, key: str) -> dict[str, Any]:
    row = store.first_row(db, "SELECT definition FROM consultation_drafts WHERE id = ?", [key])
    assert row is not None
    return json.loads(row["definition"])


def count(db: sqlite_utils.Database, sql: str, params: list[Any] | None = None) -> int:
    return db.execute(sql, params or []).fetchone()[0]


# A consultation typed in both languages: a question for each type, a skipped one.
ABOUT = {
    "id": "parks",
    "title-en": "Our parks",
    "title-fr": "Nos parcs",
    "intro-en": "Tell us about the parks.",
    "intro-fr": "Parlez-nous des parcs.",
    "keywords-en": "PARKS",
    "keywords-fr": "PARCS",
    "opens-date": "2099-12-01",
    "closes-date": "2099-12-31",
    "closes-time": "17:00",
}
TEXTS = {
    "choice": ("How often do you go?", "À quelle fréquence y allez-vous ?"),
    "multi": ("Which parks?", "Quels parcs ?"),
    "scale": ("How clean are they?", "Sont-ils propres ?"),
    "yesno": ("Is the lighting enough?", "L’éclairage suffit-il ?"),
    "number": ("How many minutes away?", "À combien de minutes ?"),
    "text": ("Anything else?", "Autre chose ?"),
}


def write_every_type(client: FlaskClient, key: str) -> None:
    """Add one question of each type and type its texts in English and French."""
    assert press(client, key, "save", ABOUT).status_code == 303
    for index, qtype in enumerate(consultations.QUESTION_TYPES):
        assert press(client, key, "add", new_type=qtype).status_code == 303
        english, french = TEXTS[qtype]
        change = {f"q{index}-text-en": english, f"q{index}-text-fr": french}
        if qtype in ("choice", "multi"):
            for j, (en, fr) in enumerate((("Often", "Souvent"), ("Rarely", "Rarement"))):
                change |= {f"q{index}-c{j}-text-en": en, f"q{index}-c{j}-text-fr": fr}
        if qtype == "number":
            change |= {f"q{index}-min": "0", f"q{index}-max": "120", f"q{index}-integer": "1"}
        assert press(client, key, "save", change).status_code == 303


def test_staff_write_every_question_type_with_a_rule_and_publish_a_version(
    app: Flask, staff: FlaskClient, db: sqlite_utils.Database
) -> None:
    key = new_draft(staff)
    write_every_type(staff, key)
    # The text question is asked only to those who find the lighting lacking (q4: yes/no).
    assert press(staff, key, "save", {"q5-if": "q4"}).status_code == 303
    page = staff.get(f"/staff/drafts/{key}").get_data(as_text=True)
    assert 'name="q5-if-values" type="checkbox" value="no"' in page
    assert press(staff, key, "save", {"q5-if-values": ["no"]}).status_code == 303
    assert stored_draft(db, key)["questions"][5]["ask_if"] == {"question": "q4", "in": [False]}

    response = press(staff, key, "publish")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.location.endswith("/staff/authoring/#row-parks")
    published = consultations.get(db, "parks")
    assert [q.type for q in published.questions] == list(consultations.QUESTION_TYPES)
    assert published.title == {"en": "Our parks", "fr": "Nos parcs"}
    assert published.keywords == {"en": ("PARKS",), "fr": ("PARCS",)}
    assert published.questions[5].ask_if == consultations.Rule("q4", (False,))
    assert published.questions[4].integer and published.questions[4].max == 120
    assert published.definition["closes"] == "2099-12-31T17:00"
    assert published.questions[2].min == 1 and published.questions[2].max == 5
    version = store.first_row(
        db, "SELECT source FROM consultation_versions WHERE consultation_id = 'parks'"
    )
    assert version == {"source": "staff pages (staff@example.org)"}
    log = store.first_row(db, "SELECT * FROM consultation_log")
    assert log is not None
    assert (log["consultation_id"], log["action"], log["version"], log["user_email"]) == (
        "parks",
        "publish",
        published.version,
        "staff@example.org",
    )
    # The draft is gone once published; the list shows the consultation and who published.
    assert count(db, "SELECT count(*) FROM consultation_drafts") == 0
    listing = staff.get("/staff/authoring/").get_data(as_text=True)
    assert "Our parks" in listing and "staff@example.org" in listing and "scheduled" in listing


def test_editing_a_published_consultation_makes_a_new_version_and_keeps_the_old(
    staff: FlaskClient, db: sqlite_utils.Database, example: consultations.Consultation
) -> None:
    token = csrf_token(staff, "/staff/authoring/")
    response = staff.post("/staff/authoring/library-hours/edit", data={"csrf_token": token})
    assert response.status_code == 303
    key = response.location.rsplit("/", 1)[-1]
    assert store.first_row(db, "SELECT base_version FROM consultation_drafts") == {
        "base_version": example.version
    }
    # Asking again opens the same draft, not a second one.
    again = staff.post("/staff/authoring/library-hours/edit", data={"csrf_token": token})
    assert again.location == response.location
    assert press(staff, key, "publish", {"title-en": "Library hours"}).status_code == 303
    current = consultations.get(db, "library-hours")
    assert current.version != example.version and current.title["en"] == "Library hours"
    assert consultations.get(db, "library-hours", example.version) == example
    assert count(db, "SELECT count(*) FROM consultation_versions") == 2


def test_duplicating_makes_a_new_draft_under_a_free_id(
    staff: FlaskClient, db: sqlite_utils.Database, example: consultations.Consultation
) -> None:
    token = csrf_token(staff, "/staff/authoring/")
    response = staff.post("/staff/authoring/library-hours/duplicate", data={"csrf_token": token})
    key = response.location.rsplit("/", 1)[-1]
    draft = drafts.get(db, key)
    assert draft.base_version is None and draft.data["id"] == "library-hours-copy"
    assert len(draft.data["questions"]) == len(example.questions)
    second = staff.post("/staff/authoring/library-hours/duplicate", data={"csrf_token": token})
    assert drafts.get(db, second.location.rsplit("/", 1)[-1]).data["id"] == "library-hours-copy-2"
    # Its keywords are the original's: publishing it while both are open is refused.
    response = press(staff, key, "publish")
    assert response.status_code == 422
    assert "already used by consultation" in response.get_data(as_text=True)
    assert 'id="keywords-fr-error"' in response.get_data(as_text=True)
    assert count(db, "SELECT count(*) FROM consultations") == 1


def test_questions_move_up_and_down_and_are_deleted(
    staff: FlaskClient, db: sqlite_utils.Database
) -> None:
    key = new_draft(staff)
    for qtype in ("yesno", "text", "number"):
        press(staff, key, "add", new_type=qtype)
    ids = lambda: [q["id"] for q in stored_draft(db, key)["questions"]]  # noqa: E731
    assert ids() == ["q1", "q2", "q3"]
    assert press(staff, key, "up:2").location.endswith("#q1")
    assert ids() == ["q1", "q3", "q2"]
    press(staff, key, "down:0")
    assert ids() == ["q3", "q1", "q2"]
    press(staff, key, "up:0")  # the first stays first
    assert ids() == ["q3", "q1", "q2"]
    press(staff, key, "delete:1")
    assert ids() == ["q3", "q2"]
    assert [q["type"] for q in stored_draft(db, key)["questions"]] == ["number", "text"]


def test_choices_are_added_and_removed(staff: FlaskClient, db: sqlite_utils.Database) -> None:
    key = new_draft(staff)
    press(staff, key, "add", new_type="choice")
    assert [c["id"] for c in stored_draft(db, key)["questions"][0]["choices"]] == ["c1", "c2"]
    press(staff, key, "add-choice:0", {"q0-c1-text-en": "Two"})
    choices = stored_draft(db, key)["questions"][0]["choices"]
    assert [c["id"] for c in choices] == ["c1", "c2", "c3"] and choices[1]["text"]["en"] == "Two"
    press(staff, key, "remove-choice:0:0")
    assert [c["id"] for c in stored_draft(db, key)["questions"][0]["choices"]] == ["c2", "c3"]


def test_missing_translations_are_flagged_in_words(staff: FlaskClient) -> None:
    key = new_draft(staff)
    press(staff, key, "save", {"title-en": "Our parks"})
    page = staff.get(f"/staff/drafts/{key}").get_data(as_text=True)
    assert '<p class="flag" id="title-fr-missing">' in page
    assert "Translation missing" in page
    assert 'aria-describedby="title-fr-missing"' in page
    assert "1 translation is missing" in page


def _published_draft(staff: FlaskClient) -> str:
    key = new_draft(staff)
    write_every_type(staff, key)
    return key


BAD_INPUT = [
    # (what, typed into the form, the field the message sits beside, words of the message)
    ("empty title", {"title-fr": ""}, "title-fr", "has no text for language 'fr'"),
    ("empty question", {"q1-text-en": "  "}, "q1-text-en", "has no text for language 'en'"),
    ("empty choice", {"q0-c1-text-fr": ""}, "q0-c1-text-fr", "has no text for language 'fr'"),
    ("duplicate id", {"q4-id": "q2"}, "q4-id", "is used by another question"),
    ("empty question id", {"q2-id": ""}, "q2-id", "must be 1-64 letters"),
    ("bad consultation id", {"id": "parks and rec"}, "id", "must be 1-64 letters"),
    ("keyword STOP", {"keywords-fr": "STOP"}, "keywords-fr", "is reserved"),
    ("two-word keyword", {"keywords-en": "PARKS PARKS"}, "keywords-en", "is listed twice"),
    ("keyword of another", {"keywords-en": "HOURS"}, "keywords-en", "already used"),
    ("rule forward", {"q0-if": "q3", "q0-if-values": "yes"}, "q0-if", "asked before this one"),
    ("rule on itself", {"q3-if": "q4", "q3-if-values": "yes"}, "q3-if", "itself"),
    ("rule on a number", {"q5-if": "q5", "q5-if-values": "3"}, "q5-if", "can look at a"),
    ("scale upside down", {"q2-min": "5", "q2-max": "1"}, "q2-max", "must be greater"),
    ("not a number", {"q4-max": "lots"}, "q4-max", "must be a number"),
    ("closes first", {"closes-date": "2099-11-01", "closes-time": ""}, "closes-date", "after"),
    ("bad language", {"languages": "en, english"}, "languages", "not a language code"),
]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_shown_beside_its_field_and_publishes_nothing(
    staff: FlaskClient,
    db: sqlite_utils.Database,
    example: consultations.Consultation,
    change: dict[str, str],
    field: str,
    words: str,
) -> None:
    key = _published_draft(staff)
    response = press(staff, key, "publish", change)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    match = re.search(
        rf'<p class="field-error" id="{re.escape(field)}-error">(.*?)</p>', page, re.S
    )
    assert match, f"no error beside {field}"
    assert words in html.unescape(match.group(1))
    assert f'id="{field}"' in page and f'href="#{field}"' in page
    assert "Not published." in page
    # Nothing published, nothing logged; the draft keeps what was typed.
    assert count(db, "SELECT count(*) FROM consultations WHERE id = 'parks'") == 0
    assert count(db, "SELECT count(*) FROM consultation_log") == 0
    assert count(db, "SELECT count(*) FROM consultation_drafts") == 1


def test_a_new_draft_may_not_take_a_published_consultations_id(
    staff: FlaskClient, db: sqlite_utils.Database, example: consultations.Consultation
) -> None:
    key = _published_draft(staff)
    response = press(
        staff, key, "publish", {"id": "library-hours", "keywords-en": "", "keywords-fr": ""}
    )
    assert response.status_code == 422
    assert 'id="id-error"' in response.get_data(as_text=True)
    assert consultations.get(db, "library-hours") == example


MALFORMED = [
    ("unknown action", {}, "explode"),
    ("no such question", {}, "delete:9"),
    ("no such choice", {}, "remove-choice:0:7"),
    ("question count not a number", {"questions": "many"}, "save"),
    ("too many questions", {"questions": "100000"}, "save"),
    ("unknown type", {"q0-type": "essay"}, "save"),
    ("new question of unknown type", {"new_type": "essay"}, "add"),
    ("field too long", {"title-en": "x" * 5001}, "save"),
    ("languages not codes", {"languages": "<script>"}, "save"),
]


@pytest.mark.parametrize(
    ("change", "action"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_malformed_posts_are_refused_and_change_nothing(
    staff: FlaskClient, db: sqlite_utils.Database, change: dict[str, str], action: str
) -> None:
    key = new_draft(staff)
    press(staff, key, "add", new_type="choice")
    before = stored_draft(db, key)
    response = press(staff, key, action, change)
    assert response.status_code == 400
    assert stored_draft(db, key) == before


def test_an_oversized_post_is_refused(
    app: Flask, staff: FlaskClient, db: sqlite_utils.Database
) -> None:
    key = new_draft(staff)
    before = stored_draft(db, key)
    size = int(app.config["MAX_CONTENT_LENGTH"])
    fields = editor_fields(staff, key)
    fields.setlist("intro-en", ["x" * size])
    assert staff.post(f"/staff/drafts/{key}", data=fields).status_code == 413
    assert stored_draft(db, key) == before


def test_a_post_without_csrf_token_changes_nothing(
    staff: FlaskClient, db: sqlite_utils.Database
) -> None:
    key = new_draft(staff)
    before = stored_draft(db, key)
    fields = editor_fields(staff, key)
    fields.setlist("title-en", ["Changed"])
    fields.poplist("csrf_token")
    response = staff.post(f"/staff/drafts/{key}", data=fields)
    assert response.status_code == 400
    assert stored_draft(db, key) == before
    assert staff.post("/staff/authoring/new").status_code == 400
    assert count(db, "SELECT count(*) FROM consultation_drafts") == 1


def test_viewers_read_but_every_post_is_refused(
    app: Flask, staff: FlaskClient, db: sqlite_utils.Database, example: consultations.Consultation
) -> None:
    key = new_draft(staff)
    press(staff, key, "save", {"title-en": "Mine"})
    viewer = signed_in(app, "viewer")
    listing = viewer.get("/staff/authoring/").get_data(as_text=True)
    assert "Library opening hours" in listing and "New consultation" not in listing
    page = viewer.get(f"/staff/drafts/{key}").get_data(as_text=True)
    assert '<fieldset class="plain" disabled>' in page and "Discard this draft" not in page
    before = stored_draft(db, key)
    token = csrf_token(viewer, "/staff/authoring/")
    fields = editor_fields(viewer, key)
    fields.setlist("title-en", ["Theirs"])
    posts = [
        (f"/staff/drafts/{key}", {**fields.to_dict(), "action": "publish"}),
        (f"/staff/drafts/{key}/preview", fields.to_dict()),
        (f"/staff/drafts/{key}/discard", {}),
        ("/staff/authoring/new", {}),
        *[(f"/staff/authoring/library-hours/{action}", {}) for action in drafts_actions()],
    ]
    for url, data in posts:
        assert viewer.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert stored_draft(db, key) == before
    assert count(db, "SELECT count(*) FROM consultation_drafts") == 1
    assert count(db, "SELECT count(*) FROM consultation_log") == 0
    row = store.first_row(db, "SELECT closed, archived_at FROM consultations")
    assert row == {"closed": 0, "archived_at": None}


def drafts_actions() -> list[str]:
    from participate.hub.authoring import LIST_ACTIONS

    return list(LIST_ACTIONS)


def _load(db: sqlite_utils.Database, **changes: Any) -> consultations.Consultation:
    definition = consultations.read_file(EXAMPLE).definition | changes
    consultation = consultations.parse(definition)
    consultations.save(db, [consultation])
    return consultation


def test_lifecycle_and_kiosk_order_are_changed_and_logged(
    staff: FlaskClient, db: sqlite_utils.Database
) -> None:
    _load(db)
    _load(db, id="later", keywords={}, opens="2099-01-01T09:00")
    _load(db, id="over", keywords={}, opens="2020-01-01", closes="2020-02-01")
    listing = staff.get("/staff/authoring/").get_data(as_text=True)
    statuses = re.findall(
        r'<tr id="row-([^"]+)">.*?<td>\s*([a-z ]+?)\s*(?:<br>|</td>)', listing, re.S
    )
    assert statuses == [
        ("later", "scheduled"),
        ("library-hours", "open"),
        ("over", "closed by its dates"),
    ]
    token = csrf_token(staff, "/staff/authoring/")

    def act(consultation_id: str, action: str) -> None:
        response = staff.post(
            f"/staff/authoring/{consultation_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 303, action

    act("over", "up")
    assert [c.id for c in consultations.current_all(db)] == ["later", "over", "library-hours"]
    act("later", "down")
    assert [c.id for c in consultations.current_all(db)] == ["over", "later", "library-hours"]
    act("library-hours", "close")
    assert store.first_row(db, "SELECT closed FROM consultations WHERE id = 'library-hours'") == {
        "closed": 1
    }
    assert "closed by staff" in staff.get("/staff/authoring/").get_data(as_text=True)
    act("library-hours", "reopen")
    act("over", "archive")
    assert [c.id for c in consultations.current_all(db, archived=False)] == [
        "later",
        "library-hours",
    ]
    assert "archived" in staff.get("/staff/authoring/").get_data(as_text=True)
    act("over", "unarchive")
    assert [c.id for c in consultations.current_all(db, archived=False)] == [
        "over",
        "later",
        "library-hours",
    ]
    log = [
        (r["consultation_id"], r["action"], r["user_email"])
        for r in db.query("SELECT * FROM consultation_log ORDER BY id")
    ]
    assert log == [
        ("over", "order", "staff@example.org"),
        ("later", "order", "staff@example.org"),
        ("library-hours", "close", "staff@example.org"),
        ("library-hours", "reopen", "staff@example.org"),
        ("over", "archive", "staff@example.org"),
        ("over", "unarchive", "staff@example.org"),
    ]
    assert (
        staff.post("/staff/authoring/over/explode", data={"csrf_token": token}).status_code == 400
    )
    assert (
        staff.post("/staff/authoring/nothing/close", data={"csrf_token": token}).status_code == 404
    )


# --- the preview -------------------------------------------------------------------------


def test_the_kiosk_preview_draws_the_kiosk_question_in_each_language(
    staff: FlaskClient,
) -> None:
    key = _published_draft(staff)
    page = staff.get(f"/staff/drafts/{key}").get_data(as_text=True)
    assert f'src="/staff/drafts/{key}/kiosk/en/1"' in page
    assert f'href="/staff/drafts/{key}/kiosk/fr/6" target="kiosk-screen"' in page
    screen = staff.get(f"/staff/drafts/{key}/kiosk/fr/4")
    assert screen.status_code == 200
    assert "frame-ancestors 'self'" in screen.headers["Content-Security-Policy"]
    assert "script-src 'none'" in screen.headers["Content-Security-Policy"]
    html = screen.get_data(as_text=True)
    assert "L’éclairage suffit-il ?" in html and "Question 4 sur 6" in html
    assert '<html lang="fr"' in html and "kiosk/kiosk.css" in html
    assert staff.get(f"/staff/drafts/{key}/kiosk/en/7").status_code == 404
    assert staff.get(f"/staff/drafts/{key}/kiosk/de/1").status_code == 404
    picked = staff.get(f"/staff/drafts/{key}/kiosk?number=2&language=fr")
    assert picked.location.endswith(f"/staff/drafts/{key}/kiosk/fr/2")


def test_the_sms_preview_shows_each_message_its_cost_and_the_ucs2_culprit(
    staff: FlaskClient,
) -> None:
    key = _published_draft(staff)
    press(staff, key, "save", {"q0-text-fr": "Êtes-vous allé au parc cette année ?"})
    page = staff.get(f"/staff/drafts/{key}").get_data(as_text=True)
    assert "SMS in French" in page and "SMS in English" in page
    assert "UCS-2" in page and "GSM-7 · 1 segment" in page
    assert "so the message is sent as UCS-2: Ê" in page
    assert "Write “E” instead of “Ê”." in page
    assert "Etes-vous alle au parc" not in page  # é is in GSM-7: only Ê is replaced
    assert "Etes-vous allé au parc cette année ?" in page
    assert re.search(r"The whole conversation: \d+ segments\.", page)


def test_the_preview_panel_for_the_script_saves_the_draft(
    staff: FlaskClient, db: sqlite_utils.Database
) -> None:
    key = _published_draft(staff)
    fields = editor_fields(staff, key)
    fields.setlist("thanks-en", ["Thanks for your time"])
    response = staff.post(f"/staff/drafts/{key}/preview", data=fields)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Thanks for your time" in body
    assert stored_draft(db, key)["thanks"]["en"] == "Thanks for your time"


def test_the_preview_waits_for_a_draft_it_can_read(staff: FlaskClient) -> None:
    key = new_draft(staff)
    page = staff.get(f"/staff/drafts/{key}").get_data(as_text=True)
    assert "The preview appears once the draft can be read" in page
    assert staff.get(f"/staff/drafts/{key}/kiosk/en/1").status_code == 404


PREVIEW_CASES = [
    # (French title, expected encoding of the welcome, the GSM-7 spelling offered or None)
    ("Les parcs de la ville", "GSM-7", None),
    ("Forêt urbaine", "UCS-2", "Foret urbaine"),
    ("Cœur du quartier", "UCS-2", "Coeur du quartier"),
    ("Parcs 🌳", "UCS-2", None),
]


@pytest.mark.parametrize(("title", "encoding", "alternative"), PREVIEW_CASES)
def test_preview_conversation_measures_every_message(
    title: str, encoding: str, alternative: str | None
) -> None:
    definition = json.loads(json.dumps(RULES))
    definition["title"] = {"en": "Parks", "fr": title}
    consultation = consultations.parse(definition)
    messages = preview_conversation(consultation, "fr")
    assert [m.name for m in messages] == [
        "welcome",
        *[q.id for q in consultation.questions],
        "thanks",
    ]
    welcome = messages[0]
    assert welcome.encoding == encoding
    assert (welcome.alternative or "").startswith(alternative or "")
    assert (welcome.alternative is None) == (alternative is None)
    if alternative:
        assert welcome.alternative_segments == 1
    least, most = total_segments(messages)
    asked_always = [m for m in messages if m.ask_if is None]
    assert most == sum(m.segments for m in messages) and least == sum(
        m.segments for m in asked_always
    )
    assert least < most  # RULES has questions hanging on others


def test_error_fields_map_every_consultation_error_to_a_form_field() -> None:
    data = drafts.normalize(
        {
            "id": "x",
            "languages": ["en", "fr"],
            "questions": [{"id": "a", "type": "yesno"}, {"id": "a", "type": "text"}],
        }
    )
    cases = [
        (ConsultationError("has no text for language 'fr'", field="title"), "title-fr"),
        (ConsultationError("is used by another question", question="a", field="id"), "q1-id"),
        (ConsultationError("must not be empty", question="#2", field="text"), "q1-text-en"),
        (ConsultationError("x", question="a", field="choices[2].text"), "q0-c1-text-en"),
        (ConsultationError("x", question="a", field="ask_if"), "q0-if"),
        (ConsultationError("x", field="closes"), "closes-date"),
        (ConsultationError("x", question="nowhere", field="text"), ""),
    ]
    assert [drafts.error_field(data, error) for error, _ in cases] == [f for _, f in cases]


# --- XLSForm: import as a draft, download a published one ------------------------------


def test_an_xlsform_is_imported_as_a_draft_and_downloaded(
    staff: FlaskClient, db: sqlite_utils.Database, example: consultations.Consultation
) -> None:
    ruled = consultations.parse(json.loads(json.dumps(RULES)))
    token = csrf_token(staff, "/staff/authoring/")
    assert "Import an XLSForm" in staff.get("/staff/authoring/").get_data(as_text=True)
    response = staff.post(
        "/staff/authoring/import",
        data={"csrf_token": token, "file": (io.BytesIO(xlsform.write(ruled)), "rules.xlsx")},
    )
    assert response.status_code == 303
    draft = drafts.get(db, response.location.rsplit("/", 1)[-1])
    assert drafts.check(draft.data).version == ruled.version
    refused = staff.post(
        "/staff/authoring/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"not a workbook"), "broken.xlsx")},
    )
    assert refused.status_code == 400 and "broken.xlsx was not imported" in refused.get_data(
        as_text=True
    )
    wrong = staff.post(
        "/staff/authoring/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"x"), "parks.csv")},
    )
    assert wrong.status_code == 400
    assert count(db, "SELECT count(*) FROM consultation_drafts") == 1
    download = staff.get("/staff/authoring/library-hours/xlsform.xlsx")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="library-hours.xlsx"'
    assert consultations.parse(xlsform.read(download.data, "d.xlsx")).version == example.version


@pytest.mark.parametrize("name", ["example", "rules", "all types"])
def test_a_published_definition_goes_through_the_editor_unchanged(name: str) -> None:
    from tests.test_consultations import ALL_TYPES

    source = {
        "example": consultations.read_file(EXAMPLE).definition,
        "rules": RULES,
        "all types": ALL_TYPES,
    }[name]
    consultation = consultations.parse(json.loads(json.dumps(source)))
    assert drafts.check(drafts.normalize(consultation.definition)).version == consultation.version


@pytest.mark.parametrize("name", ["example", "rules", "all types"])
def test_publishing_an_untouched_form_changes_nothing(
    staff: FlaskClient, db: sqlite_utils.Database, name: str
) -> None:
    from tests.test_consultations import ALL_TYPES

    source = {"example": consultations.read_file(EXAMPLE).definition, "rules": RULES}
    source["all types"] = ALL_TYPES
    consultation = consultations.parse(json.loads(json.dumps(source[name])))
    consultations.save(db, [consultation])
    token = csrf_token(staff, "/staff/authoring/")
    response = staff.post(f"/staff/authoring/{consultation.id}/edit", data={"csrf_token": token})
    response = press(staff, response.location.rsplit("/", 1)[-1], "publish")
    assert response.status_code == 303, html.unescape(response.get_data(as_text=True))[-3000:]
    page = staff.get(response.location).get_data(as_text=True)
    assert f"version {consultation.version} stays current" in page
    assert consultations.get(db, consultation.id).version == consultation.version
    assert count(db, "SELECT count(*) FROM consultation_log") == 0


def test_the_admin_upload_and_close_buttons_are_in_the_audit_log_too(
    app: Flask, accounts: None, db: sqlite_utils.Database
) -> None:
    import io

    admin = signed_in(app, "admin")
    token = csrf_token(admin, "/staff/consultations")
    upload = {"csrf_token": token, "file": (io.BytesIO(EXAMPLE.read_bytes()), "hours.yaml")}
    assert admin.post("/staff/consultations", data=upload).status_code == 302
    again = {"csrf_token": token, "file": (io.BytesIO(EXAMPLE.read_bytes()), "hours.yaml")}
    assert admin.post("/staff/consultations", data=again).status_code == 302  # unchanged
    closing = admin.post("/staff/consultations/library-hours/close", data={"csrf_token": token})
    assert closing.status_code == 302
    version = consultations.get(db, "library-hours").version
    rows = [
        (r["action"], r["version"], r["user_email"])
        for r in db.query("SELECT * FROM consultation_log ORDER BY id")
    ]
    assert rows == [
        ("publish", version, "admin@example.org"),
        ("close", "", "admin@example.org"),
    ]
    listing = admin.get("/staff/authoring/").get_data(as_text=True)
    assert "closed by staff" in listing and f"published (version {version})" in listing


def test_a_draft_of_changes_may_not_take_another_consultations_id_and_warns_when_stale(
    staff: FlaskClient, db: sqlite_utils.Database, example: consultations.Consultation
) -> None:
    _load(db, id="other", keywords={})
    token = csrf_token(staff, "/staff/authoring/")
    response = staff.post("/staff/authoring/library-hours/edit", data={"csrf_token": token})
    key = response.location.rsplit("/", 1)[-1]
    refused = press(staff, key, "publish", {"id": "other", "keywords-en": "", "keywords-fr": ""})
    assert refused.status_code == 422 and 'id="id-error"' in refused.get_data(as_text=True)
    assert consultations.get(db, "other").title == example.title
    # Someone publishes another version meanwhile: the draft says so before it replaces it.
    _load(db, title={"en": "Hours", "fr": "Heures"})
    page = staff.get(f"/staff/drafts/{key}").get_data(as_text=True)
    newer = consultations.get(db, "library-hours").version
    assert f"Version {newer} was published after this draft began" in page


@pytest.mark.parametrize(
    ("char", "spelled"),
    [("ê", "e"), ("Ê", "E"), ("ç", "c"), ("î", "i"), ("œ", "oe"), ("Œ", "OE"), ("🌳", None)],
)
def test_gsm_spelling_offers_the_plain_letter(char: str, spelled: str | None) -> None:
    from participate.sms.preview import gsm_spelling

    assert gsm_spelling(char) == spelled
