"""Sync between nodes and the hub: signing, the hub API, the node's push/pull/heartbeat."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import random
import re
import socket
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlite_utils
from flask import Flask
from flask.testing import FlaskClient

from participate import answers as answer_rules
from participate import clock, consultations, fleet, store, submissions
from participate.app import create_app
from participate.sync import devices, node, receive, verification, wire
from participate.sync.client import HubAnswer, HubClient
from participate.sync.errors import HubRefused, NotEnrolled, RequestRefused, TransportError
from participate.sync.scheduling import NodeSync
from tests.conftest import EXAMPLE, make_app_config, record_submission
from tests.support.stored import rejections

ANSWERS = {"visits": "weekly", "times": ["sundays", "mornings"], "evenings": True, "rating": 4}
STARTED = "2026-11-21T10:00:00.000000Z"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def hub_db(db: sqlite_utils.Database, example) -> sqlite_utils.Database:
    """The hub's store, with the example consultation published."""
    return db


@pytest.fixture
def enrolled(hub_db) -> tuple[str, str]:
    """A device enrolled at the hub: (id, secret)."""
    return devices.add_device(hub_db, "Main library kiosk")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class FlaskTransport:
    """A transport that hands requests to a Flask test client, recording what was sent."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.sent: list[tuple[str, str, dict, bytes]] = []

    def __call__(self, method, url, headers, body, timeout) -> HubAnswer:
        self.sent.append((method, url, dict(headers), body))
        parts = urlsplit(url)
        reply = self.client.open(
            parts.path, method=method, query_string=parts.query, headers=dict(headers), data=body
        )
        return HubAnswer(
            reply.status_code, reply.get_data(), {k.lower(): v for k, v in reply.headers.items()}
        )


class CutAfterRequest(FlaskTransport):
    """Deliver requests to the hub but lose the answer of the ones chosen by `cut`."""

    def __init__(self, client: FlaskClient, cut) -> None:
        super().__init__(client)
        self.cut = cut

    def __call__(self, method, url, headers, body, timeout) -> HubAnswer:
        reply = super().__call__(method, url, headers, body, timeout)
        if self.cut(len(self.sent), method, url):
            raise TransportError("connection reset before the answer")
        return reply


@pytest.fixture
def node_db(tmp_path: Path, enrolled) -> sqlite_utils.Database:
    """A node's store, enrolled as the device, holding the example consultation."""
    path = tmp_path / "node.db"
    connection = store.open_db(path, migrate=True)
    consultations.save(connection, consultations.read_files([EXAMPLE]))
    node.save_enrolment(connection, "http://hub.test", *enrolled)
    yield connection
    connection.close()


@pytest.fixture
def transport(client) -> FlaskTransport:
    return FlaskTransport(client)


@pytest.fixture
def hub_client(node_db, transport) -> HubClient:
    return node.client_from_store(node_db, transport=transport)


def record(node_db: sqlite_utils.Database, count: int = 1, **answers) -> list[dict]:
    """Make `count` kiosk submissions on the node, as the kiosk does."""
    consultation = consultations.get(node_db, "library-hours")
    return [
        record_submission(
            node_db, consultation, {**ANSWERS, **answers}, language="fr", started_at=STARTED
        )
        for _ in range(count)
    ]


def payload(device_id: str, seq: int = 1, /, **changes) -> dict:
    """A pushed submission as a node sends it."""
    item = {
        "id": str(uuid.uuid4()),
        "consultation_id": "library-hours",
        "consultation_version": consultations.read_file(EXAMPLE).version,
        "channel": "kiosk",
        "device_id": device_id,
        "seq": seq,
        "respondent": "",
        "language": "en",
        "started_at": STARTED,
        "submitted_at": "2026-11-21T10:02:00.000000Z",
        "answers": dict(ANSWERS),
        "complete": True,
    }
    item.update(changes)
    return item


def signed_post(
    client: FlaskClient,
    enrolled: tuple[str, str],
    path: str,
    body: bytes,
    *,
    gzipped: bool = False,
    method: str = "POST",
    **sign_options,
):
    headers = wire.sign(*enrolled, method, path, body, **sign_options)
    headers["Content-Type"] = "application/json"
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return client.open(path, method=method, headers=headers, data=body)


def push_items(client, enrolled, items, **options):
    body = json.dumps({"submissions": items}).encode()
    return signed_post(client, enrolled, "/api/v1/submissions", body, **options)


def node_config(path: Path, hub_url: str, enrolled: tuple[str, str], **changes) -> dict:
    """The config of a node app on the store at `path`, enrolled with the hub at `hub_url`."""
    return make_app_config(
        path,
        ROLE="node",
        HUB_URL=hub_url,
        DEVICE_ID=enrolled[0],
        DEVICE_SECRET=enrolled[1],
        **changes,
    )


def count(db: sqlite_utils.Database, sql: str = "SELECT count(*) FROM submissions") -> int:
    return db.execute(sql).fetchone()[0]


# --- signing -------------------------------------------------------------------------


def test_signature_is_hmac_sha256_over_the_canonical_request():
    import hashlib
    import hmac

    body = b'{"a": 1}'
    message = "\n".join(
        ["POST", "/api/v1/heartbeat", "1700000000", "n" * 16, hashlib.sha256(body).hexdigest()]
    )
    expected = hmac.new(b"secret", message.encode(), hashlib.sha256).hexdigest()
    headers = wire.sign(
        "dev-1", "secret", "post", "/api/v1/heartbeat", body, timestamp=1700000000, nonce="n" * 16
    )
    assert headers == {
        "X-Participate-Device": "dev-1",
        "X-Participate-Timestamp": "1700000000",
        "X-Participate-Nonce": "n" * 16,
        "X-Participate-Signature": expected,
    }


def test_verify_accepts_a_good_request_and_remembers_the_device(hub_db, enrolled):
    headers = wire.sign(*enrolled, "POST", "/api/v1/heartbeat", b"{}")
    device = verification.verify(hub_db, "POST", "/api/v1/heartbeat", headers, b"{}")
    assert device["id"] == enrolled[0]
    assert devices.get_device(hub_db, enrolled[0])["last_seen_at"] is not None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/heartbeat", b"{}"),
        ("POST", "/api/v1/submissions", b"{}"),
        ("POST", "/api/v1/heartbeat?x=1", b"{}"),
        ("POST", "/api/v1/heartbeat", b'{"queue_depth": 1}'),
    ],
)
def test_verify_refuses_any_change_to_a_signed_request(hub_db, enrolled, method, path, body):
    headers = wire.sign(*enrolled, "POST", "/api/v1/heartbeat", b"{}")
    with pytest.raises(RequestRefused, match="bad signature"):
        verification.verify(hub_db, method, path, headers, body)
    assert devices.list_devices(hub_db)[0]["refused_reason"] == "bad signature"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Participate-Device": "dev-unknown"}, "unknown device"),
        ({"X-Participate-Signature": ""}, "missing header X-Participate-Signature"),
        ({"X-Participate-Nonce": "short"}, "malformed nonce"),
        ({"X-Participate-Timestamp": "soon"}, "malformed timestamp"),
        ({"X-Participate-Timestamp": "1700000000\n"}, "malformed timestamp"),
        ({"X-Participate-Timestamp": "1700000001"}, "bad signature"),
        ({"X-Participate-Nonce": "another-nonce-of-16"}, "bad signature"),
        ({"X-Participate-Signature": "0" * 64}, "bad signature"),
        ({"X-Participate-Signature": "\u00e9" * 64}, "malformed signature"),
        ({"X-Participate-Signature": "A" * 64}, "malformed signature"),
        ({"X-Participate-Signature": "0" * 63}, "malformed signature"),
    ],
)
def test_verify_refuses_forged_headers(hub_db, enrolled, change, reason):
    headers = wire.sign(*enrolled, "POST", "/p", b"", timestamp=1700000000)
    headers.update(change)
    with pytest.raises(RequestRefused) as refused:
        verification.verify(hub_db, "POST", "/p", headers, b"", now=1700000000)
    assert refused.value.reason == reason


