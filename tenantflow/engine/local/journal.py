"""Journals of the local backend: the guest's commands made durable, on the sandbox thread.

SQLite: one raw ``sqlite3`` connection shared by the process's sandbox
threads under a lock (SQLite has one writer anyway), so a step commit is a
local ``BEGIN IMMEDIATE ... COMMIT`` with no thread hop: ~5x faster than a
round trip through aiosqlite. Postgres: step commits and finishes go through
:class:`~tenantflow.engine.local.pg_batch.PgBatcher` (group commit: one
statement for every instance's pending command, raw asyncpg); the other
commands run the same SQL on the worker's event loop through SQLAlchemy +
asyncpg. Either way a command returns only once committed, except a step
commit (``commit_step_later``), which is queued without waiting: its future
settles after the commit, and the sandbox replies to the guest from its
callback.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, TextClause, text

from tenantflow.db.session import create_engine
from tenantflow.engine.backend import Claim, Lease, LogEntry, WaitOutcome
from tenantflow.engine.local import claims, commands
from tenantflow.engine.local.commands import Tx
from tenantflow.engine.local.pg_batch import PgBatcher
from tenantflow.engine.local.sqlite_writer import SqliteWriter
from tenantflow.sandbox import hostcall

T = TypeVar("T")
Command = Callable[[Tx, float], T]


class _Journal:
    """The :class:`~tenantflow.engine.backend.Journal` commands over ``_transaction``."""

    def _transaction(self, command: Command[T]) -> T:
        raise NotImplementedError

    def _single(self, command: Command[T]) -> T:
        """Run a one-statement command (atomic on its own); databases may skip BEGIN/COMMIT."""
        return self._transaction(command)

    def _run(
        self, lease: Lease, logs: Sequence[LogEntry], command: Command[T], *, single: bool = False
    ) -> T:
        if single and not logs:
            return self._single(command)
        return self._transaction(_with_logs(lease, logs, command))

    def fail_step(
        self,
        lease: Lease,
        seq: int,
        name: str,
        attempts: int,
        started: float,
        error: dict[str, Any],
        retry_at: float | None,
        logs: Sequence[LogEntry],
    ) -> None:
        """Step failed (retry scheduled at ``retry_at``, or for good)."""
        self._run(lease, logs, lambda tx, now: commands.fail_step(
            tx, lease, seq, name, attempts, started, error, retry_at, now))  # fmt: skip

    def sleep(
        self, lease: Lease, seq: int, name: str, wake_at: float | None, logs: Sequence[LogEntry]
    ) -> bool:
        """Sleep until ``wake_at``; True if already due."""
        return self._run(
            lease, logs, lambda tx, now: commands.sleep(tx, lease, seq, name, wake_at, now)
        )

    def wait(
        self,
        lease: Lease,
        seq: int,
        name: str,
        type: str,
        timeout_at: float | None,
        logs: Sequence[LogEntry],
    ) -> WaitOutcome:
        """Wait for an event of ``type``."""
        return self._run(lease, logs, lambda tx, now: commands.wait(
            tx, lease, seq, name, type, timeout_at, now))  # fmt: skip

    def finish(
        self,
        lease: Lease,
        output: str | None,
        error: dict[str, Any] | None,
        logs: Sequence[LogEntry],
    ) -> None:
        """Workflow complete or errored."""
        self._run(
            lease, logs, lambda tx, now: commands.finish(tx, lease, output, error, now), single=True
        )

    def release(self, lease: Lease, logs: Sequence[LogEntry], delay: float = 0.0) -> None:
        """Give the instance back unfinished."""
        self._run(lease, logs, lambda tx, now: commands.release(tx, lease, now + delay, now))

    def _queue(self, command: Command[T]) -> Future[T]:
        """Run ``command`` in a transaction without waiting; the future settles after it."""
        raise NotImplementedError

    def commit_step_later(
        self,
        lease: Lease,
        seq: int,
        name: str,
        attempts: int,
        started: float,
        output: str,
        logs: Sequence[LogEntry],
    ) -> Future[None]:
        """Step committed: the future settles once it is durable."""
        return self._queue(_with_logs(lease, logs, lambda tx, now: commands.commit_step(
            tx, lease, seq, name, attempts, started, output, now)))  # fmt: skip

    def release_later(self, lease: Lease, logs: Sequence[LogEntry]) -> Future[None]:
        """:meth:`release` (now) without waiting."""
        return self._queue(_with_logs(lease, logs, _release(lease)))

    def close(self) -> None:
        """Release connections."""


def _with_logs(lease: Lease, logs: Sequence[LogEntry], command: Command[T]) -> Command[T]:
    """``command``, then ``logs`` written in the same transaction."""
    if not logs:
        return command

    def body(tx: Tx, now: float) -> T:
        result = command(tx, now)
        commands.write_logs(tx, lease, logs)
        return result

    return body


def _release(lease: Lease) -> Command[None]:
    return lambda tx, now: commands.release(tx, lease, now, now)


class _SqliteTx:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._c = connection

    def execute(self, sql: str, params: dict[str, Any]) -> int:
        return self._c.execute(sql, params).rowcount

    def fetchone(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._c.execute(sql, params).fetchone()
        return row

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        self._c.executemany(sql, rows)

    def fetchall(self, sql: str, params: Any) -> list[Any]:
        return self._c.execute(sql, params).fetchall()


class SqliteJournal(_Journal):
    """Journal on a SQLite file through one synchronous connection."""

    def __init__(self, path: str) -> None:
        self._writer = SqliteWriter(path)

    def _transaction(self, command: Command[T]) -> T:
        return self._writer.run(lambda conn, now: command(_SqliteTx(conn), now))

    def _queue(self, command: Command[T]) -> Future[T]:
        return self._writer.submit(lambda conn, now: command(_SqliteTx(conn), now))

    def claim(self, owner: str, limit: int, per_tenant: int, lease_seconds: float) -> list[Claim]:
        """Lease runnable instances on this connection (no busy-waiting against the journal)."""

        def command(tx: _SqliteTx, now: float) -> list[Claim]:
            params = {
                "owner": owner, "expires": now + lease_seconds, "now": now, "limit": limit,
                "per_tenant": per_tenant,
            }  # fmt: skip
            rows = tx.fetchall(claims.SQLITE_CLAIM_SQL, params)
            found = claims.leased(rows, owner)
            if found:
                marks = ",".join("?" * len(found))
                steps = tx.fetchall(claims.JOURNAL_SQL.format(ids=marks), list(found))
                claims.add_journals(found, steps)
            return sorted(found.values(), key=lambda c: c.instance_id)

        return self._writer.run(lambda conn, now: command(_SqliteTx(conn), now))

    def renew(self, owner: str, instance_ids: Sequence[str], lease_seconds: float) -> set[str]:
        """Extend ``owner``'s leases on this connection; returns the ids still held."""
        if not instance_ids:
            return set()
        sql = (
            "UPDATE wf_instances SET lease_expires_at = ? WHERE lease_owner = ?"
            f" AND id IN ({','.join('?' * len(instance_ids))}) RETURNING id"
        )

        def command(conn: sqlite3.Connection, now: float) -> set[str]:
            rows = conn.execute(sql, [now + lease_seconds, owner, *instance_ids]).fetchall()
            return {row[0] for row in rows}

        return self._writer.run(command)

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        self._writer.close()


