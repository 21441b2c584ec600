"""The gammu gateway against the real gammu-smsd, driving Gammu's dummy phone (a folder)."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from participate import consultations, fleet, store
from participate.app import create_app
from participate.hub import export
from participate.serve import make_server
from participate.sms import config as sms_config
from participate.sms import contacts, gammu, jobs, outbound, phones, segments
from participate.sms.commands import invite_numbers
from participate.sync import devices, node
from participate.sync.errors import TransportError
from tests.conftest import EXAMPLE
from tests.support.gammu_daemon import INSTALLED, Daemon, read_sent_file, wait_for

pytestmark = pytest.mark.skipif(
    not INSTALLED, reason="Debian's gammu and gammu-smsd are not installed (CI installs them)"
)

TEXTER = "+15145550123"  # a fictional Montréal number (555-01xx)
PEPPER = "a-pepper-for-the-whole-test-fleet"


@pytest.fixture
def daemon(tmp_path: Path):
    running = Daemon(tmp_path / "gammu").start()
    yield running
    running.stop()


def node_app(path: Path, daemon_config: Path, **changes):
    config = {
        "TESTING": True,
        "DATABASE": str(path),
        "SECRET_KEY": "t",
        "ROLE": "node",
        "SMS_GATEWAY": "gammu",
        "GAMMU_CONFIG": str(daemon_config),
        "SMS_GATEWAY_PER_MINUTE": 60_000,  # tests do not wait on a modem's pace
        "SMS_QUIET_HOURS": "",
        "LANGUAGES": ["fr", "en"],
    }
    return create_app({**config, **changes})


@pytest.fixture
def node_store(tmp_path: Path) -> Path:
    """A node's store holding the example, with the fleet's pepper already received."""
    path = tmp_path / "node.db"
    with store.open_db(path, migrate=True) as db:
        consultations.save(db, consultations.read_files([EXAMPLE]))
    fleet.keep_pepper(path, PEPPER)
    return path


def converse(app, daemon: Daemon, texts: list[str], number: str = TEXTER) -> list[str]:
    """Text each message in turn, run the gateway job, and return the replies sent back."""
    replies: list[str] = []
    for body in texts:
        before = len(daemon.sent())
        daemon.text(number, body)
        jobs.gammu_poll(app)
        # Each text gets at least one reply; wait until the daemon has sent them all.
        wait_for(lambda n=before: len(daemon.sent()) > n and not _outbox(daemon), what="replies")
        replies += [sent.text for sent in daemon.sent()[before:]]
    return replies


def _outbox(daemon: Daemon) -> list[str]:
    return [name for name in (daemon.outbox.iterdir()) if name.name.startswith("OUT")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a whole conversation offline, then the sync -------------------------------------


FRENCH_ANSWERS = [
    "HEURES",  # the French keyword starts the conversation in French
    "1",  # choice: chaque semaine
    "1, 3",  # multi: le matin, le dimanche
    "oui",  # yes/no
    "4",  # scale
    "6",  # number
    "Ouvrez plus tôt le samedi, s'il vous plaît 😀",  # free text, with an emoji
]


@pytest.mark.slow
def test_a_french_conversation_through_the_daemon_offline_then_synced(tmp_path, daemon):
    hub_path = tmp_path / "hub.db"
    hub_config = {
        "TESTING": True,
        "DATABASE": str(hub_path),
        "SECRET_KEY": "h",
        "ROLE": "hub",
        "PHONE_PEPPER": PEPPER,
    }
    hub = create_app(hub_config)
    with store.open_db(hub_path) as hub_db:
        consultations.save(hub_db, consultations.read_files([EXAMPLE]))
        device = devices.add_device(hub_db, "Branch library", channels=("kiosk", "sms"))
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    node_path = tmp_path / "node.db"
    app = node_app(
        node_path, daemon.config, HUB_URL=hub_url, DEVICE_ID=device[0], DEVICE_SECRET=device[1]
    )
    with store.open_db(node_path) as db:
        consultations.save(db, consultations.read_files([EXAMPLE]))
        node.save_enrolment(db, hub_url, *device)
    fleet.keep_pepper(node_path, PEPPER)  # received at an earlier sync

    # The hub is not listening: the whole conversation happens on the node.
    with (
        store.open_db(node_path) as db,
        node.client_from_store(db, timeout=2) as client,
        pytest.raises(TransportError),
    ):
        node.sync_once(db, client)
    replies = converse(app, daemon, FRENCH_ANSWERS)

    assert "Heures d'ouverture" in replies[0]
    assert replies[1].startswith("1/6 Quelle est la fréquence de vos visites ?")
    assert replies[-1] == "Merci ! Vos réponses ont été enregistrées."
    assert len(replies) == len(FRENCH_ANSWERS) + 1  # the keyword gets two messages
    with store.open_db(node_path) as db:
        [submission] = db.query("SELECT * FROM submissions")
        statuses = {row["status"] for row in db.query("SELECT status FROM sms_outbound")}
        jobs.gammu_poll(app)  # settles what the daemon sent
        statuses = {row["status"] for row in db.query("SELECT status FROM sms_outbound")}
    assert statuses == {"sent"}
    assert submission["channel"] == "sms"
    assert submission["device_id"] == device[0]
    assert submission["complete"] == 1
    assert json.loads(submission["answers"]) == {
        "visits": "weekly",
        "times": ["mornings", "sundays"],
        "evenings": True,
        "rating": 4,
        "hours_per_week": 6,
        "comments": "Ouvrez plus tôt le samedi, s'il vous plaît 😀",
    }
    assert list(daemon.inbox.glob("IN*")) == []  # each inbox file taken, then deleted

    # The hub starts: the next sync carries the submission.
    server = make_server(hub, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with store.open_db(node_path) as db, node.client_from_store(db) as client:
            report = node.sync_once(db, client)
    finally:
        server.close()
        thread.join(5)
    assert report.push.stored == 1
    with store.open_db(hub_path) as hub_db:
        [held] = hub_db.query("SELECT * FROM submissions")
        assert held["id"] == submission["id"]
        assert held["respondent"] == phones.pseudonym(TEXTER, PEPPER.encode())
        with hub.app_context():
            target = io.BytesIO()
            plan = export.plan_export(hub_db, "library-hours")
            export.write_export("csv", hub_db, plan, target)
    digits = TEXTER.removeprefix("+")
    hub_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*") if p.is_file())
    assert digits.encode() not in hub_bytes
    assert digits.encode("utf-16-le") not in hub_bytes
    assert digits not in target.getvalue().decode()
    assert submission["id"] in target.getvalue().decode()


# --- exactly once ----------------------------------------------------------------------


def test_a_file_seen_again_after_a_crash_is_not_answered_twice(node_store, daemon):
    app = node_app(node_store, daemon.config)
    daemon.text(TEXTER, "HEURES")
    [path] = daemon.inbox.glob("IN*")
    kept = path.read_bytes()
    jobs.gammu_poll(app)
    # Killed after the commit, before the file was deleted: the daemon's file is back.
    path.write_bytes(kept)
    report = jobs.gammu_poll(app)
    assert report.duplicate == 1 and report.received == 0
    with store.open_db(node_store) as db:
        replies = db.execute("SELECT count(*) FROM sms_outbound").fetchone()[0]
    assert replies == 2  # the welcome and the first question, once
    assert not path.exists()


# The node's own jobs, as `participate node` starts them: the scheduler and its watcher.
NODE_SCRIPT = """
import threading
from participate.app import create_app
from participate.serve import start_scheduler
app = create_app({{"DATABASE": {db!r}, "ROLE": "node", "SECRET_KEY": "t",
    "SMS_GATEWAY": "gammu", "GAMMU_CONFIG": {rc!r}, "SMS_GATEWAY_PER_MINUTE": 60000,
    "SMS_QUIET_HOURS": "", "LANGUAGES": ["fr", "en"]}})
