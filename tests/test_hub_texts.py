"""The staff SMS page: texts left unanswered by the reply budget, and erasure requests."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright import sync_api

from participate import privacy
from participate.app import create_app
from participate.hub import users
from tests.support.browser import ServerThread, assert_no_axe_violations, new_context
from tests.test_hub import PASSWORD, cheap_hashes, csrf_token, login  # noqa: F401 (fixture)
from tests.test_sms import PEPPER, PHONE, PUBLIC_URL, TOKEN, inbound, post_signed, pseudonym
from tests.test_sms import consultation as consultation


@pytest.fixture
def app_settings() -> dict:
    return {
        "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_URL": PUBLIC_URL, "PHONE_PEPPER": PEPPER,
        "SMS_REPLY_BUDGET": 20,
    }  # fmt: skip


@pytest.fixture
def texted(app: Flask, db, consultation) -> None:
    """A texter who answered, then flooded past the reply budget; one account per role."""
    client = app.test_client()
    for body in ["HOURS", "2", "1", "yes", "4", "3", "fine"] + [f"flood {n}" for n in range(30)]:
        post_signed(client, "/sms/twilio", inbound(body))
    for role in users.ROLES:
        users.create_user(db, f"{role}@example.org", PASSWORD, role)


def signed_in(app: Flask, role: str):
    client = app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    return client


def erase(client, phone: str):
    token = csrf_token(client, "/staff/sms")
    return client.post("/staff/sms/erase", data={"phone": phone, "csrf_token": token})


def test_staff_see_which_numbers_went_unanswered_by_pseudonym(app, texted) -> None:
    page = signed_in(app, "staff").get("/staff/sms").get_data(as_text=True)
    assert pseudonym(PHONE)[:12] in page
    assert PHONE not in page and "5555550123" not in page
    row = re.search(r"<code>" + pseudonym(PHONE)[:12] + r"</code></th>(.*?)</tr>", page, re.S)
    assert row and re.findall(r"<td>(\d+)</td>", row.group(1)) == ["13", "25"]
    assert "Erase a person" not in page  # admins only
    assert signed_in(app, "viewer").get("/staff/sms").status_code == 403


def test_an_admin_erases_a_texter_and_the_request_is_logged(app, db, texted) -> None:
    admin = signed_in(app, "admin")
    page = admin.get("/staff/sms").get_data(as_text=True)
    assert "Kiosk visitors are anonymous" in page
    response = erase(admin, "555 555 0123")
    assert response.status_code == 303
    done = admin.get(response.location).get_data(as_text=True)
    assert "Erased: 1 submission(s), 1 conversation(s)" in done
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM sms_contacts").fetchone()[0] == 0
    [entry] = privacy.recent_log(db)
    assert entry["action"] == "erase" and entry["user_email"] == "admin@example.org"
    assert "admin@example.org" in done  # the log is on the page


def test_erasing_a_number_that_never_texted_changes_nothing(app, db, texted) -> None:
    admin = signed_in(app, "admin")
    response = erase(admin, "+15555550111")
    assert response.status_code == 303
    assert "it never texted us. Nothing changed." in admin.get("/staff/sms").get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 1
    assert privacy.recent_log(db) == []


@pytest.mark.parametrize("phone", ["call me maybe", "12", ""])
def test_a_malformed_number_is_refused_with_a_clear_message(app, db, texted, phone) -> None:
    response = erase(signed_in(app, "admin"), phone)
    assert response.status_code == 400
    assert re.search(
        "is not a phone number|Enter the phone number", response.get_data(as_text=True)
    )
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 1


def test_only_admins_may_erase(app, db, texted) -> None:
    assert erase(signed_in(app, "staff"), PHONE).status_code == 403
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 1


# --- in a real browser -------------------------------------------------------------


@pytest.fixture
def server(app_config, texted) -> Iterator[ServerThread]:
    with ServerThread(create_app({**app_config, "TESTING": False})) as running:
        yield running


@pytest.mark.browser
def test_the_texts_page_in_chromium_passes_axe_in_both_languages(browser, server) -> None:
    context = new_context(browser, viewport={"width": 768, "height": 1024})
    page = context.new_page()
    page.goto(f"{server.url}/staff/")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation").get_by_role("link", name="Texts", exact=True).click()
    assert_no_axe_violations(page, "texts page")
    page.get_by_label("Phone number they texted from").fill("not a number")
    page.get_by_role("button", name="Erase this person's information").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("is not a phone number")
    assert_no_axe_violations(page, "texts page with an error")
    page.get_by_label("Phone number they texted from").fill(PHONE)
    page.get_by_role("button", name="Erase this person's information").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Erased: 1 submission(s)")
    page.goto(f"{server.url}/staff/sms?lang=fr")
    assert_no_axe_violations(page, "texts page in French")
    context.close()
