"""Group commit for Postgres: the hot commands of many instances in one statement.

A step commit (and a workflow's finish) is one fenced statement. Sandbox
threads hand theirs to a :class:`PgBatcher`; on the worker's event loop one
flush sends every command queued since the last flush as a single
``unnest``-driven statement in autocommit on a raw asyncpg connection (no
SQLAlchemy compilation, no transaction round trips). Rows that the fence
rejected are missing from ``RETURNING``: their caller gets
:class:`LeaseLost`. A caller returns only after the statement holding its
row committed, so durability is unchanged; while one flush is on the wire
the next batch fills, so N concurrent steps cost one round trip. A lone
step is flushed at once (no batching delay).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from tenantflow.engine.backend import Lease
from tenantflow.engine.errors import LeaseLost
from tenantflow.sandbox import hostcall

log = logging.getLogger(__name__)

_COMMIT = """
INSERT INTO wf_steps (instance_id, seq, name, kind, status, attempts, started_at, ended_at,
                      wake_at, output, error)
SELECT v.iid, v.seq, v.name, 'do', 'complete', v.attempts, v.started, $9, NULL, v.output, NULL
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::float8[], $6::text[],
            $7::text[], $8::int[]) AS v(iid, seq, name, attempts, started, output, owner, gen)
WHERE EXISTS (SELECT 1 FROM wf_instances i
              WHERE i.id = v.iid AND i.lease_owner = v.owner AND i.run_gen = v.gen)
ON CONFLICT (instance_id, seq) DO UPDATE SET
  status = excluded.status, attempts = excluded.attempts, ended_at = excluded.ended_at,
  wake_at = excluded.wake_at, output = excluded.output, error = excluded.error
RETURNING instance_id
"""
_FINISH = """
UPDATE wf_instances AS i SET status = v.status, output = v.output, error = v.error,
  ended_at = $7, updated_at = $7, ready_at = NULL, wait_event_type = NULL,
  lease_owner = NULL, lease_expires_at = NULL
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[])
  AS v(iid, owner, gen, status, output, error)