start_scheduler(app)
print("ready", flush=True)
threading.Event().wait()
"""


@pytest.mark.slow
def test_a_node_killed_between_texts_answers_each_text_once(node_store, daemon, tmp_path):
    import signal
    import subprocess
    import sys

    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT.format(db=str(node_store), rc=str(daemon.config)))

    def start():
        process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        return process

    def kill(process):
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()

    process = start()
    try:
        # The running node may take a file before the test sees it: no waiting on the inbox.
        daemon.text(TEXTER, "HEURES", wait=False)
        wait_for(lambda: len(daemon.sent()) == 2, what="the welcome and question 1")
        kill(process)
        daemon.text(TEXTER, "2")  # arrives while the node is down
        process = start()
        wait_for(lambda: len(daemon.sent()) == 3, what="question 2")
        daemon.text(TEXTER, "1", wait=False)
        wait_for(lambda: len(daemon.sent()) == 4, what="question 3")
    finally:
        kill(process)
    texts = [sent.text for sent in daemon.sent()]
    assert texts[2].startswith("2/6") and texts[3].startswith("3/6")
    with store.open_db(node_store) as db:
        inbound = db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0]
        [conversation] = db.query("SELECT answers, position FROM sms_conversations")
    assert inbound == 3
    assert json.loads(conversation["answers"]) == {"visits": "monthly", "times": ["mornings"]}


# --- the watcher ---------------------------------------------------------------------


@pytest.fixture
def watcher_for():
    """Start the node's watcher on an app; stop every one started at the end."""
    started: list[jobs.GammuWatcher] = []

    def start(app, every: float = 60.0) -> jobs.GammuWatcher:
        watcher = jobs.GammuWatcher(app, every)
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def test_the_watcher_answers_a_text_as_soon_as_the_daemon_writes_it(
    node_store, daemon, watcher_for
):
    app = node_app(node_store, daemon.config)
    # Its timed look is a minute away: only the watch on the inbox can answer in time.
    watcher = watcher_for(app, every=60.0)
    wait_for(lambda: watcher.watch.watching, what="the inbox watched")
    daemon.text(TEXTER, "HEURES", wait=False)
    wait_for(lambda: len(daemon.sent()) == 2, what="the welcome and question 1", timeout=15)
    # The daemon's sent folder is watched too: the replies are settled without a poll.
    with store.open_db(node_store) as db:
        wait_for(
            lambda: {r["status"] for r in db.query("SELECT status FROM sms_outbound")} == {"sent"},
            what="the replies settled",
        )
        assert db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0] == 1
    assert list(daemon.inbox.glob("IN*")) == []


