"""Webhooks out: each new submission at the hub POSTed once, signed, retried, logged."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlite_utils

from participate import clock, consultations, submissions
from participate.api import deliver_webhooks, webhooks
from participate.api.errors import WebhookError
from participate.sync import devices, receive

ANSWERS = {"visits": "weekly", "times": ["sundays"], "evenings": True, "rating": 4}
RESPONDENT = "a1" * 32  # the form of a phone pseudonym


class Receiver:
    """A webhook receiver on 127.0.0.1 that records each request and answers `statuses` in turn."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/participate"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _headers, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def hook(db: sqlite_utils.Database, example, receiver: Receiver) -> dict:
    return webhooks.register(db, "library-hours", receiver.url, created_by="staff@example.org")


def record_at_hub(
    db: sqlite_utils.Database, submission_id: str | None = None, respondent: str = RESPONDENT
) -> dict:
    """An SMS conversation finished at the hub: the one write path."""
    return submissions.record(
        db,
        consultations.get(db, "library-hours"),
        channel="sms",
        language="fr",
        answers=ANSWERS,
        started_at=clock.utcnow(),
        submission_id=submission_id,
        respondent=respondent,
    )


def pushed_from_node(
    db: sqlite_utils.Database, device_id: str, seq: int, submission_id: str
) -> None:
    """A node's batch arriving at the hub: sync's batch insert."""
    item = {
        "id": submission_id,
        "consultation_id": "library-hours",
        "consultation_version": consultations.get(db, "library-hours").version,
        "channel": "kiosk",
        "device_id": device_id,
        "seq": seq,
        "respondent": "",
        "language": "en",
        "started_at": "2026-11-21T10:00:00.000000Z",
        "submitted_at": "2026-11-21T10:02:00.000000Z",
        "answers": ANSWERS,
        "complete": True,
    }
    [outcome] = receive.store_batch(db, device_id, [item])
    assert outcome["status"] in ("stored", "duplicate"), outcome


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_each_new_submission_is_posted_once_from_any_path(db, hook, receiver) -> None:
    device_id, _secret = devices.add_device(db, "Main library kiosk")
    at_hub = record_at_hub(db)
    record_at_hub(db, at_hub["id"])  # a retried webhook from Twilio: nothing new
    kiosk_id = str(uuid.uuid4())
    pushed_from_node(db, device_id, 1, kiosk_id)
    pushed_from_node(db, device_id, 1, kiosk_id)  # the node retried its batch
    report = webhooks.deliver_due(db, now=later(1))
    assert report == {"delivered": 2, "failed": 0, "given_up": 0}
    assert webhooks.deliver_due(db, now=later(3600)) == {"delivered": 0, "failed": 0, "given_up": 0}
    bodies = receiver.bodies()
    assert sorted(b["submission"]["id"] for b in bodies) == sorted([at_hub["id"], kiosk_id])
    assert {b["submission"]["channel"] for b in bodies} == {"sms", "kiosk"}
    assert all(b["event"] == "submission.created" for b in bodies)
    stored = submissions.get(db, bodies[0]["submission"]["id"])
    assert bodies[0]["submission"] == {**stored, "not_asked": []}  # the export's record


def test_a_respondent_that_is_not_a_pseudonym_is_never_posted(db, hook, receiver) -> None:
    record_at_hub(db)
    record_at_hub(db, respondent="+14155550199")  # however it got into the store
    webhooks.deliver_due(db, now=later(1))
    respondents = sorted(b["submission"]["respondent"] for b in receiver.bodies())
    assert respondents == ["", RESPONDENT]


def test_every_request_is_signed_with_the_webhooks_secret(db, hook, receiver) -> None:
    record_at_hub(db)
    webhooks.deliver_due(db, now=later(1))
    [(headers, body)] = receiver.requests
    signature = headers[webhooks.SIGNATURE_HEADER]
    timestamp = int(headers[webhooks.TIMESTAMP_HEADER])
    assert signature.startswith(f"t={timestamp},v1=")
    assert webhooks.verify(hook["secret"], signature, body, now=time.time())
    assert not webhooks.verify("whsec_wrong", signature, body, now=time.time())
    assert not webhooks.verify(hook["secret"], signature, body + b" ", now=time.time())
    assert not webhooks.verify(hook["secret"], signature, body, now=time.time() + 3600)
    assert not webhooks.verify(hook["secret"], "v1=abc", body, now=time.time())


def test_a_failed_delivery_is_retried_with_backoff(db, hook, receiver) -> None:
    receiver.statuses = [500, 503]
    made = record_at_hub(db)
    assert webhooks.deliver_due(db, now=later(1))["failed"] == 1
    assert webhooks.deliver_due(db, now=later(20))["failed"] == 0  # not due before 30 s
    assert webhooks.deliver_due(db, now=later(32))["failed"] == 1
    assert webhooks.deliver_due(db, now=later(80))["delivered"] == 0  # then 60 s more
    assert webhooks.deliver_due(db, now=later(95))["delivered"] == 1
    assert [b["submission"]["id"] for b in receiver.bodies()] == [made["id"]] * 3
    log = webhooks.attempt_log(db)
    assert [a["status"] for a in log] == [204, 503, 500]
    assert log[0]["delivered_at"] and log[0]["attempts"] == 3


