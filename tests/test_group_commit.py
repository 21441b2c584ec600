"""The group writer: shared commits, each unit isolated, nothing acknowledged early."""

from __future__ import annotations

import threading

import pytest

from participate import store
from participate.group_commit import writer_for


def insert(sid: str):
    def work(db):
        db.execute("INSERT INTO meta (key, value) VALUES (?, '1')", [sid])
        return sid

    return work


def sids(db_path) -> set[str]:
    with store.open_db(db_path) as db:
        return {row[0] for row in db.execute("SELECT key FROM meta WHERE value = '1'").fetchall()}


def test_a_unit_is_committed_before_run_returns(db_path) -> None:
    assert writer_for(str(db_path)).run(insert("SM1")) == "SM1"
    assert sids(db_path) == {"SM1"}  # seen from another connection at once


def test_a_failing_unit_is_rolled_back_alone_within_its_group(db_path) -> None:
    writer = writer_for(str(db_path))
    started, release = threading.Event(), threading.Event()

    def blocker(db):
        started.set()
        release.wait(5)
        return insert("SM-first")(db)

    def failing(db):
        insert("SM-failing")(db)
        raise ValueError("bad unit")

    results: dict[str, object] = {}

    def call(name: str, work) -> None:
        try:
            results[name] = writer.run(work)
        except ValueError as error:
            results[name] = error

    first = threading.Thread(target=call, args=("first", blocker))
    first.start()
    assert started.wait(5)
    # These two queue while the first group runs, so they commit together afterwards.
    others = [
        threading.Thread(target=call, args=("failing", failing)),
        threading.Thread(target=call, args=("ok", insert("SM-ok"))),
    ]
    for thread in others:
        thread.start()
    while writer.units.qsize() < 2:
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert results["first"] == "SM-first" and results["ok"] == "SM-ok"
    assert isinstance(results["failing"], ValueError)
    assert sids(db_path) == {"SM-first", "SM-ok"}


def test_concurrent_units_all_commit(db_path) -> None:
    writer = writer_for(str(db_path))
    errors: list[BaseException] = []

    def many(prefix: str) -> None:
        try:
            for number in range(25):
                writer.run(insert(f"{prefix}-{number}"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=many, args=(f"T{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(sids(db_path)) == 200


def test_a_duplicate_key_error_reaches_the_caller(db_path) -> None:
    import sqlite3

    writer = writer_for(str(db_path))
    writer.run(insert("SM-dup"))
    with pytest.raises(sqlite3.IntegrityError):
        writer.run(insert("SM-dup"))
    assert writer.run(insert("SM-after")) == "SM-after"


def test_a_store_that_cannot_be_opened_fails_the_request_instead_of_hanging(tmp_path) -> None:
    import sqlite3

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's folder should be")
    writer = writer_for(str(blocker / "store.db"))
    with pytest.raises((OSError, sqlite3.Error)):
        writer.run(insert("SM-nowhere"))
