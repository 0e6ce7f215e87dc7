"""The process's one SQLite writer, with group commit.

SQLite has a single writer and each durable commit costs an fsync. Sandbox
threads hand their commands to :meth:`SqliteWriter.run`; whoever finds the
writer free becomes the leader and runs every queued command in one
transaction (each inside its own savepoint, so one command's failure rolls
back only its own writes), commits once, and wakes the others. A command's
caller still returns only after the commit that contains it: durability is
unchanged, but N concurrent steps share one fsync. A lone caller commits at
once (no batching delay).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
SqliteCommand = Callable[[sqlite3.Connection, float], T]


class _Slot(Generic[T]):
    __slots__ = ("command", "done", "error", "result")

    def __init__(self, command: SqliteCommand[T]) -> None:
        self.command = command
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class SqliteWriter:
    """One ``sqlite3`` connection shared by threads, committing in groups."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._cv = threading.Condition()
        self._queue: list[_Slot[Any]] = []
        self._leading = False
        self._closed = False

    def run(self, command: SqliteCommand[T]) -> T:
        """Run ``command`` in a transaction; returns after that transaction committed."""
        slot: _Slot[T] = _Slot(command)
        with self._cv:
            if self._closed:
                raise RuntimeError("the SQLite writer is closed")
            self._queue.append(slot)
            while self._leading and not slot.done:
                self._cv.wait()
            if not slot.done:
                self._leading = True
                batch, self._queue = self._queue, []
        if not slot.done:
            try:
                self._commit(batch)
            finally:
                with self._cv:
                    self._leading = False
                    self._cv.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Slot[Any]]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            now = time.time()
            for slot in batch:
                if len(batch) == 1:
                    self._apply(slot, now)
                    continue
                conn.execute("SAVEPOINT command")
                if self._apply(slot, now):
                    conn.execute("RELEASE command")
                else:
                    conn.execute("ROLLBACK TO command")
                    conn.execute("RELEASE command")
            if len(batch) == 1 and batch[0].error is not None:
                conn.execute("ROLLBACK")
            else:
                conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for slot in batch:
                if slot.error is None:
                    slot.error, slot.result = exc, None
        finally:
            with self._cv:
                for slot in batch:
                    slot.done = True

    def _apply(self, slot: _Slot[Any], now: float) -> bool:
        try:
            slot.result = slot.command(self._conn, now)
        except Exception as exc:
            slot.error = exc
            return False
        return True

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        with self._cv:
            while self._leading:
                self._cv.wait()
            if not self._closed:
                self._closed = True
                self._conn.close()
