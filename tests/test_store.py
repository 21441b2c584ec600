"""The store: pragmas, migrations, and concurrent writers losing nothing."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from participate import consultations, schema, store, submissions
from participate.clock import utcnow
from tests.conftest import EXAMPLE


def test_open_db_sets_durability_pragmas(db_path: Path) -> None:
    db = store.open_db(db_path)
    pragma = lambda name: db.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") == store.BUSY_TIMEOUT_MS
    db.close()


def test_migrations_are_recorded_and_rerun_safely(db_path: Path) -> None:
    db = store.open_db(db_path)
    applied = [m.name for m in schema.migrations.applied(db)]
    assert applied and applied[0] == "m001_core"
    store_id = store.get_meta(db, "store_id")
    consultations.save(db, consultations.read_files([EXAMPLE]))
    db.close()
    # Re-opening with migrate on an existing file keeps data and applies nothing twice.
    again = store.open_db(db_path, migrate=True)
    assert [m.name for m in schema.migrations.applied(again)] == applied
    assert store.get_meta(again, "store_id") == store_id
    assert again.execute("SELECT count(*) FROM consultations").fetchone()[0] == 1
    assert schema.migrations.pending(again) == []
    again.close()


def test_migrations_are_numbered_in_the_order_they_run() -> None:
    names = [m.name for m in schema.migrations._migrations]
    numbers = [int(name[1:4]) for name in names]
    assert numbers == list(range(1, len(names) + 1)), names


def test_deleted_content_is_overwritten(db_path: Path) -> None:
    # A kiosk's idle reset deletes a visit; its answers must not linger in free pages.
    db = store.open_db(db_path)
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    db.close()


def _migrate(path: str) -> None:
    store.open_db(path, migrate=True).close()


def test_processes_migrating_a_new_file_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_migrate, args=(path,)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    db = store.open_db(path)
    names = [m.name for m in schema.migrations.applied(db)]
    assert len(names) == len(set(names)) == len(schema.migrations._migrations)
    db.close()


def test_write_rolls_back_on_error(db: store.sqlite_utils.Database) -> None:
    with pytest.raises(RuntimeError), store.write(db):
        store.set_meta(db, "half", 1)
        raise RuntimeError("boom")
    assert store.get_meta(db, "half") is None
    assert not db.conn.in_transaction


def test_concurrent_writers_lose_nothing(
    db_path: Path, example: consultations.Consultation
) -> None:
    per_thread, thread_count = 40, 8
    errors: list[BaseException] = []

    def worker() -> None:
        db = store.open_db(db_path)
        try:
            for _ in range(per_thread):
                submissions.record(
                    db,
                    example,
                    channel="kiosk",
                    language="en",
                    answers={
                        "visits": "weekly",
                        "times": ["mornings"],
                        "evenings": True,
                        "rating": 3,
                    },
                    started_at=utcnow(),
                )
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db = store.open_db(db_path)
    rows = db.execute("SELECT seq FROM submissions ORDER BY seq").fetchall()
    # Every write landed, and the ledger numbers them 1..n with no gap or repeat.
    assert [r[0] for r in rows] == list(range(1, per_thread * thread_count + 1))
    db.close()


def test_meta_round_trips_json(db: store.sqlite_utils.Database) -> None:
    store.set_meta(db, "k", {"a": [1, "é"]})
    store.set_meta(db, "k", {"a": [2]})
    assert store.get_meta(db, "k") == {"a": [2]}
    assert store.get_meta(db, "missing", "default") == "default"