class _SqlAlchemyTx:
    _texts: dict[str, TextClause] = {}

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    @classmethod
    def _text(cls, sql: str) -> TextClause:
        clause = cls._texts.get(sql)
        if clause is None:
            clause = cls._texts[sql] = text(sql)
        return clause

    def execute(self, sql: str, params: dict[str, Any]) -> int:
        return int(self._c.execute(self._text(sql), params).rowcount)

    def fetchone(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        row = self._c.execute(self._text(sql), params).first()
        return None if row is None else tuple(row)

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        self._c.execute(self._text(sql), rows)


class PostgresJournal(_Journal):
    """Journal on Postgres: commands run on ``loop`` (the worker's) via SQLAlchemy + asyncpg."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, pool_size: int = 10) -> None:
        # Its own pool without pre-ping: a ping is one more round trip on every step. A
        # connection that died fails its command; the instance is abandoned and replayed.
        self._engine = create_engine(url, pool_pre_ping=False, pool_size=pool_size)
        self._loop = loop
        self._batcher = PgBatcher(url, loop)

    def commit_step_later(
        self,
        lease: Lease,
        seq: int,
        name: str,
        attempts: int,
        started: float,
        output: str,
        logs: Sequence[LogEntry],
    ) -> Future[None]:
        """Step committed: batched with other instances' commits (group commit)."""
        if logs:
            return super().commit_step_later(lease, seq, name, attempts, started, output, logs)
        return self._batcher.submit_commit(lease, seq, name, attempts, started, output)

    def _queue(self, command: Command[T]) -> Future[T]:
        coroutine = self._async(command)
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("the journal's event loop is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def finish(
        self,
        lease: Lease,
        output: str | None,
        error: dict[str, Any] | None,
        logs: Sequence[LogEntry],
    ) -> None:
        """Workflow complete or errored: batched with other instances' finishes."""
        if logs:
            super().finish(lease, output, error, logs)
            return
        status = "errored" if error is not None else "complete"
        self._batcher.finish(lease, status, output, None if error is None else json.dumps(error))

    async def _async(self, command: Command[T]) -> T:
        async with self._engine.begin() as conn:
            now = time.time()
            return await conn.run_sync(lambda sync: command(_SqlAlchemyTx(sync), now))

    async def _async_single(self, command: Command[T]) -> T:
        async with self._engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            now = time.time()
            return await auto.run_sync(lambda sync: command(_SqlAlchemyTx(sync), now))

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coroutine.close()
            raise RuntimeError("PostgresJournal is synchronous: call it off the event loop")
        return hostcall.run(coroutine, self._loop)

    def _transaction(self, command: Command[T]) -> T:
        return self._call(self._async(command))

    def _single(self, command: Command[T]) -> T:
        return self._call(self._async_single(command))

    def close(self) -> None:
        """Forget pooled connections without awaiting (prefer :meth:`aclose` on the loop)."""
        self._engine.sync_engine.dispose(close=False)

    async def aclose(self) -> None:
        """Close the batcher's and the pool's connections."""
        await self._batcher.aclose()
        await self._engine.dispose()
