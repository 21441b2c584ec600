"""The hub's device registry, fleet health and ledger gaps (participate.devices)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlite_utils

from participate import clock, consultations
from participate.errors import NotFound
from participate.sync import devices
from tests.support.stored import rejections


def _hold(db: sqlite_utils.Database, consultation, device_id: str, seqs) -> None:
    """Put submissions numbered `seqs` from `device_id` in the hub store, as sync would."""
    for seq in seqs:
        db.table("submissions").insert(
            {
                "id": f"{device_id}-{seq}",
                "consultation_id": consultation.id,
                "consultation_version": consultation.version,
                "channel": "kiosk",
                "device_id": device_id,
                "seq": seq,
                "language": "en",
                "started_at": clock.utcnow(),
                "submitted_at": clock.utcnow(),
                "received_at": clock.utcnow(),
                "answers": json.dumps({}),
            }
        )


def _device(db: sqlite_utils.Database, device_id: str, **kwargs) -> dict:
    return next(d for d in devices.list_devices(db, **kwargs) if d["id"] == device_id)


def test_add_device_makes_distinct_ids_and_secrets(db):
    first = devices.add_device(db, "  Main library ")
    second = devices.add_device(db, "Branch")
    assert first[0] != second[0] and first[1] != second[1]
    assert len(first[1]) >= 40
    row = devices.get_device(db, first[0])
    assert row["name"] == "Main library" and row["secret"] == first[1]
    listed = devices.list_devices(db)
    assert [d["name"] for d in listed] == ["Branch", "Main library"]
    assert all("secret" not in d for d in listed)


def test_add_device_refuses_an_empty_name(db):
    with pytest.raises(ValueError):
        devices.add_device(db, "   ")
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 0


def test_a_device_takes_kiosk_visits_until_given_other_channels(db):
    device_id, _ = devices.add_device(db, "Kiosk")
    assert devices.get_channels(db, device_id) == ("kiosk",)
    assert devices.set_channels(db, device_id, [" sms", "kiosk", "sms"]) == ("kiosk", "sms")
    assert devices.get_channels(db, device_id) == ("kiosk", "sms")
    assert _device(db, device_id)["channels"] == ("kiosk", "sms")
    gateway, _ = devices.add_device(db, "Gateway", ["sms"])
    assert devices.get_channels(db, gateway) == ("sms",)


@pytest.mark.parametrize(
    ("channels", "message"),
    [(["fax"], "unknown channel fax"), ([], "at least one channel"), ([""], "at least one")],
)
def test_unknown_or_no_channels_are_refused(db, channels, message):
    device_id, _ = devices.add_device(db, "Kiosk")
    with pytest.raises(ValueError, match=message):
        devices.set_channels(db, device_id, channels)
    with pytest.raises(ValueError, match=message):
        devices.add_device(db, "Other", channels)
    assert devices.get_channels(db, device_id) == ("kiosk",)
    assert db.execute("SELECT count(*) FROM devices").fetchone()[0] == 1


def test_channels_of_an_unknown_device(db):
    with pytest.raises(NotFound):
        devices.get_channels(db, "dev-nope")
    with pytest.raises(NotFound):
        devices.set_channels(db, "dev-nope", ["kiosk"])


def test_a_new_device_was_never_seen(db):
    device_id, _ = devices.add_device(db, "Kiosk")
    device = _device(db, device_id)
    assert device["attention"] == ["never seen"]
    assert device["last_seen_at"] is None and device["gaps"] == []


def test_disable_and_enable(db):
    device_id, _ = devices.add_device(db, "Kiosk")
    devices.disable_device(db, device_id)
    assert devices.get_device(db, device_id)["disabled_at"]
    assert "disabled" in _device(db, device_id)["attention"]
    devices.enable_device(db, device_id)
    assert devices.get_device(db, device_id)["disabled_at"] is None
    with pytest.raises(NotFound):
        devices.disable_device(db, "dev-nope")


def test_heartbeat_is_kept_with_clock_skew_and_aged_queue(db):
    device_id, _ = devices.add_device(db, "Kiosk")
    now = clock.utcnow()
    node_clock = clock.to_text(clock.parse(now) + timedelta(seconds=90))
    devices.record_heartbeat(
        db,
        device_id,
        {
            "version": "0.1.0",
            "queue_depth": 12,
            "oldest_unsynced_age": 30.0,
            "highest_seq": 0,
            "node_clock": node_clock,
            "free_disk": 10 * 1024**3,
            "last_error": "",
        },
        now=now,
    )
    later = clock.parse(now) + timedelta(seconds=60)
    device = _device(db, device_id, now=later)
    assert device["version"] == "0.1.0" and device["queue_depth"] == 12
    assert device["clock_skew"] == pytest.approx(90, abs=0.01)
    assert device["oldest_unsynced_age"] == pytest.approx(90, abs=0.01)
    assert device["seconds_since_contact"] == pytest.approx(60, abs=0.01)
    assert device["attention"] == ["clock skew"]


@pytest.mark.parametrize(
    ("report", "seconds_later", "flag"),
    [
        ({"queue_depth": 0}, 16 * 60, "stale"),
        ({"queue_depth": 5000, "oldest_unsynced_age": 5}, 0, "backed up"),
        ({"queue_depth": 3, "oldest_unsynced_age": 2 * 3600}, 0, "backed up"),
        ({"queue_depth": 0, "last_error": "TransportError: refused"}, 0, "sync error"),
        ({"queue_depth": 0, "free_disk": 1024}, 0, "low disk"),
        ({"queue_depth": 0, "audio": "missing"}, 0, "audio missing"),
    ],
)
def test_attention_flags(db, report, seconds_later, flag):
    device_id, _ = devices.add_device(db, "Kiosk")
    now = clock.utcnow()
    devices.record_heartbeat(db, device_id, report, now=now)
    device = _device(db, device_id, now=clock.parse(now) + timedelta(seconds=seconds_later))
    assert device["attention"] == [flag]


def test_refusals_are_shown_until_a_request_passes(db):
    device_id, _ = devices.add_device(db, "Kiosk")
    devices.record_refusal(db, device_id, "bad signature")
    assert _device(db, device_id)["refused_reason"] == "bad signature"
    assert "refused" in _device(db, device_id)["attention"]
    devices.clear_refusal(db, device_id)
    assert "refused" not in _device(db, device_id)["attention"]


@pytest.mark.parametrize(
    ("held", "highest", "gaps"),
    [
        ([], 0, []),
        ([], 3, [(1, 3)]),
        ([1, 2, 3], 3, []),
        ([1, 2, 3], 5, [(4, 5)]),
        ([2, 3], 3, [(1, 1)]),
        ([1, 2, 5, 6, 9], 12, [(3, 4), (7, 8), (10, 12)]),
        ([1, 2, 3, 4], 2, []),  # the hub holds more than the node last reported
    ],
)
def test_ledger_gaps(db, example, held, highest, gaps):
    device_id, _ = devices.add_device(db, "Kiosk")
    _hold(db, example, device_id, held)
    assert devices.ledger_gaps(db, device_id, highest) == gaps


def test_gaps_use_the_reported_highest_number_and_count_rejections(db, example):
    device_id, _ = devices.add_device(db, "Kiosk")
    _hold(db, example, device_id, [1, 2, 4, 5])
    devices.record_heartbeat(db, device_id, {"highest_seq": 8, "queue_depth": 0})
    device = _device(db, device_id)
    assert device["gaps"] == [(3, 3), (6, 8)]
    assert device["missing"] == 4
    assert devices.format_gaps(device["gaps"]) == "3, 6-8"
    assert "gaps" in device["attention"]

    # A rejected number is accounted for: not a gap, but called out as rejected.
    devices.record_rejection(db, device_id, "sub-3", 3, "invalid answers", {"id": "sub-3"})
    device = _device(db, device_id)
    assert device["gaps"] == [(6, 8)]
    assert device["rejected"] == 1
    assert "rejected" in device["attention"]
    assert rejections(db, device_id)[0]["reason"] == "invalid answers"


def test_numbers_still_queued_are_late_not_a_gap(db, example):
    device_id, _ = devices.add_device(db, "Kiosk")
    _hold(db, example, device_id, [1, 2])
    devices.record_heartbeat(db, device_id, {"highest_seq": 5, "queue_depth": 3})
    device = _device(db, device_id)
    assert device["gaps"] == [(3, 5)]
    assert "gaps" not in device["attention"]


def test_other_versions_do_not_matter_to_the_ledger(db, example):
    # A second version of the consultation: the ledger is per device, whatever was answered.
    newer = consultations.parse({**example.definition, "title": "Hours, again"})
    consultations.save(db, [newer])
    device_id, _ = devices.add_device(db, "Kiosk")
    _hold(db, example, device_id, [1])
    _hold(db, newer, device_id, [2])
    assert devices.held_summary(db, device_id) == (2, 2)
    assert devices.ledger_gaps(db, device_id, 2) == []


def test_replace_secret(db):
    device_id, old = devices.add_device(db, "Kiosk")
    new = devices.replace_secret(db, device_id)
    assert new != old and devices.get_device(db, device_id)["secret"] == new
    with pytest.raises(NotFound):
        devices.replace_secret(db, "dev-nope")


def test_a_heartbeat_keeps_only_the_well_typed_gateway_fields(db):
    device_id, _ = devices.add_device(db, "Branch")
    report = {
        "kind": "android",
        "in_today": 3,
        "out_today": "many",  # not a number: dropped
        "queued": True,  # a boolean is not a count
        "last_error": "x" * 900,
        "extra": "ignored",
    }
    devices.record_heartbeat(db, device_id, {"gateway": devices.checked_gateway(report)})
    listed = _device(db, device_id)
    assert listed["gateway"] == {"kind": "android", "in_today": 3, "last_error": "x" * 500}
    assert listed["attention"] == ["sms gateway"]


def test_a_node_without_a_gateway_reports_none(db):
    device_id, _ = devices.add_device(db, "Kiosk")
    devices.record_heartbeat(db, device_id, {"gateway": devices.checked_gateway(None)})
    assert _device(db, device_id)["gateway"] == {}