WHERE i.id = v.iid AND i.lease_owner = v.owner AND i.run_gen = v.gen
RETURNING i.id
"""


_COMMITS = "commits"
_FINISHES = "finishes"


@dataclass(slots=True)
class _Item:
    lease: Lease
    values: tuple[Any, ...]
    future: Future[None] = field(default_factory=Future)


CONNECT_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 30.0
"""Bounds on the batcher's connection: a connection that hangs (a half-dead socket) fails the
batch like a dropped one, instead of blocking every sandbox waiting for its commit."""
WAIT_LIMIT = 3 * (CONNECT_TIMEOUT + STATEMENT_TIMEOUT)
"""A caller waits for at most the flush ahead of its own and its own, with room to spare; past
that something is broken, and the caller abandons its instance (it is replayed) rather than
holding its thread."""


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgBatcher:
    """Batches step commits and finishes from sandbox threads onto the event loop."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self._dsn = asyncpg_dsn(url)
        self._loop = loop
        self._lock = threading.Lock()
        self._commits: list[_Item] = []
        self._finishes: list[_Item] = []
        self._scheduled = False
        self._conn: asyncpg.Connection | None = None
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    # -- sandbox thread --------------------------------------------------------

    def submit_commit(
        self, lease: Lease, seq: int, name: str, attempts: int, started: float, output: str
    ) -> Future[None]:
        """Record a completed step without waiting: the future settles once committed (with
        LeaseLost if fenced out), on the event loop, so its callbacks run there."""
        return self._submit(_COMMITS, lease, (seq, name, attempts, started, output)).future

    def finish(self, lease: Lease, status: str, output: str | None, error: str | None) -> None:
        """Complete or fail the workflow; returns once committed."""
        self._wait(self._submit(_FINISHES, lease, (status, output, error)))

    def _submit(self, kind: str, lease: Lease, values: tuple[Any, ...]) -> _Item:
        item = _Item(lease, values)
        with self._lock:
            if self._closed:
                raise RuntimeError("the Postgres journal is closed")
            # The queue is looked up under the lock: the flusher swaps in new lists, and an item
            # appended to a list it already took would never be sent (nor answered).
            (self._commits if kind == _COMMITS else self._finishes).append(item)
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self._loop.call_soon_threadsafe(self._start_flush)
        return item

    def _wait(self, item: _Item) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("PostgresJournal is synchronous: call it off the event loop")
        try:
            hostcall.wait(item.future, self._loop, WAIT_LIMIT)
        except hostcall.HostCallAbandoned:
            log.error("a journal command was abandoned unanswered (%s)", self._state())
            raise

    def _state(self) -> str:
        task = self._task
        if task is None:
            flusher = "never started"
        elif not task.done():
            flusher = "running"
        elif task.cancelled():
            flusher = "cancelled"
        else:
            flusher = f"ended ({task.exception()!r})"
        with self._lock:
            return (
                f"flusher {flusher}, scheduled={self._scheduled}, closed={self._closed}, "
                f"queued {len(self._commits)} commits and {len(self._finishes)} finishes"
            )

    # -- event loop ------------------------------------------------------------

    def _start_flush(self) -> None:
        self._task = self._loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        # One flush at a time: what arrives while a statement is on the wire goes together
        # into the next one.
        try:
            while True:
                with self._lock:
                    commits, self._commits = _unique(self._commits)
                    finishes, self._finishes = _unique(self._finishes)
                    if not commits and not finishes:
                        self._scheduled = False
                        return
                await self._flush(commits, finishes)
        except BaseException:
            # Cancelled (the loop is shutting down): fail what is queued, let the next
            # submission start a new flusher.
            with self._lock:
                queued, self._commits, self._finishes = self._commits + self._finishes, [], []
                self._scheduled = False
            _fail(queued, RuntimeError("the journal's flusher stopped"))
            raise

    async def _flush(self, commits: list[_Item], finishes: list[_Item]) -> None:
        batch = commits + finishes
        try:
            conn = await self._connection()
            now = time.time()
            done: set[str] = set()
            if commits:
                rows = await conn.fetch(
                    _COMMIT,
                    [i.lease.instance_id for i in commits],
                    [i.values[0] for i in commits],
                    [i.values[1] for i in commits],
                    [i.values[2] for i in commits],
                    [i.values[3] for i in commits],
                    [i.values[4] for i in commits],
                    [i.lease.owner for i in commits],
                    [i.lease.run_gen for i in commits],
                    now,
                    timeout=STATEMENT_TIMEOUT,
                )
                done.update(r[0] for r in rows)
                _settle(commits, done)
            if finishes:
                rows = await conn.fetch(
                    _FINISH,
                    [i.lease.instance_id for i in finishes],
                    [i.lease.owner for i in finishes],
                    [i.lease.run_gen for i in finishes],
                    [i.values[0] for i in finishes],
                    [i.values[1] for i in finishes],
                    [i.values[2] for i in finishes],
                    now,
                    timeout=STATEMENT_TIMEOUT,
                )
                _settle(finishes, {r[0] for r in rows})
        except BaseException as exc:
            # The outcome is unknown (the statement may have committed): callers abandon their
            # instance and a replay finds whatever is durable.
            await self._drop_connection()
            _fail(batch, exc if isinstance(exc, Exception) else RuntimeError("flush cancelled"))
            if not isinstance(exc, Exception):
                raise

    async def _connection(self) -> asyncpg.Connection:
        if self._closed:
            raise RuntimeError("the Postgres journal is closed")
        if self._conn is None or self._conn.is_closed():
            # Two fixed statements: asyncpg prepares each once per connection.
            self._conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def aclose(self) -> None:
        """Refuse new commands and close the connection."""
        with self._lock:
            self._closed = True
            queued, self._commits, self._finishes = self._commits + self._finishes, [], []
        _fail(queued, RuntimeError("the Postgres journal is closed"))  # never sent
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()


def _unique(queue: list[_Item]) -> tuple[list[_Item], list[_Item]]:
    """Split ``queue`` into a batch with one item per instance and the rest (kept for later).

    One instance has at most one command in flight; the split guards the statement
    (``ON CONFLICT`` may not touch one row twice) should a lease be lost and regained.
    """
    seen: set[str] = set()
    batch: list[_Item] = []
    rest: list[_Item] = []
    for item in queue:
        key = item.lease.instance_id
        (rest if key in seen else batch).append(item)
        seen.add(key)
    return batch, rest


def _settle(items: list[_Item], done: set[str]) -> None:
    for item in items:
        if item.future.done():  # its caller gave up waiting (cancelled)
            continue
        if item.lease.instance_id in done:
            item.future.set_result(None)
        else:
            item.future.set_exception(
                LeaseLost(f"instance {item.lease.instance_id} is no longer held by this runner")
            )


def _fail(items: list[_Item], error: Exception) -> None:
    """Settle every unsettled item with ``error`` (its caller abandons its instance)."""
    for item in items:
        if not item.future.done():
            item.future.set_exception(error)