def test_a_signature_header_outside_ascii_gets_401_not_500(client, hub_db, enrolled):
    headers = wire.sign(*enrolled, "POST", "/api/v1/heartbeat", b"{}")
    headers[wire.HEADER_SIGNATURE] = "\u00e9" * 64
    reply = client.post("/api/v1/heartbeat", data=b"{}", headers=headers)
    assert (reply.status_code, reply.get_json()["reason"]) == (401, "malformed signature")


def test_forged_requests_naming_a_device_do_not_each_write_to_the_hub(hub_db, enrolled):
    refused_at = []
    for _ in range(3):
        forged = wire.sign(enrolled[0], "a guessed secret", "POST", "/p", b"")
        with pytest.raises(RequestRefused, match="bad signature"):
            verification.verify(hub_db, "POST", "/p", forged, b"")
        refused_at.append(devices.list_devices(hub_db)[0]["refused_at"])
    # Noted once for staff; the same refusal again soon after is not written again.
    assert refused_at[0] is not None and len(set(refused_at)) == 1


def test_verify_refuses_a_secret_of_another_device(hub_db, enrolled):
    _, other_secret = devices.add_device(hub_db, "Other")
    headers = wire.sign(enrolled[0], other_secret, "POST", "/p", b"")
    with pytest.raises(RequestRefused, match="bad signature"):
        verification.verify(hub_db, "POST", "/p", headers, b"")


def test_verify_refuses_a_disabled_device(hub_db, enrolled):
    devices.disable_device(hub_db, enrolled[0])
    headers = wire.sign(*enrolled, "POST", "/p", b"")
    with pytest.raises(RequestRefused, match="device disabled"):
        verification.verify(hub_db, "POST", "/p", headers, b"")


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(0, True), (299, True), (-299, True), (301, False), (-301, False), (-86400, False)],
)
def test_verify_time_window(hub_db, enrolled, offset, accepted):
    now = 1_800_000_000
    headers = wire.sign(*enrolled, "POST", "/p", b"", timestamp=now + offset)
    if accepted:
        assert verification.verify(hub_db, "POST", "/p", headers, b"", now=now, window=300)
        return
    with pytest.raises(RequestRefused, match="timestamp outside window") as refused:
        verification.verify(hub_db, "POST", "/p", headers, b"", now=now, window=300)
    assert refused.value.clock_skew == offset
    device = devices.list_devices(hub_db)[0]
    assert device["clock_skew"] == offset and "clock skew" in device["attention"]


def test_verify_refuses_a_replayed_nonce(hub_db, enrolled):
    headers = wire.sign(*enrolled, "POST", "/p", b"x")
    verification.verify(hub_db, "POST", "/p", headers, b"x")
    with pytest.raises(RequestRefused, match="replayed nonce"):
        verification.verify(hub_db, "POST", "/p", headers, b"x")


def test_a_replay_is_refused_after_the_hub_restarts(app_config, hub_db, enrolled):
    body = json.dumps({"queue_depth": 0}).encode()
    headers = wire.sign(*enrolled, "POST", "/api/v1/heartbeat", body)
    before = (
        create_app(app_config).test_client().post("/api/v1/heartbeat", data=body, headers=headers)
    )
    assert before.status_code == 200
    after = (
        create_app(app_config).test_client().post("/api/v1/heartbeat", data=body, headers=headers)
    )
    assert (after.status_code, after.get_json()["reason"]) == (401, "replayed nonce")


def test_nonces_are_forgotten_once_outside_the_window(hub_db, enrolled):
    now = 1_800_000_000
    headers = wire.sign(*enrolled, "POST", "/p", b"", timestamp=now)
    verification.verify(hub_db, "POST", "/p", headers, b"", now=now, window=300)
    later = wire.sign(*enrolled, "POST", "/p", b"", timestamp=now + 400)
    verification.verify(hub_db, "POST", "/p", later, b"", now=now + 400, window=300)
    assert count(hub_db, "SELECT count(*) FROM sync_nonces") == 1


# --- the hub API ---------------------------------------------------------------------


def test_push_stores_a_batch_and_answers_each_submission(client, hub_db, enrolled):
    items = [payload(enrolled[0], seq) for seq in (1, 2, 3)]
    reply = push_items(client, enrolled, items, gzipped=False)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["results"] == [{"id": i["id"], "status": "stored"} for i in items]
    stored = submissions.get(hub_db, items[0]["id"])
    assert stored["device_id"] == enrolled[0] and stored["seq"] == 1
    assert stored["received_at"] and stored["answers"]["times"] == ["mornings", "sundays"]
    assert devices.ledger_gaps(hub_db, enrolled[0], 3) == []


def test_push_accepts_gzip(client, hub_db, enrolled):
    items = [payload(enrolled[0], 1)]
    body = gzip.compress(json.dumps({"submissions": items}).encode())
    reply = signed_post(client, enrolled, "/api/v1/submissions", body, gzipped=True)
    assert reply.status_code == 200
    assert count(hub_db) == 1


def test_push_is_idempotent(client, hub_db, enrolled):
    items = [payload(enrolled[0], 1), payload(enrolled[0], 2)]
    push_items(client, enrolled, items)
    before = hub_db.execute("SELECT * FROM submissions ORDER BY seq").fetchall()
    reply = push_items(client, enrolled, [*items, payload(enrolled[0], 3)])
    assert [r["status"] for r in reply.get_json()["results"]] == [
        "duplicate",
        "duplicate",
        "stored",
    ]
    assert reply.get_json()["counts"] == {"stored": 1, "duplicate": 2, "rejected": 0}
    assert hub_db.execute("SELECT * FROM submissions ORDER BY seq").fetchall()[:2] == before


@pytest.mark.parametrize(
    "change",
    [
        {"answers": {**ANSWERS, "rating": 1}},
        {"language": "fr"},
        {"submitted_at": "2026-11-21T10:03:00.000000Z"},
        {"complete": False},
        {"seq": 7},
    ],
)
def test_same_id_with_different_content_is_refused(client, hub_db, enrolled, change):
    original = payload(enrolled[0], 1)
    push_items(client, enrolled, [original])
    before = hub_db.execute("SELECT * FROM submissions").fetchall()
    reply = push_items(client, enrolled, [{**original, **change}])
    assert reply.status_code == 422
    (result,) = reply.get_json()["results"]
    assert result["status"] == "rejected" and "different content" in result["reason"]
    assert hub_db.execute("SELECT * FROM submissions").fetchall() == before
    assert rejections(hub_db, enrolled[0])[0]["submission_id"] == original["id"]


def test_a_ledger_number_cannot_hold_two_submissions(client, hub_db, enrolled):
    push_items(client, enrolled, [payload(enrolled[0], 1)])
    reply = push_items(client, enrolled, [payload(enrolled[0], 1)])
    assert "ledger number 1" in reply.get_json()["results"][0]["reason"]
    assert count(hub_db) == 1


