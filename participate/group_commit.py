"""Group commit: concurrent requests' writes share one transaction and one fsync.

With `synchronous=FULL` every commit waits for the disk, and SQLite lets one writer in
at a time, so requests writing together (kiosk final submits, SMS webhooks) would queue
on the write lock, whose busy handler sleeps in growing steps. Instead each request
hands its unit of work to the store's writer thread and waits: the writer takes every
unit queued so far, runs each in its own savepoint inside one `BEGIN IMMEDIATE`
transaction, commits once, and only then releases the requests. Nothing is acknowledged
before it is on disk; a unit that fails is rolled back alone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from participate import store

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_GROUP = 64
IDLE_SECONDS = 5.0  # an idle writer closes its connection and ends


class _Unit:
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[sqlite_utils.Database], Any]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class GroupWriter:
    """One thread that commits the queued units of work on one store in groups."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.units: queue.Queue[_Unit] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[sqlite_utils.Database], T]) -> T:
        """Run `work(db)` in the writer's transaction; return once it is committed."""
        unit = _Unit(work)
        with self._lock:
            self.units.put(unit)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name=f"writer-{Path(self.path).name}", daemon=True
                )
                self._thread.start()
        unit.done.wait()
        if unit.error is not None:
            raise unit.error
        return unit.result

    def _loop(self) -> None:
        try:
            db = store.open_db(self.path)
        except Exception as error:  # the store cannot be opened: fail what waits, not hang
            log.exception("store.writer_open_failed", extra={"path": self.path})
            with self._lock:
                self._thread = None
                while not self.units.empty():
                    unit = self.units.get_nowait()
                    unit.error = error
                    unit.done.set()
            return
        try:
            while True:
                try:
                    first = self.units.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:
                        if self.units.empty():
                            self._thread = None
                            return
                    continue
                group = [first]
                while len(group) < MAX_GROUP:
                    try:
                        group.append(self.units.get_nowait())
                    except queue.Empty:
                        break
                self._commit(db, group)
        finally:
            db.close()

    @staticmethod
    def _commit(db: sqlite_utils.Database, group: list[_Unit]) -> None:
        try:
            with store.write(db):
                for unit in group:
                    try:
                        with db.atomic():  # a savepoint: one unit's failure is its own
                            unit.result = unit.work(db)
                    except Exception as error:  # handed back to the request that sent it
                        unit.error = error
        except BaseException as error:
            log.exception("store.group_commit_failed", extra={"units": len(group)})
            for unit in group:
                unit.error = unit.error or error
        finally:
            for unit in group:
                unit.done.set()


_writers: dict[str, GroupWriter] = {}
_writers_lock = threading.Lock()


def writer_for(path: str | Path) -> GroupWriter:
    """Return the group writer of the store at `path` (one per store per process)."""
    path = str(path)
    writer = _writers.get(path)
    if writer is not None:
        return writer
    key = str(Path(path).resolve())
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = GroupWriter(key)
        # Later calls with the same spelling skip resolving the path (a few syscalls).
        _writers[path] = writer
        return writer
