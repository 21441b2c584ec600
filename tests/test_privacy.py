"""Property: with the clock moved forward, the retention job erases exactly what is due.

Hypothesis draws a history: consultations closing on various days with their own
retention periods (or the default), submissions under a few pseudonyms or none (kiosk),
and phone numbers first stored on various days, each with conversations (active or
ended) and outbound messages (pending or settled). The job then runs on several later
days. After each run the store must hold exactly what an independent reading of the
rules keeps: no number, conversation or pseudonym past its time, and nothing else lost.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participate import clock, consultations, privacy, store, submissions
from participate.errors import ConsultationError
from participate.sms import people

BASE = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
PHONE_DAYS = 30
DEFAULT_DAYS = 90
RESPONDENTS = ["", "", "p-aaaa", "p-bbbb", "p-cccc"]

consultation_plans = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-200, 200)),  # closes: days from BASE, or never
        st.one_of(st.none(), st.integers(0, 120)),  # retention_days, or the default
    ),
    min_size=1,
    max_size=4,
)
submission_plans = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(RESPONDENTS)), max_size=12)
contact_plans = st.lists(
    st.tuples(
        st.integers(-100, 10),  # first stored, days from BASE
        st.lists(st.sampled_from(["active", "complete", "stopped", "expired"]), max_size=2),
        st.lists(st.sampled_from(["queued", "sending", "sent", "delivered", "failed"]), max_size=2),
    ),
    max_size=6,
)
clock_steps = st.lists(st.integers(0, 200), min_size=1, max_size=4)


def _load(db, plans) -> list[consultations.Consultation]:
    loaded = []
    for index, (closes, retention) in enumerate(plans):
        data = {
            "id": f"c{index}",
            "title": "A consultation",
            "questions": [{"id": "q", "type": "yesno", "text": "Yes?"}],
        }
        if closes is not None:
            data["closes"] = (BASE.date() + timedelta(days=closes)).isoformat()
        if retention is not None:
            data["retention_days"] = retention
        loaded.append(consultations.parse(data, "test"))
    consultations.save(db, loaded)
    return loaded


def _contacts(db, plans) -> None:
    with store.write(db):
        for index, (first_day, conversations, messages) in enumerate(plans):
            stamp = clock.to_text(BASE + timedelta(days=first_day))
            contact_id = db.execute(
                "INSERT INTO sms_contacts (phone, respondent, created_at, updated_at)"
                " VALUES (?, ?, ?, ?)",
                [f"+1555555{index:04d}", f"p-{index}", stamp, stamp],
            ).lastrowid
            # At most one active conversation a number (the schema's unique index).
            statuses = [s for i, s in enumerate(conversations) if s != "active" or i == 0]
            for status in statuses:
                db.execute(
                    "INSERT INTO sms_conversations (contact_id, consultation_id,"
                    " consultation_version, language, submission_id, status, started_at,"
                    " updated_at) SELECT ?, id, version, 'en', ?, ?, ?, ? FROM consultations"
                    " WHERE id = 'c0'",
                    [contact_id, submissions.new_id(), status, stamp, stamp],
                )
            for status in messages:
                db.execute(
                    "INSERT INTO sms_outbound (contact_id, kind, body, encoding, segments,"
                    " status, next_attempt_at, created_at, updated_at)"
                    " VALUES (?, 'invitation', 'Text C0', 'GSM-7', 1, ?, ?, ?, ?)",
                    [contact_id, status, stamp, stamp, stamp],
                )


def _kept_numbers(contacts, now: datetime) -> set[str]:
    """Read the rules independently: which numbers may still be held at `now`."""
    kept = set()
    for index, (first_day, conversations, messages) in enumerate(contacts):
        active = bool(conversations) and conversations[0] == "active"
        pending = any(m in ("queued", "sending") for m in messages)
        settled = bool(conversations) and not active and not pending
        too_old = BASE + timedelta(days=first_day) < now - timedelta(days=PHONE_DAYS)
        if not (settled or (too_old and not active)):
            kept.add(f"+1555555{index:04d}")
    return kept


def _pseudonyms_kept(plan: tuple, now: datetime) -> bool:
    closes, retention = plan
    if closes is None:
        return True
    drop_after = BASE.date() + timedelta(
        days=closes + (DEFAULT_DAYS if retention is None else retention)
    )
    return now.date() <= drop_after


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(consultation_plans, submission_plans, contact_plans, clock_steps)
def test_the_retention_job_erases_exactly_what_is_due(plans, answers, contacts, steps) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = store.open_db(Path(folder) / "store.db", migrate=True)
        try:
            loaded = _load(db, plans)
            records = [
                submissions.record(
                    db,
                    loaded[which % len(loaded)],
                    channel="sms" if who else "kiosk",
                    language="en",
                    answers={"q": True},
                    started_at=clock.utcnow(),
                    respondent=who,
                )  # fmt: skip
                for which, who in answers
            ]
            _contacts(db, contacts)
            now = BASE
            for step in steps:
                now += timedelta(days=step)
                people.apply_retention(
                    db, now=now, phone_days=PHONE_DAYS, default_days=DEFAULT_DAYS
                )
                numbers = {r[0] for r in db.execute("SELECT phone FROM sms_contacts")}
                assert numbers == _kept_numbers(contacts, now)
                # Every conversation and message belongs to a number still held.
                assert not db.execute(
                    "SELECT 1 FROM sms_conversations v LEFT JOIN sms_contacts c"
                    " ON c.id = v.contact_id WHERE c.id IS NULL"
                ).fetchone()
                for record, (which, who) in zip(records, answers, strict=True):
                    stored = submissions.get(db, record["id"])
                    assert stored is not None, "a submission was lost"
                    assert stored["answers"] == {"q": True}
                    plan = plans[which % len(plans)]
                    expected = who if _pseudonyms_kept(plan, now) else ""
                    assert stored["respondent"] == expected
        finally:
            db.close()


def test_a_consultations_retention_days_is_checked_and_versioned() -> None:
    data = {
        "id": "c",
        "title": "T",
        "questions": [{"id": "q", "type": "yesno", "text": "Q?"}],
    }
    plain = consultations.parse(data)
    kept = consultations.parse({**data, "retention_days": 30})
    assert plain.retention_days is None and kept.retention_days == 30
    assert kept.version != plain.version
    assert consultations.parse(kept.definition).retention_days == 30
    assert consultations.parse({**data, "retention_days": 0}).retention_days == 0
    for bad in (-1, 1.5, "a year", 10**6):
        with pytest.raises(ConsultationError, match="retention_days"):
            consultations.parse({**data, "retention_days": bad})


def test_staff_closing_a_consultation_starts_its_retention(db) -> None:
    data = {"id": "c", "title": "T", "questions": [{"id": "q", "type": "yesno", "text": "Q?"}]}
    consultation = consultations.parse({**data, "retention_days": 10})
    consultations.save(db, [consultation])
    assert privacy.closed_on(db, consultation) is None
    consultations.set_closed(db, "c", True)
    today = date.fromisoformat(clock.utcnow()[:10])
    assert privacy.closed_on(db, consultation) == today
    later = datetime.combine(today + timedelta(days=11), datetime.min.time(), UTC)
    assert privacy.pseudonyms_due(db, now=later, default_days=365) == [
        ("c", today + timedelta(days=10))
    ]


# --- an erasure request across the fleet ------------------------------------------

PHONE = "+15555550123"
NEIGHBOUR = "+15555550199"


def _texter(app):
    """Text an app's signed Twilio webhook from a number; return the replies."""
    from tests.test_sms import inbound, post_signed, replies

    client = app.test_client()

    def send(body: str, phone: str) -> list[str]:
        return replies(post_signed(client, "/sms/twilio", inbound(body, phone)))

    return send


