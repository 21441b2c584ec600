"""The staff hub's pages: sign-in, roles, CSRF, results, search, moderation, admin pages."""

from __future__ import annotations

import html
import io
import json
import re
import time
from datetime import date
from pathlib import Path

import pytest
import sqlite_utils
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from participate import clock, consultations, store, submissions, tallies, xlsform
from participate.app import create_app
from participate.hub import auth, moderation, results, users
from participate.sync import devices
from tests.conftest import DEEPLY_NESTED, EXAMPLE, make_app_config, record_submission

PASSWORD = "correct horse battery"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords with argon2's cheapest settings: the tests are about the flow."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    # Nor about the floor on a failed login's time, but for the test that checks it.
    monkeypatch.setattr(auth, "FAILED_LOGIN_SECONDS", 0.0)


@pytest.fixture
def app_settings() -> dict:
    return {"HUB_LOGIN_MAX_FAILURES": 3}


@pytest.fixture
def hub_data(db: sqlite_utils.Database, example: consultations.Consultation) -> dict:
    """Load the example with three submissions and one account per role."""
    kiosk = record_submission(
        db,
        example,
        {
            "visits": "weekly",
            "times": ["mornings", "sundays"],
            "evenings": True,
            "rating": 4,
            "hours_per_week": 3,
            "comments": f"Plus de soirées, s'il vous plaît {XSS}",
        },
        language="fr",
    )
    sms = record_submission(
        db,
        example,
        {"visits": "rarely", "evenings": False, "rating": 2},
        channel="sms",
        respondent="5b1c" + "0" * 60,  # the form of a phone pseudonym
        complete=False,
    )
    other = record_submission(
        db,
        example,
        {
            "visits": "weekly",
            "times": ["evenings"],
            "evenings": True,
            "rating": 5,
            "comments": "Quiet rooms please",
        },
    )
    for role in users.ROLES:
        users.create_user(db, f"{role}@example.org", PASSWORD, role)
    return {"kiosk": kiosk, "sms": sms, "other": other, "consultation": example}


def csrf_token(client: FlaskClient, url: str = "/staff/login") -> str:
    """Return the CSRF token of a form on a staff page."""
    page = client.get(url)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD):
    """Log in through the form and return the response."""
    token = csrf_token(client)
    return client.post(
        "/staff/login", data={"email": email, "password": password, "csrf_token": token}
    )