def _bad(device_id: str) -> list[tuple[str, dict | list | str, str]]:
    version = consultations.read_file(EXAMPLE).version
    return [
        ("unknown consultation", {"consultation_id": "nope"}, "unknown consultation"),
        ("unknown version", {"consultation_version": "0" * 12}, "unknown consultation"),
        ("not a choice", {"answers": {**ANSWERS, "visits": "daily"}}, "invalid answers: visits"),
        ("missing answer", {"answers": {"visits": "weekly"}}, "invalid answers"),
        ("out of range", {"answers": {**ANSWERS, "rating": 9}}, "invalid answers: rating"),
        ("unknown question", {"answers": {**ANSWERS, "colour": "red"}}, "invalid answers"),
        ("other device", {"device_id": "dev-other"}, "device that signed"),
        ("seq as text", {"seq": "1"}, "seq must be a whole number"),
        ("seq zero", {"seq": 0}, "seq must be a whole number"),
        ("seq boolean", {"seq": True}, "seq must be a whole number"),
        ("seq past SQLite's integers", {"seq": 2**63}, "seq must be a whole number"),
        ("complete as text", {"complete": "yes"}, "complete must be true or false"),
        ("answers as list", {"answers": [1, 2]}, "answers must be an object"),
        ("bad channel", {"channel": "fax"}, "channel must be one of"),
        ("sms from a kiosk-only node", {"channel": "sms"}, "enrolled for kiosk, not sms"),
        ("a phone number", {"respondent": "+14155550199"}, "respondent must be empty or a"),
        ("a pseudonym in capitals", {"respondent": "AB" * 32}, "respondent must be empty or a"),
        ("a pseudonym cut short", {"respondent": "ab" * 31}, "respondent must be empty or a"),
        ("language not offered", {"language": "de"}, "language 'de' is not offered"),
        ("bad time", {"started_at": "yesterday"}, "started_at is not an ISO-8601 time"),
        ("id missing", {"id": None}, "id must be a string"),
        ("id too long", {"id": "x" * 100}, "id must be a string"),
        ("id ending in a newline", {"id": "abc\n"}, "id must be a string"),
        ("version as number", {"consultation_version": 3}, "must be a string"),
        ("not an object", "a string", "must be a JSON object"),
        ("same version, closed", {"consultation_version": version}, ""),
    ]


@pytest.mark.parametrize("case", range(len(_bad(""))), ids=[c[0] for c in _bad("")])
def test_bad_submissions_are_rejected_with_a_reason_and_nothing_is_stored(
    client, hub_db, enrolled, case
):
    name, change, reason = _bad(enrolled[0])[case]
    if name == "same version, closed":
        # A consultation closed by staff still takes what nodes captured while it was open.
        consultations.set_closed(hub_db, "library-hours", True)
        reply = push_items(client, enrolled, [payload(enrolled[0], 1, **change)])
        assert reply.get_json()["results"][0]["status"] == "stored"
        return
    item = payload(enrolled[0], 1, **change) if isinstance(change, dict) else change
    reply = push_items(client, enrolled, [item])
    assert reply.status_code == 422
    (result,) = reply.get_json()["results"]
    assert result["status"] == "rejected"
    assert reason in result["reason"]
    assert count(hub_db) == 0


PHONE = "+14155550199"
PSEUDONYM = hashlib.sha256(PHONE.encode()).hexdigest()  # the form, not the keyed value


def test_a_node_cannot_claim_sms_or_a_phone_number(client, hub_db, enrolled):
    # Issue 16's repro: a signed push from a kiosk device with channel sms and a number.
    claims = payload(enrolled[0], 1, channel="sms", respondent=PHONE)
    reply = push_items(client, enrolled, [claims, payload(enrolled[0], 2)])
    results = reply.get_json()["results"]
    assert [r["status"] for r in results] == ["rejected", "stored"]
    assert "not sms" in results[0]["reason"]
    assert count(hub_db, "SELECT count(*) FROM submissions WHERE channel = 'sms'") == 0
    # Refused, and the number is kept nowhere: not in the refusals staff see either.
    (kept,) = rejections(hub_db)
    assert PHONE not in kept["payload"] and receive.WITHHELD in kept["payload"]
    dump = "\n".join(hub_db.iterdump())
    assert PHONE not in dump and "4155550199" not in dump


def test_a_node_enrolled_for_sms_sends_pseudonyms_only(client, hub_db, enrolled):
    devices.set_channels(hub_db, enrolled[0], ["kiosk", "sms"])
    good = payload(enrolled[0], 1, channel="sms", respondent=PSEUDONYM)
    bad = payload(enrolled[0], 2, channel="sms", respondent=PHONE)
    results = push_items(client, enrolled, [good, bad]).get_json()["results"]
    assert [r["status"] for r in results] == ["stored", "rejected"]
    assert "never a phone number" in results[1]["reason"]
    row = hub_db.execute("SELECT channel, respondent FROM submissions").fetchone()
    assert row == ("sms", PSEUDONYM)


def test_every_outcome_in_one_batch(client, hub_db, enrolled):
    first = payload(enrolled[0], 1)
    push_items(client, enrolled, [first])
    batch = [
        first,
        payload(enrolled[0], 2),
        payload(enrolled[0], 3, answers={"visits": "never"}),
        payload(enrolled[0], 4),
    ]
    reply = push_items(client, enrolled, batch)
    assert reply.status_code == 200
    results = reply.get_json()["results"]
    assert [r["status"] for r in results] == ["duplicate", "stored", "rejected", "stored"]
    assert results[2]["index"] == 2
    assert count(hub_db) == 3
    # The rejected number is accounted for in the ledger, and shown.
    device = devices.list_devices(hub_db)[0]
    assert device["gaps"] == [] and device["rejected"] == 1 and "rejected" in device["attention"]


def test_a_rejected_submission_stored_later_leaves_the_rejections(client, hub_db, enrolled):
    item = payload(enrolled[0], 1, consultation_version="abcdefabcdef")
    push_items(client, enrolled, [item])
    assert rejections(hub_db)
    push_items(
        client, enrolled, [{**item, "consultation_version": payload("")["consultation_version"]}]
    )
    assert rejections(hub_db) == []
    assert count(hub_db) == 1


def test_an_older_version_is_accepted_after_the_consultation_changed(client, hub_db, enrolled):
    old = payload(enrolled[0], 1)
    newer = consultations.parse(
        {**consultations.read_file(EXAMPLE).definition, "title": {"en": "New", "fr": "Nouveau"}}
    )
    consultations.save(hub_db, [newer])
    assert consultations.get(hub_db, "library-hours").version != old["consultation_version"]
    reply = push_items(client, enrolled, [old])
    assert reply.get_json()["results"][0]["status"] == "stored"


