"""The channel's scheduled work: thin wrappers that open a connection and call one function."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import requests
import sqlite_utils
from flask import Flask
from twilio.rest import Client

from participate import clock, store

from . import android, config, contacts, conversations, followups, gammu, gateway, outbound, people
from .config import SmsConfig
from .errors import GatewayError, SmsConfigError

log = logging.getLogger(__name__)


def sender_for(app: Flask, db: sqlite_utils.Database) -> outbound.Sender:
    """Return the app's sender: the gateway's, Twilio with credentials, else the simulator."""
    settings = config.get(app)
    if settings.gateway == "gammu":
        return gammu.GammuSender(settings.gammu_config)
    if settings.gateway == "android":
        # One session for the app's life: its connection to the phone is kept open.
        session = app.extensions.setdefault("sms_android_session", requests.Session())
        return android.AndroidSender(settings, session)
    if not settings.can_send:
        return outbound.SimulatorSender(db)
    client = app.extensions.get("sms_client")
    if client is None:
        client = Client(settings.account_sid, settings.auth_token)
        app.extensions["sms_client"] = client
    return outbound.TwilioSender(client, settings)


def expire(app: Flask) -> int:
    """Expire idle conversations in the app's store, then erase the numbers done with."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        count = conversations.expire_idle(db, settings)
        erased = erase_numbers(db, settings)
    if count or erased:
        log.info("sms.expired", extra={"conversations": count, "numbers_erased": erased})
    return count


def erase_numbers(db: sqlite_utils.Database, settings: SmsConfig) -> int:
    """Erase the numbers a node's gateway is done with, where SMS_ERASE_NUMBERS asks."""
    # Twilio's numbers (at the hub) follow the hub's retention; the simulator's are made up.
    if not settings.erase_numbers or settings.gateway == "twilio":
        return 0
    return contacts.erase_settled(db)


def send_queue(app: Flask) -> outbound.SendReport:
    """Send what is due in the app's outbound queue."""
    settings = config.get(app)
    with app.app_context(), store.open_db(settings.database) as db:
        report = outbound.send_due(db, settings, sender_for(app, db), app.extensions["sms_limiter"])
        if settings.gateway != "twilio":
            gateway.publish(db, settings)
        erased = followups.erase_settled(db)
    if erased:
        log.info("sms.results_texts_erased", extra={"messages": erased})
    if report.sent or report.failed or report.retrying:
        log.info("sms.queue_run", extra=vars(report))
    return report


def gammu_poll(app: Flask) -> gammu.PollReport | None:
    """Look at the modem's folders once: take new texts, send the replies, settle."""
    settings = config.get(app)
    with app.app_context(), store.open_db(settings.database) as db:
        return gammu_pass(app, db, settings)


def gammu_pass(
    app: Flask,
    db: sqlite_utils.Database,
    settings: SmsConfig,
    *,
    settle: bool = True,
    wait: bool = True,
) -> gammu.PollReport | None:
    """Take the modem's new texts, send what is due, settle what the daemon sent.

    wait=False (the watcher): send only what the rate limit lets go now; the report's
    `sending.next_in` says when the next may go.
    """
    try:
        where = gammu.folders(settings.gammu_config)
        outgoing = gammu.Outgoing(sender_for(app, db), app.extensions["sms_limiter"])
        report = gammu.poll(db, settings, where, outgoing)
        if settle:
            gammu.settle(db, settings, where)
            gammu.drop_stale_staging(where)
    except (GatewayError, SmsConfigError) as error:
        # Nothing is lost: unread files stay in the inbox for the next poll.
        log.error("sms.gammu_unavailable", extra={"error": str(error)})
        gateway.note_problem(db, str(error))
        return None
    sending = outbound.send_due(db, settings, outgoing.sender, outgoing.limiter, wait=wait)
    report.sending.sent += sending.sent
    report.sending.next_in = sending.next_in
    if report.received or report.refused:
        log.info(
            "sms.gammu_poll",
            extra={"received": report.received, "refused": len(report.refused)},
        )
        gateway.publish(db, settings)
    return report


class GammuWatcher:
    """The modem's gateway on a node: each text taken the moment gammu-smsd writes it.

    One thread with one connection to the store for its life. It waits on the daemon's
    inbox, sent and error folders (`gammu.FolderWatch`, inotify) and runs a pass when
    they change: a text's reply is in the outbox a few milliseconds after its file
    appears. Every `every` seconds it runs a full pass anyway (a file left waiting, a
    change the watch missed, and the whole of it where there is no inotify), and it
    wakes when the rate limit lets a held-back reply go. `sms.schedule` starts and stops
    it with the node's scheduler.
    """

    def __init__(self, app: Flask, every: float) -> None:
        self.app = app
        self.every = every
        self.watch = gammu.FolderWatch()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sms-gammu-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the pass under way (nothing is lost either way), then close the watch."""
        self._stopping.set()
        self.watch.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # still in a pass: the watch is the thread's until it ends
        self.watch.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._serve()
            except Exception:  # a disk error, a store that cannot open: try again later
                log.exception("sms.gammu_watcher_failed")
                self._stopping.wait(self.every)

    def _serve(self) -> None:
        settings = config.get(self.app)
        try:
            self._watch(settings)
        finally:
            with contextlib.suppress(GatewayError, OSError):
                gammu.drop_spare(gammu.folders(settings.gammu_config).outbox)

    def _watch(self, settings: SmsConfig) -> None:
        with self.app.app_context(), store.open_db(settings.database) as db:
            changed = {gammu.INBOX, gammu.SETTLED}
            next_full = send_at = 0.0
            while not self._stopping.is_set():
                now = time.monotonic()
                full = now >= next_full
                if full:
                    next_full = now + self.every
                # Watch before looking, so a file written during the pass wakes the next.
                with contextlib.suppress(GatewayError):
                    self.watch.arm(gammu.folders(settings.gammu_config))
                if full or changed or (send_at and now >= send_at):
                    report = gammu_pass(
                        self.app, db, settings, settle=full or gammu.SETTLED in changed, wait=False
                    )
                    send_in = report.sending.next_in if report else 0.0
                    send_at = time.monotonic() + send_in if send_in else 0.0
                    with contextlib.suppress(GatewayError, OSError):  # said by the next pass
                        gammu.keep_spare(gammu.folders(settings.gammu_config).outbox)
                wake_at = min(next_full, send_at) if send_at else next_full
                changed = self.watch.wait(wake_at - time.monotonic())


def gammu_check(app: Flask) -> gammu.DaemonStatus | None:
    """Ask gammu-smsd for the modem's signal and battery; note it if it is not running."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        try:
            status = gammu.check(settings.gammu_config)
        except GatewayError as error:
            log.error("sms.gammu_unavailable", extra={"error": str(error)})
            gateway.note_problem(db, str(error))
            gateway.publish(db, settings)
            return None
        gateway.note_device(db, status.signal, status.battery)
        gateway.publish(db, settings)
    return status


def retention(app: Flask) -> dict[str, int]:
    """Erase what is due in the app's store: settled numbers, old pseudonyms, old receipts."""
    settings = config.get(app)
    with store.open_db(settings.database) as db:
        return people.apply_retention(
            db,
            now=clock.parse(clock.utcnow()),
            phone_days=float(app.config["PHONE_RETENTION_DAYS"]),
            default_days=int(app.config["RETENTION_DAYS"]),
        )
