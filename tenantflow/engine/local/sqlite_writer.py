"""The process's one SQLite writer, with group commit.

SQLite has a single writer and each durable commit costs an fsync. Sandbox
threads hand their commands to :meth:`SqliteWriter.run`; whoever finds the
writer free becomes the leader and runs every queued command in one
transaction (each inside its own savepoint, so one command's failure rolls
back only its own writes), commits once, and wakes the others. A command's
caller still returns only after the commit that contains it: durability is
unchanged, but N concurrent steps share one fsync. A lone caller commits at
once (no batching delay).

:meth:`SqliteWriter.submit` queues a command without waiting: a committer thread
leads the transaction whenever no caller does, and the returned future settles
after the commit (its callbacks run on the thread that committed). A sandbox's
step commit uses it, so no thread waits for the fsync on the guest's behalf.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
SqliteCommand = Callable[[sqlite3.Connection, float], T]


class _Slot(Generic[T]):
    __slots__ = ("command", "done", "error", "future", "result")

    def __init__(self, command: SqliteCommand[T], future: Future[T] | None = None) -> None:
        self.command = command
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self.future = future


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
        self._committer: threading.Thread | None = None
        self._disconnected = False

    def submit(self, command: SqliteCommand[T]) -> Future[T]:
        """Queue ``command``; the future settles after the transaction holding it commits."""
        future: Future[T] = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the SQLite writer is closed")
            self._queue.append(_Slot(command, future))
            if self._committer is None:
                self._committer = threading.Thread(
                    target=self._commit_loop, name="tenantflow-sqlite-commit", daemon=True
                )
                self._committer.start()
            self._cv.notify_all()
        return future

    def _commit_loop(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (self._leading or not self._queue):
                    self._cv.wait()
                if self._leading or not self._queue:
                    return  # closed and nothing left to commit
                self._leading = True
                batch, self._queue = self._queue, []
            self._lead(batch)

    def _lead(self, batch: list[_Slot[Any]]) -> None:
        """Commit ``batch`` as the leader (``_leading`` was set), then hand the lead on."""
        try:
            self._commit(batch)
        finally:
            with self._cv:
                self._leading = False
                self._cv.notify_all()

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
            self._lead(batch)
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
            for slot in batch:
                if slot.future is None:
                    continue
                if slot.error is not None:
                    slot.future.set_exception(slot.error)
                else:
                    slot.future.set_result(slot.result)

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
            self._closed = True
            self._cv.notify_all()
            committer = self._committer
        if committer is not None and committer is not threading.current_thread():
            committer.join()  # it commits what was submitted before the close, then ends
        with self._cv:
            while self._leading:
                self._cv.wait()
            if not self._disconnected:
                self._disconnected = True
                self._conn.close()