def test_without_inotify_the_watcher_polls(node_store, daemon, watcher_for, monkeypatch, caplog):
    monkeypatch.setattr(gammu, "inotify_simple", None)
    caplog.set_level(logging.WARNING, logger="participate.sms.gammu")
    app = node_app(node_store, daemon.config)
    watcher = watcher_for(app, every=0.2)
    daemon.text(TEXTER, "HEURES", wait=False)
    wait_for(lambda: len(daemon.sent()) == 2, what="the welcome and question 1", timeout=15)
    assert not watcher.watch.watching
    said = [r for r in caplog.records if r.getMessage() == "sms.gammu_polling"]
    assert len(said) == 1 and "inotify" in said[0].reason  # said once, not at every look


def test_a_watcher_on_a_missing_inbox_says_so_and_watches_once_it_exists(
    node_store, tmp_path, watcher_for
):
    config = gammu.write_dummy_config(tmp_path / "modem")
    (tmp_path / "modem" / "inbox").rmdir()
    app = node_app(node_store, config)
    watcher = watcher_for(app, every=0.1)
    with store.open_db(node_store) as db:
        wait_for(
            lambda: (
                "inbox folder"
                in db.execute("SELECT last_error FROM sms_gateway_status").fetchone()[0]
            ),
            what="the missing inbox said",
        )
    assert not watcher.watch.watching
    (tmp_path / "modem" / "inbox").mkdir()
    wait_for(lambda: watcher.watch.watching, what="the inbox watched")
    (tmp_path / "modem" / "inbox" / "IN20261128_100001_00_+15145550123_00.txt").write_bytes(
        _backup("HEURES")
    )
    wait_for(lambda: len(_outbox_files(tmp_path / "modem")) == 2, what="two replies")


def _outbox_files(root: Path) -> list[Path]:
    return sorted((root / "outbox").glob("OUT*"))


