"""The outbound SMS queue, sending through the real twilio Client with a fake HTTP client."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from apscheduler.schedulers.background import BackgroundScheduler
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from participate import clock, sms, store
from participate.app import create_app
from participate.sms import config as sms_config
from participate.sms import conversations, jobs, outbound, simulator
from tests.support.stored import is_opted_out

TOKEN = "twilio-test-token-0123456789abcdef"
SID = "AC" + "1" * 32
PUBLIC_URL = "https://participate.example.org"
PHONE = "+15555550123"
OTHER = "+15555550124"
NOON = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 12:00 in Toronto


class FakeTwilioHttp(HttpClient):
    """Answer the twilio SDK's requests from a script, recording each one."""

    def __init__(self, script: list[Any] | None = None) -> None:
        super().__init__(logger=logging.getLogger("fake-twilio"), is_async=False)
        self.script = list(script or [])
        self.requests: list[dict[str, Any]] = []

    def request(
        self,
        method: str,
        uri: str,
        params: dict | None = None,
        data: dict | None = None,
        headers: dict | None = None,
        auth: tuple | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append({"method": method, "uri": uri, "data": dict(data or {})})
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        if isinstance(step, tuple):  # (code, Twilio's message)
            step, message = step
        else:
            message = f"error {step}"
        if isinstance(step, int):
            body = {"code": step, "message": message, "status": 400}
            status = 429 if step == 20429 else 400
            return Response(status, json.dumps({**body, "status": status}))
        number = len(self.requests)
        return Response(
            201,
            json.dumps(
                {
                    "sid": f"SM{number:032d}",
                    "status": "queued",
                    "to": (data or {}).get("To"),
                    "body": (data or {}).get("Body"),
                }
            ),
        )


class FakeClock:
    """A settable UTC time, and a monotonic clock that `sleep` advances."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def utc(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.mono += seconds
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def app_settings() -> dict:
    return {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM": "+15555550100",
        "PUBLIC_URL": PUBLIC_URL,
        "PHONE_PEPPER": "pepper-for-the-tests-0123456789",
        "TIMEZONE": "America/Toronto",
        "SMS_MAX_ATTEMPTS": 3,
        "SMS_RETRY_SECONDS": 60,
    }


@pytest.fixture
def settings(app) -> sms_config.SmsConfig:
    return sms_config.get(app)


@pytest.fixture
def fake() -> FakeTwilioHttp:
    return FakeTwilioHttp()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(NOON)


def run(db, settings, http: FakeTwilioHttp, fake_clock: FakeClock, **options):
    client = Client(SID, TOKEN, http_client=http)
    sender = outbound.TwilioSender(client, settings)
    limiter = outbound.RateLimiter(
        settings.rate_per_second, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep
    )
    return outbound.send_due(db, settings, sender, limiter, now=fake_clock.utc, **options)


def queue(db, settings, phone: str = PHONE, body: str = "Hello", at: datetime = NOON) -> int:
    message_id = outbound.enqueue(db, settings, phone, body, kind="invitation", now=at)
    assert message_id is not None
    return message_id


def row(db, message_id: int) -> dict:
    found = store.first_row(db, "SELECT * FROM sms_outbound WHERE id = ?", [message_id])
    assert found is not None
    return found


def test_a_queued_message_is_sent_through_the_twilio_client(db, settings, fake, fake_clock, caplog):
    message_id = queue(db, settings, body="Library hours: text HOURS. Reply STOP to opt out.")
    caplog.set_level("INFO", logger="participate.sms.outbound")
    report = run(db, settings, fake, fake_clock)
    [logged] = [r for r in caplog.records if r.getMessage() == "sms.sent"]
    assert (logged.encoding, logged.segments) == ("GSM-7", 1)  # what it cost
    assert report.sent == 1
    [request] = fake.requests
    assert request["method"] == "POST"
    assert request["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["data"]["To"] == PHONE
    assert request["data"]["From"] == "+15555550100"
    assert request["data"]["Body"] == "Library hours: text HOURS. Reply STOP to opt out."
    assert request["data"]["StatusCallback"] == PUBLIC_URL + "/sms/twilio/status"
    stored = row(db, message_id)
    assert stored["status"] == "sent" and stored["message_sid"] == "SM" + "1".zfill(32)
    assert stored["attempts"] == 1
    # Nothing is sent twice.
    assert run(db, settings, fake, fake_clock).sent == 0 and len(fake.requests) == 1


def test_a_messaging_service_is_used_instead_of_a_number(app_config, db, fake, fake_clock):
    app = create_app({**app_config, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32})
    settings = sms_config.get(app)
    queue(db, settings)
    run(db, settings, fake, fake_clock)
    data = fake.requests[0]["data"]
    assert data["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in data


def test_rate_limit_spaces_sends_from_one_sender(db, settings, fake, fake_clock) -> None:
    for number in range(4):
        queue(db, settings, phone=f"+1555555{number:04d}")
    report = run(db, settings, fake, fake_clock)
    assert report.sent == 4
    assert fake_clock.sleeps == [1.0, 1.0, 1.0]  # default 1 message a second


def test_rate_limit_setting(app_config, db, fake, fake_clock) -> None:
    settings = sms_config.get(create_app({**app_config, "SMS_RATE_PER_SECOND": 4}))
    for number in range(3):
        queue(db, settings, phone=f"+1555555{number:04d}")
    run(db, settings, fake, fake_clock)
    assert fake_clock.sleeps == [0.25, 0.25]


def test_without_waiting_the_queue_stops_where_the_rate_limit_holds(db, settings, fake, fake_clock):
    ids = [queue(db, settings, phone=f"+1555555{number:04d}") for number in range(3)]
    sender = outbound.TwilioSender(Client(SID, TOKEN, http_client=fake), settings)
    limiter = outbound.RateLimiter(
        settings.rate_per_second, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep
    )

    def send() -> outbound.SendReport:
        return outbound.send_due(db, settings, sender, limiter, now=fake_clock.utc, wait=False)

    report = send()
    assert (report.sent, report.next_in, fake_clock.sleeps) == (1, 1.0, [])
    assert [row(db, i)["status"] for i in ids] == ["sent", "queued", "queued"]  # none claimed
    assert limiter.ready_in(sender.key) == 1.0  # asking books nothing
    fake_clock.mono += 0.4
    assert send().sent == 0 and limiter.ready_in(sender.key) == pytest.approx(0.6)
    fake_clock.mono += 0.6
    report = send()
    assert (report.sent, report.next_in) == (1, 1.0)
    fake_clock.mono += 1.0
    report = send()
    assert (report.sent, report.next_in) == (1, 0.0)  # nothing left to wait for
    assert [row(db, i)["status"] for i in ids] == ["sent"] * 3 and fake_clock.sleeps == []


def test_a_reply_claimed_in_its_texts_transaction_goes_first(db, settings, fake, fake_clock):
    invitation = queue(db, settings, phone="+15555550199")
    sender = outbound.TwilioSender(Client(SID, TOKEN, http_client=fake), settings)
    limiter = outbound.RateLimiter(
        settings.rate_per_second, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep
    )
    report = outbound.SendReport()
    with store.write(db):
        [reply] = outbound.queue_replies(db, settings, PHONE, ["Merci !"], clock.to_text(NOON))
        claimed = outbound.claim_now(db, settings, limiter, sender.key, report, now=fake_clock.utc)
        # The rate limit's slot is taken: nothing else is claimed until it comes round.
        held = outbound.claim_now(db, settings, limiter, sender.key, report, now=fake_clock.utc)
    assert claimed is not None and held is None and fake_clock.sleeps == []  # never waits
    assert claimed.id == invitation  # the queue's order holds: the oldest due goes first
    assert row(db, invitation)["status"] == "sending" and row(db, reply)["status"] == "queued"
    outbound.deliver(db, settings, sender, claimed, report, now=fake_clock.utc)
    assert row(db, invitation)["status"] == "sent" and report.sent == 1
    assert [request["data"]["To"] for request in fake.requests] == ["+15555550199"]


@pytest.mark.parametrize(
    "local_time, sends",
    [
        ("08:59", False),
        ("09:00", True),
        ("20:59", True),
        ("21:00", False),
        ("23:30", False),
        ("02:00", False),
    ],
)
def test_quiet_hours_hold_invitations(db, settings, fake, local_time, sends) -> None:
    hour, minute = (int(part) for part in local_time.split(":"))
    local = datetime(2026, 12, 1, hour, minute, tzinfo=outbound.ZoneInfo("America/Toronto"))
    at = local.astimezone(UTC)
    message_id = queue(db, settings, at=at - timedelta(minutes=1))
    report = run(db, settings, fake, FakeClock(at))
    assert report.quiet is (not sends)
    assert (row(db, message_id)["status"] == "sent") is sends
    assert len(fake.requests) == int(sends)


def test_no_quiet_hours_when_the_setting_is_empty(app_config, db, fake) -> None:
    settings = sms_config.get(create_app({**app_config, "SMS_QUIET_HOURS": ""}))
    at = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 23:00 in Toronto
    queue(db, settings, at=at)
    assert run(db, settings, fake, FakeClock(at)).sent == 1


@pytest.mark.parametrize(
    "error",
    [
        20429,
        30003,
        requests.ConnectionError("connection refused"),
        requests.Timeout("read timed out"),
    ],
    ids=["20429", "30003", "network", "timeout"],
)
def test_transient_errors_are_retried_with_backoff(db, settings, fake_clock, error) -> None:
    http = FakeTwilioHttp([error, error])
    message_id = queue(db, settings)
    first = run(db, settings, http, fake_clock)
    assert first.retrying == 1 and first.sent == 0
    stored = row(db, message_id)
    assert stored["status"] == "queued" and stored["attempts"] == 1
    assert stored["next_attempt_at"] == clock.to_text(NOON + timedelta(seconds=60))
    # Not due yet: nothing is tried.
    fake_clock.now = NOON + timedelta(seconds=59)
    assert run(db, settings, http, fake_clock).retrying == 0 and len(http.requests) == 1
    fake_clock.now = NOON + timedelta(seconds=60)
    assert run(db, settings, http, fake_clock).retrying == 1
    # The second delay doubles.
    assert row(db, message_id)["next_attempt_at"] == clock.to_text(
        NOON + timedelta(seconds=60 + 120)
    )
    fake_clock.now = NOON + timedelta(seconds=180)
    assert run(db, settings, http, fake_clock).sent == 1
    assert row(db, message_id)["status"] == "sent" and len(http.requests) == 3


def test_retries_stop_at_the_limit(db, settings, fake_clock) -> None:
    http = FakeTwilioHttp([30003] * 10)
    message_id = queue(db, settings)
    for _ in range(6):
        run(db, settings, http, fake_clock)
        fake_clock.now += timedelta(hours=2)
    stored = row(db, message_id)
    assert stored["status"] == "failed" and stored["error_code"] == 30003
    assert stored["attempts"] == 3 and len(http.requests) == 3  # SMS_MAX_ATTEMPTS


@pytest.mark.parametrize("code", [21211, 21614, 30006, 21612])
def test_permanent_errors_are_never_retried(db, settings, fake_clock, code) -> None:
    http = FakeTwilioHttp([code])
    message_id = queue(db, settings)
    report = run(db, settings, http, fake_clock)
    assert report.failed == 1
    fake_clock.now += timedelta(hours=5)
    run(db, settings, http, fake_clock)
    assert len(http.requests) == 1
    stored = row(db, message_id)
    assert stored["status"] == "failed" and stored["error_code"] == code
    assert not is_opted_out(db, PHONE)


def test_twilio_error_messages_never_store_or_log_the_number(db, settings, fake_clock, caplog):
    # Twilio's messages name the number: "The 'To' number +1... is not a valid phone number."
    message = f"The 'To' number {PHONE} is not a valid phone number."
    http = FakeTwilioHttp([(21211, message), (21408, f"Permission ... 'To' number: {PHONE}")])
    first, second = queue(db, settings), queue(db, settings, body="Again")
    caplog.set_level("INFO")
    assert run(db, settings, http, fake_clock).failed == 2
    digits = PHONE.lstrip("+")
    for message_id in (first, second):
        stored = row(db, message_id)
        assert digits not in stored["error"] and "21211" in row(db, first)["error"]
        assert "\x1b" not in stored["error"]  # no terminal colours from the SDK
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "sms.send_failed" in logged and digits not in logged


def test_21610_marks_the_number_opted_out_and_cancels_its_queue(db, settings, fake_clock):
    http = FakeTwilioHttp([21610])
    first = queue(db, settings)
    second = queue(db, settings, body="Reminder")
    other = queue(db, settings, phone=OTHER)
    report = run(db, settings, http, fake_clock)
    assert report.failed == 1 and report.cancelled == 1 and report.sent == 1
    assert row(db, first)["status"] == "failed" and row(db, first)["error_code"] == 21610
    assert row(db, second)["status"] == "cancelled"
    assert row(db, other)["status"] == "sent"
    assert is_opted_out(db, PHONE)
    assert [r["data"]["To"] for r in http.requests] == [PHONE, OTHER]
    assert outbound.enqueue(db, settings, PHONE, "Again?", kind="invitation") is None


def test_never_sends_to_a_number_that_texted_stop(db, settings, fake, fake_clock) -> None:
    message_id = queue(db, settings)
    conversations.receive(db, settings, conversations.Inbound(PHONE, "STOP", "SM1"))
    assert row(db, message_id)["status"] == "cancelled"
    # Even a row left queued (by hand, or by a race) is checked when it is claimed.
    db.execute("UPDATE sms_outbound SET status = 'queued' WHERE id = ?", [message_id])
    report = run(db, settings, fake, fake_clock)
    assert report.cancelled == 1 and fake.requests == []


def test_a_send_interrupted_by_a_crash_is_not_resent(db, settings, fake, fake_clock) -> None:
    message_id = queue(db, settings)
    stale = clock.to_text(NOON - timedelta(minutes=30))
    db.execute(
        "UPDATE sms_outbound SET status = 'sending', updated_at = ? WHERE id = ?",
        [stale, message_id],
    )
    run(db, settings, fake, fake_clock)
    assert row(db, message_id)["status"] == "unknown" and fake.requests == []


def test_enqueue_rejects_unknown_kinds_and_plainifies(db, settings) -> None:
    with pytest.raises(ValueError):
        outbound.enqueue(db, settings, PHONE, "x", kind="spam")
    message_id = queue(db, settings, body="It’s “open” — come…")
    stored = row(db, message_id)
    assert stored["body"] == 'It\'s "open" - come...'
    assert (stored["encoding"], stored["segments"]) == ("GSM-7", 1)


# --- status callbacks ---------------------------------------------------------------


def status(client, sid: str, state: str, error_code: str = "", to: str = PHONE) -> int:
    params = {"MessageSid": sid, "MessageStatus": state, "AccountSid": SID, "To": to}
    if error_code:
        params["ErrorCode"] = error_code
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/sms/twilio/status", params)
    return client.post(
        "/sms/twilio/status", data=params, headers={"X-Twilio-Signature": signature}
    ).status_code


def test_status_callbacks_record_delivery(client, db, settings, fake, fake_clock) -> None:
    message_id = queue(db, settings)
    run(db, settings, fake, fake_clock)
    sid = row(db, message_id)["message_sid"]
    for state in ("queued", "sending", "sent", "delivered"):
        assert status(client, sid, state) == 204
    assert row(db, message_id)["status"] == "delivered"
    # A late "sent" never moves it back.
    assert status(client, sid, "sent") == 204
    assert row(db, message_id)["status"] == "delivered"
    events = db.execute(
        "SELECT status FROM sms_status_events WHERE message_sid = ? ORDER BY id", [sid]
    ).fetchall()
    assert [e[0] for e in events] == ["queued", "sending", "sent", "delivered", "sent"]


def _queue_state(db) -> list[tuple]:
    return db.execute(
        "SELECT o.status, o.error_code, c.opted_out_at FROM sms_outbound o"
        " JOIN sms_contacts c ON c.id = o.contact_id ORDER BY o.id"
    ).fetchall()


@pytest.mark.parametrize(
    "forge",
    [
        lambda params, sig: (params, "A" * 28),  # made-up signature
        lambda params, sig: (params, ""),  # none at all
        lambda params, sig: ({**params, "ErrorCode": "30003"}, sig),  # a field changed after
        lambda params, sig: (
            params,
            RequestValidator("other-token").compute_signature(
                PUBLIC_URL + "/sms/twilio/status", params
            ),
        ),  # signed with another account's token
    ],
)
def test_a_forged_status_callback_is_refused_and_changes_nothing(
    client, db, settings, fake, fake_clock, forge
) -> None:
    message_id = queue(db, settings)
    run(db, settings, fake, fake_clock)
    sid = row(db, message_id)["message_sid"]
    before = _queue_state(db)
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610",
              "AccountSid": SID, "To": PHONE}  # fmt: skip
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/sms/twilio/status", params)
    params, signature = forge(params, signature)
    response = client.post(
        "/sms/twilio/status", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert _queue_state(db) == before  # still sent, the number still opted in
    assert db.execute("SELECT count(*) FROM sms_status_events").fetchone()[0] == 0


def test_a_status_for_an_unknown_message_moves_nothing(client, db, settings, fake, fake_clock):
    queue(db, settings)
    run(db, settings, fake, fake_clock)
    before = _queue_state(db)
    for state in ("delivered", "failed", "undelivered"):
        assert status(client, "SM" + "9" * 32, state, "30003", to=OTHER) == 204
    assert _queue_state(db) == before
    assert not db.execute("SELECT 1 FROM sms_contacts WHERE phone = ?", [OTHER]).fetchone()


@pytest.mark.parametrize("state", ["hacked", "<script>", "DELIVERED!"])
def test_a_status_twilio_never_sends_is_refused(client, db, state) -> None:
    assert status(client, "SM" + "9" * 32, state) == 400
    assert db.execute("SELECT count(*) FROM sms_status_events").fetchone()[0] == 0


def test_a_callback_that_arrives_before_the_send_is_recorded_still_applies(
    db, settings, fake_clock
):
    # Twilio can call back before the job has stored the MessageSid it was given.
    message_id = queue(db, settings)
    sid = "SM" + "1".zfill(32)  # what the fake answers to the first request
    outbound.record_status(db, settings, sid, "delivered", None)
    run(db, settings, FakeTwilioHttp(), fake_clock)
    assert row(db, message_id)["status"] == "delivered"


def test_undelivered_30003_is_queued_again(client, db, settings, fake, fake_clock) -> None:
    message_id = queue(db, settings)
    run(db, settings, fake, fake_clock)
    sid = row(db, message_id)["message_sid"]
    assert status(client, sid, "undelivered", "30003") == 204
    stored = row(db, message_id)
    assert stored["status"] == "queued" and stored["message_sid"] is None
    # The callback schedules the retry on the real clock: step past it, and past quiet
    # hours, whatever the time of day the test runs at.
    later = datetime.now(UTC) + timedelta(minutes=5)
    while outbound.in_quiet_hours(settings, later):
        later += timedelta(minutes=30)
    fake_clock.now = later
    run(db, settings, fake, fake_clock)
    assert row(db, message_id)["status"] == "sent" and len(fake.requests) == 2


def test_failed_callback_with_21610_opts_out(client, db, settings, fake, fake_clock) -> None:
    message_id = queue(db, settings)
    run(db, settings, fake, fake_clock)
    sid = row(db, message_id)["message_sid"]
    assert status(client, sid, "failed", "21610") == 204
    assert row(db, message_id)["status"] == "failed"
    assert is_opted_out(db, PHONE)


def test_21610_on_a_reply_we_did_not_queue_opts_the_number_out(client, db, settings) -> None:
    # A TwiML reply reports its status through the Messaging Service's callback: its
    # MessageSid is not in the queue, but its To is a number we know.
    conversations.receive(db, settings, conversations.Inbound(PHONE, "HELP", "SM1"))
    waiting = queue(db, settings)
    assert status(client, "SM" + "7" * 32, "failed", "21610") == 204
    assert is_opted_out(db, PHONE)
    assert row(db, waiting)["status"] == "cancelled"
    # Another code, or a number we never saw, changes nothing and adds no contact.
    assert status(client, "SM" + "8" * 32, "failed", "21610", to=OTHER) == 204
    assert status(client, "SM" + "6" * 32, "undelivered", "30003") == 204
    assert db.execute("SELECT count(*) FROM sms_contacts").fetchone()[0] == 1


def test_permanent_failure_callback_is_final(client, db, settings, fake, fake_clock) -> None:
    message_id = queue(db, settings)
    run(db, settings, fake, fake_clock)
    sid = row(db, message_id)["message_sid"]
    assert status(client, sid, "undelivered", "30006") == 204
    assert row(db, message_id)["status"] == "undelivered"
    assert row(db, message_id)["error_code"] == 30006


def test_a_bad_error_code_is_refused(client, db) -> None:
    assert status(client, "SM" + "9" * 32, "failed", "boom") == 400
    assert db.execute("SELECT count(*) FROM sms_status_events").fetchone()[0] == 0


# --- without credentials: the simulator; the scheduled jobs -------------------------


def test_without_credentials_the_queue_delivers_to_the_simulator(app_config, db) -> None:
    config = {**app_config, "TWILIO_AUTH_TOKEN": "", "TWILIO_ACCOUNT_SID": "", "PHONE_PEPPER": ""}
    app = create_app({**config, "SMS_QUIET_HOURS": ""})
    settings = sms_config.get(app)
    assert not settings.can_send
    message_id = outbound.enqueue(db, settings, PHONE, "Text HOURS", kind="invitation")
    report = jobs.send_queue(app)
    assert report.sent == 1
    assert row(db, message_id)["status"] == "sent"
    assert row(db, message_id)["message_sid"].startswith("SMsim")
    [shown] = simulator.history(db, PHONE)
    assert shown["direction"] == "out" and shown["body"] == "Text HOURS"


def test_the_queue_job_uses_the_twilio_client_with_credentials(app, db, fake) -> None:
    app.extensions["sms_client"] = Client(SID, TOKEN, http_client=fake)
    settings = sms_config.get(app)
    at = datetime.now(UTC)
    queue(db, settings, at=at - timedelta(seconds=1))
    report = jobs.send_queue(app)
    if outbound.in_quiet_hours(settings, at):
        assert report.quiet and fake.requests == []
    else:
        assert report.sent == 1 and fake.requests[0]["data"]["To"] == PHONE


def test_schedule_adds_the_expiry_queue_and_daily_retention_jobs(app) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    sms.schedule(scheduler, app)
    jobs_by_id = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs_by_id) == {"sms-expire", "sms-queue", "privacy-retention"}
    assert jobs_by_id["sms-queue"].trigger.interval == timedelta(seconds=sms.QUEUE_SECONDS)
    # Daily at 03:00 in the organisation's time zone (America/Toronto here).
    retention = jobs_by_id["privacy-retention"].trigger
    assert str(retention.timezone) == "America/Toronto"
    assert str(retention.fields[retention.FIELD_NAMES.index("hour")]) == str(sms.RETENTION_HOUR)


def test_the_retention_job_opens_the_apps_store_and_erases_what_is_due(app, db, settings):
    queue(db, settings)  # an invitation still queued: its number is kept
    assert jobs.retention(app) == {
        "numbers": 0, "conversations": 0, "messages_queued": 0, "pseudonyms": 0,
        "reply_hours": 0, "receipts": 0,
    }  # fmt: skip
    db.execute("UPDATE sms_outbound SET status = 'delivered'")
    db.execute("UPDATE sms_contacts SET created_at = '2000-01-01T00:00:00.000000Z'")
    assert jobs.retention(app)["numbers"] == 1
    assert db.execute("SELECT count(*) FROM sms_contacts").fetchone()[0] == 0


def test_the_expiry_job_expires_idle_conversations(app, db, example) -> None:
    settings = sms_config.get(app)
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    for sid, body in (("SM1", "HOURS"), ("SM2", "1")):
        conversations.receive(db, settings, conversations.Inbound(PHONE, body, sid), now=long_ago)
    assert jobs.expire(app) == 1
    assert db.execute("SELECT status FROM sms_conversations").fetchone()[0] == "expired"
