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
    assert page_url in staff.get("/staff/c/library-hours/").get_data(as_text=True)
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


def hub(tmp_path: Path, **settings):
    app = create_app(make_app_config(tmp_path / "hub.db", **{**SMS_SETTINGS, **settings}))
    db = store.open_db(tmp_path / "hub.db", migrate=True)
    consultations.save(db, [offering()])
    return app, db


def texted(db, settings, *bodies: str, phone: str = TEXTER) -> list[str]:
    replies = []
    for body in bodies:
        received = db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0]
        sid = f"SM{received:032d}"
        replies += conversations.receive(db, settings, Inbound(phone, body, sid)).replies
    return replies


FRENCH_ROUND = ("HEURES", "1", "1", "oui", "4", "6", "PASSER")


@pytest.mark.parametrize(
    ("answer", "kept", "reply"),
    [
        ("OUI", {"fr": 1}, "Merci. Nous vous enverrons les résultats une fois par texto"),
        ("non", {}, "D'accord, pas de texto sur les résultats."),
        ("STOP", {}, None),
    ],
)
def test_the_sms_offer_in_french(tmp_path: Path, answer: str, kept: dict, reply) -> None:
    app, db = hub(tmp_path)
    settings = sms_config.get(app)
    replies = texted(db, settings, *FRENCH_ROUND)
    assert replies[-1] == "Répondez OUI pour recevoir un texto quand les résultats seront publiés."
    after = texted(db, settings, answer)
    assert followups.count(db, "library-hours") == kept
    if reply:
        assert after[0].startswith(reply)


def test_any_other_text_closes_the_offer_and_is_handled_as_usual(tmp_path: Path) -> None:
    app, db = hub(tmp_path)
    settings = sms_config.get(app)
    texted(db, settings, *FRENCH_ROUND)
    assert texted(db, settings, "HOURS")[0].startswith("Library opening hours")
    assert texted(db, settings, "YES") != [] and followups.waiting(db) == []  # an answer now


def test_an_old_offer_is_not_taken_up(tmp_path: Path) -> None:
    app, db = hub(tmp_path)
    settings = sms_config.get(app)
    texted(db, settings, *FRENCH_ROUND)
    db.execute("UPDATE sms_followup_offers SET offered_at = '2000-01-01T00:00:00.000000Z'")
    texted(db, settings, "OUI")
    assert followups.waiting(db) == []


def test_a_consultation_without_the_field_asks_nothing(tmp_path: Path) -> None:
    app, db = hub(tmp_path)
    consultations.save(db, [consultations.parse(example_definition(), "library-hours.yaml")])
    replies = texted(db, sms_config.get(app), *FRENCH_ROUND)
    assert "OUI pour recevoir" not in replies[-1]
    assert db.execute("SELECT count(*) FROM sms_followup_offers").fetchone()[0] == 0


def test_publish_skips_an_opted_out_number_and_waits_for_quiet_hours_to_end(
    tmp_path: Path,
) -> None:
    from participate.sms import followups as sms_followups

    app, db = hub(tmp_path, SMS_QUIET_HOURS="00:00-23:59")
    settings = sms_config.get(app)
    with store.write(db):
        followups.record(db, "library-hours", "+15145550123", "en")
        followups.record(db, "library-hours", TEXTER, "fr")
    texted(db, settings, "STOP")  # the texter opts out before the results are out
    published = sms_followups.publish(
        db, settings, offering(), {"en": "Results", "fr": "Résultats"}, "staff@example.org"
    )
    assert (published.queued, published.skipped) == (1, 1)
    assert followups.waiting(db) == []
    fake = FakeTwilioHttp()
    app.extensions["sms_client"] = Client("AC" + "1" * 32, "token", http_client=fake)
    report = jobs.send_queue(app)
    assert report.quiet and fake.requests == []
    # Until it is sent, the number waits in the queue's contact only; the opt-out stays.
    assert numbers_anywhere(db, "+15145550123") == ["sms_contacts.phone"]
    assert numbers_anywhere(db, TEXTER) == ["sms_contacts.phone"]
    assert db.execute("SELECT opted_out_at FROM sms_contacts WHERE phone = ?", [TEXTER]).fetchone()[
        0
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"phone": "5145550123"}, "phone is not a valid E.164 number"),
        ({"phone": "+1514555012"}, "phone is not a valid E.164 number"),
        ({"consultation_id": "nope"}, "unknown consultation"),
        ({"language": "de"}, "language not offered by the consultation"),
        ({"created_at": "yesterday"}, "created_at is not a time"),
        ({"answers": {}}, "fields must be id, consultation_id, phone, language, created_at"),
    ],
)
def test_the_hub_refuses_a_bad_followup_and_keeps_nothing(tmp_path: Path, change, reason) -> None:
    from participate.sync import receive

    _, db = hub(tmp_path)
    item = {
        "id": "f-1",
        "consultation_id": "library-hours",
        "phone": "+15145550123",
        "language": "en",
        "created_at": "2026-11-28T10:00:00.000000Z",
        **change,
    }
    assert receive.store_followups(db, [item]) == [
        {"id": "f-1", "status": "rejected", "reason": reason}
    ]
    assert followups.waiting(db) == []


