"""A texter's access and erasure requests, and the retention of numbers and pseudonyms."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from participate import clock, privacy, submissions
from participate.cli import main
from participate.sms import config as sms_config
from participate.sms import contacts, outbound
from participate.sms import people as sms_people
from tests.test_sms import (  # the signed-webhook helpers
    OTHER_PHONE,
    PEPPER,
    PHONE,
    count_rows,
    pseudonym,
)
from tests.test_sms import app_settings as app_settings
from tests.test_sms import consultation as consultation
from tests.test_sms import text as text


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the commands the pepper the server used (they read PARTICIPATE_* settings)."""
    monkeypatch.setenv("PARTICIPATE_PHONE_PEPPER", PEPPER)


def run(*args: str) -> object:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def held(db, phone: str = PHONE) -> dict[str, int]:
    """Count what the store holds about a number, by number and by pseudonym."""
    respondent = pseudonym(phone)
    return {
        "contacts": db.execute(
            "SELECT count(*) FROM sms_contacts WHERE phone = ? OR respondent = ?",
            [phone, respondent],
        ).fetchone()[0],
        "submissions": db.execute(
            "SELECT count(*) FROM submissions WHERE respondent = ?", [respondent]
        ).fetchone()[0],
        "opted_out": db.execute(
            "SELECT count(*) FROM sms_opt_outs WHERE respondent = ?", [respondent]
        ).fetchone()[0],
    }


def answer_all(text, phone: str = PHONE) -> None:
    for body in ("HOURS", "2", "1", "yes", "4", "3", "Quiet rooms please"):
        text(body, phone)


# --- erasure ---------------------------------------------------------------------


def test_erase_removes_a_texters_answers_and_number_and_keeps_their_stop(
    text, db, db_path, env
) -> None:
    answer_all(text)
    text("HOURS")  # a second conversation, in progress
    text("2")
    text("STOP")  # ends it (an incomplete submission) and opts out
    answer_all(text, OTHER_PHONE)
    assert held(db) == {"contacts": 1, "submissions": 2, "opted_out": 1}

    result = run("erase", "--db", str(db_path), "--phone", "(555) 555-0123")
    assert result.exit_code == 0, result.output
    assert "Erased +15555550123: 2 submission(s), 2 conversation(s)" in result.output
    assert held(db) == {"contacts": 0, "submissions": 0, "opted_out": 1}
    assert count_rows(db, "sms_conversations") == 1  # the other number's
    assert held(db, OTHER_PHONE)["submissions"] == 1
    # The STOP holds: the number texting a keyword again is only told how to opt back in.
    assert text("HOURS") == [
        "You opted out of our messages. Reply START, then HOURS, to take part."
    ]
    # The audit log has who, when and counts; no number, only the pseudonym's start.
    [entry] = privacy.recent_log(db)
    assert entry["action"] == "erase" and entry["counts"]["submissions"] == 2
    assert entry["respondent"] == pseudonym(PHONE)[:12]
    assert PHONE not in json.dumps(entry)


def test_erased_ledger_numbers_are_never_given_again(text, db, db_path, env) -> None:
    answer_all(text)
    answer_all(text, OTHER_PHONE)
    last = db.execute("SELECT max(seq) FROM submissions").fetchone()[0]
    run("erase", "--db", str(db_path), "--phone", OTHER_PHONE)
    answer_all(text, "+15555550177")
    assert db.execute("SELECT max(seq) FROM submissions").fetchone()[0] == last + 1


def test_erase_of_a_number_that_never_texted_says_so_and_changes_nothing(
    text, db, db_path, env
) -> None:
    answer_all(text)
    before = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
    result = run("erase", "--db", str(db_path), "--phone", "+15555550111")
    assert result.exit_code == 0
    assert "Nothing is held about +15555550111: it never texted this store." in result.output
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == before
    assert count_rows(db, "erasure_orders") == 0 and count_rows(db, "privacy_log") == 0


@pytest.mark.parametrize("number", ["not a number", "12", "+1 555 555 0123 4567 8901 234", ""])
def test_a_malformed_number_is_refused_with_a_clear_message(text, db, db_path, env, number) -> None:
    answer_all(text)
    for command in (["erase"], ["subject", "-o", "-"]):
        result = run(*command, "--db", str(db_path), "--phone", number)
        assert result.exit_code == 1
        assert "is not a phone number" in result.output or "not a valid" in result.output
    assert held(db)["submissions"] == 1 and count_rows(db, "privacy_log") == 0