def _answer_all(send, phone: str) -> None:
    for body in ("HOURS", "2", "1", "yes", "4", "3", "Quiet rooms, please"):
        send(body, phone)


def _held(db, respondent: str, phone: str) -> dict[str, int]:
    return {
        "submissions": db.execute(
            "SELECT count(*) FROM submissions WHERE respondent = ?", [respondent]
        ).fetchone()[0],
        "numbers": db.execute(
            "SELECT count(*) FROM sms_contacts WHERE phone = ? OR respondent = ?",
            [phone, respondent],
        ).fetchone()[0],
        "conversations": db.execute(
            "SELECT count(*) FROM sms_conversations v JOIN sms_contacts c ON c.id = v.contact_id"
            " WHERE c.respondent = ?",
            [respondent],
        ).fetchone()[0],
    }


def test_an_erasure_at_the_hub_reaches_the_node_at_its_next_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from participate.app import create_app
    from participate.cli import main
    from participate.sms import phones
    from participate.sync import devices, node
    from tests.conftest import make_app_config
    from tests.test_sms import PEPPER, PUBLIC_URL, TOKEN, example_definition
    from tests.test_sync import FlaskTransport

    # A hub and a node, each answering texts through the SMS channel, one pepper for the fleet.
    hub_path, node_path = tmp_path / "hub.db", tmp_path / "node.db"
    sms = {"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_URL": PUBLIC_URL, "PHONE_PEPPER": PEPPER}
    hub_app = create_app(make_app_config(hub_path, **sms))
    hub_db = store.open_db(hub_path)
    device_id, secret = devices.add_device(hub_db, "Main library", channels=["kiosk", "sms"])
    node_app = create_app(make_app_config(node_path, **sms, ROLE="node", DEVICE_ID=device_id))
    node_db = store.open_db(node_path)
    for db in (hub_db, node_db):
        consultations.save(db, [consultations.parse(example_definition(), "example")])
    node.save_enrolment(node_db, "http://hub.test", device_id, secret)
    hub_client = node.client_from_store(node_db, transport=FlaskTransport(hub_app.test_client()))
    at_hub, at_node = _texter(hub_app), _texter(node_app)
    person = phones.pseudonym(PHONE, PEPPER.encode())

    _answer_all(at_hub, PHONE)  # a conversation at the hub
    _answer_all(at_node, PHONE)  # and one through the node
    _answer_all(at_node, NEIGHBOUR)  # someone else, who keeps everything
    node.sync_once(node_db, hub_client)
    _answer_all(at_node, PHONE)  # again at the node, not yet synced when erased
    at_hub("STOP", PHONE)
    assert _held(hub_db, person, PHONE)["submissions"] == 2
    assert _held(node_db, person, PHONE)["submissions"] == 2

    monkeypatch.setenv("PARTICIPATE_PHONE_PEPPER", PEPPER)
    erase = CliRunner().invoke(main, ["erase", "--db", str(hub_path), "--phone", PHONE])
    assert erase.exit_code == 0, erase.output
    assert "Erased +15555550123: 2 submission(s)" in erase.output
    assert _held(hub_db, person, PHONE) == {"submissions": 0, "numbers": 0, "conversations": 0}

    report = node.sync_once(node_db, hub_client)
    assert report.erased == 2  # the synced copy and the one that was still queued
    for db in (hub_db, node_db):
        assert _held(db, person, PHONE) == {"submissions": 0, "numbers": 0, "conversations": 0}
    # The neighbour's answers are untouched, the node's ledger shows no gap at the hub,
    # and the node acknowledged: the next answer carries no order.
    neighbour = phones.pseudonym(NEIGHBOUR, PEPPER.encode())
    assert _held(hub_db, neighbour, NEIGHBOUR)["submissions"] == 1
    assert devices.ledger_gaps(hub_db, device_id) == []
    assert node.heartbeat(node_db, hub_client)["erase"] == []
    assert node.sync_once(node_db, hub_client).erased == 0

    # The export no longer has them.
    out = tmp_path / "export.jsonl"
    command = ["export", "--db", str(hub_path), "--consultation", "library-hours"]
    exported = CliRunner().invoke(main, [*command, "--format", "jsonl", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["respondent"] for r in rows] == [neighbour]
    assert "Quiet rooms" in out.read_text()  # the neighbour's own comment
    assert person not in out.read_text() and PHONE not in out.read_text()
    # The opt-out survives: the number is told how to opt back in, and nothing more.
    assert at_hub("HOURS", PHONE) == [
        "You opted out of our messages. Reply START, then HOURS, to take part."
    ]
    hub_db.close()
    node_db.close()
