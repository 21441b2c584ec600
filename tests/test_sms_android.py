"""The android gateway against a stand-in of the phone's API, both real servers on 127.0.0.1.

The stand-in (tests/support/android_phone.py) is written from SMS Gateway for Android's
published OpenAPI description and its webhook signing code, not from ours.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from participate import consultations, fleet, store
from participate.app import create_app
from participate.serve import make_server
from participate.sms import jobs
from tests.conftest import EXAMPLE
from tests.support.android_phone import Phone

TEXTER = "+15145550123"
KEY = "signing-key-set-in-the-app"


@pytest.fixture
def phone():
    with Phone("sms", "secret-password", KEY) as running:
        yield running


@pytest.fixture
def node(tmp_path: Path, phone):
    """A node app with the android gateway, served by waitress; yields (app, webhook URL)."""
    path = tmp_path / "node.db"
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, consultations.read_files([EXAMPLE]))
    fleet.keep_pepper(path, "a-pepper-for-the-whole-test-fleet")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(path),
            "SECRET_KEY": "t",
            "ROLE": "node",
            "SMS_GATEWAY": "android",
            "ANDROID_URL": phone.url,
            "ANDROID_USERNAME": "sms",
            "ANDROID_PASSWORD": "secret-password",
            "ANDROID_WEBHOOK_SECRET": KEY,
            "SMS_GATEWAY_PER_MINUTE": 60_000,
            "SMS_QUIET_HOURS": "",
            "LANGUAGES": ["fr", "en"],
        }
    )
    server = make_server(app, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.effective_port}/sms/android"
    server.close()
    thread.join(5)


def outbound(app) -> list[dict]:
    with store.open_db(app.config["DATABASE"]) as db:
        return list(
            db.query("SELECT status, message_sid, body, error FROM sms_outbound ORDER BY id")
        )


def test_a_text_gets_its_replies_through_the_phone_and_sent_events_settle_them(node, phone):
    app, webhook = node
    assert phone.text(webhook, TEXTER, "HEURES").status_code == 204
    jobs.send_queue(app)
    assert [m["phoneNumbers"] for m in phone.messages] == [[TEXTER], [TEXTER]]
    assert phone.messages[1]["text"].startswith("1/6 Quelle est la fréquence de vos visites ?")
    assert {row["status"] for row in outbound(app)} == {"accepted"}
    for message in phone.messages:
        answer = phone.post_event(webhook, "sms:sent", {"messageId": message["id"]})
        assert answer.status_code == 204
    assert {row["status"] for row in outbound(app)} == {"sent"}
    phone.post_event(webhook, "sms:delivered", {"messageId": phone.messages[0]["id"]})
    assert [row["status"] for row in outbound(app)] == ["delivered", "sent"]


def test_an_event_delivered_twice_is_answered_once(node, phone):
    app, webhook = node
    phone.text(webhook, TEXTER, "HEURES", event_id="evt-1")
    phone.text(webhook, TEXTER, "HEURES", event_id="evt-1")  # the app retried
    assert len(outbound(app)) == 2


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"key": ""}, "unsigned"),
        ({"key": "another-key"}, "bad signature"),
        ({"timestamp": int(time.time()) - 3600}, "outside the time window"),
    ],
)
def test_an_event_not_signed_by_the_phone_is_refused(node, phone, options, reason):
    app, webhook = node
    answer = phone.text(webhook, TEXTER, "HEURES", **options)
    assert answer.status_code == 403
    assert reason in answer.text
    with store.open_db(app.config["DATABASE"]) as db:
        assert db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0] == 0


def test_an_unreachable_phone_keeps_replies_queued_and_a_failed_send_is_said(node, phone):
    app, webhook = node
    phone.failing = 2
    phone.text(webhook, TEXTER, "HEURES")
    jobs.send_queue(app)
    rows = outbound(app)
    assert [row["status"] for row in rows] == ["queued", "queued"]  # retried later
    assert "the phone answered 500" in rows[0]["error"]
    with store.open_db(app.config["DATABASE"]) as db:  # the retry delay passes
        db.execute("UPDATE sms_outbound SET next_attempt_at = created_at")
    jobs.send_queue(app)
    assert [row["status"] for row in outbound(app)] == ["accepted", "accepted"]
    failed = {"messageId": phone.messages[0]["id"], "reason": "RESULT_ERROR_NO_SERVICE"}
    assert phone.post_event(webhook, "sms:failed", failed).status_code == 204
    assert [row["status"] for row in outbound(app)] == ["failed", "accepted"]
    with store.open_db(app.config["DATABASE"]) as db:
        jobs.send_queue(app)
        report = fleet.gateway_report(db)
    assert "RESULT_ERROR_NO_SERVICE" in report["last_error"]
    assert report["kind"] == "android" and report["in_today"] == 1