@pytest.mark.parametrize(
    ("body", "gzipped", "status", "reason"),
    [
        (b"{not json", False, 400, "not JSON"),
        (b"\xff\xfe", False, 400, "not JSON"),
        (b"[]", False, 400, '"submissions" list'),
        (b'{"submissions": {"a": 1}}', False, 400, '"submissions" list'),
        (b'{"submissions": "all"}', False, 400, '"submissions" list'),
        (b"plain text, said to be gzip", True, 400, "not valid gzip"),
        (gzip.compress(b'{"submissions": []}')[:-6], True, 400, "truncated gzip"),
        (gzip.compress(b'{"submissions": []}', mtime=0) + b"junk", True, 400, "after the gzip"),
        (gzip.compress(b'{"submissions": []}', mtime=0) * 2, True, 400, "after the gzip"),
        (b'{"submissions": ' + b"[" * 100_000, False, 400, "nested too deeply"),
        (gzip.compress(b"[" * 1_000_000, mtime=0), True, 400, "nested too deeply"),
        (b'{"submissions": [NaN]}', False, 400, "not JSON"),
        (b'{"submissions": [{"respondent": "\\ud800"}]}', False, 400, "unpaired surrogate"),
        ('{"submissions": []}'.encode("utf-16"), False, 400, "not UTF-8"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, bytes) else None,
)
def test_malformed_bodies_get_400(client, hub_db, enrolled, body, gzipped, status, reason):
    reply = signed_post(client, enrolled, "/api/v1/submissions", body, gzipped=gzipped)
    assert reply.status_code == status
    assert reason in reply.get_json()["reason"]
    assert count(hub_db) == 0


def test_escaped_characters_outside_the_bmp_are_stored(client, hub_db, enrolled):
    item = payload(enrolled[0], 1, answers={**ANSWERS, "comments": "Bravo \U0001f44d"})
    body = json.dumps({"submissions": [item]}, ensure_ascii=True).encode()
    assert b"\\ud83d\\udc4d" in body
    reply = signed_post(client, enrolled, "/api/v1/submissions", body)
    assert reply.status_code == 200
    assert submissions.get(hub_db, item["id"])["answers"]["comments"] == "Bravo \U0001f44d"


def test_a_gzip_bomb_gets_413(app, client, hub_db, enrolled):
    app.config["SYNC_MAX_BATCH_BYTES"] = 1024 * 1024
    body = gzip.compress(b'{"submissions": [' + b" " * (4 * 1024 * 1024) + b"]}")
    assert len(body) < 100_000
    reply = signed_post(client, enrolled, "/api/v1/submissions", body, gzipped=True)
    assert reply.status_code == 413
    assert count(hub_db) == 0


def test_too_many_submissions_in_a_batch_get_413(app, client, hub_db, enrolled):
    app.config["SYNC_MAX_BATCH_ITEMS"] = 3
    reply = push_items(client, enrolled, [payload(enrolled[0], s) for s in range(1, 5)])
    assert reply.status_code == 413
    assert count(hub_db) == 0


def test_a_100_mb_body_gets_413_and_nothing_is_stored(client, hub_db, enrolled):
    body = b'{"submissions": [' + b" " * (100 * 1024 * 1024) + b"]}"
    reply = signed_post(client, enrolled, "/api/v1/submissions", body)
    assert reply.status_code == 413
    assert count(hub_db) == 0


class EndlessBody(io.RawIOBase):
    """A request body that never ends, counting what the app read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b" " * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


@pytest.mark.parametrize("streamed", [False, True], ids=["Content-Length", "chunked"])
def test_a_body_over_the_limit_gets_413_before_it_is_read(app, client, hub_db, enrolled, streamed):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    body = EndlessBody()
    environ = {"wsgi.input": body}
    # A chunked body has no length; the server says it ends the stream (as waitress does).
    environ.update({"wsgi.input_terminated": True} if streamed else {"CONTENT_LENGTH": str(10**8)})
    headers = wire.sign(*enrolled, "POST", "/api/v1/submissions", b"")
    reply = client.post("/api/v1/submissions", headers=headers, environ_overrides=environ)
    assert reply.status_code == 413
    assert body.read_bytes <= 64 * 1024
    assert count(hub_db) == 0


def test_unsigned_forged_and_replayed_pushes_get_401(client, hub_db, enrolled):
    body = json.dumps({"submissions": [payload(enrolled[0], 1)]}).encode()
    unsigned = client.post("/api/v1/submissions", data=body)
    assert unsigned.status_code == 401
    assert unsigned.get_json()["reason"].startswith("missing header")

    forged = wire.sign(enrolled[0], "guessed-secret", "POST", "/api/v1/submissions", body)
    assert client.post("/api/v1/submissions", data=body, headers=forged).status_code == 401

    headers = wire.sign(*enrolled, "POST", "/api/v1/submissions", body)
    assert client.post("/api/v1/submissions", data=body, headers=headers).status_code == 200
    # A tampered body under the good headers, then a straight replay.
    tampered = body.replace(b'"rating": 4', b'"rating": 1')
    replay = client.post("/api/v1/submissions", data=tampered, headers=headers)
    assert (replay.status_code, replay.get_json()["reason"]) == (401, "bad signature")
    replay = client.post("/api/v1/submissions", data=body, headers=headers)
    assert (replay.status_code, replay.get_json()["reason"]) == (401, "replayed nonce")
    assert count(hub_db) == 1
    assert (
        submissions.get(hub_db, json.loads(body)["submissions"][0]["id"])["answers"]["rating"] == 4
    )


def test_a_stale_request_gets_401_with_the_hub_time(client, hub_db, enrolled):
    reply = push_items(client, enrolled, [payload(enrolled[0], 1)], timestamp=time.time() - 3600)
    assert reply.status_code == 401
    assert reply.get_json()["reason"] == "timestamp outside window"
    assert abs(reply.get_json()["hub_time"] - time.time()) < 5
    assert count(hub_db) == 0


def test_the_api_needs_no_csrf_token_but_is_absent_on_a_node(tmp_path, enrolled):
    node_app = create_app(make_app_config(tmp_path / "n.db", ROLE="node"))
    assert node_app.test_client().post("/api/v1/heartbeat").status_code == 404


def test_pull_sends_every_version_with_an_etag(client, hub_db, enrolled):
    original = consultations.read_file(EXAMPLE)
    newer = consultations.parse({**original.definition, "title": {"en": "New", "fr": "Nouveau"}})
    consultations.save(hub_db, [newer])
    reply = signed_post(client, enrolled, "/api/v1/consultations", b"", method="GET")
    assert reply.status_code == 200
    (entry,) = reply.get_json()["consultations"]
    assert entry["current"] == newer.version
    assert {v["version"] for v in entry["versions"]} == {original.version, newer.version}
    etag = reply.headers["ETag"]
    headers = wire.sign(*enrolled, "GET", "/api/v1/consultations", b"")
    again = client.get("/api/v1/consultations", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    consultations.set_closed(hub_db, "library-hours", True)
    headers = wire.sign(*enrolled, "GET", "/api/v1/consultations", b"")
    changed = client.get("/api/v1/consultations", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["consultations"][0]["closed"]


def test_heartbeat_is_kept_and_answers_the_ledger(client, hub_db, enrolled):
    push_items(client, enrolled, [payload(enrolled[0], s) for s in (1, 2, 4)])
    report = {"version": "0.1.0", "queue_depth": 0, "highest_seq": 6, "free_disk": 10**10}
    reply = signed_post(client, enrolled, "/api/v1/heartbeat", json.dumps(report).encode())
    assert reply.status_code == 200
    assert reply.get_json()["gaps"] == [[3, 3], [5, 6]]
    assert reply.get_json()["held"] == 3
    device = devices.list_devices(hub_db)[0]
    assert device["version"] == "0.1.0" and device["highest_seq"] == 6
    assert "gaps" in device["attention"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"oldest_unsynced_age": NaN}',
        b'{"free_disk": -Infinity}',
        b'{"oldest_unsynced_age": 1e400}',
        b'{"highest_seq": 9223372036854775808}',
        b'{"free_disk": 100000000000000000000000000000}',
        b'{"last_error": "\\udfff"}',
    ],
    ids=[
        "nested",
        "NaN",
        "Infinity",
        "overflows to infinity",
        "past SQLite",
        "far past SQLite",
        "unpaired surrogate",
    ],
)
def test_odd_heartbeat_bodies_get_400_and_change_nothing(client, hub_db, enrolled, body):
    reply = signed_post(client, enrolled, "/api/v1/heartbeat", body)
    assert reply.status_code == 400
    assert devices.list_devices(hub_db)[0]["reported_at"] is None


@pytest.mark.parametrize(
    "report",
    [[1], {"queue_depth": "many"}, {"queue_depth": -1}, {"highest_seq": 1.5}, {"free_disk": True}],
)
def test_a_bad_heartbeat_gets_400_and_changes_nothing(client, hub_db, enrolled, report):
    reply = signed_post(client, enrolled, "/api/v1/heartbeat", json.dumps(report).encode())
    assert reply.status_code == 400
    assert devices.list_devices(hub_db)[0]["reported_at"] is None


# --- the node ------------------------------------------------------------------------


def test_push_drains_the_queue_in_order_and_marks_it(node_db, hub_client, hub_db, transport):
    made = record(node_db, 7)
    report = node.push(node_db, hub_client, batch_size=3)
    assert (report.batches, report.stored, report.remaining) == (3, 7, 0)
    sent_seqs = [
        [s["seq"] for s in json.loads(gzip.decompress(body))["submissions"]]
        for method, url, headers, body in transport.sent
    ]
    assert sent_seqs == [[1, 2, 3], [4, 5, 6], [7]]
    assert all(headers["Content-Encoding"] == "gzip" for *_, headers, _ in transport.sent)
    assert node.queue_depth(node_db) == 0
    assert count(node_db, "SELECT count(*) FROM submissions WHERE synced_at IS NULL") == 0
    for submission in made:
        at_hub = submissions.get(hub_db, submission["id"])
        assert {k: v for k, v in at_hub.items() if k != "received_at"} == {
            k: v for k, v in submission.items() if k != "received_at"
        }
    # Nothing left: no request at all.
    assert node.push(node_db, hub_client).batches == 0


def test_a_lost_answer_means_a_resend_never_a_duplicate(node_db, hub_db, client):
    record(node_db, 5)
    cutting = CutAfterRequest(client, lambda n, method, url: n == 1)
    hub_client = node.client_from_store(node_db, transport=cutting)
    with pytest.raises(TransportError):
        node.push(node_db, hub_client)
    # The hub committed the batch; the node did not hear it, so it keeps it queued.
    assert count(hub_db) == 5 and node.queue_depth(node_db) == 5
    report = node.push(node_db, hub_client)
    assert (report.stored, report.duplicate, report.remaining) == (0, 5, 0)
    assert count(hub_db) == 5


def test_the_node_marks_only_what_the_hub_said_it_holds(node_db, client):
    made = [s["id"] for s in record(node_db, 4)]

    def hub(method, url, headers, body, timeout):
        results = [
            {"id": made[0], "status": "stored"},
            {"id": made[1], "status": "maybe"},
            {"id": made[2]},
            {"id": str(uuid.uuid4()), "status": "stored"},  # not in the batch
            "stored",
        ]  # made[3]: not mentioned at all
        return HubAnswer(200, json.dumps({"results": results}).encode())

    report = node.push(node_db, node.client_from_store(node_db, transport=hub))
    synced = node_db.execute("SELECT id FROM submissions WHERE synced_at IS NOT NULL").fetchall()
    assert [row[0] for row in synced] == [made[0]]
    assert (report.stored, report.rejected, report.remaining) == (1, 0, 3)


def test_a_rejected_submission_stays_on_the_node_with_its_reason(node_db, hub_client, hub_db):
    good = record(node_db, 2)
    # A version the hub never published, loaded on the node directly.
    local = consultations.parse(
        {**consultations.read_file(EXAMPLE).definition, "title": {"en": "Local", "fr": "Local"}}
    )
    consultations.save(node_db, [local])
    odd = record(node_db, 1)[0]
    report = node.push(node_db, hub_client)
    assert (report.stored, report.rejected, report.remaining) == (2, 1, 0)
    row = node_db.execute(
        "SELECT synced_at, sync_error FROM submissions WHERE id = ?", [odd["id"]]
    ).fetchone()
    assert row[0] is None and "unknown consultation" in row[1]
    assert rejections(hub_db)[0]["submission_id"] == odd["id"]
    assert node.health(node_db)["rejected_count"] == 1
    assert all(submissions.get(hub_db, s["id"]) for s in good)
    # Once the hub publishes that version, the rejected one can be sent again.
    consultations.save(hub_db, [local])
    assert node.retry_rejected(node_db) == 1
    assert node.push(node_db, hub_client).stored == 1
    assert rejections(hub_db) == []


def test_a_batch_too_large_is_split(node_db, hub_db, client):
    record(node_db, 5)

    class Limited(FlaskTransport):
        def __call__(self, method, url, headers, body, timeout):
            if len(json.loads(gzip.decompress(body))["submissions"]) > 2:
                self.sent.append((method, url, dict(headers), body))
                return HubAnswer(413, b'{"reason": "too large"}')
            return super().__call__(method, url, headers, body, timeout)

    hub_client = node.client_from_store(node_db, transport=Limited(client))
    report = node.push(node_db, hub_client, batch_size=5)
    assert (report.stored, report.remaining) == (5, 0)
    assert count(hub_db) == 5


def test_pull_keeps_every_version_and_the_current_one(node_db, hub_client, hub_db, transport):
    original = consultations.read_file(EXAMPLE)
    newer = consultations.parse({**original.definition, "title": {"en": "New", "fr": "Nouveau"}})
    consultations.save(hub_db, [newer])
    assert node.pull(node_db, hub_client) == 1
    assert consultations.get(node_db, "library-hours").version == newer.version
    assert consultations.get(node_db, "library-hours", original.version).version == original.version
    # Unchanged: a conditional request answered 304.
    assert node.pull(node_db, hub_client) == 0
    assert transport.sent[-1][2]["If-None-Match"]
    consultations.set_closed(hub_db, "library-hours", True)
    node.pull(node_db, hub_client)
    assert consultations.open_now(node_db, clock.today()) == []


def another(consultation_id: str, title: str, **changes) -> consultations.Consultation:
    """The example under another id, title and keywords (so both can be open at once)."""
    return consultations.parse(
        {
            **consultations.read_file(EXAMPLE).definition,
            "id": consultation_id,
            "title": {"en": title, "fr": title},
            "keywords": {"en": [consultation_id.upper()], "fr": [f"{consultation_id.upper()}FR"]},
            **changes,
        }
    )


def test_pull_carries_the_staff_order_and_archiving(client, hub_db, enrolled):
    consultations.save(hub_db, [another("parks", "Parks"), another("snow", "Snow removal")])
    consultations.set_order(hub_db, ["snow", "library-hours", "parks"])
    consultations.set_archived(hub_db, "parks", True)
    reply = signed_post(client, enrolled, "/api/v1/consultations", b"", method="GET")
    entries = {e["id"]: e for e in reply.get_json()["consultations"]}
    assert {k: (e["position"], e["archived"], e["closed"]) for k, e in entries.items()} == {
        "snow": (1, False, False),
        "library-hours": (2, False, False),
        "parks": (3, True, False),
    }
    etag = reply.headers["ETag"]
    consultations.set_order(hub_db, ["library-hours"])
    headers = wire.sign(*enrolled, "GET", "/api/v1/consultations", b"")
    changed = client.get("/api/v1/consultations", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200  # a new order is news to the nodes
    assert changed.get_json()["consultations"][0]["position"] == 1


def kiosk_topics(node_db) -> list[str]:
    """The topics a node's kiosk lists, in its order."""
    app = create_app(make_app_config(node.db_path(node_db), ROLE="node", DEVICE_ID="node-order"))
    html = app.test_client().get("/").get_data(as_text=True)
    return re.findall(r'name="consultation" value="([^"]+)"', html)


def test_a_node_lists_in_the_hubs_order_and_drops_what_the_hub_archived(
    node_db, hub_client, hub_db
):
    consultations.save(hub_db, [another("parks", "Parks"), another("snow", "Snow removal")])
    consultations.set_order(hub_db, ["snow", "library-hours", "parks"])
    node.pull(node_db, hub_client)
    assert kiosk_topics(node_db) == ["snow", "library-hours", "parks"]
    consultations.set_order(hub_db, ["parks", "snow"])
    consultations.set_archived(hub_db, "snow", True)
    node.pull(node_db, hub_client)
    assert [c.id for c in consultations.open_now(node_db, clock.local_now())] == [
        "parks",
        "library-hours",
    ]
    assert kiosk_topics(node_db) == ["parks", "library-hours"]
    # Archived at the node too: no answers taken, its data kept.
    snow = consultations.get(node_db, "snow")
    assert not consultations.is_accepting(node_db, snow, clock.local_now())
    archived = node_db.execute("SELECT archived_at FROM consultations WHERE id = 'snow'")
    assert archived.fetchone()[0] is not None
    # Brought back at the hub: back on the node's kiosk, in its place.
    consultations.set_archived(hub_db, "snow", False)
    node.pull(node_db, hub_client)
    assert kiosk_topics(node_db) == ["parks", "snow", "library-hours"]


def test_a_node_keeps_its_order_when_an_older_hub_does_not_send_one(node_db, hub_db):
    consultations.save(hub_db, [another("parks", "Parks")])
    consultations.set_order(node_db, ["library-hours"])

    def older_hub(method, url, headers, body, timeout):
        listing = receive.published(hub_db)[1]
        for entry in listing["consultations"]:
            del entry["position"], entry["archived"]
        return HubAnswer(200, json.dumps(listing).encode(), {"etag": '"old"'})

    node.pull(node_db, node.client_from_store(node_db, transport=older_hub))
    assert kiosk_topics(node_db) == ["parks", "library-hours"]  # position 0 first, by id
    assert consultations.get(node_db, "parks").id == "parks"


def test_an_offline_node_closes_what_it_pulled_at_its_closing_minute(
    node_db, hub_client, hub_db, enrolled, monkeypatch
):
    closing = another("evening", "Evening hours", closes="2026-12-10T17:00")
    consultations.save(hub_db, [closing])
    node.pull(node_db, hub_client)
    # Then the hub goes away: the node's sync fails, and keeps failing.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = node.db_path(node_db)
    app = create_app(node_config(path, down, enrolled, TIMEZONE="America/Montreal"))
    with pytest.raises(TransportError):
        node.sync_once(node_db, node.client_from_store(node_db, timeout=2))
    assert node.sync_state(node_db)["failures"] == 1
    kiosk = app.test_client()
    asked: list[str] = []

    def local_now(timezone: str = "UTC", at: datetime | None = None) -> datetime:
        asked.append(timezone)
        return now

    monkeypatch.setattr(clock, "local_now", local_now)
    now = datetime(2026, 12, 10, 16, 59)
    assert "evening" in kiosk_topics_of(app.test_client())
    started = kiosk.post("/start", data={"consultation": "evening", "lang": "fr"})
    page = kiosk.get(started.headers["Location"]).get_data(as_text=True)
    token = re.search(r'name="visit" value="([^"]+)"', page).group(1)
    for number, (question_id, values) in enumerate(
        [("visits", "monthly"), ("times", "sundays"), ("evenings", "yes"), ("rating", "4")],
        start=1,
    ):
        kiosk.post(
            f"/question/{number}",
            data={"visit": token, "question": question_id, "answer": values, "action": "next"},
        )
    now = datetime(2026, 12, 10, 17, 0)
    # (Another screen: the welcome page ends the visit of the screen showing it.)
    assert "evening" not in kiosk_topics_of(app.test_client())
    refused = kiosk.post("/submit", data={"visit": token})
    assert refused.status_code == 409
    assert "Ce sujet a été fermé pendant que vous répondiez" in refused.get_data(as_text=True)
    assert count(node_db) == 0
    assert set(asked) == {"America/Montreal"}


def kiosk_topics_of(kiosk: FlaskClient) -> list[str]:
    html = kiosk.get("/").get_data(as_text=True)
    return re.findall(r'name="consultation" value="([^"]+)"', html)


def test_a_submission_under_an_old_version_syncs_after_the_hub_changed(node_db, hub_client, hub_db):
    queued = record(node_db, 1)[0]
    newer = consultations.parse(
        {**consultations.read_file(EXAMPLE).definition, "title": {"en": "New", "fr": "Nouveau"}}
    )
    consultations.save(hub_db, [newer])
    report = node.sync_once(node_db, hub_client)
    assert report.push.stored == 1 and report.pulled == 1
    assert submissions.get(hub_db, queued["id"])["consultation_version"] != newer.version


def test_heartbeat_reports_the_node_health(node_db, hub_client, hub_db, enrolled):
    record(node_db, 3)
    health = node.health(node_db)
    assert health["queue_depth"] == 3 and health["highest_seq"] == 3
    assert health["oldest_unsynced_age"] >= 0 and health["free_disk"] > 0
    answer = node.heartbeat(node_db, hub_client)
    assert answer["gaps"] == [[1, 3]]
    device = devices.list_devices(hub_db)[0]
    assert device["queue_depth"] == 3 and abs(device["clock_skew"]) < 5
    assert "gaps" not in device["attention"]  # late, not lost: the node still queues them
    assert health["audio"] == "ok" and device["audio"] == "ok"  # espeak-ng is installed here


def test_a_node_without_espeak_tells_the_hub_audio_is_missing(
    node_db, hub_client, hub_db, enrolled, monkeypatch, tmp_path
):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    node.heartbeat(node_db, hub_client)
    device = devices.list_devices(hub_db)[0]
    assert device["audio"] == "missing" and device["attention"] == ["audio missing"]


def test_sync_once_sends_again_what_the_hub_lost(node_db, hub_client, hub_db):
    record(node_db, 6)
    node.sync_once(node_db, hub_client)
    # The hub is restored from an older backup: numbers 3-4 are gone.
    hub_db.execute("DELETE FROM submissions WHERE seq IN (3, 4)")
    report = node.sync_once(node_db, hub_client)
    assert report.gaps == [(3, 4)] and report.requeued == 2 and report.push.stored == 2
    assert devices.ledger_gaps(hub_db, hub_client.device_id) == []


def test_sync_once_records_failures_and_backs_off(node_db, hub_db, client):
    record(node_db, 1)

    def down(*args):
        raise TransportError("connection refused")

    hub_client = node.client_from_store(node_db, transport=down)
    for failures in (1, 2, 3):
        with pytest.raises(TransportError):
            node.sync_once(node_db, hub_client, rng=random.Random(1))
        state = node.sync_state(node_db)
        assert state["failures"] == failures
        assert "connection refused" in state["last_error"]
        assert not node.due(node_db)
    assert node.health(node_db)["last_error"].startswith("TransportError")
    node_db.execute("UPDATE sync_state SET next_attempt_at = NULL")
    node.sync_once(node_db, node.client_from_store(node_db, transport=FlaskTransport(client)))
    assert (
        node.sync_state(node_db)["failures"] == 0 and node.sync_state(node_db)["last_error"] == ""
    )
    assert count(hub_db) == 1


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 8, 20, 1000])
def test_backoff_is_exponential_jittered_and_capped(failures):
    rng = random.Random(failures)
    ceiling = min(600, 5 * 2 ** (failures - 1))
    delays = [node.backoff_delay(failures, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 100  # jittered
    assert node.backoff_delay(0) == 0


def test_a_wrong_node_clock_is_corrected_from_the_hub(node_db, client, hub_db, enrolled):
    record(node_db, 1)
    hub_client = HubClient(
        "http://hub.test",
        *enrolled,
        transport=FlaskTransport(client),
        now=lambda: time.time() + 3600,
    )
    assert node.push(node_db, hub_client).stored == 1
    assert hub_client.clock_offset == pytest.approx(-3600, abs=5)


def test_a_disabled_device_is_refused(node_db, hub_client, hub_db, enrolled):
    record(node_db, 1)
    devices.disable_device(hub_db, enrolled[0])
    with pytest.raises(HubRefused, match="device disabled"):
        node.sync_once(node_db, hub_client)
    assert node.queue_depth(node_db) == 1 and count(hub_db) == 0


def test_a_node_without_enrolment_says_so(tmp_path):
    with store.open_db(tmp_path / "n.db", migrate=True) as bare, pytest.raises(NotEnrolled):
        node.client_from_store(bare)


# --- scheduling, app wiring and commands ---------------------------------------------


def test_the_node_remembers_its_enrolment(tmp_path, enrolled):
    path = tmp_path / "node.db"
    create_app(node_config(path, "http://hub.test:8000", enrolled))
    with store.open_db(path) as db:
        client = node.client_from_store(db)
        assert (client.base_url, client.device_id) == ("http://hub.test:8000", enrolled[0])
        assert submissions.device_id(db) == enrolled[0]


def test_an_app_made_without_the_secret_keeps_the_stored_one(tmp_path, enrolled):
    config = node_config(tmp_path / "node.db", "http://hub.test", enrolled)
    create_app(config)
    # Say, a command run with PARTICIPATE_HUB_URL and PARTICIPATE_DEVICE_ID in its environment.
    create_app({**config, "DEVICE_SECRET": ""})
    with store.open_db(tmp_path / "node.db") as db:
        assert node.client_from_store(db)._secret == enrolled[1]


def test_schedule_adds_an_interval_job_and_a_prompt_job(tmp_path, enrolled):
    from apscheduler.schedulers.background import BackgroundScheduler

    app = create_app(
        node_config(tmp_path / "node.db", "http://hub.test", enrolled, SYNC_INTERVAL=45)
    )
    from participate import sync

    scheduler = BackgroundScheduler(timezone="UTC")
    assert sync.schedule(scheduler, app) is not None
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"sync", "sync-prompt"}
    assert jobs["sync"].trigger.interval.total_seconds() == 45
    assert jobs["sync-prompt"].kwargs == {"only_if_queued": True}
    for job in jobs.values():
        assert job.misfire_grace_time is None and job.max_instances == 1
    hub_app = create_app(make_app_config(tmp_path / "hub.db"))
    assert sync.schedule(BackgroundScheduler(timezone="UTC"), hub_app) is None


def test_node_sync_runs_once_at_a_time_and_respects_backoff(node_db, client, hub_db):
    record(node_db, 2)
    path = node_db.execute("PRAGMA database_list").fetchone()[2]
    runner = NodeSync(path, transport_factory=lambda: FlaskTransport(client))
    with runner._lock:
        assert runner.run() is None  # another run holds the lock
    assert count(hub_db) == 0
    report = runner.run(only_if_queued=True)
    assert report.push.stored == 2
    assert runner.run(only_if_queued=True) is None  # nothing queued
    node_db.execute("UPDATE sync_state SET next_attempt_at = '2999-01-01T00:00:00.000000Z'")
    record(node_db, 1)
    assert runner.run() is None and count(hub_db) == 2


def test_no_two_processes_sync_one_store_at_once(node_db, client, hub_db, runner):
    import fcntl

    from participate.cli import main

    record(node_db, 2)
    path = node_db.execute("PRAGMA database_list").fetchone()[2]
    nodesync = NodeSync(path, transport_factory=lambda: FlaskTransport(client))
    # Another process (a running node, or `participate sync --once`) holds the store's lock.
    with open(f"{path}.sync-lock", "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert nodesync.run() is None
        busy = runner.invoke(main, ["sync", "--db", path, "--once"])
        assert busy.exit_code == 1 and "another sync" in busy.output
    assert count(hub_db) == 0 and node.queue_depth(node_db) == 2
    assert nodesync.run().push.stored == 2


def test_add_device_command_prints_id_and_secret_once(runner, db_path):
    from participate.cli import main

    result = runner.invoke(main, ["add-device", "--db", str(db_path), "Branch library"])
    assert result.exit_code == 0, result.output
    with store.open_db(db_path) as db:
        (device,) = devices.list_devices(db)
        secret = devices.get_device(db, device["id"])["secret"]
    assert device["name"] == "Branch library"
    assert device["id"] in result.output and secret in result.output
    assert runner.invoke(main, ["add-device", "--db", str(db_path), " "]).exit_code != 0
    assert device["channels"] == ("kiosk",) and "Channels: kiosk" in result.output


def test_add_device_and_device_channels_commands_set_what_a_node_may_send(runner, db_path):
    from participate.cli import main

    result = runner.invoke(
        main, ["add-device", "--db", str(db_path), "Gateway", "--channels", "sms,kiosk"]
    )
    assert result.exit_code == 0, result.output
    assert "Channels: kiosk, sms" in result.output
    with store.open_db(db_path) as db:
        (device,) = devices.list_devices(db)
    assert device["channels"] == ("kiosk", "sms")
    changed = runner.invoke(main, ["device-channels", "--db", str(db_path), device["id"], "kiosk"])
    assert changed.exit_code == 0 and f"{device['id']}: channels kiosk" in changed.output
    with store.open_db(db_path) as db:
        assert devices.get_channels(db, device["id"]) == ("kiosk",)
    for args in (
        ["add-device", "--db", str(db_path), "Fax", "--channels", "kiosk,fax"],
        ["device-channels", "--db", str(db_path), device["id"], "fax"],
    ):
        refused = runner.invoke(main, args)
        assert refused.exit_code == 2 and "unknown channel fax" in refused.output
    missing = runner.invoke(main, ["device-channels", "--db", str(db_path), "dev-nope", "sms"])
    assert missing.exit_code == 1 and "no device 'dev-nope'" in missing.output


def test_sync_command_pushes_over_http_and_keeps_secrets_out_of_logs(
    tmp_path, runner, hub_db, enrolled, app, caplog
):
    from participate.cli import main
    from tests.support.browser import ServerThread

    with ServerThread(app) as server:
        node_path = tmp_path / "node.db"
        create_app(node_config(node_path, server.url, enrolled))
        with store.open_db(node_path) as node_store:
            consultations.save(node_store, consultations.read_files([EXAMPLE]))
            record(node_store, 4)
        caplog.set_level(logging.DEBUG)
        result = runner.invoke(main, ["sync", "--db", str(node_path), "--once"])
        assert result.exit_code == 0, result.output
        assert "Stored 4" in result.output and "still queued 0" in result.output
        again = runner.invoke(main, ["sync", "--db", str(node_path), "--once"])
        assert "Stored 0" in again.output
        devices_out = runner.invoke(main, ["devices", "--db", str(hub_db_path(hub_db))])
        assert enrolled[0] in devices_out.output and "held 4" in devices_out.output
    assert count(hub_db) == 4
    assert enrolled[1] not in caplog.text
    assert enrolled[1] not in result.output
    refused = runner.invoke(main, ["sync", "--db", str(node_path)])
    assert refused.exit_code != 0 and "--once" in refused.output


def test_sync_command_explains_a_missing_enrolment(runner, db_path):
    from participate.cli import main

    result = runner.invoke(main, ["sync", "--db", str(db_path), "--once"])
    assert result.exit_code == 1 and "participate node" in result.output


def hub_db_path(db: sqlite_utils.Database) -> str:
    return db.execute("PRAGMA database_list").fetchone()[2]


# --- a large backlog -----------------------------------------------------------------


def _backlog(db: sqlite_utils.Database, device_id: str, total: int) -> None:
    """Queue `total` validated submissions on a node fast, as `record` would store them."""
    consultation = consultations.get(db, "library-hours")
    rng = random.Random(5)
    clean = answer_rules.validate_answers(consultation, ANSWERS)
    rows = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "consultation_id": consultation.id,
            "consultation_version": consultation.version,
            "channel": "kiosk",
            "device_id": device_id,
            "seq": seq,
            "language": "en",
            "started_at": STARTED,
            "submitted_at": STARTED,
            "answers": json.dumps({**clean, "rating": 1 + seq % 5}, sort_keys=True),
        }
        for seq in range(1, total + 1)
    ]
    with store.write(db):
        db.table("submissions").insert_all(rows, batch_size=1000)


