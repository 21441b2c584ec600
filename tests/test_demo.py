"""`participate demo` as a new user runs it: every URL answers, and answers reach the hub."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.harness import free_port
from participate import consultations, store, submissions
from participate.clock import utcnow


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8")


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"demo exited early: {process.stdout.read()}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def demo(tmp_path: Path):
    port = free_port()
    while port + 1 > 65535:
        port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "participate",
            "--log-level",
            "WARNING",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        _wait_for(f"http://127.0.0.1:{port + 1}/healthz", process)
        yield port, tmp_path / "demo", process
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
    # Stopped by SIGTERM, the demo stops the modem daemon it started: none is left behind.
    assert _processes_mentioning(str(tmp_path / "demo")) == []


def _processes_mentioning(text: str) -> list[str]:
    """Return the command lines of running processes that mention `text` (from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        line = " ".join(arg.decode(errors="replace") for arg in args if arg)
        if text in line and "pytest" not in line:
            found.append(line)
    return found


def test_demo_prints_every_url_and_each_answers(demo) -> None:
    port, data_dir, process = demo
    # The banner is printed before serving starts; read what has arrived.
    banner = ""
    deadline = time.monotonic() + 10
    while "Press Ctrl+C" not in banner and time.monotonic() < deadline:
        banner += process.stdout.readline()
    urls = re.findall(r"http://127\.0\.0\.1:\d+\S*", banner)
    assert len(urls) >= 5, banner
    for url in urls:
        assert _get(url)[0] == 200, url
    login = re.search(r"sign in as (\S+) with password (\S+)", banner)
    assert login and login.group(1) == "demo@example.org"
    status, kiosk = _get(f"http://127.0.0.1:{port}/")
    assert "Library opening hours" in kiosk  # the node pulled the hub's consultation
    state = json.loads((data_dir / "demo.json").read_text())
    assert state["staff_password"] == login.group(2)


def test_a_kiosk_answer_reaches_the_hub_within_seconds(demo) -> None:
    port, data_dir, _ = demo
    with store.open_db(data_dir / "node.db") as node:
        consultation = consultations.get(node, "library-hours")
        record = submissions.record(
            node,
            consultation,
            channel="kiosk",
            language="fr",
            answers={"visits": "weekly", "times": ["sundays"], "evenings": True, "rating": 4},
            started_at=utcnow(),
        )
    deadline = time.monotonic() + 30
    row = None
    with store.open_db(data_dir / "hub.db") as hub:
        while row is None and time.monotonic() < deadline:
            row = hub.execute(
                "SELECT answers, device_id, received_at FROM submissions WHERE id = ?",
                [record["id"]],
            ).fetchone()
            time.sleep(0.5)
    assert row is not None, "the demo's node never synced the answer to its hub"
    assert json.loads(row[0])["times"] == ["sundays"]
    assert row[1] == record["device_id"] and row[2]


def _banner(process: subprocess.Popen) -> str:
    banner = ""
    deadline = time.monotonic() + 10
    while "Press Ctrl+C" not in banner and time.monotonic() < deadline:
        banner += process.stdout.readline()
    return banner


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gammu-smsd") is None, reason="gammu-smsd is not installed")
def test_a_text_to_the_demos_modem_is_answered_by_the_node(demo) -> None:
    _, data_dir, process = demo
    banner = _banner(process)
    [command] = [line.strip() for line in banner.splitlines() if "savesms" in line]
    subprocess.run(shlex.split(command), check=True, capture_output=True)  # texts HEURES
    sent = data_dir / "gammu" / "sent"
    deadline = time.monotonic() + 30
    while len(list(sent.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(sent.iterdir())) == 2  # the welcome and the first question
    with store.open_db(data_dir / "node.db") as node:
        assert node.execute("SELECT count(*) FROM sms_conversations").fetchone()[0] == 1