def test_the_rate_limit_spaces_replies_but_never_holds_the_inbox(node_store, tmp_path, watcher_for):
    root = tmp_path / "modem"  # no daemon: what is written stays in the outbox to be seen
    config = gammu.write_dummy_config(root)
    app = node_app(node_store, config, SMS_GATEWAY_PER_MINUTE=20)  # one every 3 s
    watcher = watcher_for(app, every=60.0)
    wait_for(lambda: watcher.watch.watching, what="the inbox watched")
    started = time.monotonic()
    (root / "inbox" / "IN20261128_100001_00_+15145550123_00.txt").write_bytes(_backup("HEURES"))
    wait_for(lambda: len(_outbox_files(root)) == 1, what="the welcome", every=0.01)
    assert time.monotonic() - started < 2.0
    # A second text while the first's question waits for the modem: taken at once.
    second = _backup("HEURES", "+15145550124")
    (root / "inbox" / "IN20261128_100002_00_+15145550124_00.txt").write_bytes(second)
    with store.open_db(node_store) as db:
        wait_for(
            lambda: db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0] == 2,
            what="the second text taken",
            every=0.01,
        )
        assert len(_outbox_files(root)) == 1  # question 1 is still held by the rate limit
        wait_for(
            lambda: (
                db.execute(
                    "SELECT count(*) FROM sms_outbound WHERE status != 'accepted'"
                ).fetchone()[0]
                == 0
            ),
            what="every reply written",
            timeout=30,
        )
        replies = db.execute("SELECT count(*) FROM sms_outbound").fetchone()[0]
    files = sorted(_outbox_files(root), key=lambda path: path.stat().st_mtime_ns)
    assert len(files) == replies == 4  # each keyword: the welcome and question 1
    written = [path.stat().st_mtime for path in files]
    assert all(b - a >= 2.9 for a, b in zip(written, written[1:], strict=False))  # 3 s apart
    texts = [read_sent_file(path) for path in files]
    assert [t.number for t in texts] == ["+15145550123"] * 2 + ["+15145550124"] * 2
    assert texts[1].text.startswith("1/6") and texts[3].text.startswith("1/6")


def test_the_scheduler_starts_and_stops_the_watcher(node_store, daemon):
    from participate.serve import start_scheduler

    app = node_app(node_store, daemon.config)
    scheduler = start_scheduler(app)
    watcher = app.extensions["sms_gammu_watcher"]
    try:
        assert watcher.running
        assert "sms-gammu-check" in {job.id for job in scheduler.get_jobs()}
        daemon.text(TEXTER, "HEURES", wait=False)
        wait_for(lambda: len(daemon.sent()) == 2, what="the welcome and question 1")
    finally:
        scheduler.shutdown(wait=False)
    assert not watcher.running


def test_the_watcher_keeps_a_file_ready_for_the_next_reply(node_store, tmp_path):
    root = tmp_path / "modem"  # no daemon: what is written stays in the outbox to be seen
    config = gammu.write_dummy_config(root)
    app = node_app(node_store, config)
    watcher = jobs.GammuWatcher(app, 60.0)
    watcher.start()

    def ready() -> list[Path]:
        return sorted((root / "outbox").glob(gammu.STAGING_PREFIX + "*"))

    try:
        [spare] = wait_for(ready, what="a file made ready")
        assert spare.stat().st_size == 0  # empty: no number in it
        os.utime(spare, (time.time() - 600, time.time() - 600))
        assert gammu.drop_stale_staging(gammu.folders(config)) == 0  # this node's: kept
        (root / "inbox" / "IN20261128_100001_00_+15145550123_00.txt").write_bytes(_backup("HEURES"))
        wait_for(lambda: len(_outbox_files(root)) == 2, what="the welcome and question 1")
        [another] = wait_for(ready, what="another file made ready")
        assert another != spare  # the first was written into and moved in
    finally:
        watcher.stop()
    assert ready() == []  # removed when the node stops
    texts = [read_sent_file(path) for path in _outbox_files(root)]
    assert sorted(t.text[:3] for t in texts) == ["1/6", "Heu"]


