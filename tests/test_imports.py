"""`participate import` and bundles: exports and USB bundles stored idempotently by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from participate import clock, consultations, store, submissions, tallies
from participate.cli import main
from participate.hub import imports, moderation
from participate.sync import bundles, devices, node
from tests.conftest import EXAMPLE

ANSWERS = {"visits": "weekly", "times": ["sundays"], "evenings": True, "rating": 4}


def _fill(db: sqlite_utils.Database, count: int) -> list[dict]:
    example = consultations.get(db, "library-hours")
    made = []
    for n in range(count):
        answers = {**ANSWERS, "rating": 1 + n % 5, "comments": f'Idée n°{n}, "quoted"\nline'}
        made.append(
            submissions.record(
                db,
                example,
                channel="sms" if n % 3 else "kiosk",
                language="fr" if n % 2 else "en",
                answers=answers,
                started_at=clock.utcnow(),
                complete=True,
            )
        )
    return made


def _export(runner: CliRunner, db_path: Path, out: Path, fmt: str) -> bytes:
    args = ["export", "--db", str(db_path), "--consultation", "library-hours"]
    result = runner.invoke(main, [*args, "--format", fmt, "-o", str(out), "--include-hidden"])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_round_trip_is_byte_for_byte(
    tmp_path: Path, db: sqlite_utils.Database, db_path: Path, example, runner: CliRunner, fmt: str
) -> None:
    made = _fill(db, 12)
    moderation.moderate(db, made[3]["id"], "hide", "abuse", "staff@example.org")
    first = _export(runner, db_path, tmp_path / f"first.{fmt}", fmt)
    empty = tmp_path / "empty.db"
    if fmt == "jsonl":  # JSON Lines carries no definitions: the store must hold the version
        assert runner.invoke(main, ["load", "--db", str(empty), str(EXAMPLE)]).exit_code == 0
    result = runner.invoke(main, ["import", "--db", str(empty), str(tmp_path / f"first.{fmt}")])
    assert result.exit_code == 0, result.output
    assert "stored 12, duplicate 0, refused 0" in result.output
    second = _export(runner, empty, tmp_path / f"second.{fmt}", fmt)
    assert second == first
    with store.open_db(empty) as copy:
        assert tallies.differences(copy) == []
    again = runner.invoke(main, ["import", "--db", str(empty), str(tmp_path / f"first.{fmt}")])
    assert "stored 0, duplicate 12, refused 0" in again.output


def _records(db_path: Path, tmp_path: Path, runner: CliRunner) -> list[dict]:
    text = _export(runner, db_path, tmp_path / "all.jsonl", "jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def test_different_content_under_a_held_id_is_refused_and_nothing_overwritten(
    tmp_path: Path, db: sqlite_utils.Database, db_path: Path, example, runner: CliRunner
) -> None:
    _fill(db, 3)
    records = _records(db_path, tmp_path, runner)
    changed = {**records[0], "answers": {**records[0]["answers"], "rating": 5 - 1}}
    changed["answers"]["rating"] = 1 if records[0]["answers"]["rating"] != 1 else 2
    report = imports.import_file(db, _write_jsonl(tmp_path / "x.jsonl", [changed, records[1]]))
    assert (report.stored, report.duplicate, report.refused) == (0, 1, 1)
    assert "different content" in next(iter(report.reasons))
    assert submissions.get(db, records[0]["id"])["answers"] == records[0]["answers"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"answers": {"visits": "never"}}, "invalid answers"),
        ({"consultation_version": "nope"}, "unknown consultation"),
        ({"channel": "fax"}, "channel must be"),
        ({"seq": 0}, "seq must be"),
        ({"submitted_at": "yesterday"}, "ISO-8601"),
        ({"language": "de"}, "not offered"),
        ({"hidden": "no"}, "true or false"),
    ],
)
def test_bad_records_are_refused_with_their_reason(
    tmp_path: Path,
    db: sqlite_utils.Database,
    db_path: Path,
    example,
    runner: CliRunner,
    change: dict,
    reason: str,
) -> None:
    _fill(db, 1)
    record = _records(db_path, tmp_path, runner)[0]
    fresh = {**record, "id": "imported-1", "seq": 999, **change}
    before = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
    report = imports.import_file(db, _write_jsonl(tmp_path / "bad.jsonl", [fresh]))
    assert report.refused == 1 and reason in next(iter(report.reasons))
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == before


def test_a_ledger_number_holding_another_submission_is_refused(
    tmp_path: Path, db: sqlite_utils.Database, db_path: Path, example, runner: CliRunner
) -> None:
    _fill(db, 1)
    record = _records(db_path, tmp_path, runner)[0]
    report = imports.import_file(
        db, _write_jsonl(tmp_path / "seq.jsonl", [{**record, "id": "another-id"}])
    )
    assert report.refused == 1 and "ledger number" in next(iter(report.reasons))


def test_a_file_that_is_not_an_export_is_refused_whole(tmp_path: Path, db_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"consultation": {"id": "x", "versions": {"v1": {"id": "x"}}}, "submissions": [\n]}\n'
    )
    result = CliRunner().invoke(main, ["import", "--db", str(db_path), str(bad)])
    assert result.exit_code == 1 and "Error:" in result.output


# --- bundles -----------------------------------------------------------------------------


@pytest.fixture
def hub(db: sqlite_utils.Database, example) -> sqlite_utils.Database:
    return db


@pytest.fixture
def enrolled(hub: sqlite_utils.Database) -> tuple[str, str]:
    # The branch takes texts too (its own gateway), so it is enrolled for both channels.
    return devices.add_device(hub, "Branch with no network", channels=("kiosk", "sms"))


@pytest.fixture
def node_path(tmp_path: Path, enrolled: tuple[str, str]) -> Path:
    path = tmp_path / "node.db"
    with store.open_db(path, migrate=True) as connection:
        consultations.save(connection, consultations.read_files([EXAMPLE]))
        node.save_enrolment(connection, "http://hub.invalid", *enrolled)
        _fill(connection, 5)
    return path


def _bundle(runner: CliRunner, node_path: Path, out: Path) -> Path:
    result = runner.invoke(main, ["bundle", "--db", str(node_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 5 unsynced submissions" in result.output
    return out


def test_bundle_travels_to_the_hub_and_its_receipt_back(
    tmp_path: Path, hub: sqlite_utils.Database, db_path: Path, node_path: Path, runner: CliRunner
) -> None:
    bundle = _bundle(runner, node_path, tmp_path / "usb" / "branch.bundle")
    with store.open_db(node_path) as node_db:
        assert node.queue_depth(node_db) == 5  # nothing marked before the hub says so
    result = runner.invoke(main, ["import", "--db", str(db_path), str(bundle)])
    assert result.exit_code == 0, result.output
    assert "stored 5, duplicate 0, refused 0" in result.output
    assert "ledger numbers still missing: none" in result.output
    receipt = tmp_path / "usb" / "branch.receipt.json"
    assert receipt.exists()
    assert (
        hub.execute("SELECT count(*) FROM submissions WHERE received_at IS NOT NULL").fetchone()[0]
        == 5
    )
    assert tallies.differences(hub) == []
    # Imported twice: nothing new stored, a receipt still written.
    again = runner.invoke(main, ["import", "--db", str(db_path), str(bundle)])
    assert "stored 0, duplicate 5, refused 0" in again.output
    acked = runner.invoke(main, ["bundle", "--db", str(node_path), "--ack", str(receipt)])
    assert acked.exit_code == 0, acked.output
    assert "Marked 5 submissions synced" in acked.output
    with store.open_db(node_path) as node_db:
        assert node.queue_depth(node_db) == 0


@pytest.mark.parametrize("tamper", ["payload", "signature", "device"])
def test_a_tampered_bundle_is_refused_and_stores_nothing(
    tmp_path: Path,
    hub: sqlite_utils.Database,
    db_path: Path,
    node_path: Path,
    runner: CliRunner,
    tamper: str,
) -> None:
    bundle = _bundle(runner, node_path, tmp_path / "b.bundle")
    envelope = json.loads(bundle.read_text())
    if tamper == "payload":  # an answer changed on the stick
        envelope["payload"] = envelope["payload"].replace('"rating": 4', '"rating": 5', 1)
    elif tamper == "signature":  # re-signed by someone without the device's key
        payload = json.loads(envelope["payload"])
        forged = bundles.sign_file(bundles.BUNDLE_FORMAT, envelope["device_id"], "guess", payload)
        envelope = json.loads(forged)
    else:  # claims to come from a device the hub does not know
        envelope["device_id"] = "dev-unknown"
    bundle.write_text(json.dumps(envelope) + "\n")
    result = runner.invoke(main, ["import", "--db", str(db_path), str(bundle)])
    assert result.exit_code == 1
    assert {"payload": "altered", "signature": "signature", "device": "unknown device"}[
        tamper
    ] in result.output
    assert hub.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def test_a_receipt_for_another_device_or_forged_is_refused(
    tmp_path: Path, hub: sqlite_utils.Database, db_path: Path, node_path: Path, runner: CliRunner
) -> None:
    bundle = _bundle(runner, node_path, tmp_path / "b.bundle")
    runner.invoke(main, ["import", "--db", str(db_path), str(bundle)])
    receipt = tmp_path / "b.receipt.json"
    envelope = json.loads(receipt.read_text())
    forged = bundles.sign_file(
        bundles.RECEIPT_FORMAT,
        envelope["device_id"],
        "not-the-key",
        json.loads(envelope["payload"]),
    )
    receipt.write_text(forged)
    result = runner.invoke(main, ["bundle", "--db", str(node_path), "--ack", str(receipt)])
    assert result.exit_code == 1 and "signature" in result.output
    with store.open_db(node_path) as node_db:
        assert node.queue_depth(node_db) == 5


def test_a_bundle_with_a_gap_shows_it_on_the_devices_page(
    tmp_path: Path,
    hub: sqlite_utils.Database,
    db_path: Path,
    node_path: Path,
    enrolled: tuple[str, str],
    runner: CliRunner,
) -> None:
    with store.open_db(node_path) as node_db:  # number 2 was lost before the bundle was made
        node_db.execute("UPDATE submissions SET synced_at = 'x' WHERE seq = 2")
    bundle = tmp_path / "gap.bundle"
    result = runner.invoke(main, ["bundle", "--db", str(node_path), "-o", str(bundle)])
    assert "Wrote 4" in result.output
    result = runner.invoke(main, ["import", "--db", str(db_path), str(bundle)])
    assert "ledger numbers still missing: 2" in result.output
    assert devices.ledger_gaps(hub, enrolled[0]) == [(2, 2)]
