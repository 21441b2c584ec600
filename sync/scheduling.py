"""Run sync on a node in the background: an interval job, a prompt job, one run at a time.

Two APScheduler jobs share one lock. `sync` runs every SYNC_INTERVAL seconds: pull,
push, heartbeat. `sync-prompt` looks every SYNC_PROMPT_SECONDS for queued submissions
and pushes them at once, so a kiosk visit reaches the hub within seconds without the
kiosk knowing about sync. Both respect the backoff after a failure (exponential with
jitter, capped at SYNC_BACKOFF_CAP, never giving up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from participate import store

from . import node
from .client import HubClient, Transport

log = logging.getLogger(__name__)


class NodeSync:
    """The node's background sync runs for one store; each run opens its own connection."""

    def __init__(
        self,
        database: str,
        *,
        batch_size: int = node.BATCH_SIZE,
        timeout: float = 30.0,
        backoff_cap: float = node.BACKOFF_CAP,
        transport_factory: Callable[[], Transport] | None = None,
    ) -> None:
        self.database = database
        self.batch_size = batch_size
        self.timeout = timeout
        self.backoff_cap = backoff_cap
        self.transport_factory = transport_factory
        self._lock = threading.Lock()
        self._client: HubClient | None = None

    def _get_client(self, db: Any) -> HubClient:
        if self._client is None:
            transport = self.transport_factory() if self.transport_factory else None
            self._client = node.client_from_store(db, transport=transport, timeout=self.timeout)
        return self._client

    def run(self, *, only_if_queued: bool = False) -> node.SyncReport | None:
        """Sync once unless another run holds the lock, the backoff says wait, or nothing waits."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            with node.exclusive(self.database) as held:
                return self._run(only_if_queued) if held else None
        finally:
            self._lock.release()

    def _run(self, only_if_queued: bool) -> node.SyncReport | None:
        """Run once, the locks held: skip while backing off or idle, else sync and log it."""
        try:
            with store.open_db(self.database) as db:
                if not node.due(db):
                    return None
                if only_if_queued and not node.has_queue(db):
                    return None
                try:
                    report = node.sync_once(
                        db,
                        self._get_client(db),
                        batch_size=self.batch_size,
                        pull_first=not only_if_queued,
                        backoff_cap=self.backoff_cap,
                    )
                except Exception as exc:  # every failure is recorded and retried later
                    state = node.sync_state(db)
                    log.warning(
                        "sync.failed",
                        extra={
                            "error": f"{type(exc).__name__}: {exc}",
                            "failures": state["failures"],
                            "next_attempt_at": state["next_attempt_at"],
                        },
                    )
                    return None
            if report.push.batches or report.pulled or report.requeued:
                log.info(
                    "sync.done",
                    extra={
                        "stored": report.push.stored,
                        "duplicate": report.push.duplicate,
                        "rejected": report.push.rejected,
                        "remaining": report.push.remaining,
                        "pulled": report.pulled,
                        "requeued": report.requeued,
                    },
                )
            return report
        finally:
            if self._client is not None:
                # Runs are seconds apart: don't hold a connection the hub would time out.
                self._client.close()


def schedule(scheduler: Any, app: Flask) -> NodeSync | None:
    """Add the node's sync jobs to `scheduler` (nothing on a hub or an unenrolled node)."""
    if app.config["ROLE"] != "node" or not app.config.get("HUB_URL"):
        return None
    runner = NodeSync(
        app.config["DATABASE"],
        batch_size=int(app.config["SYNC_BATCH_SIZE"]),
        timeout=float(app.config["SYNC_TIMEOUT"]),
        backoff_cap=float(app.config["SYNC_BACKOFF_CAP"]),
    )
    soon = datetime.now(UTC) + timedelta(seconds=1)
    common = {"max_instances": 1, "misfire_grace_time": None, "coalesce": True}
    scheduler.add_job(
        runner.run,
        "interval",
        seconds=float(app.config["SYNC_INTERVAL"]),
        id="sync",
        next_run_time=soon,
        **common,
    )
    scheduler.add_job(
        runner.run,
        "interval",
        seconds=float(app.config["SYNC_PROMPT_SECONDS"]),
        id="sync-prompt",
        kwargs={"only_if_queued": True},
        **common,
    )
    return runner
