"""The kiosk under a real `participate node` with no hub, and its group commit under load."""

from __future__ import annotations

import copy
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import sqlite_utils
import yaml

from participate import consultations, group_commit, store
from participate.errors import AnswersError
from participate.kiosk import visits
from tests.conftest import EXAMPLE, ROOT


def dateless_example() -> consultations.Consultation:
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.pop("opens", None)
    return consultations.parse(data, "library-hours.yaml")


ANSWERS = {"visits": "rarely", "times": ["evenings"], "evenings": False, "rating": 1}


@pytest.fixture
def loaded(db: sqlite_utils.Database) -> consultations.Consultation:
    consultation = dateless_example()
    consultations.save(db, [consultation])
    store.set_meta(db, "device_id", "node-writer")
    return consultation


def started_visit(db, consultation, answers=ANSWERS) -> visits.Visit:
    visit = visits.start(db, consultation, language="en")
    for question_id, value in answers.items():
        visits.set_answer(db, visit, consultation, question_id, value)
    return visit


def test_group_commit_records_each_concurrent_submit_once(
    db_path: Path, db: sqlite_utils.Database, loaded
) -> None:
    batch = [started_visit(db, loaded) for _ in range(40)]
    group = group_commit.writer_for(db_path)
    errors: list[BaseException] = []

    def submit(visit: visits.Visit) -> None:
        try:
            group.run(lambda wdb: visits.submit(wdb, visit, loaded))
        except BaseException as error:  # reported below
            errors.append(error)

    # Each visit is submitted twice at once, as by a double tap: two requests that both
    # loaded the visit before either committed.
    snapshots = [copy.deepcopy(v) for v in batch for _ in range(2)]
    threads = [threading.Thread(target=submit, args=(v,)) for v in snapshots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    rows = db.execute("SELECT id, seq FROM submissions ORDER BY seq").fetchall()
    assert sorted(r[0] for r in rows) == sorted(v.submission_id for v in batch)
    assert [r[1] for r in rows] == list(range(1, 41))  # the ledger has no gap
    assert db.execute("SELECT count(*) FROM kiosk_visits WHERE answers != '{}'").fetchone()[0] == 0


def test_a_failing_submit_is_rolled_back_alone(
    db_path: Path, db: sqlite_utils.Database, loaded
) -> None:
    good = started_visit(db, loaded)
    bad = started_visit(db, loaded, {"visits": "rarely"})  # required answers missing
    group = group_commit.writer_for(db_path)
    results: dict[str, object] = {}

    def submit(name: str, visit: visits.Visit) -> None:
        try:
            results[name] = group.run(lambda wdb: visits.submit(wdb, visit, loaded))
        except AnswersError as error:
            results[name] = error

    threads = [
        threading.Thread(target=submit, args=("good", good)),
        threading.Thread(target=submit, args=("bad", bad)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(results["bad"], AnswersError)
    assert results["good"]["id"] == good.submission_id
    assert [r[0] for r in db.execute("SELECT id FROM submissions")] == [good.submission_id]
    # The failed visit keeps its answers so the visitor can finish them.
    row = db.execute("SELECT answers FROM kiosk_visits WHERE token = ?", [bad.token]).fetchone()
    assert json.loads(row[0]) == {"visits": "rarely"}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_node_with_no_hub_takes_a_whole_visit(tmp_path: Path) -> None:
    """Run the real `participate node` with its hub unreachable: visits still land."""
    db_path = tmp_path / "node.db"
    with store.open_db(db_path, migrate=True) as db:
        consultations.save(db, [dateless_example()])
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PARTICIPATE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "participate", "node", "--db", str(db_path)]
    command += ["--port", str(port), "--hub", "http://127.0.0.1:9"]  # nothing listens there
    command += ["--device-id", "node-offline", "--device-secret", "not-a-real-secret"]
    log_path = tmp_path / "node.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

        def call(path: str, data: dict | None = None) -> tuple[int, str, str]:
            body = urllib.parse.urlencode(data, doseq=True).encode() if data else None
            try:
                with opener.open(base + path, body, timeout=10) as response:
                    return response.status, response.read().decode(), ""
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode(), error.headers.get("Location", "")

        deadline = time.monotonic() + 30
        while True:
            try:
                if call("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the node did not start"
            time.sleep(0.2)

        assert "Library opening hours" in call("/")[1]
        status, _, location = call("/start", {"consultation": "library-hours", "lang": "en"})
        assert (status, location) == (303, "/question/1")
        token = re.search(r'name="visit" value="([^"]+)"', call("/question/1")[1]).group(1)
        answers = [
            ("visits", ["weekly"]),
            ("times", ["mornings"]),
            ("evenings", ["yes"]),
            ("rating", ["5"]),
            ("hours_per_week", ["3"]),
            ("comments", ["Rien à ajouter."]),
        ]
        for number, (question_id, values) in enumerate(answers, start=1):
            data = {"visit": token, "question": question_id, "answer": values}
            assert call(f"/question/{number}", data)[0] == 303
        assert call("/submit", {"visit": token})[:3:2] == (303, "/thanks")
        assert "Thank you! Your answers were saved." in call("/thanks")[1]
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    with store.open_db(db_path) as db:
        rows = db.execute("SELECT device_id, answers, synced_at FROM submissions").fetchall()
    assert len(rows) == 1
    device, answers_json, synced_at = rows[0]
    assert device == "node-offline" and synced_at is None  # waiting in the store for the hub
    assert json.loads(answers_json)["comments"] == "Rien à ajouter."
