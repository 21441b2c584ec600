"""The real gammu-smsd, with Gammu's dummy phone driver, for tests and the bench.

`Daemon(folder)` writes a daemon config whose phone is a folder (`model = dummy`; the
config is the one `participate demo` uses), starts
`gammu-smsd` on it, "texts" the node with `gammu savesms` (the message lands in the dummy
phone's inbox, which the daemon reads and writes to its inbox folder, as with a real
modem) and reads back what the daemon sent from its sent folder. The sent folder is read
here independently of `participate.sms.gammu`: INI sections whose TextNN values are
UTF-16BE in hex, one section a part.
"""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from participate.sms.gammu import write_dummy_config

GAMMU = shutil.which("gammu")
GAMMU_SMSD = shutil.which("gammu-smsd")
INSTALLED = bool(GAMMU and GAMMU_SMSD and shutil.which("gammu-smsd-inject"))


@dataclass(frozen=True)
class Sent:
    """A message the daemon sent: to whom, and its text with the parts joined."""

    number: str
    text: str
    parts: int


def read_sent_file(path: Path) -> Sent:
    """Read one file of the daemon's sent folder (Gammu's backup format)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    sections = sorted(s for s in parser.sections() if s.startswith("SMSBackup"))
    number, text = "", ""
    for name in sections:
        section = parser[name]
        number = section["Number"].strip('"')
        for key in sorted(k for k in section if k.startswith("Text")):
            text += bytes.fromhex(section[key]).decode("utf-16-be")
    return Sent(number, text, len(sections))


class Daemon:
    """A gammu-smsd on a dummy phone in `root`; start() and stop() it, text() the node."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = write_dummy_config(root)
        self.process: subprocess.Popen | None = None

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def sent_folder(self) -> Path:
        return self.root / "sent"

    def start(self) -> Daemon:
        """Start the daemon and wait until it has connected to the dummy phone."""
        assert GAMMU_SMSD is not None
        self.process = subprocess.Popen(
            [GAMMU_SMSD, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: "Starting phone communication" in self.log(), what="gammu-smsd start")
        return self

    def stop(self) -> None:
        """Stop the daemon (SIGTERM) and wait for it to exit."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        path = self.root / "smsd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def text(self, number: str, body: str, *, wait: bool = True) -> None:
        """Text the node from `number`: gammu savesms into the dummy phone's inbox."""
        assert GAMMU is not None
        before = set(os.listdir(self.inbox))
        length = max(len(body.encode("utf-16-le")) // 2, 1)
        subprocess.run(
            [
                GAMMU,
                "-c",
                str(self.config),
                "savesms",
                "TEXT",
                "-folder",
                "1",
                "-unread",
                "-sender",
                number,
                "-len",
                str(length),
                "-textutf8",
                body,
            ],
            check=True,
            capture_output=True,
        )
        if wait:
            wait_for(lambda: set(os.listdir(self.inbox)) - before, what="the text in the inbox")

    def sent(self) -> list[Sent]:
        """Return what the daemon sent, oldest first."""
        paths = sorted(self.sent_folder.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [read_sent_file(path) for path in paths]


def wait_for(condition, *, what: str, timeout: float = 20.0, every: float = 0.05):
    """Return condition()'s first truthy value, polling; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