def post(client: FlaskClient, url: str, data: dict | None = None, page: str = "/staff/"):
    """POST a staff form with a valid CSRF token taken from `page`."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, page)})


def staff_client(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    return client


# --- sign-in ---------------------------------------------------------------------


def test_root_of_a_hub_redirects_to_the_staff_pages(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.location.endswith("/staff/")


def test_a_node_has_no_staff_pages(db_path: Path) -> None:
    node = create_app(make_app_config(db_path, ROLE="node"))
    assert not [r for r in node.url_map.iter_rules() if r.rule.startswith("/staff")]


def _hub_rules(app: Flask) -> list:
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("hub.")]


def _fill(rule) -> str:
    values = {arg: "1" if arg == "user_id" else "x" for arg in rule.arguments}
    if "fmt" in rule.arguments:
        values["fmt"] = "csv"
    url = rule.rule
    for name, value in values.items():
        url = re.sub(rf"<(?:[a-z]+:)?{name}>", value, url)
    return url


def test_every_staff_route_refuses_anonymous_users(
    app: Flask, client: FlaskClient, hub_data: dict
) -> None:
    rules = _hub_rules(app)
    assert len(rules) >= 15
    for rule in rules:
        url = (
            _fill(rule).replace("/x", f"/{hub_data['kiosk']['id']}", 1)
            if "submission" in rule.rule
            else _fill(rule)
        )
        if rule.endpoint == "hub.login":
            continue
        if "GET" in rule.methods:
            response = client.get(url)
            assert response.status_code == 302, url
            assert "/staff/login" in response.location, url
            assert b"weekly" not in response.data
        if "POST" in rule.methods and rule.endpoint != "hub.logout":
            token = csrf_token(client)
            response = client.post(
                url,
                data={
                    "csrf_token": token,
                    "action": "hide",
                    "reason": "x",
                    "name": "n",
                    "email": "e@x.org",
                },
            )
            assert response.status_code == 401, url
    # Nothing an anonymous POST reached changed the store.
    db = store.open_db(app.config["DATABASE"])
    assert db.execute("SELECT count(*) FROM submissions WHERE hidden = 1").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 0
    db.close()


def test_login_then_logout_ends_the_session_on_the_server(app: Flask, hub_data: dict) -> None:
    client = app.test_client()
    response = login(client, "viewer@example.org")
    assert response.status_code == 302 and response.location.endswith("/staff/")
    page = client.get("/staff/")
    assert page.status_code == 200
    assert "Library opening hours" in page.get_data(as_text=True)
    stolen = client.get_cookie("session").value
    assert post(client, "/staff/logout").status_code == 302
    assert client.get("/staff/").status_code == 302
    # Replaying the cookie from before the logout gets nothing: the server forgot it.
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/staff/").status_code == 302


def _failure(response) -> tuple[int, str]:
    """Return what a failed login shows: its status and its error message."""
    match = re.search(r'role="alert">\s*<p>(.*?)</p>', response.get_data(as_text=True), re.S)
    return response.status_code, match.group(1).strip() if match else ""


def test_logging_out_after_the_session_expired_lands_on_the_login_page(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "viewer")
    token = csrf_token(client, "/staff/")
    db.execute("DELETE FROM staff_sessions")
    response = client.post("/staff/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.location.endswith("/staff/login")


def test_failed_login_says_so_and_locks_after_too_many(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = app.test_client()
    response = login(client, "staff@example.org", "wrong password!")
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)
    login(client, "staff@example.org", "wrong again!!")
    login(client, "staff@example.org", "third wrong one")
    assert db.execute(
        "SELECT locked_until IS NOT NULL FROM users WHERE email = 'staff@example.org'"
    ).fetchone()[0]
    # While locked, even the right password is refused.
    assert login(client, "staff@example.org").status_code == 401
    assert client.get("/staff/").status_code == 302
    db.execute("UPDATE users SET locked_until = '2000-01-01T00:00:00.000000Z'")
    assert login(client, "staff@example.org").status_code == 302


def test_failed_logins_do_not_tell_which_accounts_exist(
    app: Flask, db: sqlite_utils.Database, hub_data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified = []
    real_verify = users._verify
    monkeypatch.setattr(users, "_verify", lambda h, p: verified.append(h) or real_verify(h, p))
    client = app.test_client()
    unknown = _failure(login(client, "nobody@example.org", "wrong password!"))
    wrong = _failure(login(client, "staff@example.org", "wrong password!"))
    login(client, "staff@example.org", "wrong again!!")
    locking = _failure(login(client, "staff@example.org", "third wrong one"))
    locked = _failure(login(client, "staff@example.org"))
    users.set_disabled(db, users.find_user(db, "viewer@example.org").id, True)
    disabled = _failure(login(client, "viewer@example.org"))
    assert unknown[0] == 401 and unknown[1]
    assert unknown == wrong == locking == locked == disabled
    # Every attempt checks one password hash, so none answers measurably sooner.
    assert len(verified) == 6


def test_every_failed_login_takes_at_least_the_same_time(
    app: Flask, db: sqlite_utils.Database, hub_data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counting a known account's failure writes to the store; an unknown email writes
    # nothing. A floor on the time of every failure hides that difference.
    monkeypatch.setattr(auth, "FAILED_LOGIN_SECONDS", 0.2)
    client = app.test_client()
    for email in ("nobody@example.org", "staff@example.org"):
        token = csrf_token(client)
        started = time.monotonic()
        response = client.post(
            "/staff/login", data={"email": email, "password": "wrong!", "csrf_token": token}
        )
        assert response.status_code == 401
        assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    "address, key",
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not an address", "not an address"),
    ],
)
def test_addresses_are_counted_by_host_or_ipv6_network(address: str, key: str) -> None:
    from participate.hub.throttle import client_key

    assert client_key(address) == key


def test_the_address_throttle_forgets_after_its_window() -> None:
    from participate.hub.throttle import AddressThrottle

    now = [1000.0]
    throttle = AddressThrottle(limit=2, window=60, now=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.wait("a") == 60 and throttle.wait("b") == 0
    now[0] += 30
    assert throttle.wait("a") == 30
    now[0] += 31
    assert throttle.wait("a") == 0


def test_failed_logins_are_limited_per_client_address(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    from participate.hub import auth

    client = app.test_client()
    limit = auth.address_limit(app)
    for number in range(limit):
        # Spread over many unknown accounts: no single account ever locks.
        assert login(client, f"guess{number}@example.org").status_code == 401
    refused = login(client, "staff@example.org")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert client.get("/staff/").status_code == 302
    # Another address is not held back, and the account itself is not locked.
    other = app.test_client()
    token = csrf_token(other)
    response = other.post(
        "/staff/login",
        data={"email": "staff@example.org", "password": PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "target, lands_on",
    [
        ("https://evil.example/", "/staff/"),
        ("//evil.example/staff/", "/staff/"),
        ("/elsewhere", "/staff/"),
        ("/staff/devices", "/staff/devices"),
        ("/staff/devices\r\nSet-Cookie: taken=1", "/staff/"),
        ("/staff/devices\n", "/staff/"),
        ("/staff/\x00devices", "/staff/"),
        ("/staff/devices\t", "/staff/"),
        ("/staff/devices\x85", "/staff/"),
    ],
)
def test_login_only_redirects_inside_the_staff_pages(
    app: Flask, hub_data: dict, target: str, lands_on: str
) -> None:
    client = app.test_client()
    data = {"email": "viewer@example.org", "password": PASSWORD, "next": target}
    response = client.post("/staff/login", data={**data, "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.location.endswith(lands_on)


@pytest.mark.parametrize("column, hours", [("last_seen_at", 1), ("created_at", 13)])
def test_sessions_expire_when_idle_or_old(
    app: Flask, db: sqlite_utils.Database, hub_data: dict, column: str, hours: int
) -> None:
    client = staff_client(app, "viewer")
    assert client.get("/staff/").status_code == 200
    from datetime import timedelta

    past = clock.to_text(clock.parse(clock.utcnow()) - timedelta(hours=hours))
    db.execute(f"UPDATE staff_sessions SET {column} = ?", [past])  # noqa: S608
    assert client.get("/staff/").status_code == 302
    assert db.execute("SELECT count(*) FROM staff_sessions").fetchone()[0] == 0


def test_disabling_an_account_ends_its_sessions(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "staff")
    user = users.find_user(db, "staff@example.org")
    users.set_disabled(db, user.id, True)
    assert client.get("/staff/").status_code == 302
    assert login(client, "staff@example.org").status_code == 401


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "admin")
    sid = hub_data["kiosk"]["id"]
    response = client.post(
        f"/staff/submissions/{sid}/moderate", data={"action": "hide", "reason": "spam"}
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert client.post("/staff/devices", data={"name": "Branch"}).status_code == 400
    assert not submissions.get(db, sid)["hidden"]
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 0
    refused = client.post("/staff/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert refused.status_code == 400


def test_an_expired_form_says_so_in_the_page_language_and_offers_a_fresh_one(
    app: Flask, hub_data: dict
) -> None:
    client = app.test_client()
    client.get("/staff/login?lang=fr")
    data = {"email": "admin@example.org", "password": PASSWORD, "csrf_token": "stale"}
    page = client.post("/staff/login", data=data)
    assert page.status_code == 400
    text = html.unescape(page.get_data(as_text=True))
    assert "Ce formulaire a expiré" in text
    # The login form is shown again, with a token that works.
    token = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    assert client.post("/staff/login", data={**data, "csrf_token": token}).status_code == 302
    moderated = client.post(
        f"/staff/submissions/{hub_data['kiosk']['id']}/moderate",
        data={"action": "hide", "reason": "x", "csrf_token": "stale"},
    )
    assert moderated.status_code == 400
    assert "Ce formulaire a expiré" in html.unescape(moderated.get_data(as_text=True))


# --- roles -----------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_moderate_export_or_administer(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "viewer")
    sid = hub_data["kiosk"]["id"]
    for url in [
        "/staff/",
        "/staff/c/library-hours/",
        "/staff/c/library-hours/submissions",
        f"/staff/submissions/{sid}",
        "/staff/devices",
    ]:
        assert client.get(url).status_code == 200, url
    detail = client.get(f"/staff/submissions/{sid}").get_data(as_text=True)
    assert "Hide this submission" not in detail
    results = client.get("/staff/c/library-hours/").get_data(as_text=True)
    assert "export.csv" not in results
    for fmt in ("csv", "xlsx", "json", "jsonl"):
        assert client.get(f"/staff/c/library-hours/export.{fmt}").status_code == 403
    assert client.get("/staff/c/library-hours/codebook.csv").status_code == 403
    response = post(
        client, f"/staff/submissions/{sid}/moderate", {"action": "hide", "reason": "spam"}
    )
    assert response.status_code == 403
    assert not submissions.get(db, sid)["hidden"]
    for url in ["/staff/users", "/staff/consultations"]:
        assert client.get(url).status_code == 403
    assert post(client, "/staff/devices", {"name": "Branch"}).status_code == 403


def test_staff_moderate_and_export_but_do_not_administer(app: Flask, hub_data: dict) -> None:
    client = staff_client(app, "staff")
    assert client.get("/staff/c/library-hours/export.csv").status_code == 200
    sid = hub_data["kiosk"]["id"]
    response = post(
        client, f"/staff/submissions/{sid}/moderate", {"action": "hide", "reason": "abusive"}
    )
    assert response.status_code == 302
    assert client.get("/staff/users").status_code == 403
    assert post(client, "/staff/consultations/library-hours/close").status_code == 403
    assert (
        post(
            client,
            "/staff/users",
            {"email": "x@example.org", "role": "admin", "password": PASSWORD, "confirm": PASSWORD},
        ).status_code
        == 403
    )


# --- results, search, moderation -------------------------------------------------


def test_results_count_every_question_type(app: Flask, hub_data: dict) -> None:
    client = staff_client(app, "viewer")
    page = client.get("/staff/c/library-hours/").get_data(as_text=True)
    assert page.count('<svg class="chart" role="img"') >= 5
    # visits: weekly twice, rarely once; the table beside the chart says so.
    table = re.search(
        r"<caption>Answers to: How often do you visit\?</caption>(.*?)</table>", page, re.S
    ).group(1)
    assert re.search(r"Every week</th><td class=\"num\">2</td>", table)
    assert re.search(r"Rarely</th><td class=\"num\">1</td>", table)
    filtered = client.get("/staff/c/library-hours/?channel=sms").get_data(as_text=True)
    table = re.search(
        r"<caption>Answers to: How often do you visit\?</caption>(.*?)</table>", filtered, re.S
    ).group(1)
    assert re.search(r"Every week</th><td class=\"num\">0</td>", table)
    assert client.get("/staff/c/library-hours/?since=yesterday").status_code == 400
    assert client.get("/staff/c/library-hours/?channel=fax").status_code == 400
    assert client.get("/staff/c/nope/").status_code == 404


def test_script_payloads_show_as_text_everywhere(app: Flask, hub_data: dict) -> None:
    client = staff_client(app, "admin")
    sid = hub_data["kiosk"]["id"]
    for url in [
        "/staff/c/library-hours/",
        "/staff/c/library-hours/submissions",
        f"/staff/submissions/{sid}",
        "/staff/c/library-hours/submissions?q=soirees",
    ]:
        page = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(" in page, url
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "script-src 'self'" in client.get(url).headers["Content-Security-Policy"]


def test_full_text_search_ignores_accents_and_follows_updates(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "viewer")
    page = client.get("/staff/c/library-hours/submissions?q=SOIREES").get_data(as_text=True)
    assert "1 submission" in page and "Plus de <mark>soirées</mark>" in page
    assert "Quiet rooms" not in page
    page = client.get("/staff/c/library-hours/submissions?q=quiet").get_data(as_text=True)
    assert "<mark>Quiet</mark> rooms" in page and "soirées" not in page
    # The index follows the table: an edited answer and a deleted row.
    other = hub_data["other"]["id"]
    db.execute(
        "UPDATE submissions SET answers = json_set(answers, '$.comments', 'Café corner')"
        " WHERE id = ?",
        [other],
    )
    assert "0 submissions" in client.get("/staff/c/library-hours/submissions?q=quiet").get_data(
        as_text=True
    )
    assert "<mark>Café</mark> corner" in client.get(
        "/staff/c/library-hours/submissions?q=cafe"
    ).get_data(as_text=True)
    db.execute("DELETE FROM submissions WHERE id = ?", [other])
    assert (
        db.execute(
            "SELECT count(*) FROM submission_texts WHERE submission_id = ?", [other]
        ).fetchone()[0]
        == 0
    )
    # Search syntax from the user is data, never an FTS error.
    assert client.get('/staff/c/library-hours/submissions?q="OR*)(NEAR').status_code == 200


@pytest.mark.parametrize(
    ("language", "ranked", "newest"),
    [
        ("en", "best match first", "newest first: a word searched for is too common"),
        ("fr", "meilleure correspondance d'abord", "les plus récentes d'abord\u00a0: un mot"),
    ],
)
def test_the_list_says_how_search_matches_are_ordered(
    app: Flask, hub_data: dict, monkeypatch: pytest.MonkeyPatch, language, ranked, newest
) -> None:
    client = staff_client(app, "viewer")
    url = f"/staff/c/library-hours/submissions?q=quiet&lang={language}"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert ranked in page and newest not in page
    monkeypatch.setattr(results, "RANK_WORD_LIMIT", 0)  # every word is too common now
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert newest in page and ranked not in page
    assert "<mark>Quiet</mark> rooms" in client.get(url).get_data(as_text=True)


def test_text_answers_are_a_searchable_list_on_the_results(app: Flask, hub_data: dict) -> None:
    client = staff_client(app, "viewer")
    page = client.get("/staff/c/library-hours/?q_comments=quiet").get_data(as_text=True)
    listed = re.search(r'<ul class="texts".*?</ul>', page, re.S).group(0)
    assert "Quiet rooms please" in listed and "soirées" not in listed


def test_hiding_needs_a_reason_is_logged_and_leaves_charts(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "staff")
    sid = hub_data["kiosk"]["id"]
    url = f"/staff/submissions/{sid}/moderate"
    assert post(client, url, {"action": "hide", "reason": "  "}).status_code == 400
    assert post(client, url, {"action": "delete", "reason": "x"}).status_code == 400
    assert post(client, url, {"action": "hide", "reason": "insults"}).status_code == 302
    row = db.execute("SELECT hidden, hidden_reason FROM submissions WHERE id = ?", [sid]).fetchone()
    assert row == (1, "insults")
    log = moderation.history(db, sid)
    assert [(e["action"], e["reason"], e["user_email"]) for e in log] == [
        ("hide", "insults", "staff@example.org")
    ]
    page = client.get("/staff/c/library-hours/").get_data(as_text=True)
    assert "soirées" not in page
    assert "soirées" in client.get("/staff/c/library-hours/?hidden=1").get_data(as_text=True)
    csv_text = client.get("/staff/c/library-hours/export.csv").get_data(as_text=True)
    assert sid not in csv_text
    assert sid in client.get("/staff/c/library-hours/export.csv?hidden=1").get_data(as_text=True)
    assert post(client, url, {"action": "unhide", "reason": "context explained"}).status_code == 302
    assert [e["action"] for e in moderation.history(db, sid)] == ["hide", "unhide"]
    assert client.get(f"/staff/submissions/{sid}").status_code == 200
    assert (
        post(
            client, "/staff/submissions/nope/moderate", {"action": "hide", "reason": "x"}
        ).status_code
        == 404
    )


def test_submission_list_pages_by_cursor(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    app.config["HUB_PAGE_SIZE"] = 2
    client = staff_client(app, "viewer")
    first = client.get("/staff/c/library-hours/submissions").get_data(as_text=True)
    assert "3 submissions" in first and 'rel="prev"' not in first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = client.get(html.unescape(older[1])).get_data(as_text=True)
    assert 'rel="next"' not in second
    newer = re.search(r'href="([^"]+)" rel="prev"', second)
    assert newer is not None
    back = client.get(html.unescape(newer[1])).get_data(as_text=True)
    assert _listed_ids(back) == _listed_ids(first)
    assert not set(_listed_ids(first)) & set(_listed_ids(second))
    assert len(_listed_ids(first) + _listed_ids(second)) == 3
    for bad in ("cursor=%%%", "cursor=WyJ4Il0", "cursor=bm90IGpzb24", "dir=sideways"):
        assert client.get(f"/staff/c/library-hours/submissions?{bad}").status_code == 400


def _listed_ids(page: str) -> list[str]:
    return re.findall(r'href="/staff/submissions/([0-9a-f-]{36})"', page)


# --- admin -----------------------------------------------------------------------


def test_admin_manages_accounts(app: Flask, db: sqlite_utils.Database, hub_data: dict) -> None:
    client = staff_client(app, "admin")
    data = {"email": "new@example.org", "role": "viewer", "password": PASSWORD, "confirm": PASSWORD}
    assert post(client, "/staff/users", data, "/staff/users").status_code == 302
    assert users.find_user(db, "new@example.org").role == "viewer"
    assert post(client, "/staff/users", data, "/staff/users").status_code == 400  # twice
    short = {**data, "email": "short@example.org", "password": "short", "confirm": "short"}
    assert post(client, "/staff/users", short, "/staff/users").status_code == 400
    assert users.find_user(db, "short@example.org") is None
    new = users.find_user(db, "new@example.org")
    assert (
        post(
            client, f"/staff/users/{new.id}", {"action": "role", "role": "staff"}, "/staff/users"
        ).status_code
        == 302
    )
    assert users.get_user(db, new.id).role == "staff"
    admin = users.find_user(db, "admin@example.org")
    # The last admin cannot step down or disable themself.
    assert (
        post(
            client, f"/staff/users/{admin.id}", {"action": "role", "role": "viewer"}, "/staff/users"
        ).status_code
        == 400
    )
    assert (
        post(client, f"/staff/users/{admin.id}", {"action": "disable"}, "/staff/users").status_code
        == 400
    )
    assert users.get_user(db, admin.id).role == "admin"


def test_admin_sets_a_new_password_which_ends_the_accounts_sessions(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    forgetful = staff_client(app, "staff")
    admin = staff_client(app, "admin")
    staff = users.find_user(db, "staff@example.org")
    url = "/staff/users/password"
    new = "a brand new passphrase"
    differ = {"user_id": staff.id, "password": new, "confirm": new + "!"}
    assert post(admin, url, differ, "/staff/users").status_code == 400
    short = {"user_id": staff.id, "password": "short", "confirm": "short"}
    assert post(admin, url, short, "/staff/users").status_code == 400
    nobody = {"user_id": 9999, "password": new, "confirm": new}
    assert post(admin, url, nobody, "/staff/users").status_code == 400
    good = {"user_id": staff.id, "password": new, "confirm": new}
    assert post(admin, url, good, "/staff/users").status_code == 302
    assert forgetful.get("/staff/").status_code == 302  # signed out everywhere
    assert login(app.test_client(), "staff@example.org").status_code == 401
    assert login(app.test_client(), "staff@example.org", new).status_code == 302
    # Only an admin may do it.
    viewer = staff_client(app, "viewer")
    assert post(viewer, url, good).status_code == 403


def test_admin_enrols_and_disables_devices(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "admin")
    response = post(client, "/staff/devices", {"name": "Central <b>library</b>"}, "/staff/devices")
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    device_id, secret = db.execute("SELECT id, secret FROM devices").fetchone()
    assert secret in page and "Central &lt;b&gt;library&lt;/b&gt;" in page
    # The secret is shown once, never on the list again.
    assert secret not in client.get("/staff/devices").get_data(as_text=True)
    assert post(client, "/staff/devices", {"name": " "}, "/staff/devices").status_code == 400
    assert (
        post(client, f"/staff/devices/{device_id}/disable", page="/staff/devices").status_code
        == 302
    )
    assert devices.get_device(db, device_id)["disabled_at"]
    assert post(client, "/staff/devices/nope/disable", page="/staff/devices").status_code == 400


def test_devices_page_calls_out_stale_and_gapped_nodes(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    device_id, _ = devices.add_device(db, "Branch library")
    devices.record_heartbeat(
        db,
        device_id,
        {
            "version": "0.1.0",
            "queue_depth": 5,
            "oldest_unsynced_age": 60,
            "highest_seq": 9,
            "node_clock": clock.utcnow(),
            "last_error": "",
            "audio": "missing",
        },
    )
    db.execute(
        "UPDATE devices SET last_seen_at = '2026-01-01T00:00:00.000000Z' WHERE id = ?", [device_id]
    )
    client = staff_client(app, "viewer")
    page = client.get("/staff/devices").get_data(as_text=True)
    assert "Needs attention" in page
    assert "Branch library" in page and "stale" in page
    assert "9 missing" in page and "1-9" in page
    assert "0.1.0" in page
    assert "audio missing: the kiosk cannot read aloud" in page  # no espeak-ng there
    assert "Enrol a device" not in page  # viewers do not administer
    assert "Channels: Kiosk<" in page
    devices.set_channels(db, device_id, ["kiosk", "sms"])
    assert "Channels: Kiosk, SMS<" in client.get("/staff/devices").get_data(as_text=True)
    french = client.get("/staff/devices", headers={"Accept-Language": "fr"})
    assert "Canaux\u00a0: Borne, SMS<" in french.get_data(as_text=True)
    devices.set_channels(db, device_id, ["voice"])
    assert "Channels: Phone calls<" in client.get("/staff/devices").get_data(as_text=True)


def test_admin_uploads_closes_and_reopens_consultations(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    client = staff_client(app, "admin")
    text = EXAMPLE.read_text(encoding="utf-8").replace("id: library-hours", "id: parks", 1)
    text = text.replace("keywords: {en: HOURS, fr: [HEURES, HORAIRES]}", "keywords: {en: PARKS}")
    token = csrf_token(client, "/staff/consultations")
    response = client.post(
        "/staff/consultations",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "parks.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert consultations.get(db, "parks").id == "parks"
    for name, content in DEEPLY_NESTED.items():
        token = csrf_token(client, "/staff/consultations")
        response = client.post(
            "/staff/consultations",
            data={"csrf_token": token, "file": (io.BytesIO(content.encode()), name)},
            content_type="multipart/form-data",
        )
        assert response.status_code == 400, name
        page = html.unescape(response.get_data(as_text=True))
        assert f"{name}: nests lists or mappings more than 20 levels deep" in page
    bad = text.replace("type: scale", "type: slider")
    token = csrf_token(client, "/staff/consultations")
    response = client.post(
        "/staff/consultations",
        data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "parks.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "parks.yaml" in response.get_data(as_text=True) and "slider" in response.get_data(
        as_text=True
    )
    token = csrf_token(client, "/staff/consultations")
    response = client.post(
        "/staff/consultations",
        data={"csrf_token": token, "file": (io.BytesIO(b"x"), "parks.exe")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    # An XLSForm workbook is a consultation file too.
    workbook = xlsform.write(consultations.get(db, "parks"))
    token = csrf_token(client, "/staff/consultations")
    response = client.post(
        "/staff/consultations",
        data={"csrf_token": token, "file": (io.BytesIO(workbook), "parks.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "parks: unchanged" in client.get("/staff/consultations").get_data(as_text=True)
    assert (
        post(client, "/staff/consultations/parks/close", page="/staff/consultations").status_code
        == 302
    )
    assert not consultations.is_accepting(db, consultations.get(db, "parks"), clock.today())
    assert (
        post(client, "/staff/consultations/parks/reopen", page="/staff/consultations").status_code
        == 302
    )
    assert db.execute("SELECT closed FROM consultations WHERE id = 'parks'").fetchone()[0] == 0
    assert (
        post(client, "/staff/consultations/nope/close", page="/staff/consultations").status_code
        == 400
    )


# --- the add-user command --------------------------------------------------------


def test_add_user_command(runner, db_path: Path) -> None:
    from participate.cli import main

    result = runner.invoke(
        main,
        ["add-user", "--db", str(db_path), "a@example.org", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    db = store.open_db(db_path)
    assert users.authenticate(db, "A@example.org", PASSWORD).role == "admin"
    stored = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    db.close()
    result = runner.invoke(
        main,
        ["add-user", "--db", str(db_path), "b@example.org", "--role", "viewer"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(
        main,
        ["add-user", "--db", str(db_path), "a@example.org", "--role", "staff", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert again.exit_code == 1 and "already an account" in again.output
    bad = runner.invoke(
        main,
        ["add-user", "--db", str(db_path), "c@example.org", "--role", "owner", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert bad.exit_code == 2


def test_staff_pages_in_french(app: Flask, hub_data: dict) -> None:
    client = staff_client(app, "staff")
    page = client.get("/staff/c/library-hours/?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "Réponses à\u00a0: Quelle est la fréquence de vos visites ?" in page
    assert "Chaque semaine" in page and "Appliquer les filtres" in page
    # The choice sticks for the next pages.
    devices_page = client.get("/staff/devices").get_data(as_text=True)
    assert "Appareils" in devices_page and "Se déconnecter" in devices_page


@pytest.mark.parametrize(
    "role, url, data, french",
    [
        (
            "admin",
            "/staff/users",
            {"email": "x@example.org", "role": "viewer"},
            "Le mot de passe doit comporter au moins 10 caractères",
        ),
        (
            "admin",
            "/staff/users",
            {
                "email": "pas une adresse",
                "role": "viewer",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
            "n'est pas une adresse",
        ),
        (
            "admin",
            "/staff/users",
            {
                "email": "staff@example.org",
                "role": "viewer",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
            "Il existe déjà un compte",
        ),
        (
            "admin",
            "/staff/users/{admin}",
            {"action": "role", "role": "viewer"},
            "au moins un administrateur actif",
        ),
        ("admin", "/staff/users/{admin}", {"action": "role", "role": "boss"}, "Le rôle doit"),
        (
            "staff",
            "/staff/submissions/{sid}/moderate",
            {"action": "hide", "reason": " "},
            "Donnez une raison",
        ),
        (
            "staff",
            "/staff/submissions/{sid}/moderate",
            {"action": "hide", "reason": "x" * 501},
            "au plus 500 caractères",
        ),
        (
            "staff",
            "/staff/submissions/{sid}/moderate",
            {"action": "erase", "reason": "x"},
            "masquer ou réafficher",
        ),
        ("viewer", "/staff/c/library-hours/?since=soon", None, "doit être une date"),
        ("viewer", "/staff/c/library-hours/?channel=fax", None, "Le canal doit"),
        ("staff", "/staff/c/library-hours/export.csv?label_language=de", None, "n'a pas de langue"),
    ],
)
def test_account_and_moderation_errors_are_in_the_page_language(
    app: Flask,
    db: sqlite_utils.Database,
    hub_data: dict,
    role: str,
    url: str,
    data: dict | None,
    french: str,
) -> None:
    client = staff_client(app, role)
    client.get("/staff/?lang=fr")
    admin = users.find_user(db, "admin@example.org")
    url = url.format(admin=admin.id, sid=hub_data["kiosk"]["id"])
    response = client.get(url) if data is None else post(client, url, data)
    assert response.status_code == 400
    assert french in html.unescape(response.get_data(as_text=True))


def test_switching_language_keeps_the_filters(app: Flask, hub_data: dict) -> None:
    client = staff_client(app, "viewer")
    page = client.get("/staff/c/library-hours/?channel=sms&language=en").get_data(as_text=True)
    links = re.findall(r'href="([^"]*lang=fr[^"]*)"', page)
    assert links and all("channel=sms" in link and "language=en" in link for link in links)


def test_expired_sessions_are_purged_by_the_scheduled_job(
    app: Flask, db: sqlite_utils.Database, hub_data: dict
) -> None:
    from datetime import timedelta

    from apscheduler.schedulers.background import BackgroundScheduler

    from participate import hub

    staff_client(app, "viewer")
    staff_client(app, "staff")
    old = clock.to_text(clock.parse(clock.utcnow()) - timedelta(hours=13))
    db.execute(
        "UPDATE staff_sessions SET created_at = ?"
        " WHERE rowid = (SELECT min(rowid) FROM staff_sessions)",
        [old],
    )
    scheduler = BackgroundScheduler()
    hub.schedule(scheduler, app)
    (job,) = scheduler.get_jobs()
    assert job.id == "hub-purge-sessions"
    assert job.func(*job.args) == 1
    assert db.execute("SELECT count(*) FROM staff_sessions").fetchone()[0] == 1


def test_overview_counts_by_channel_device_language_and_day(
    db: sqlite_utils.Database, hub_data: dict
) -> None:
    from participate.hub import results

    moderation.moderate(db, hub_data["other"]["id"], "hide", "test", "s@example.org")
    summary = results.overview(db, "library-hours", results.Filters())
    assert (summary.total, summary.complete, summary.incomplete, summary.hidden) == (2, 1, 1, 1)
    assert summary.by_channel == [("kiosk", 1), ("sms", 1)]
    assert summary.by_language == [("en", 1), ("fr", 1)]
    assert summary.by_device == [(submissions.device_id(db), 2)]
    assert summary.by_day == [(clock.utcnow()[:10], 2)]
    everything = results.overview(db, "library-hours", results.Filters(include_hidden=True))
    assert (everything.total, everything.hidden) == (3, 1)
    fr = results.overview(db, "library-hours", results.Filters(language="fr"))
    assert fr.total == 1 and fr.by_channel == [("kiosk", 1)]


def _submitted_at(db: sqlite_utils.Database, submission_id: str, moment: str) -> None:
    # A raw edit bypasses the write path: recount the tallies, as `participate check` would.
    db.execute("UPDATE submissions SET submitted_at = ? WHERE id = ?", [moment, submission_id])
    tallies.rebuild(db)


def test_days_are_the_organisations_local_days(db: sqlite_utils.Database, hub_data: dict) -> None:
    from participate.hub import results

    # 23:30 UTC on 1 December is already 2 December in Paris; 22:30 UTC is not.
    _submitted_at(db, hub_data["kiosk"]["id"], "2026-12-01T23:30:00.000000Z")
    _submitted_at(db, hub_data["sms"]["id"], "2026-12-01T22:30:00.000000Z")
    _submitted_at(db, hub_data["other"]["id"], "2026-12-02T22:59:59.000000Z")
    paris = results.Filters(timezone="Europe/Paris")
    assert results.overview(db, "library-hours", paris).by_day == [
        ("2026-12-01", 1),
        ("2026-12-02", 2),
    ]
    assert results.overview(db, "library-hours", results.Filters()).by_day == [
        ("2026-12-01", 2),
        ("2026-12-02", 1),
    ]
    day = date(2026, 12, 2)
    on_the_2nd = results.Filters(since=day, until=day, timezone="Europe/Paris")
    assert results.overview(db, "library-hours", on_the_2nd).total == 2
    on_the_1st = results.Filters(until=date(2026, 12, 1), timezone="Europe/Paris")
    assert results.overview(db, "library-hours", on_the_1st).total == 1


def test_local_days_follow_daylight_saving_changes(
    db: sqlite_utils.Database, hub_data: dict
) -> None:
    from participate.hub import results

    # Toronto leaves daylight time on 1 November 2026: UTC-4 before, UTC-5 after.
    _submitted_at(db, hub_data["kiosk"]["id"], "2026-10-31T03:30:00.000000Z")  # 30 Oct 23:30
    _submitted_at(db, hub_data["sms"]["id"], "2026-11-02T04:30:00.000000Z")  # 1 Nov 23:30
    _submitted_at(db, hub_data["other"]["id"], "2026-11-02T05:30:00.000000Z")  # 2 Nov 00:30
    toronto = results.Filters(timezone="America/Toronto")
    by_day = results.overview(db, "library-hours", toronto).by_day
    assert [(d, n) for d, n in by_day if n] == [
        ("2026-10-30", 1),
        ("2026-11-01", 1),
        ("2026-11-02", 1),
    ]


@pytest.mark.parametrize(
    "moment, timezone, day",
    [
        ("2026-12-01T18:14:59.000000Z", "Asia/Kathmandu", "2026-12-01"),  # UTC+5:45
        ("2026-12-01T18:15:00.000000Z", "Asia/Kathmandu", "2026-12-02"),
        ("2026-12-01T04:59:59.000000Z", "America/Toronto", "2026-11-30"),
        ("2026-03-29T22:00:00.000000Z", "Europe/Paris", "2026-03-30"),  # after spring forward
        ("2026-03-28T22:59:00.000000Z", "Europe/Paris", "2026-03-28"),  # before it
    ],
)
def test_day_sql_gives_the_local_day(moment: str, timezone: str, day: str) -> None:
    import sqlite3

    from participate.hub import days

    sql, params = days.day_sql(
        "t", "2026-01-01T00:00:00.000000Z", "2026-12-31T00:00:00.000000Z", timezone
    )
    connection = sqlite3.connect(":memory:")
    query = f"SELECT {sql} FROM (SELECT ? AS t)"  # noqa: S608 (built by days.day_sql)
    got = connection.execute(query, [*params, moment]).fetchone()[0]
    assert got == day


def test_date_filters_in_the_query_string_are_local_days(app_config: dict, hub_data: dict) -> None:
    app = create_app({**app_config, "TIMEZONE": "Europe/Paris"})
    db = store.open_db(app_config["DATABASE"])
    _submitted_at(db, hub_data["kiosk"]["id"], "2026-12-01T23:30:00.000000Z")
    db.close()
    client = staff_client(app, "viewer")
    url = "/staff/c/library-hours/submissions?since=2026-12-02&until=2026-12-02"
    page = client.get(url).get_data(as_text=True)
    assert hub_data["kiosk"]["id"] in page
    assert hub_data["other"]["id"] not in page
    # Times are shown in the same zone as the days.
    assert "Submitted (Europe/Paris)" in page and "2026-12-02 00:30:00" in page


def test_days_without_responses_are_filled_with_zeros() -> None:
    from participate.hub.results import fill_days

    assert fill_days([("2026-11-01", 3), ("2026-11-04", 1)]) == [
        ("2026-11-01", 3),
        ("2026-11-02", 0),
        ("2026-11-03", 0),
        ("2026-11-04", 1),
    ]
    assert fill_days([]) == []


@pytest.mark.parametrize(
    "counts, labels",
    [
        ({1: 2, 3: 1}, ["1", "2", "3"]),
        (
            {0: 1, 40: 1, 80: 2},
            ["0–8", "9–17", "18–26", "27–35", "36–44", "45–53", "54–62", "63–71", "72–80"],
        ),
        ({0.5: 1, 1.5: 1}, [f"{0.5 + i * 0.1:g}–{0.5 + (i + 1) * 0.1:g}" for i in range(10)]),
    ],
)
def test_histogram_bins(counts: dict, labels: list[str]) -> None:
    from participate.hub.results import histogram

    bars = histogram(counts)
    assert [b.label for b in bars] == labels
    assert sum(b.count for b in bars) == sum(counts.values())


def test_search_words_become_a_safe_fts_query() -> None:
    from participate.hub.results import fts_query

    assert fts_query('soirées "OR" NEAR(') == '"soirées"* "OR"* "NEAR"*'
    assert fts_query("***") == ""


def test_tallies_match_counting_each_question(db: sqlite_utils.Database) -> None:
    import random

    from participate.hub import results

    rng = random.Random(7)
    choices = [{"id": f"c{i}", "text": f"Choice {i}"} for i in range(6)]
    questions = [
        {"id": f"q{n}", "type": "choice", "text": f"Q{n}", "choices": choices, "required": False}
        for n in range(8)
    ] + [
        {"id": "m", "type": "multi", "text": "M", "choices": choices[:4], "required": False},
        {"id": "n", "type": "number", "text": "N", "required": False},
        {"id": "t", "type": "text", "text": "T", "required": False},
    ]
    wide = consultations.parse({"id": "wide", "title": "Wide", "questions": questions})
    consultations.save(db, [wide])
    for _ in range(80):
        answers = {f"q{n}": f"c{rng.randrange(6)}" for n in range(8) if rng.random() < 0.8}
        if rng.random() < 0.7:
            answers["m"] = rng.sample([c["id"] for c in choices[:4]], rng.randint(1, 3))
        if rng.random() < 0.5:
            answers["n"] = rng.choice([1, 2.5, -3, 1000])
        if rng.random() < 0.4:
            answers["t"] = "some words"
        submissions.record(
            db, wide, channel="kiosk", language="en", answers=answers, started_at=clock.utcnow()
        )
    rows = [json.loads(r[0]) for r in db.execute("SELECT answers FROM submissions")]
    for result in results.question_results(db, wide, results.Filters(), "en"):
        qid = result.question.id
        assert result.answered == sum(qid in r for r in rows), qid
        if result.question.type == "choice":
            assert {b.key: b.count for b in result.bars} == {
                c["id"]: sum(r.get(qid) == c["id"] for r in rows) for c in choices
            }
        if result.question.type == "multi":
            assert {b.key: b.count for b in result.bars} == {
                c["id"]: sum(c["id"] in r.get("m", []) for r in rows) for c in choices[:4]
            }
        if result.question.type == "number":
            assert sum(b.count for b in result.bars) == sum("n" in r for r in rows)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_devices_page_shows_each_nodes_sms_gateway(
    app: Flask, db: sqlite_utils.Database, hub_data: dict, lang: str
) -> None:
    device_id, _ = devices.add_device(db, "Branch library")
    devices.add_device(db, "Kiosk without SMS")
    gateway = {
        "kind": "gammu",
        "in_today": 12,
        "out_today": 30,
        "queued": 2,
        "last_error": "gammu-smsd is not running (its status cannot be read)",
        "signal": 42,
        "battery": None,
    }
    devices.record_heartbeat(db, device_id, {"version": "0.1.0", "gateway": gateway})
    page = staff_client(app, "viewer").get(f"/staff/devices?lang={lang}").get_data(as_text=True)
    words = {
        "en": ("SMS gateways", "GSM modem (gammu-smsd)", "SMS gateway problem"),
        "fr": ("Passerelles SMS", "modem GSM (gammu-smsd)", "problème de passerelle SMS"),
    }[lang]
    for word in words:
        assert word in page
    table = page.split(words[0], 1)[1]
    assert "42 %" in table and ">12<" in table and ">30<" in table and ">2<" in table
    assert "gammu-smsd is not running" in table
    assert "Kiosk without SMS" not in table.split("</table>")[0]


# --- found by the attack sweep ------------------------------------------------------


def _session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


@pytest.mark.parametrize(
    ("extra", "secure"),
    [
        ({}, False),
        ({"SESSION_COOKIE_SECURE": True}, True),
        ({"PUBLIC_URL": "https://hub.example.org"}, True),
        ({"PUBLIC_URL": "http://127.0.0.1:8081"}, False),
    ],
)
def test_the_staff_cookie_is_same_site_and_secure_over_https(
    app_config: dict, hub_data: dict, extra: dict, secure: bool
) -> None:
    client = create_app({**app_config, **extra}).test_client()
    cookie = _session_cookie(login(client, "viewer@example.org"))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "samesite=lax" in attributes
    assert "httponly" in attributes
    assert ("secure" in attributes) is secure


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/staff/c/library-hours/export.csv", "text/csv; charset=utf-8"),
        ("/staff/c/library-hours/codebook.csv", "text/csv; charset=utf-8"),
        ("/staff/c/library-hours/export.json", "application/json"),
    ],
)
def test_downloads_name_their_charset_once(
    app: Flask, hub_data: dict, url: str, content_type: str
) -> None:
    response = staff_client(app, "staff").get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