def test_the_hub_refuses_followups_for_a_consultation_that_does_not_offer_them(
    tmp_path: Path,
) -> None:
    from participate.sync import receive

    _, db = hub(tmp_path)
    consultations.save(db, [consultations.parse(example_definition(), "library-hours.yaml")])
    item = dict(
        zip(
            followups.FIELDS,
            ["f-1", "library-hours", "+15145550123", "en", "2026-11-28T10:00:00.000000Z"],
            strict=True,
        )
    )
    [result] = receive.store_followups(db, [item])
    assert result["reason"] == "this consultation does not text its results"
    assert receive.store_followups(db, ["not an object"])[0]["status"] == "rejected"


def test_the_staff_page_needs_both_languages_and_the_staff_role(tmp_path: Path) -> None:
    from participate.hub import create_user

    app, db = hub(tmp_path)
    create_user(db, "viewer@example.org", PASSWORD, "viewer")
    create_user(db, "staff@example.org", PASSWORD, "staff")
    url = "/staff/c/library-hours/results-text"
    viewer = app.test_client()
    login(viewer, "viewer@example.org")
    assert viewer.get(url).status_code == 403
    staff = app.test_client()
    login(staff, "staff@example.org")
    page = staff.post(
        url,
        data={
            "text_en": "Done",
            "text_fr": "",
            "action": "send",
            "csrf_token": csrf_token(staff, url),
        },
    )
    assert page.status_code == 422
    assert "Write the summary in this language." in page.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM followup_summaries").fetchone()[0] == 0
    too_long = staff.post(
        url,
        data={
            "text_en": "x" * 321,
            "text_fr": "y",
            "action": "send",
            "csrf_token": csrf_token(staff, url),
        },
    )
    assert too_long.status_code == 422


def test_the_kiosk_offers_nothing_for_a_consultation_without_the_field(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    app = create_app(make_app_config(path, ROLE="node", DEVICE_ID="node-1"))
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, [consultations.parse(example_definition(), "library-hours.yaml")])
    kiosk = app.test_client()
    token = start(kiosk)
    early = kiosk.post("/results-by-text", data={"visit": token, "phone": KIOSK_NUMBER})
    assert early.status_code == 400  # not thanked yet
    answer_all(kiosk, token)
    kiosk.post("/submit", data={"visit": token})
    assert "Text me the results" not in kiosk.get("/thanks").get_data(as_text=True)
    refused = kiosk.post("/results-by-text", data={"visit": token, "phone": KIOSK_NUMBER})
    assert refused.status_code == 400
    with store.open_db(path) as db:
        assert followups.waiting(db) == []


def test_a_followup_sent_twice_is_kept_once(tmp_path: Path) -> None:
    from participate.sync import receive

    _, db = hub(tmp_path)
    values = ["f-1", "library-hours", "+15145550123", "fr", "2026-11-28T10:00:00.000000Z"]
    item = dict(zip(followups.FIELDS, values, strict=True))
    assert receive.store_followups(db, [item])[0]["status"] == "stored"
    # A retry after a lost answer, or the same number typed at another kiosk.
    assert receive.store_followups(db, [item])[0]["status"] == "duplicate"
    again = {**item, "id": "f-2"}
    assert receive.store_followups(db, [again])[0]["status"] == "duplicate"
    assert followups.count(db, "library-hours") == {"fr": 1}