def test_a_large_backlog_drains_completely_over_http(node_db, hub_db, app, enrolled):
    from tests.support.browser import ServerThread

    total = 20_000
    _backlog(node_db, enrolled[0], total)
    with ServerThread(app) as server, HubClient(server.url, *enrolled) as hub_client:
        report = node.sync_once(node_db, hub_client)
    assert report.push.stored == total and report.push.remaining == 0
    assert count(hub_db) == total
    assert devices.ledger_gaps(hub_db, enrolled[0]) == []
    assert devices.list_devices(hub_db)[0]["attention"] == []
    mismatched = node_db.execute("SELECT count(*) FROM submissions WHERE synced_at IS NULL")
    assert mismatched.fetchone()[0] == 0


def test_a_new_submission_reaches_the_hub_within_seconds(tmp_path, app, hub_db, enrolled):
    from participate.serve import start_scheduler
    from tests.support.browser import ServerThread

    with ServerThread(app) as server:
        node_path = tmp_path / "node.db"
        node_app = create_app(
            node_config(
                node_path,
                server.url,
                enrolled,
                SYNC_INTERVAL=3600,  # only the prompt job can deliver it in time
                SYNC_PROMPT_SECONDS=0.5,
            )
        )
        scheduler = start_scheduler(node_app)
        try:
            with store.open_db(node_path) as node_store:
                consultations.save(node_store, consultations.read_files([EXAMPLE]))
                (made,) = record(node_store, 1)
            deadline = time.monotonic() + 10
            while submissions.get(hub_db, made["id"]) is None:
                assert time.monotonic() < deadline, "not at the hub after 10 s"
                time.sleep(0.2)
        finally:
            scheduler.shutdown(wait=True)
    with store.open_db(node_path) as node_store:
        assert node.queue_depth(node_store) == 0


