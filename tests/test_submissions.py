"""Recording submissions: validated, numbered, committed once."""

from __future__ import annotations

import pytest

from participate import store, submissions
from participate.clock import utcnow
from participate.errors import AnswersError

ANSWERS = {"visits": "weekly", "times": ["evenings"], "evenings": False, "rating": 5}


def test_record_commits_the_spec_record(db, example) -> None:
    record = submissions.record(
        db, example, channel="kiosk", language="fr", answers=ANSWERS, started_at=utcnow()
    )
    assert record["consultation_id"] == "library-hours"
    assert record["consultation_version"] == example.version
    assert record["language"] == "fr" and record["channel"] == "kiosk"
    assert record["answers"] == ANSWERS and record["complete"] is True
    assert record["hidden"] is False and record["respondent"] == ""
    assert record["device_id"] == store.get_meta(db, "store_id") and record["seq"] == 1
    assert record["submitted_at"] >= record["started_at"]
    assert set(record) == set(submissions.RECORD_FIELDS)


def test_record_is_idempotent_on_its_id(db, example) -> None:
    sid = submissions.new_id()
    first = submissions.record(
        db,
        example,
        channel="kiosk",
        language="en",
        answers=ANSWERS,
        started_at=utcnow(),
        submission_id=sid,
    )
    again = submissions.record(
        db,
        example,
        channel="kiosk",
        language="en",
        answers=ANSWERS,
        started_at=utcnow(),
        submission_id=sid,
    )
    assert again == first
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 1


def test_invalid_answers_store_nothing(db, example) -> None:
    with pytest.raises(AnswersError):
        submissions.record(
            db,
            example,
            channel="kiosk",
            language="en",
            answers={"visits": "daily"},
            started_at=utcnow(),
        )
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def test_incomplete_submissions_keep_partial_answers(db, example) -> None:
    record = submissions.record(
        db,
        example,
        channel="sms",
        language="en",
        answers={"visits": "rarely"},
        started_at=utcnow(),
        respondent="abc",
        complete=False,
    )
    assert record["complete"] is False and record["answers"] == {"visits": "rarely"}


def test_unknown_language_falls_back_and_unknown_channel_is_refused(db, example) -> None:
    record = submissions.record(
        db, example, channel="kiosk", language="de", answers=ANSWERS, started_at=utcnow()
    )
    assert record["language"] == "en"
    with pytest.raises(ValueError, match="channel"):
        submissions.record(
            db, example, channel="fax", language="en", answers=ANSWERS, started_at=utcnow()
        )


def test_node_device_id_numbers_its_own_ledger(db, example) -> None:
    store.set_meta(db, "device_id", "dev-1")
    for expected in (1, 2, 3):
        record = submissions.record(
            db, example, channel="kiosk", language="en", answers=ANSWERS, started_at=utcnow()
        )
        assert (record["device_id"], record["seq"]) == ("dev-1", expected)
