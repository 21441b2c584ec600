"""The gammu gateway: a GSM modem driven by Debian's gammu-smsd, through its `files` service.

The daemon writes each text it receives into its inbox folder (one file for a whole
multi-part message) and sends what it finds in its outbox, moving each file to its sent
or error folder. `poll` hands every inbox file to the conversation engine and deletes it
only after the transaction that recorded it committed; the file's name is the message id
the engine deduplicates on, so a file seen again after a crash (or a kill) changes
nothing and gets no second reply (the id is a keyed hash of the name, which holds the
sender's number). A file that cannot be read as a text (binary, empty,
an MMS notice, not UTF-8) is moved to `refused/` beside the inbox, never deleted.
`GammuSender` writes replies to the outbox in Gammu's backup format, as
`gammu-smsd-inject` does (UCS-2 and concatenated as needed), but without a process per
message and whole or not at all (written aside, synced to disk, then renamed); `settle`
reads the sent and error folders to settle each reply's status; `check` asks
`gammu-smsd-monitor` for the daemon's signal and battery, which also says whether it
runs. The folders come from the `[smsd]` section of the daemon's own config.
`FolderWatch` wakes the node's watcher (`jobs.GammuWatcher`) when the daemon writes to
them (inotify), so a text is taken the moment it arrives.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

try:  # Linux: the folders are watched, not polled (FolderWatch)
    import inotify_simple
except ImportError:  # pragma: no cover - elsewhere the node polls
    inotify_simple = None

from participate import store

from . import conversations, gateway, outbound, phones, segments
from .config import SmsConfig
from .errors import BadMessage, GatewayError, InvalidNumber, TransientSendError

log = logging.getLogger(__name__)

MONITOR = "gammu-smsd-monitor"
SID_PREFIX = "gammu:"
REFUSED = "refused"
STAGING_PREFIX = ".participate-"  # a message being written aside in the outbox
NUMBER_MARK = "~"  # stands for the number in an outbox file's name kept as a message id
# More unsent files than this in the outbox: the daemon is not sending; stop adding.
OUTBOX_LIMIT = 200
# A file younger than this that does not parse may still be being written by the daemon.
SETTLING_SECONDS = 2.0
COMMAND_TIMEOUT = 10
COMMIT_WAIT = 60  # longest a staged reply waits for its text's commit (the store's busy wait: 30)
# IN<date>_<time>_<serial>_<sender>_<part>.<ext>, as the files service names them.
_INBOX_NAME = re.compile(r"IN\d{8}_\d{6}_\d{2}_(?P<sender>.*)_\d{2}\.(?P<ext>txt|bin)")
_MONITOR_FIELD = re.compile(r"^(NetworkSignal|BatterPercent):\s*(-?\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Folders:
    """Where the daemon keeps messages, read from its config's [smsd] section."""

    config: Path
    inbox: Path
    outbox: Path
    sent: Path
    error: Path
    inbox_format: str  # detail (Gammu's backup format), unicode or standard


# Each config file's folders, kept while the file is unchanged (a pass reads them per text).
_FOLDERS: dict[Path, tuple[tuple[int, int, int], Folders]] = {}