def test_definitions_that_do_not_fit_never_hold_back_the_queue(node_db, hub_client, hub_db):
    def poll(consultation_id: str) -> consultations.Consultation:
        return consultations.parse(
            {
                "id": consultation_id,
                "title": "Evenings",
                "keywords": "SOIR",
                "questions": [{"id": "q", "type": "yesno", "text": "Later?"}],
            }
        )

    consultations.save(node_db, [poll("local-poll")])  # loaded on the node by hand
    consultations.save(hub_db, [poll("evening-hours")])  # the hub publishes a clash
    queued = record(node_db, 1)[0]
    report = node.sync_once(node_db, hub_client)
    assert report.push.stored == 1 and submissions.get(hub_db, queued["id"])
    assert "keyword" in report.problem
    state = node.sync_state(node_db)
    assert state["failures"] == 0 and state["last_error"].startswith("pull: ConsultationError")
    assert node.health(node_db)["last_error"] == state["last_error"]


@pytest.mark.parametrize(
    "listing",
    [
        {"consultations": "all"},
        {"consultations": [{"versions": []}]},
        {"consultations": [{"id": "x", "versions": [{"definition": 5}]}]},
        {"consultations": [{"id": "x", "versions": "v1"}]},
        {"consultations": ["x"]},
    ],
)
def test_a_listing_the_node_cannot_read_never_holds_back_the_queue(
    node_db, hub_db, client, listing
):
    class OddListing(FlaskTransport):
        def __call__(self, method, url, headers, body, timeout):
            if method == "GET":
                return HubAnswer(200, json.dumps(listing).encode(), {"etag": '"odd"'})
            return super().__call__(method, url, headers, body, timeout)

    queued = record(node_db, 1)[0]
    hub_client = node.client_from_store(node_db, transport=OddListing(client))
    report = node.sync_once(node_db, hub_client)
    assert report.push.stored == 1 and submissions.get(hub_db, queued["id"])
    assert report.problem.startswith("pull: ConsultationError")
    assert consultations.get(node_db, "library-hours")  # what the node had is kept


