"""The staff page for other systems: tokens (admins), webhooks (staff), the delivery log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from flask.testing import FlaskClient
from playwright import sync_api

from participate import consultations, store
from participate.api import tokens, webhooks
from participate.app import create_app
from participate.hub import users
from tests.conftest import EXAMPLE
from tests.support.browser import ServerThread, assert_no_axe_violations, new_context
from tests.test_api_webhooks import Receiver, record_at_hub
from tests.test_hub import PASSWORD, cheap_hashes, csrf_token, staff_client  # noqa: F401 (fixture)

PAGE = "/staff/connections"


@pytest.fixture
def accounts(db: sqlite_utils.Database, example) -> None:
    for role in users.ROLES:
        users.create_user(db, f"{role}@example.org", PASSWORD, role)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def post(client: FlaskClient, url: str, data: dict | None = None):
    """POST a form of the Connections page with its CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, PAGE)})


def test_the_page_needs_a_sign_in(client: FlaskClient, accounts) -> None:
    assert client.get(PAGE).status_code == 302
    assert client.post(f"{PAGE}/webhooks", data={}).status_code in (400, 401)


def test_admins_make_list_and_revoke_tokens(app, db, accounts) -> None:
    admin = staff_client(app, "admin")
    made = post(admin, f"{PAGE}/tokens", {"name": "City portal", "role": "viewer"})
    assert made.status_code == 201
    secret = re.search(r"<code>(pt_[^<]+)</code>", made.get_data(as_text=True)).group(1)
    assert tokens.authenticate(db, secret, method="GET", path="/api/open/v1/consultations")
    page = admin.get(PAGE).get_data(as_text=True)
    assert "City portal" in page and secret not in page
    assert "/api/open/v1/consultations" in page  # the use, under the token's name
    [token] = tokens.list_tokens(db)
    assert post(admin, f"{PAGE}/tokens/{token.id}/revoke").status_code == 302
    assert tokens.authenticate(db, secret, method="GET", path="/") is None
    assert post(admin, f"{PAGE}/tokens/{token.id}/revoke").status_code == 400
    bad = post(admin, f"{PAGE}/tokens", {"name": "", "role": "viewer"})
    assert bad.status_code == 400


@pytest.mark.parametrize("role", ["viewer", "staff"])
def test_only_admins_see_and_touch_tokens(app, db, accounts, role) -> None:
    tokens.create_token(db, "Hidden from them", "viewer")
    client = staff_client(app, role)
    page = client.get(PAGE)
    assert page.status_code == 200 and "Hidden from them" not in page.get_data(as_text=True)
    assert post(client, f"{PAGE}/tokens", {"name": "x", "role": "viewer"}).status_code == 403
    assert post(client, f"{PAGE}/tokens/1/revoke").status_code == 403


def test_staff_register_test_and_remove_a_webhook(app, db, accounts, receiver) -> None:
    staff = staff_client(app, "staff")
    made = post(staff, f"{PAGE}/webhooks", {"consultation": "library-hours", "url": receiver.url})
    assert made.status_code == 201
    secret = re.search(r"<code>(whsec_[^<]+)</code>", made.get_data(as_text=True)).group(1)
    [hook] = webhooks.list_webhooks(db)
    tested = post(staff, f"{PAGE}/webhooks/{hook['id']}/test")
    assert tested.status_code == 302
    page = staff.get(PAGE).get_data(as_text=True)
    assert "The test event was delivered (HTTP 204)." in page
    [(headers, body)] = receiver.requests
    assert webhooks.verify(
        secret, headers[webhooks.SIGNATURE_HEADER], body, now=__import__("time").time()
    )
    record_at_hub(db)
    receiver.statuses = [500]
    webhooks.deliver_due(db)
    log = staff.get(PAGE).get_data(as_text=True)
    assert "HTTP 500" in log and "attempt 1, next at" in log
    assert post(staff, f"{PAGE}/webhooks/{hook['id']}/remove").status_code == 302
    assert webhooks.list_webhooks(db) == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"consultation": "library-hours", "url": "ftp://x"}, "starts with https://"),
        ({"consultation": "nope", "url": "https://example.org/h"}, "Choose a consultation."),
    ],
)
def test_a_bad_webhook_is_refused_and_nothing_is_stored(app, db, accounts, form, message) -> None:
    response = post(staff_client(app, "staff"), f"{PAGE}/webhooks", form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert webhooks.list_webhooks(db) == []


def test_viewers_cannot_register_webhooks(app, db, accounts) -> None:
    viewer = staff_client(app, "viewer")
    form = {"consultation": "library-hours", "url": "https://example.org/h"}
    assert post(viewer, f"{PAGE}/webhooks", form).status_code == 403


# --- in a real browser --------------------------------------------------------------


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServerThread]:
    path = tmp_path / "hub.db"
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, [consultations.read_file(EXAMPLE)])
        users.create_user(db, "admin@example.org", PASSWORD, "admin")
    app = create_app({"DATABASE": str(path), "ROLE": "hub", "SECRET_KEY": "test"})
    with ServerThread(app) as running:
        yield running


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_an_admin_connects_a_system_in_the_browser(browser, hub, receiver, lang) -> None:
    context = new_context(browser, viewport={"width": 768, "height": 1024})
    page = context.new_page()
    expect = sync_api.expect
    page.goto(f"{hub.url}/staff/?lang={lang}")
    fr = lang == "fr"
    page.get_by_label("Courriel" if fr else "Email").fill("admin@example.org")
    page.get_by_label("Mot de passe" if fr else "Password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter" if fr else "Log in").click()
    page.get_by_role("navigation").get_by_role(
        "link", name="Connexions" if fr else "Connections"
    ).click()
    assert_no_axe_violations(page, f"connections ({lang})")
    page.get_by_label("Nom (quel système l’utilise)" if fr else "Name (which system uses it)").fill(
        "Power BI"
    )
    page.get_by_role("button", name="Créer un jeton" if fr else "Make a token").click()
    expect(page.get_by_role("status")).to_contain_text("pt_")
    page.get_by_label(
        "Adresse à laquelle envoyer chaque nouvelle soumission"
        if fr
        else "URL to POST each new submission to"
    ).fill(receiver.url)
    page.get_by_role("button", name="Enregistrer" if fr else "Register").click()
    expect(page.get_by_role("status")).to_contain_text("whsec_")
    assert_no_axe_violations(page, f"connections with a token and a webhook ({lang})")
    page.get_by_role("button", name="Envoyer un essai" if fr else "Send a test").click()
    expect(page.get_by_role("status")).to_contain_text("204")
    expect(
        page.get_by_role("region", name="Journal des envois" if fr else "Delivery log")
    ).to_contain_text("ping")
    assert_no_axe_violations(page, f"connections after a test ({lang})")
    assert len(receiver.requests) == 1
    context.close()