def test_a_reply_left_staged_by_a_killed_node_is_dropped(node_store, daemon, monkeypatch):
    app = node_app(node_store, daemon.config)
    daemon.stop()  # what is written stays in the outbox
    staged = gammu.stage_outbox(daemon.outbox, TEXTER, "Réponse jamais envoyée")
    fresh = gammu.stage_outbox(daemon.outbox, TEXTER, "Being written now")
    os.utime(staged.path, (time.time() - 120, time.time() - 120))
    jobs.gammu_poll(app)
    assert not staged.path.exists() and fresh.path.exists()
    assert _outbox(daemon) == []  # nothing was sent from it


def test_a_reply_staged_for_a_transaction_that_fails_is_never_sent(
    node_store, tmp_path, monkeypatch
):
    root = tmp_path / "modem"
    config = gammu.write_dummy_config(root)
    app = node_app(node_store, config)
    settings = sms_config.get(app)
    where = gammu.folders(config)
    (root / "inbox" / "IN20261128_100001_00_+15145550123_00.txt").write_bytes(_backup("HEURES"))

    def disk_error(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    # The reply is being written aside when the transaction fails (at the claim).
    monkeypatch.setattr(outbound, "claim_now", disk_error)
    with app.app_context(), store.open_db(node_store) as db:
        outgoing = gammu.Outgoing(jobs.sender_for(app, db), app.extensions["sms_limiter"])
        with pytest.raises(sqlite3.OperationalError):
            gammu.poll(db, settings, where, outgoing)
        wait_for(lambda: not list((root / "outbox").iterdir()), what="the staged file dropped")
        assert db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM sms_outbound").fetchone()[0] == 0
    assert len(list((root / "inbox").glob("IN*"))) == 1  # the text waits for the next look
    monkeypatch.undo()
    report = jobs.gammu_poll(app)
    assert report.received == 1 and len(_outbox_files(root)) == 2  # answered once


def test_an_older_message_in_the_queue_goes_before_the_texts_reply(node_store, tmp_path):
    root = tmp_path / "modem"  # no daemon: what is written stays in the outbox to be seen
    app = node_app(node_store, gammu.write_dummy_config(root))
    with store.open_db(node_store) as db:
        outbound.enqueue(db, sms_config.get(app), "+15145550188", "Invitation", kind="invitation")
    (root / "inbox" / "IN20261128_100001_00_+15145550123_00.txt").write_bytes(_backup("HEURES"))
    assert jobs.gammu_poll(app).received == 1
    files = sorted(_outbox_files(root), key=lambda path: path.stat().st_mtime_ns)
    texts = [read_sent_file(path) for path in files]
    assert [(t.number, t.text[:10]) for t in texts] == [
        ("+15145550188", "Invitation"),
        (TEXTER, "Heures d'o"),
        (TEXTER, "1/6 Quelle"),
    ]
    assert sorted((root / "outbox").iterdir()) == sorted(files)  # the guess left nothing


def test_a_reply_whose_file_cannot_be_written_stays_queued(node_store, daemon, monkeypatch):
    app = node_app(node_store, daemon.config)

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gammu, "write_aside", full_disk)
    daemon.text(TEXTER, "HEURES")
    report = jobs.gammu_poll(app)
    assert report.received == 1
    with store.open_db(node_store) as db:
        rows = list(db.query("SELECT status, error FROM sms_outbound"))
        inbound = db.execute("SELECT count(*) FROM sms_inbound").fetchone()[0]
    assert inbound == 1 and list(daemon.inbox.glob("IN*")) == []  # the text is taken
    assert {row["status"] for row in rows} == {"queued"}  # its replies, to be retried
    assert all("No space left" in row["error"] for row in rows)


# --- what goes out -------------------------------------------------------------------


def test_accents_emoji_and_long_replies_read_back_from_the_sent_folder(daemon):
    sender = gammu.GammuSender(daemon.config)
    texts = [
        "Réponse reçue, merci ! À bientôt à la bibliothèque.",
        "Bravo 🎉 c'est noté, " + "é" * 60 + " ✓",
        "Les heures d'ouverture : " + "du lundi au vendredi, de 9 h à 21 h ; " * 6,
        "Plain GSM text " * 15,
    ]
    sids = [sender.send(TEXTER, text) for text in texts]
    wait_for(lambda: len(list(daemon.sent_folder.iterdir())) == len(texts), what="sending")
    for sid, text in zip(sids, texts, strict=True):
        assert TEXTER not in sid  # the id outlives the number
        sent = read_sent_file(daemon.sent_folder / gammu.outbox_name(sid, TEXTER))
        assert (sent.number, sent.text) == (TEXTER, text)
        assert sent.parts == segments.measure(text).segments
    assert [segments.measure(text).segments for text in texts] == [1, 2, 2, 2]