def test_device_secret_command_replaces_the_secret(runner, hub_db, enrolled, client):
    from participate.cli import main

    result = runner.invoke(main, ["device-secret", "--db", hub_db_path(hub_db), enrolled[0]])
    assert result.exit_code == 0, result.output
    new_secret = devices.get_device(hub_db, enrolled[0])["secret"]
    assert new_secret != enrolled[1] and new_secret in result.output
    body = json.dumps({"queue_depth": 0}).encode()
    old = signed_post(client, enrolled, "/api/v1/heartbeat", body)
    assert (old.status_code, old.get_json()["reason"]) == (401, "bad signature")
    new = signed_post(client, (enrolled[0], new_secret), "/api/v1/heartbeat", body)
    assert new.status_code == 200
    unknown = runner.invoke(main, ["device-secret", "--db", hub_db_path(hub_db), "dev-nope"])
    assert unknown.exit_code == 1 and "no device" in unknown.output


# --- one pseudonym, one opt-out across the fleet -----------------------------------


def test_the_heartbeat_hands_the_node_the_hubs_pepper_and_never_logs_it(
    node_db, hub_client, hub_db, enrolled, app, caplog
):
    caplog.set_level(logging.DEBUG)
    devices.set_channels(hub_db, enrolled[0], ("kiosk", "sms"))
    node.heartbeat(node_db, hub_client)
    node_path = node.db_path(node_db)
    hub_pepper = fleet.hub_pepper("", app.config["DATABASE"])
    assert fleet.read_pepper(node_path) == hub_pepper
    assert fleet.pepper_file(node_path).stat().st_mode & 0o777 == 0o600
    assert hub_pepper.decode() not in caplog.text
    assert hub_pepper.decode() not in json.dumps(store.get_meta(node_db, "sms_gateway_report"))


