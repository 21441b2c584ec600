"""'You said, we did': numbers kept at the kiosk and by SMS, a summary texted, numbers gone."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils
from twilio.rest import Client

from participate import consultations, followups, store
from participate.app import create_app
from participate.sms import config as sms_config
from participate.sms import conversations, jobs
from participate.sms.conversations import Inbound
from participate.sync import devices, node
from tests.conftest import make_app_config
from tests.test_hub import PASSWORD, cheap_hashes, csrf_token, login  # noqa: F401 (autouse)
from tests.test_kiosk import answer_all, example_definition, start
from tests.test_sms_outbound import FakeTwilioHttp
from tests.test_sync import FlaskTransport

KIOSK_NUMBER = "(514) 555-0123"
TEXTER = "+14385550199"
SMS_SETTINGS = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_FROM": "+15555550100",
    "PHONE_PEPPER": "pepper-for-the-tests-0123456789",
    "SMS_QUIET_HOURS": "",
    "SMS_DEFAULT_REGION": "CA",
}


def offering() -> consultations.Consultation:
    return consultations.parse(example_definition(results_by_text=True), "library-hours.yaml")


def numbers_anywhere(db: sqlite_utils.Database, *numbers: str) -> list[str]:
    """Return every table holding one of `numbers` in any text column."""
    found = []
    for table in db.table_names():
        for column in db[table].columns:
            if column.type.upper() not in ("TEXT", ""):
                continue
            for number in numbers:
                sql = f'SELECT 1 FROM "{table}" WHERE "{column.name}" LIKE ? LIMIT 1'  # noqa: S608
                if db.execute(sql, [f"%{number[2:]}%"]).fetchone():
                    found.append(f"{table}.{column.name}")
    return found


def test_the_file_field_is_parsed_and_kept_in_the_definition() -> None:
    assert offering().results_by_text is True
    assert offering().definition["results_by_text"] is True
    plain = consultations.parse(example_definition(), "x.yaml")
    assert plain.results_by_text is False and "results_by_text" not in plain.definition


@pytest.mark.parametrize(
    ("typed", "e164"),
    [("514 555 0123", "+15145550123"), ("+33 6 12 34 56 78", "+33612345678")],
)
def test_to_e164_reads_a_typed_mobile(typed: str, e164: str) -> None:
    assert followups.to_e164(typed, "CA") == e164


@pytest.mark.parametrize("typed", ["", "123", "abc", "9" * 41])
def test_to_e164_refuses_what_no_text_can_reach(typed: str) -> None:
    with pytest.raises(followups.InvalidPhone):
        followups.to_e164(typed, "CA")


def test_a_full_round_from_kiosk_and_sms_to_both_phones_then_nothing_left(tmp_path: Path) -> None:
    # The hub, with the consultation, a staff login and a device for the kiosk.
    hub_app = create_app(make_app_config(tmp_path / "hub.db", **SMS_SETTINGS))
    hub_db = store.open_db(tmp_path / "hub.db", migrate=True)
    consultations.save(hub_db, [offering()])
    device_id, secret = devices.add_device(hub_db, "Main library kiosk")
    from participate.hub import create_user

    create_user(hub_db, "staff@example.org", PASSWORD, "staff")

    # A kiosk node: a visitor answers, then asks for the results on the keypad.
    node_path = tmp_path / "node.db"
    node_app = create_app(
        make_app_config(node_path, ROLE="node", DEVICE_ID=device_id, SMS_DEFAULT_REGION="CA")
    )
    node_db = store.open_db(node_path, migrate=True)
    consultations.save(node_db, [offering()])
    kiosk = node_app.test_client()
    token = start(kiosk)
    answer_all(kiosk, token)
    assert kiosk.post("/submit", data={"visit": token}).status_code == 303
    thanks = kiosk.get("/thanks").get_data(as_text=True)
    assert "Text me the results" in thanks
    refused = kiosk.post("/results-by-text", data={"visit": token, "phone": "123"})
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert followups.waiting(node_db) == []
    kept = kiosk.post("/results-by-text", data={"visit": token, "phone": KIOSK_NUMBER})
    assert kept.status_code == 303 and kept.headers["Location"].endswith("/thanks?texted=1")
    assert [r["phone"] for r in followups.waiting(node_db)] == ["+15145550123"]
    assert "Your number is saved" in kiosk.get(kept.headers["Location"]).get_data(as_text=True)
    assert numbers_anywhere(node_db, "+15145550123") == ["followups.phone"]

    # Sync carries the number as its own record; the node forgets it once acknowledged.
    node.save_enrolment(node_db, "http://hub.test", device_id, secret)
    hub_client = node.client_from_store(node_db, transport=FlaskTransport(hub_app.test_client()))
    report = node.sync_once(node_db, hub_client)
    assert report.followups == 1 and report.push.acknowledged == 1
    assert numbers_anywhere(node_db, "+15145550123") == []
    hub_submission = hub_db.execute("SELECT respondent FROM submissions").fetchone()[0]
    assert hub_submission == ""

    # A texter answers by SMS on the hub and says YES after the thanks.
    settings = sms_config.get(hub_app)
    replies = []
    for sid, body in enumerate(["HOURS", "1", "1,3", "yes", "4", "6", "SKIP", "YES"]):
        replies += conversations.receive(
            hub_db, settings, Inbound(TEXTER, body, f"SM{sid:032d}")
        ).replies
    assert "Reply YES to get a text when the results are published." in replies
    assert replies[-1].startswith("Thanks. We will text you the results once")
    assert followups.count(hub_db, "library-hours") == {"en": 2}

    # Staff preview, then send; the queue texts both numbers through Twilio.
    staff = hub_app.test_client()
    assert login(staff, "staff@example.org").status_code == 302
    page_url = "/staff/c/library-hours/results-text"
    page = staff.get(page_url).get_data(as_text=True)
    assert "2 numbers are waiting" in page
    texts = {
        "text_en": "You said: open later. We did: open till 9 pm.",
        "text_fr": "Vous avez dit : plus tard. Nous ouvrons jusqu'à 21 h.",
    }
    preview = staff.post(
        page_url, data={**texts, "action": "preview", "csrf_token": csrf_token(staff, page_url)}
    )
    assert "GSM-7, 1 segment" in preview.get_data(as_text=True)
    sent = staff.post(
        page_url, data={**texts, "action": "send", "csrf_token": csrf_token(staff, page_url)}
    )
    assert sent.status_code == 303
    audit = store.first_row(hub_db, "SELECT sent_by, queued FROM followup_summaries")
    assert audit == {"sent_by": "staff@example.org", "queued": 2}
    assert followups.waiting(hub_db) == []

    fake = FakeTwilioHttp()
    hub_app.extensions["sms_client"] = Client("AC" + "1" * 32, "token", http_client=fake)
    jobs.send_queue(hub_app)
    delivered = sorted((r["data"]["To"], r["data"]["Body"]) for r in fake.requests)
    assert delivered == [
        ("+14385550199", texts["text_en"]),
        ("+15145550123", texts["text_en"]),
    ]
    assert numbers_anywhere(hub_db, "+15145550123", TEXTER) == []


def test_stop_wins_over_the_results_offer(tmp_path: Path) -> None:
    app = create_app(make_app_config(tmp_path / "hub.db", **SMS_SETTINGS))
    db = store.open_db(tmp_path / "hub.db", migrate=True)
    consultations.save(db, [offering()])
    settings = sms_config.get(app)
    for sid, body in enumerate(["HOURS", "1", "1", "yes", "4", "6", "SKIP", "STOP", "YES"]):
        conversations.receive(db, settings, Inbound(TEXTER, body, f"SM{sid:032d}"))
    # YES after STOP opts back in (as Twilio does), it does not keep the number.
    assert followups.waiting(db) == []
