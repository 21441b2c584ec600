"""Group commit for final submits: concurrent visits share one transaction and one fsync.

With `synchronous=FULL` every commit waits for the disk, and SQLite lets one writer in
at a time, so kiosk requests submitting together would queue on the write lock (whose
busy handler sleeps in growing steps). Instead each request hands its write to the
store's writer thread and waits: the writer takes every write queued so far, runs each
in its own savepoint inside one `BEGIN IMMEDIATE` transaction, commits once, and only
then releases the requests. Nothing is acknowledged before it is on disk, and a write
that fails is rolled back alone.
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
IDLE_SECONDS = 5.0  # an idle writer closes its connection and its thread ends


class _Write:
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[sqlite_utils.Database], Any]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class GroupWriter:
    """One thread that commits the writes queued for one store, in groups."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pending: queue.Queue[_Write] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[sqlite_utils.Database], T]) -> T:
        """Run `work(db)` inside the writer's transaction; return once it is committed."""
        write = _Write(work)
        with self._lock:
            self.pending.put(write)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name=f"kiosk-writer-{Path(self.path).name}", daemon=True
                )
                self._thread.start()
        write.done.wait()
        if write.error is not None:
            raise write.error
        return write.result

    def _loop(self) -> None:
        try:
            db = store.open_db(self.path)
        except BaseException as error:
            # The store cannot be opened: fail what is waiting rather than leave it hanging.
            log.exception("kiosk.writer_open_failed", extra={"path": self.path})
            with self._lock:
                self._thread = None
                while not self.pending.empty():
                    write = self.pending.get_nowait()
                    write.error = error
                    write.done.set()
            return
        try:
            while True:
                try:
                    first = self.pending.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:
                        if self.pending.empty():
                            self._thread = None
                            return
                    continue
                group = [first]
                while len(group) < MAX_GROUP:
                    try:
                        group.append(self.pending.get_nowait())
                    except queue.Empty:
                        break
                self._commit(db, group)
        finally:
            db.close()

    @staticmethod
    def _commit(db: sqlite_utils.Database, group: list[_Write]) -> None:
        try:
            with store.write(db):
                for write in group:
                    try:
                        with db.atomic():  # a savepoint: one write's failure is its own
                            write.result = write.work(db)
                    except Exception as error:  # handed back to the request that sent it
                        write.error = error
        except BaseException as error:
            log.exception("kiosk.group_commit_failed", extra={"writes": len(group)})
            for write in group:
                write.error = write.error or error
        finally:
            for write in group:
                write.done.set()


_writers: dict[str, GroupWriter] = {}
_writers_lock = threading.Lock()


def writer_for(path: str | Path) -> GroupWriter:
    """Return the group writer of the store at `path` (one per store in this process)."""
    writer = _writers.get(str(path))  # the common case, without touching the disk
    if writer is not None:
        return writer
    key = str(Path(path).resolve())
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = GroupWriter(key)
        # Both spellings of the path name the same writer: one writer per store.
        _writers[str(path)] = writer
        return writer