def test_erase_keeps_kiosk_answers_which_are_anonymous(db, example, app) -> None:
    kiosk = submissions.record(
        db, example, channel="kiosk", language="en", answers={"visits": "weekly"},
        started_at=clock.utcnow(), complete=False,
    )  # fmt: skip
    people = app.extensions[privacy.PEOPLE]
    assert people.erase(db, PHONE).known is False
    assert submissions.get(db, kiosk["id"]) is not None
    with pytest.raises(ValueError, match="anonymous"):
        submissions.erase(db, respondent="")


# --- access ----------------------------------------------------------------------


def test_subject_writes_everything_held_about_a_number(
    text, db, db_path, app, tmp_path: Path, env
) -> None:
    answer_all(text)
    text("HOURS")
    text("3")  # in progress
    settings = sms_config.get(app)
    consultation_id = "library-hours"
    outbound.enqueue(db, settings, PHONE, "Reminder: text HOURS", kind="reminder",
                     consultation_id=consultation_id)  # fmt: skip
    answer_all(text, OTHER_PHONE)
    out = tmp_path / "subject.json"
    result = run("subject", "--db", str(db_path), "--phone", "555-555-0123", "-o", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert report["number"] == PHONE and report["pseudonym"] == pseudonym(PHONE)
    assert report["opted_out"] is False
    [done] = report["submissions"]
    assert done["answers"]["comments"] == "Quiet rooms please" and done["complete"] is True
    assert [c["status"] for c in report["conversations"]] == ["complete", "active"]
    assert report["conversations"][1]["answers"] == {"visits": "rarely"}
    [queued] = report["messages_queued"]
    assert queued["body"] == "Reminder: text HOURS" and queued["kind"] == "reminder"
    assert OTHER_PHONE not in out.read_text()
    text("STOP")
    result = run("subject", "--db", str(db_path), "--phone", PHONE, "-o", "-")
    assert json.loads(result.output)["opted_out"] is True
    assert [e["action"] for e in privacy.recent_log(db)] == ["subject", "subject"]


# --- retention -------------------------------------------------------------------

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_a_settled_number_is_forgotten_by_the_daily_job_and_its_answers_stay(text, db, app) -> None:
    answer_all(text)  # complete: settled
    text("HOURS", OTHER_PHONE)  # still in a conversation: kept
    counts = sms_people.apply_retention(db, now=NOW, phone_days=30, default_days=365)
    assert counts["numbers"] == 1 and counts["conversations"] == 1
    assert held(db) == {"contacts": 0, "submissions": 1, "opted_out": 0}
    assert held(db, OTHER_PHONE)["contacts"] == 1
    # The same person texting again is a new contact with the same pseudonym.
    text("HOURS")
    assert contacts.find(db, PHONE) is not None


def test_a_number_forgotten_after_answering_is_not_invited_or_reminded_again(
    text, db, app, consultation
) -> None:
    from participate.sms.commands import invite_numbers

    real = "+14155552671"  # invitations go to numbers in service only
    answer_all(text, real)
    sms_people.apply_retention(db, now=NOW, phone_days=30, default_days=365)
    assert held(db, real)["contacts"] == 0
    settings = sms_config.get(app)
    for kind in ("invitation", "reminder"):
        report = invite_numbers(db, settings, consultation, [(1, real)], lang="en", kind=kind)
        assert (report.queued, report.already) == (0, 1)
    assert count_rows(db, "sms_outbound") == 0


def test_an_erased_submission_is_never_sent_to_a_webhook(text, db, db_path, env) -> None:
    db.execute(
        "INSERT INTO webhooks (consultation_id, url, secret, created_at)"
        " VALUES ('library-hours', 'https://example.org/hook', 's', '2026-11-28T00:00:00Z')"
    )
    answer_all(text)
    answer_all(text, OTHER_PHONE)
    run("erase", "--db", str(db_path), "--phone", PHONE)
    due = db.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL"
    ).fetchone()[0]
    assert due == 1  # the other person's only