# --- STOP at a node, everywhere ------------------------------------------------------


def test_stop_at_a_node_makes_the_hub_skip_the_person_until_start(tmp_path, node_store, daemon):
    from tests.test_sync import FlaskTransport

    hub_path = tmp_path / "hub.db"
    hub = create_app(
        {
            "TESTING": True,
            "DATABASE": str(hub_path),
            "SECRET_KEY": "h",
            "ROLE": "hub",
            "PHONE_PEPPER": PEPPER,
            "SMS_QUIET_HOURS": "",
        }
    )
    with store.open_db(hub_path) as hub_db:
        consultations.save(hub_db, consultations.read_files([EXAMPLE]))
        device = devices.add_device(hub_db, "Branch library", channels=("kiosk", "sms"))
    app = node_app(node_store, daemon.config)
    transport = FlaskTransport(hub.test_client())

    def sync():
        with store.open_db(node_store) as db:
            node.save_enrolment(db, "http://hub.test", *device)
            node.sync_once(db, node.client_from_store(db, transport=transport))

    def invite() -> int:
        settings = sms_config.get(hub)
        with store.open_db(hub_path) as hub_db:
            consultation = consultations.get(hub_db, "library-hours")
            hub_db.execute("DELETE FROM sms_outbound")
            report = invite_numbers(hub_db, settings, consultation, [(1, TEXTER)], lang="fr")
        return report.queued

    [confirmation] = converse(app, daemon, ["ARRET"])
    assert "START" in confirmation
    sync()
    assert invite() == 0
    converse(app, daemon, ["START"])
    sync()
    assert invite() == 1


# --- bad input -----------------------------------------------------------------------

MMS_NOTICE = """[SMSBackup000]
Number = "+15145550123"
UDH = 0605040B8423F0
Text00 = 0106226170706C69636174696F6E2F766E642E7761702E6D6D732D6D65737361676500
Coding = 8bit
"""


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("IN20261128_100000_00_+15145550123_00.bin", b"\x00\x01\x02", "binary"),
        ("IN20261128_100000_00_+15145550123_00.txt", b"", "empty"),
        ("IN20261128_100000_00_+15145550123_00.txt", b"\xff\xfe\xfa not utf-8", "not UTF-8"),
        ("IN20261128_100000_00_+15145550123_00.txt", MMS_NOTICE.encode(), "MMS"),
    ],
)
def test_an_unreadable_inbox_file_is_set_aside_and_said(
    node_store, daemon, name, content, reason, caplog
):
    app = node_app(node_store, daemon.config)
    (daemon.inbox / name).write_bytes(content)
    # Older than a file the daemon may still be writing.
    os.utime(daemon.inbox / name, (time.time() - 60, time.time() - 60))
    caplog.set_level(logging.WARNING)
    daemon.text(TEXTER, "HEURES")  # a good text beside it is still answered
    report = jobs.gammu_poll(app)
    assert report.refused == [name] and report.received == 1
    assert (daemon.inbox / gammu.REFUSED / name).read_bytes() == content  # nothing lost
    [logged] = [r for r in caplog.records if r.getMessage() == "sms.gammu_refused"]
    assert reason.lower() in logged.reason.lower()
    with store.open_db(node_store) as db:
        problem = db.execute("SELECT last_error FROM sms_gateway_status").fetchone()[0]
        gateway_report = fleet.gateway_report(db)
    assert "set aside" in problem
    assert gateway_report["last_error"] == problem and TEXTER not in problem


def test_a_missing_config_is_said_and_the_kiosk_keeps_serving(node_store, tmp_path, caplog):
    app = node_app(node_store, tmp_path / "nowhere.rc")
    assert jobs.gammu_poll(app) is None
    assert jobs.gammu_check(app) is None
    with store.open_db(node_store) as db:
        report = fleet.gateway_report(db)
    assert "nowhere.rc does not exist" in report["last_error"]
    assert app.test_client().get("/").status_code in (200, 302)