def folders(config_path: str | Path) -> Folders:
    """Read the daemon's folders from its configuration file; say clearly what is wrong."""
    path = Path(config_path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise GatewayError(f"GAMMU_CONFIG {path} does not exist") from None
    except OSError as exc:
        raise GatewayError(f"GAMMU_CONFIG {path} cannot be read: {exc}") from None
    version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _FOLDERS.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    found = _read_folders(path)
    _FOLDERS[path] = (version, found)
    return found


def _read_folders(path: Path) -> Folders:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise GatewayError(f"GAMMU_CONFIG {path} does not exist") from None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise GatewayError(f"GAMMU_CONFIG {path} cannot be read: {exc}") from None
    if not parser.has_section("smsd"):
        raise GatewayError(f"GAMMU_CONFIG {path} has no [smsd] section")
    smsd = parser["smsd"]
    if smsd.get("service", "").strip().lower() != "files":
        raise GatewayError(f"GAMMU_CONFIG {path}: [smsd] service must be `files`")

    def folder(key: str, fallback: str = "") -> Path:
        value = smsd.get(key, fallback).strip()
        if not value:
            raise GatewayError(f"GAMMU_CONFIG {path}: [smsd] has no {key}")
        # Relative paths are the daemon's working directory; read them beside the config.
        return (path.parent / value).resolve()

    inbox = folder("inboxpath")
    outbox = folder("outboxpath")
    return Folders(
        config=path,
        inbox=inbox,
        outbox=outbox,
        sent=folder("sentsmspath", str(outbox)),
        error=folder("errorsmspath", str(outbox)),
        inbox_format=smsd.get("inboxformat", "unicode").strip().lower(),
    )


# A daemon on Gammu's dummy phone (a folder standing in for the modem), for the demo and
# the tests: `gammu -c CONFIG savesms TEXT -folder 1 -unread -sender N -textutf8 T` "texts" it.
DUMMY_CONFIG = """\
[gammu]
model = dummy
connection = none
device = {root}/phone

[smsd]
service = files
inboxpath = {root}/inbox/
outboxpath = {root}/outbox/
sentsmspath = {root}/sent/
errorsmspath = {root}/error/
inboxformat = detail
outboxformat = detail
transmitformat = auto
loopsleep = 1
receivefrequency = 0
statusfrequency = 1
checksecurity = 0
checkbattery = 0
checksignal = 1
commtimeout = 1
sendtimeout = 5
logfile = {root}/smsd.log
debuglevel = 0
"""


def write_dummy_config(root: Path) -> Path:
    """Make the folders and config of a gammu-smsd on the dummy phone in `root`; return it."""
    for name in ("phone", "inbox", "outbox", "sent", "error"):
        (root / name).mkdir(parents=True, exist_ok=True)
    config = root / "smsdrc"
    config.write_text(DUMMY_CONFIG.format(root=root.resolve()))
    return config


# --- inbound -----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One inbox file read as a text."""

    name: str
    sender: str
    body: str


def _hex_text(value: str, coding: str) -> str:
    raw = bytes.fromhex(value.strip())
    if coding.startswith("8bit"):
        raise BadMessage("a binary message (an MMS notice or a data SMS), not a text")
    return raw.decode("utf-16-be")


def read_backup(text: str) -> tuple[str, str]:
    """Return (sender, body) of a message in Gammu's backup format, parts in order."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  (TextNN keys)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise BadMessage(f"not in Gammu's backup format: {exc.message[:80]}") from None
    sections = sorted(name for name in parser.sections() if name.startswith("SMSBackup"))
    if not sections:
        raise BadMessage("no message in the file")
    sender, parts = "", []
    for name in sections:
        section = parser[name]
        sender = sender or section.get("Number", "").strip().strip('"')
        coding = section.get("Coding", "Default").strip().lower()
        chunks = sorted(key for key in section if re.fullmatch(r"Text\d\d", key))
        try:
            parts.append("".join(_hex_text(section[key], coding) for key in chunks))
        except (ValueError, UnicodeDecodeError):
            raise BadMessage("its text is not valid UTF-16 in hex") from None
    return sender, "".join(parts)


def read_message(path: Path, inbox_format: str) -> Received:
    """Read one inbox file as a text, or raise BadMessage saying why it is not one."""
    match = _INBOX_NAME.fullmatch(path.name)
    if match is None:
        raise BadMessage("not named as gammu-smsd names inbox files")
    if match["ext"] == "bin":
        raise BadMessage("a binary message (an MMS notice or a data SMS), not a text")
    data = path.read_bytes()
    if not data.strip():
        raise BadMessage("an empty file")
    sender = match["sender"]
    if inbox_format == "detail":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadMessage("not UTF-8, so not Gammu's backup format") from None
        sender, body = read_backup(text)
    else:
        encoding = "utf-16" if inbox_format == "unicode" else "utf-8"
        try:
            body = data.decode(encoding)
        except UnicodeDecodeError:
            raise BadMessage(f"not valid {encoding.upper()} text") from None
    if not body.strip():
        raise BadMessage("a message with no text")
    if "\x00" in body:
        raise BadMessage("a message with control characters: binary, not a text")
    return Received(path.name, sender or match["sender"], body)


@dataclass
class PollReport:
    """What one look at the inbox did."""

    received: int = 0
    duplicate: int = 0
    refused: list[str] = field(default_factory=list)
    waiting: int = 0  # files left for later (still being written, or no pepper yet)
    sending: outbound.SendReport = field(default_factory=outbound.SendReport)


@dataclass(frozen=True)
class Outgoing:
    """How replies leave: the modem's sender and the process's rate limit."""

    sender: GammuSender
    limiter: outbound.RateLimiter


def inbox_files(inbox: Path) -> Iterator[Path]:
    """Yield the inbox's message files in the order they arrived (their names sort so)."""
    try:
        names = sorted(os.listdir(inbox))
    except FileNotFoundError:
        raise GatewayError(f"the inbox folder {inbox} does not exist") from None
    for name in names:
        if name.startswith("IN"):
            yield inbox / name


def poll(
    db: sqlite_utils.Database,
    config: SmsConfig,
    where: Folders,
    outgoing: Outgoing | None = None,
) -> PollReport:
    """Hand every inbox file to the conversation engine once; delete it once recorded.

    With `outgoing`, a text's first reply is claimed in the transaction that records the
    text (when the rate limit lets it go now); its file is written aside meanwhile and
    synced to disk while that transaction commits, then moved into the outbox: one
    commit and one file sync, at once, between a text and its reply.
    """
    report = PollReport()
    for path in inbox_files(where.inbox):
        try:
            received = read_message(path, where.inbox_format)
            phone = phones.to_e164(received.sender, config.default_region)
        except FileNotFoundError:
            continue  # taken by another poll
        except (BadMessage, InvalidNumber) as error:
            if _young(path):
                report.waiting += 1
                continue
            _refuse(db, where, path, str(error))
            report.refused.append(path.name)
            continue
        inbound = conversations.Inbound(
            phone=phone, body=received.body, message_sid=message_id(received.name, config)
        )
        # May raise SmsConfigError (no pepper yet): the file stays for the next poll.
        claimed, sending, gates = None, None, []
        try:
            with store.write(db):
                outcome = gateway.take_in_transaction(db, config, inbound)
                if outgoing is not None and outcome.replies:
                    claimed, sending = _claim_and_stage(
                        db, config, outgoing, phone, outcome.replies[0], gates, report.sending
                    )
        except BaseException:
            for gate in gates:
                gate.settle(False)  # the staged file is dropped
            raise
        for gate in gates:
            gate.settle(True)  # the staged file goes into the outbox
        if claimed is not None and outgoing is not None:
            # Not written aside (a full outbox): `deliver` tries again, and says why.
            send = sending.result if sending is not None else None
            outbound.deliver(db, config, outgoing.sender, claimed, report.sending, send=send)
        path.unlink(missing_ok=True)  # recorded: the file (and its number) can go
        conversations.log_outcome(outcome)
        if outcome.action == "duplicate":
            report.duplicate += 1
        else:
            report.received += 1
    return report


class _Commit:
    """Whether the transaction a staged reply waits on committed (`settle` says, once)."""

    def __init__(self) -> None:
        self._settled = threading.Event()
        self.committed = False

    def settle(self, committed: bool) -> None:
        if not self._settled.is_set():  # the first word holds
            self.committed = committed
            self._settled.set()

    def wait(self, timeout: float) -> bool:
        return self._settled.wait(timeout) and self.committed


def _claim_and_stage(
    db: sqlite_utils.Database,
    config: SmsConfig,
    outgoing: Outgoing,
    phone: str,
    reply: str,
    gates: list[_Commit],
    report: outbound.SendReport,
) -> tuple[outbound.Claimed | None, Future[str] | None]:
    """In the text's transaction: claim the queue's next message if the rate limit lets
    one go now, and have it written aside while the transaction commits.

    That message is nearly always the text's own first reply: it is written from the
    moment it is known, while the claim is made; if the claim gives an older message
    (an invitation waiting), that one is written instead and the guess is dropped.
    """
    key = outgoing.sender.key
    if outgoing.limiter.ready_in(key) > 0:
        return None, None
    body = outbound.stored_body(reply)
    guess = _Commit()
    gates.append(guess)  # settled by the caller whatever happens from here
    early = _write_then_send(outgoing.sender, phone, body, guess)
    claimed = outbound.claim_now(db, config, outgoing.limiter, key, report)
    if claimed is not None and early is not None and (claimed.phone, claimed.body) == (phone, body):
        return claimed, early
    guess.settle(False)  # the guess is dropped
    if claimed is None:
        return None, None
    gate = _Commit()
    gates.append(gate)
    return claimed, _write_then_send(outgoing.sender, claimed.phone, claimed.body, gate)


def _write_then_send(
    sender: GammuSender, to: str, body: str, committed: _Commit
) -> Future[str] | None:
    """Write a message aside here; have the outbox's thread wait for the disk and move it
    in once `committed` says so. None if it cannot be written (`deliver` then tries again
    and says why)."""
    try:
        aside = sender.write_aside(to, body)
    except TransientSendError:
        return None
    try:
        return _stager().submit(_sync_then_send, sender, aside, committed)
    except BaseException:  # not handed over (the interpreter shutting down)
        os.close(aside.descriptor)
        drop_staged(aside.staged)
        raise


def _sync_then_send(sender: GammuSender, aside: Aside, committed: _Commit) -> str:
    """On the outbox's thread: wait for the disk while the text's transaction commits,
    then move the reply into the outbox (no hand-back to the committing thread in
    between), or drop it if the transaction did not commit."""
    staged = sender.make_durable(aside)
    if not committed.wait(COMMIT_WAIT):
        drop_staged(staged)
        raise TransientSendError("the text's transaction did not commit: not sent")
    return sender.send_staged(staged)


_STAGER: ThreadPoolExecutor | None = None


def _stager() -> ThreadPoolExecutor:
    """The thread that writes a reply's file while the text's transaction commits."""
    global _STAGER
    if _STAGER is None:
        _STAGER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gammu-outbox")
    return _STAGER


def message_id(name: str, config: SmsConfig) -> str:
    """Return the id a file is deduplicated on: keyed hash of its name, which holds the number."""
    digest = hmac.new(config.pepper, name.encode(), hashlib.sha256).hexdigest()[:40]
    return SID_PREFIX + digest


def _young(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < SETTLING_SECONDS
    except FileNotFoundError:
        return False


def _refuse(db: sqlite_utils.Database, where: Folders, path: Path, reason: str) -> None:
    """Set an unreadable inbox file aside (kept for a person to look at) and say why."""
    aside = where.inbox / REFUSED
    aside.mkdir(exist_ok=True)
    os.replace(path, aside / path.name)
    message = f"inbox file set aside in {aside}: {reason}"
    log.warning("sms.gammu_refused", extra={"file": phones.redact(path.name), "reason": reason})
    gateway.note_problem(db, message)


# --- watching the folders -----------------------------------------------------------

INBOX = "inbox"  # FolderWatch.wait: a file was written to the inbox
SETTLED = "settled"  # ... or to the sent or error folder


class FolderWatch:
    """Wake the node the moment gammu-smsd writes to its inbox, sent or error folder.

    inotify (Linux): a file the daemon finishes writing (or moves in) wakes `wait` at
    once. Where there is no inotify, or it cannot watch the folders (one missing, the
    system's limit of watches reached), `wait` only waits out its timeout and the caller
    polls. `wake` ends a wait from another thread (to stop).
    """

    def __init__(self) -> None:
        self._notify: Any = None
        self._watching: Folders | None = None
        self._kinds: dict[int, set[str]] = {}
        self._problem = ""
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._poller = select.poll()
        self._poller.register(self._wake_read, select.POLLIN)

    @property
    def watching(self) -> bool:
        """Say whether inotify watches the folders (else `wait` is a plain timeout)."""
        return self._notify is not None

    def arm(self, where: Folders) -> bool:
        """Watch `where`'s folders (anew if they changed); say whether inotify watches them."""
        if self._notify is not None and self._watching == where:
            return True
        self._disarm()
        if inotify_simple is None:
            return self._cannot("inotify is not available on this system")
        flags = inotify_simple.flags
        mask = flags.CLOSE_WRITE | flags.MOVED_TO
        try:
            notify = inotify_simple.INotify()
        except (OSError, AttributeError) as exc:  # AttributeError: a libc without inotify
            return self._cannot(f"inotify cannot start: {exc}")
        kinds: dict[int, set[str]] = {}
        watched = ((where.inbox, INBOX), (where.sent, SETTLED), (where.error, SETTLED))
        try:
            for folder, kind in watched:
                kinds.setdefault(notify.add_watch(folder, mask), set()).add(kind)
        except OSError as exc:
            notify.close()
            return self._cannot(f"inotify cannot watch the folders: {exc}")
        self._notify, self._watching, self._kinds = notify, where, kinds
        self._poller.register(notify.fileno(), select.POLLIN)
        if self._problem:
            log.info("sms.gammu_watching", extra={"inbox": str(where.inbox)})
        self._problem = ""
        return True

    def _cannot(self, reason: str) -> bool:
        if reason != self._problem:  # said once, not at every poll
            log.warning("sms.gammu_polling", extra={"reason": reason})
        self._problem = reason
        return False

    def _disarm(self) -> None:
        if self._notify is not None:
            self._poller.unregister(self._notify.fileno())
            self._notify.close()
        self._notify, self._watching, self._kinds = None, None, {}

    def wait(self, timeout: float) -> set[str]:
        """Wait up to `timeout` seconds for the daemon to write; return what changed."""
        changed: set[str] = set()
        ready = self._poller.poll(max(math.ceil(timeout * 1000), 0))
        for fd, _ in ready:
            if fd == self._wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 512)
            elif self._notify is not None:
                changed |= self._changes(self._notify.read(timeout=0))
        return changed

    def _changes(self, events: list) -> set[str]:
        changed: set[str] = set()
        flags = inotify_simple.flags
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                changed |= {INBOX, SETTLED}  # events were lost: look at everything
            elif event.mask & flags.IGNORED:
                changed |= {INBOX, SETTLED}  # a folder went away: watch anew next time
                self._watching = None
            else:
                changed |= self._kinds.get(event.wd, set())
        return changed

    def wake(self) -> None:
        """End a `wait` now (from another thread)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"!")

    def close(self) -> None:
        self._disarm()
        os.close(self._wake_read)
        os.close(self._wake_write)


# --- outbound ----------------------------------------------------------------------


class GammuSender:
    """Write replies to the daemon's outbox, in Gammu's own backup format."""

    reports_later = True  # `accepted` until the file reaches the sent or error folder

    def __init__(self, config_path: str | Path) -> None:
        self.config_path = str(config_path)
        self.key = "gammu:" + self.config_path

    def send(self, to: str, body: str) -> str:
        """Write one message to the outbox and return its id, or raise a SendError."""
        return self.send_staged(self.stage(to, body))

    def stage(self, to: str, body: str) -> Staged:
        """Write a message aside in the outbox, on disk; `send_staged` then sends it."""
        return self.make_durable(self.write_aside(to, body))

    def write_aside(self, to: str, body: str) -> Aside:
        """Write a message aside in the outbox, not yet waiting for the disk."""
        try:
            where = folders(self.config_path)
            waiting = sum(1 for name in os.listdir(where.outbox) if name.startswith("OUT"))
        except (GatewayError, OSError) as exc:
            raise TransientSendError(f"cannot use the gammu outbox: {exc}") from exc
        if waiting >= OUTBOX_LIMIT:
            raise TransientSendError(
                f"the outbox {where.outbox} holds {waiting} messages gammu-smsd has not sent:"
                " is the daemon running?"
            )
        try:
            return write_aside(where.outbox, to, body)
        except OSError as exc:  # a full disk, a folder the node may not write
            raise TransientSendError(f"cannot write to the outbox {where.outbox}: {exc}") from exc

    def make_durable(self, aside: Aside) -> Staged:
        """Wait until a message written aside is on disk, whole."""
        try:
            os.fsync(aside.descriptor)
        except OSError as exc:
            drop_staged(aside.staged)
            raise TransientSendError(f"cannot write to the outbox: {exc}") from exc
        finally:
            os.close(aside.descriptor)
        return aside.staged

    def send_staged(self, staged: Staged) -> str:
        """Move a staged message into the outbox, whole, and return its id."""
        try:
            os.replace(staged.path, staged.path.parent / staged.name)
        except OSError as exc:
            drop_staged(staged)
            raise TransientSendError(f"cannot write to the outbox: {exc}") from exc
        return outbox_id(staged.name, staged.to)


def backup_text(to: str, body: str, *, reference: int) -> str:
    """Return a message in Gammu's backup format: a section a part, concatenated by UDH."""
    parts = segments.split(body)
    unicode = segments.measure(body).encoding == segments.UCS2
    coding = "Unicode_No_Compression" if unicode else "Default_No_Compression"
    lines = ["; Written by Participate for gammu-smsd", ""]
    for index, part in enumerate(parts):
        encoded = part.encode("utf-16-be").hex().upper()
        lines += [f"[SMSBackup{index:03d}]", "PDU = Submit", "State = UnSent"]
        lines += [f'Number = "{to}"']
        if len(parts) > 1:
            # 8-bit concatenation header: reference, total, this part's number.
            lines.append(f"UDH = 050003{reference:02X}{len(parts):02X}{index + 1:02X}")
        # Gammu writes a part's text 200 hex digits a line: Text00, Text01, ...
        chunks = [encoded[i : i + 200] for i in range(0, len(encoded), 200)]
        lines += [f"Text{n:02d} = {chunk}" for n, chunk in enumerate(chunks)]
        lines += [
            f"Coding = {coding}",
            "Folder = 4",
            f"Length = {len(part.encode('utf-16-be')) // 2}",
            "Class = -1",
            "ReplySMSC = False",
            "RejectDuplicates = False",
            "ReplaceMessage = 0",
            "MessageReference = 0",
            "",
        ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Staged:
    """A message written in full beside the outbox's files, under a name the daemon skips."""

    path: Path
    name: str  # its name in the outbox, once moved in
    to: str


@dataclass(frozen=True)
class Aside:
    """A message written aside, still open: on disk once `GammuSender.make_durable` says."""

    descriptor: int
    staged: Staged


def write_aside(outbox: Path, to: str, body: str) -> Aside:
    """Write a message file aside in the outbox, whole but not yet synced; return it open."""
    now = datetime.now(UTC)
    token = secrets.token_hex(4)
    # OUT, priority C (the default), date_time_serial, number, anything: the daemon's
    # names. The daemon sends in name order: the microseconds keep replies in order.
    name = f"OUTC{now:%Y%m%d_%H%M%S}_00_{to}_{now:%f}{token}.smsbackup"
    text = backup_text(to, body, reference=secrets.randbelow(256))
    data = memoryview(text.encode("utf-8"))
    spare = _SPARES.pop(outbox, None)
    if spare is not None:
        descriptor, path = spare
    else:
        path = outbox / f"{STAGING_PREFIX}{token}.tmp"  # not OUT*: the daemon ignores it
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        while data:
            data = data[os.write(descriptor, data) :]
    except BaseException:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        raise
    return Aside(descriptor, Staged(path, name, to))


# An empty file made ahead in each outbox (by the watcher, between texts), so that
# making the next reply's file costs no file creation, which waits on the file system's
# journal: the slowest step of writing a reply once its text is known.
_SPARES: dict[Path, tuple[int, Path]] = {}


def keep_spare(outbox: Path) -> None:
    """Have an empty file ready in `outbox` for the next reply to be written into."""
    if outbox in _SPARES:
        return
    path = outbox / f"{STAGING_PREFIX}{secrets.token_hex(4)}.tmp"
    spare = (os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path)
    if _SPARES.setdefault(outbox, spare) is not spare:  # another thread made one first
        os.close(spare[0])
        path.unlink(missing_ok=True)


def drop_spare(outbox: Path) -> None:
    """Remove the file kept ready in `outbox`, if any."""
    spare = _SPARES.pop(outbox, None)
    if spare is not None:
        os.close(spare[0])
        spare[1].unlink(missing_ok=True)


def stage_outbox(outbox: Path, to: str, body: str) -> Staged:
    """Write a message file aside in the outbox and wait for the disk; return where."""
    aside = write_aside(outbox, to, body)
    try:
        os.fsync(aside.descriptor)
    except BaseException:
        drop_staged(aside.staged)
        raise
    finally:
        os.close(aside.descriptor)
    return aside.staged


def drop_staged(staged: Staged) -> None:
    """Remove a staged message that is not to be sent."""
    staged.path.unlink(missing_ok=True)


def drop_stale_staging(where: Folders, *, older_than: float = 60.0) -> int:
    """Remove messages a killed node left staged (they hold a number); return how many.

    A staged file is moved into the outbox within milliseconds; one this old was left by
    a process killed before it could: its text was not recorded (and is taken again from
    the inbox), or its message is `sending`, then `unknown`. Not to be sent from here.
    """
    dropped = 0
    cutoff = time.time() - older_than
    kept = {path.name for _, path in list(_SPARES.values())}  # this process's, ready
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(where.outbox):
            if entry.name in kept or not entry.name.startswith(STAGING_PREFIX):
                continue
            if entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink(missing_ok=True)
                dropped += 1
    if dropped:
        log.warning("sms.gammu_staging_dropped", extra={"files": dropped})
    return dropped


def write_outbox(outbox: Path, to: str, body: str) -> str:
    """Write a message file the daemon sends, whole or not at all; return its name."""
    staged = stage_outbox(outbox, to, body)
    os.replace(staged.path, outbox / staged.name)
    return staged.name


def outbox_id(name: str, to: str) -> str:
    """Return the message id of an outbox file: its name without the number, made unique."""
    # The id outlives the number (delivery events are kept): the number is left out.
    return SID_PREFIX + name.replace(to, NUMBER_MARK)


def outbox_name(message_id: str, to: str) -> str:
    """Return the outbox file's name of a message id (see outbox_id), given its number."""
    return message_id.removeprefix(SID_PREFIX).replace(NUMBER_MARK, to)


def settle(db: sqlite_utils.Database, config: SmsConfig, where: Folders) -> int:
    """Settle accepted replies the daemon has sent (sent folder) or given up on (error)."""
    rows = db.query(
        "SELECT o.message_sid, c.phone FROM sms_outbound o"
        " JOIN sms_contacts c ON c.id = o.contact_id"
        " WHERE o.status = 'accepted' AND o.message_sid LIKE ?",
        [SID_PREFIX + "%"],
    )
    settled = 0
    for row in list(rows):
        sid, name = row["message_sid"], outbox_name(row["message_sid"], row["phone"])
        if (where.sent / name).exists():
            status = "sent"
        elif (where.error / name).exists():
            status = "failed"
            log.warning("sms.gammu_send_failed", extra={"file": phones.redact(name)})
            gateway.note_problem(db, f"gammu-smsd could not send {phones.redact(name)}")
        else:
            continue
        outbound.record_status(db, config, sid, status, None)
        settled += 1
    return settled


# --- the daemon's health -----------------------------------------------------------


@dataclass(frozen=True)
class DaemonStatus:
    """What gammu-smsd-monitor says: signal and battery in percent (None: not reported)."""

    signal: int | None
    battery: int | None


def check(config_path: str | Path) -> DaemonStatus:
    """Ask the running daemon for its status; raise GatewayError if it is not running."""
    folders(config_path)  # a missing or wrong config says so first
    command = [MONITOR, "-c", str(config_path), "-n", "1", "-d", "0"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GatewayError(f"{MONITOR} did not run: {exc}") from exc
    fields = dict(_MONITOR_FIELD.findall(done.stdout))
    if done.returncode != 0 or not fields:
        raise GatewayError(
            "gammu-smsd is not running (its status cannot be read): start it with"
            " `systemctl start gammu-smsd`"
        )
    # Gammu reports -1 (or 0 for a phone on mains) where it knows nothing.
    signal = int(fields["NetworkSignal"]) if "NetworkSignal" in fields else None
    battery = int(fields["BatterPercent"]) if "BatterPercent" in fields else None
    return DaemonStatus(
        signal if signal is not None and signal >= 0 else None,
        battery if battery is not None and battery > 0 else None,
    )