def test_a_device_not_enrolled_for_sms_is_never_handed_the_pepper(
    node_db, hub_client, hub_db, enrolled, client
):
    assert devices.get_channels(hub_db, enrolled[0]) == ("kiosk",)
    answer = node.heartbeat(node_db, hub_client)
    assert "phone_pepper" not in answer
    assert not fleet.pepper_file(node.db_path(node_db)).exists()
    direct = signed_post(client, enrolled, "/api/v1/heartbeat", b"{}").get_json()
    assert "phone_pepper" not in direct
    devices.set_channels(hub_db, enrolled[0], ("kiosk", "sms"))
    assert "phone_pepper" in signed_post(client, enrolled, "/api/v1/heartbeat", b"{}").get_json()


def test_opt_outs_travel_both_ways_by_pseudonym_and_the_latest_wins(node_db, hub_client, hub_db):
    texter, stopped_at_hub = "a" * 64, "b" * 64
    with store.write(node_db):
        fleet.record_opt_out(node_db, texter, True, "2026-11-28T10:00:00.000000Z")
    with store.write(hub_db):
        fleet.record_opt_out(
            hub_db, stopped_at_hub, True, "2026-11-28T10:01:00.000000Z", pushed=True
        )
    node.heartbeat(node_db, hub_client)
    assert fleet.opted_out_since(hub_db, texter) == "2026-11-28T10:00:00.000000Z"
    assert fleet.opted_out_since(node_db, stopped_at_hub) == "2026-11-28T10:01:00.000000Z"
    assert fleet.unpushed(node_db) == []  # acknowledged: not sent again
    # START at the hub, later than the STOP: the node follows at the next heartbeat.
    with store.write(hub_db):
        fleet.record_opt_out(hub_db, texter, False, "2026-11-28T11:00:00.000000Z", pushed=True)
    # An older change arriving late changes nothing.
    fleet.take_changes(
        hub_db, [{"respondent": texter, "opted_out": True, "changed_at": "2026-11-28T09:00:00Z"}]
    )
    node.heartbeat(node_db, hub_client)
    assert fleet.opted_out_since(node_db, texter) is None
    assert fleet.opted_out_since(hub_db, texter) is None


def test_a_heartbeat_ignores_opt_outs_that_are_not_pseudonyms(client, hub_db, enrolled):
    body = json.dumps(
        {
            "opt_outs": [
                {"respondent": "+15145550123", "opted_out": True, "changed_at": STARTED},
                {"respondent": "c" * 64, "opted_out": "yes", "changed_at": STARTED},
                "nonsense",
            ]
        }
    ).encode()
    assert signed_post(client, enrolled, "/api/v1/heartbeat", body).status_code == 200
    assert count(hub_db, "SELECT count(*) FROM opt_outs") == 0