def test_a_stopped_daemon_is_said_in_the_gateway_report(node_store, daemon):
    app = node_app(node_store, daemon.config)
    status = jobs.gammu_check(app)
    assert status is not None and status.signal is not None
    daemon.stop()
    assert jobs.gammu_check(app) is None
    with store.open_db(node_store) as db:
        assert "gammu-smsd is not running" in fleet.gateway_report(db)["last_error"]


def test_a_full_outbox_keeps_replies_queued(node_store, daemon, monkeypatch):
    monkeypatch.setattr(gammu, "OUTBOX_LIMIT", 3)
    daemon.stop()  # nothing leaves the outbox
    for number in range(3):
        (daemon.outbox / f"OUTC20261128_100000_0{number}_+15145550199_sms0.smsbackup").write_text(
            "x"
        )
    app = node_app(node_store, daemon.config)
    (daemon.inbox / "IN20261128_100001_00_+15145550123_00.txt").write_bytes(_backup("HEURES"))
    report = jobs.gammu_poll(app)
    assert report.received == 1
    with store.open_db(node_store) as db:
        rows = list(db.query("SELECT status, error FROM sms_outbound"))
    assert {row["status"] for row in rows} == {"queued"}
    assert "has not sent" in rows[0]["error"]


def _backup(text: str, number: str = TEXTER) -> bytes:
    return (
        "[SMSBackup000]\n"
        f'Number = "{number}"\n'
        f"Text00 = {text.encode('utf-16-be').hex().upper()}\n"
        "Coding = Default_No_Compression\n"
    ).encode()


def test_outbound_queue_is_the_one_code_path(node_store, daemon):
    app = node_app(node_store, daemon.config)
    with store.open_db(node_store) as db:
        settings = sms_config.get(app)
        message = outbound.enqueue(db, settings, TEXTER, "Invitation à répondre", kind="invitation")
    jobs.send_queue(app)
    wait_for(lambda: daemon.sent(), what="the invitation sent")
    jobs.gammu_poll(app)
    with store.open_db(node_store) as db:
        [row] = db.query("SELECT status FROM sms_outbound WHERE id = ?", [message])
    assert row["status"] == "sent"


def test_numbers_are_erased_once_done_with_unless_invited_here(node_store, daemon):
    app = node_app(node_store, daemon.config)
    settings = sms_config.get(app)
    invited = "+15145550188"
    with store.open_db(node_store) as db:
        outbound.enqueue(db, settings, invited, "Invitation", kind="invitation")
    converse(app, daemon, ["HEURES"])
    jobs.gammu_poll(app)  # settles the replies
    with store.open_db(node_store) as db:
        assert jobs.erase_numbers(db, settings) == 0  # the texter is in a conversation
        db.execute("UPDATE sms_conversations SET status = 'abandoned'")
        assert jobs.erase_numbers(db, settings) == 1
        phones_left = [row["phone"] for row in db.query("SELECT phone FROM sms_contacts")]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old page versions leave the WAL
    stored = {p.name: p.read_bytes() for p in node_store.parent.glob("node.db*")}
    assert phones_left == [invited]
    assert [name for name, data in stored.items() if b"15145550123" in data] == []


@pytest.mark.parametrize(("call", "erased"), [("active", 0), ("complete", 1)])
def test_a_number_in_a_phone_call_is_kept_until_the_call_ends(db, call: str, erased: int):
    # The voice channel shares the number's contact; its session would go with it.
    stamp = "2026-11-28T10:00:00.000000Z"
    with store.write(db):
        contact = contacts.ensure(db, TEXTER, "d" * 64, stamp)
        db.execute(
            "INSERT INTO voice_sessions (contact_id, consultation_id, consultation_version,"
            " language, submission_id, status, started_at, updated_at)"
            " VALUES (?, 'library-hours', '1', 'fr', 'sub-1', ?, ?, ?)",
            [contact.id, call, stamp, stamp],
        )
    assert contacts.erase_settled(db) == erased
    [row] = db.query("SELECT count(*) AS n FROM voice_sessions")
    assert row["n"] == 1 - erased