def test_a_delivery_is_given_up_after_a_day(db, hook, receiver) -> None:
    receiver.statuses = [500] * 100
    record_at_hub(db)
    moments, given_up = [later(1)], 0
    for _ in range(40):
        report = webhooks.deliver_due(db, now=moments[-1])
        given_up += report["given_up"]
        moments.append(moments[-1] + timedelta(hours=2, seconds=1))
    assert given_up == 1
    [row] = db.query("SELECT attempts, given_up_at, next_attempt_at FROM webhook_deliveries")
    assert row["next_attempt_at"] is None and row["given_up_at"]
    assert 10 <= row["attempts"] <= 25


@pytest.mark.parametrize("delays", [[0, 30, 60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]])
def test_retry_delays_double_up_to_two_hours(delays: list[int]) -> None:
    assert [webhooks.retry_delay(n).total_seconds() for n in range(len(delays))][1:] == delays[1:]


def test_an_unreachable_receiver_is_logged_and_retried(db, example) -> None:
    webhooks.register(db, "library-hours", "http://127.0.0.1:9/nothing-listens")
    record_at_hub(db)
    assert webhooks.deliver_due(db, now=later(1), timeout=2)["failed"] == 1
    [attempt] = webhooks.attempt_log(db)
    assert attempt["status"] is None and "Connection" in attempt["error"]
    assert attempt["next_attempt_at"]


def test_only_that_consultations_submissions_and_not_after_removal(db, hook, receiver) -> None:
    other = consultations.parse(
        {**consultations.get(db, "library-hours").definition, "id": "other", "keywords": {}}
    )
    consultations.save(db, [other])
    submissions.record(
        db, other, channel="kiosk", language="en", answers=ANSWERS, started_at=clock.utcnow()
    )
    assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 0
    receiver.statuses = [500]
    record_at_hub(db)
    webhooks.deliver_due(db, now=later(1))
    assert webhooks.remove(db, hook["id"])
    record_at_hub(db)
    assert webhooks.deliver_due(db, now=later(3600)) == {"delivered": 0, "failed": 0, "given_up": 0}
    assert [h["given_up"] for h in webhooks.list_webhooks(db)] == []
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "example.org/hook",
        "https://",
        "https://user:pw@example.org/",
        "x" * 3000,
    ],
)
def test_bad_urls_are_refused(db, example, url: str) -> None:
    with pytest.raises(WebhookError):
        webhooks.register(db, "library-hours", url)


def test_a_ping_is_sent_at_once_and_never_retried(db, hook, receiver) -> None:
    assert webhooks.ping(db, hook["id"]).ok
    receiver.statuses = [500]
    answer = webhooks.ping(db, hook["id"])
    assert answer.status == 500 and not answer.ok
    assert [b["event"] for b in receiver.bodies()] == ["ping", "ping"]
    assert webhooks.deliver_due(db, now=later(3600))["failed"] == 0
    with pytest.raises(WebhookError):
        webhooks.ping(db, 999)


def test_the_job_delivers_with_its_own_connection(db_path, db, hook, receiver) -> None:
    record_at_hub(db)
    db.execute("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01T00:00:00.000000Z'")
    assert deliver_webhooks(str(db_path), 5, 24)["delivered"] == 1
    assert len(receiver.requests) == 1


def test_intake_is_the_same_transaction_as_the_outbox(db, hook) -> None:
    """A submission rolled back leaves no delivery; one stored always has its delivery."""
    with pytest.raises(RuntimeError), db.atomic():
        db.execute(
            "INSERT INTO submissions (id, consultation_id, consultation_version, channel,"
            " device_id, seq, respondent, language, started_at, submitted_at, answers, complete)"
            " SELECT 'x', 'library-hours', version, 'kiosk', 'd', 1, '', 'en', '', '', '{}', 1"
            " FROM consultations"
        )
        raise RuntimeError("the rest of the transaction failed")
    assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 0
    made = record_at_hub(db)
    assert db.execute("SELECT submission_id FROM webhook_deliveries").fetchall() == [(made["id"],)]


def test_the_verification_example_in_the_docs_accepts_a_real_delivery(db, hook, receiver) -> None:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(example, "docs/api.md", "exec"), namespace)  # noqa: S102 (our own docs)
    record_at_hub(db)
    webhooks.deliver_due(db, now=later(1))
    [(headers, body)] = receiver.requests
    assert namespace["verify"](hook["secret"], headers["Participate-Signature"], body)
    assert not namespace["verify"](hook["secret"], headers["Participate-Signature"], body + b"x")
