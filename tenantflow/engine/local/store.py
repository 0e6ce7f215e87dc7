"""The local backend: instances on SQLite or Postgres through SQLAlchemy 2 async."""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import Row, Table, and_, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tenantflow.db.models.engine import (
    WorkflowEvent,
    WorkflowInstance,
    WorkflowLog,
    WorkflowStep,
)
from tenantflow.db.session import create_engine, is_sqlite
from tenantflow.engine.backend import Claim, Journal
from tenantflow.engine.errors import IdempotencyConflict, InvalidTransition, NotFound
from tenantflow.engine.local import claims
from tenantflow.engine.local.journal import PostgresJournal, SqliteJournal
from tenantflow.engine.local.listen import NOTIFY, Listener
from tenantflow.engine.local.pg_batch import asyncpg_dsn
from tenantflow.engine.models import (
    Instance,
    InstanceQuery,
    InstanceStatus,
    LogLine,
    NewInstance,
    Page,
    StepRecord,
    from_json,
    to_datetime,
)

_I = cast(Table, WorkflowInstance.__table__)
_S = cast(Table, WorkflowStep.__table__)
_E = cast(Table, WorkflowEvent.__table__)
_L = cast(Table, WorkflowLog.__table__)

_LIVE = ("queued", "running", "sleeping", "waiting")
_TERMINAL = ("complete", "errored", "terminated")
_FENCE_OUT: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


def new_id(now: float) -> str:
    """A time-ordered id: 12 hex digits of milliseconds then 20 random hex digits."""
    return f"{int(now * 1000):012x}{os.urandom(10).hex()}"


def _instance(row: Row[Any]) -> Instance:
    status = InstanceStatus(row.status)
    return Instance(
        id=row.id,
        tenant_id=row.tenant_id,
        workflow=row.workflow,
        code_hash=row.code_hash,
        status=status,
        event=from_json(row.event),
        output=from_json(row.output),
        error=from_json(row.error),
        idempotency_key=row.idempotency_key,
        created_at=to_datetime(row.created_at),  # type: ignore[arg-type]
        updated_at=to_datetime(row.updated_at),  # type: ignore[arg-type]
        started_at=to_datetime(row.started_at),
        ended_at=to_datetime(row.ended_at),
        wake_at=to_datetime(row.ready_at) if status in ("sleeping", "waiting") else None,
        waiting_for=row.wait_event_type if status == "waiting" else None,
    )


class LocalBackend:
    """Instances, claims and control operations on one SQL database."""

    def __init__(self, url: str, engine: AsyncEngine, journal: Journal) -> None:
        self.url = url
        self.engine = engine
        self.journal = journal
        self.postgres = not is_sqlite(url)

    @classmethod
    async def open(cls, url: str) -> LocalBackend:
        """Connect to ``url`` (already migrated); the journal binds to the running loop."""
        engine = create_engine(url)
        journal: Journal
        if is_sqlite(url):
            database = make_url(url).database
            if not database or database == ":memory:":
                raise ValueError("the local backend needs a SQLite file, not :memory:")
            journal = await asyncio.to_thread(SqliteJournal, database)
        else:
            journal = PostgresJournal(url, asyncio.get_running_loop())
        return cls(url, engine, journal)

    @asynccontextmanager
    async def listen(self, wake: Callable[[], None]) -> AsyncIterator[None]:
        """Call ``wake`` when another process makes work runnable, while the block runs.

        Postgres: a ``LISTEN`` connection (see :mod:`tenantflow.engine.local.listen`).
        SQLite has one worker process, woken in-process by the engine: nothing to do.
        """
        if not self.postgres:
            yield
            return
        listener = Listener(asyncpg_dsn(self.url), wake)
        listener.start()
        try:
            yield
        finally:
            await listener.aclose()

    async def _announce(self, conn: AsyncConnection) -> None:
        """Tell listening workers that work is runnable (delivered when ``conn`` commits)."""
        if self.postgres:
            await conn.execute(text(NOTIFY))

    async def close(self) -> None:
        """Close the journal and the engine's connections."""
        if isinstance(self.journal, PostgresJournal):
            await self.journal.aclose()
        else:
            self.journal.close()
        await self.engine.dispose()

    # -- instances -----------------------------------------------------------

    async def create(
        self, items: Sequence[NewInstance], max_payload: int
    ) -> builtins.list[Instance]:
        """Insert instances; an existing (tenant, idempotency key) returns the existing one."""
        now = time.time()
        rows = [
            {
                "id": new_id(now), "tenant_id": it.tenant_id, "workflow": it.workflow,
                "code_hash": it.code_hash, "status": "queued",
                "event": json.dumps(it.event, separators=(",", ":")),
                "idempotency_key": it.idempotency_key, "created_at": now, "updated_at": now,
                "ready_at": now, "run_gen": 0,
            }
            for it in items
        ]  # fmt: skip
        insert = pg_insert(_I) if self.postgres else sqlite_insert(_I)
        statement = insert.on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)
            await self._announce(conn)
            result = await conn.execute(select(_I).where(_I.c.id.in_([r["id"] for r in rows])))
            found = {row.id: row for row in result}
            keyed = [r for r in rows if r["id"] not in found]
            for r in keyed:
                existing = (
                    await conn.execute(
                        select(_I).where(
                            _I.c.tenant_id == r["tenant_id"],
                            _I.c.idempotency_key == r["idempotency_key"],
                        )
                    )
                ).one()
                if existing.workflow != r["workflow"]:
                    raise IdempotencyConflict(
                        f"idempotency key {r['idempotency_key']!r} belongs to an instance "
                        f"of workflow {existing.workflow!r}"
                    )
                found[r["id"]] = existing
        return [_instance(found[r["id"]]) for r in rows]

    async def _row(self, instance_id: str) -> Row[Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_I).where(_I.c.id == instance_id))).first()
        if row is None:
            raise NotFound(f"no workflow instance {instance_id!r}")
        return row

    async def get(self, instance_id: str) -> Instance:
        """One instance."""
        return _instance(await self._row(instance_id))

    async def steps(self, instance_id: str) -> builtins.list[StepRecord]:
        """The step timeline of an instance, in order."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(_S).where(_S.c.instance_id == instance_id).order_by(_S.c.seq)
            )
            return [
                StepRecord(
                    seq=r.seq, name=r.name, kind=r.kind, status=r.status, attempts=r.attempts,
                    started_at=to_datetime(r.started_at), ended_at=to_datetime(r.ended_at),
                    wake_at=to_datetime(r.wake_at), output=from_json(r.output),
                    error=from_json(r.error),
                )
                for r in result
            ]  # fmt: skip

    async def list(self, query: InstanceQuery) -> Page:
        """Instances matching ``query``, newest first, with a cursor to the next page."""
        conditions = []
        if query.tenant_id is not None:
            conditions.append(_I.c.tenant_id == query.tenant_id)
        if query.workflow is not None:
            conditions.append(_I.c.workflow == query.workflow)
        if query.status is not None:
            conditions.append(_I.c.status == str(query.status))
        if query.code_hash is not None:
            conditions.append(_I.c.code_hash == query.code_hash)
        if query.cursor:
            conditions.append(_I.c.id < query.cursor)
        statement = select(_I).where(and_(True, *conditions)).order_by(_I.c.id.desc())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement.limit(query.limit + 1))).all()
        items = [_instance(r) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        return Page(items=items, next_cursor=items[-1].id if more and items else None)

    async def control(self, instance_id: str, operation: str) -> Instance:
        """Apply ``pause``/``resume``/``terminate``/``restart`` (fences out a running runner)."""
        now = time.time()
        fence = {**_FENCE_OUT, "run_gen": _I.c.run_gen + 1, "updated_at": now}
        allowed: tuple[str, ...]
        if operation == "pause":
            allowed, values = _LIVE, {**fence, "status": "paused", "ready_at": None}
        elif operation == "resume":
            allowed, values = ("paused",), {"status": "queued", "ready_at": now, "updated_at": now}
        elif operation == "terminate":
            allowed = (*_LIVE, "paused")
            values = {**fence, "status": "terminated", "ready_at": None, "ended_at": now,
                      "wait_event_type": None}  # fmt: skip
        elif operation == "restart":
            allowed = (*_LIVE, "paused", *_TERMINAL)
            values = {**fence, "status": "queued", "ready_at": now, "output": None,
                      "error": None, "started_at": None, "ended_at": None,
                      "wait_event_type": None}  # fmt: skip
        else:
            raise ValueError(f"unknown operation {operation!r}")
        async with self.engine.begin() as conn:
            statement = (
                update(_I)
                .where(_I.c.id == instance_id, _I.c.status.in_(allowed))
                .values(**values)
                .returning(*_I.c)
            )
            row = (await conn.execute(statement)).first()
            if row is not None and operation in ("resume", "restart"):
                await self._announce(conn)
            if row is not None and operation == "restart":
                await conn.execute(delete(_S).where(_S.c.instance_id == instance_id))
                await conn.execute(delete(_L).where(_L.c.instance_id == instance_id))
                await conn.execute(
                    update(_E).where(_E.c.instance_id == instance_id).values(consumed_seq=None)
                )
        if row is None:
            current = await self._row(instance_id)
            raise InvalidTransition(instance_id, current.status, operation)
        return _instance(row)

    async def send_event(self, instance_id: str, type: str, payload: str) -> None:
        """Keep the event; wake the instance if it is waiting for this type."""
        now = time.time()
        async with self.engine.begin() as conn:
            # Lock the instance row before the event exists: a wait that is starting either
            # holds the lock first (and this waits, then wakes it) or sees the committed event.
            # An UPDATE that does not match takes no lock, so without this an event inserted
            # while the wait ran between its lock and its read could be missed until timeout.
            status = (
                await conn.execute(
                    select(_I.c.status).where(_I.c.id == instance_id).with_for_update()
                )
            ).scalar_one_or_none()
            if status is None:
                raise NotFound(f"no workflow instance {instance_id!r}")
            if status in _TERMINAL:
                raise InvalidTransition(instance_id, status, "send an event to")
            await conn.execute(
                _E.insert().values(
                    instance_id=instance_id, type=type, payload=payload, created_at=now
                )
            )
            # A wait that committed first hibernated: wake it.
            woken = await conn.execute(
                update(_I)
                .where(
                    _I.c.id == instance_id,
                    _I.c.status == "waiting",
                    _I.c.wait_event_type == type,
                    _I.c.lease_owner.is_(None),
                )
                .values(ready_at=now, updated_at=now)
            )
            if woken.rowcount:
                await self._announce(conn)

    async def logs(self, instance_id: str, after: int, limit: int) -> builtins.list[LogLine]:
        """Guest output of an instance with ids after ``after``, with step names."""
        statement = (
            select(_L, _S.c.name)
            .outerjoin(_S, and_(_S.c.instance_id == _L.c.instance_id, _S.c.seq == _L.c.seq))
            .where(_L.c.instance_id == instance_id, _L.c.id > after)
            .order_by(_L.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [
            LogLine(id=r.id, instance_id=r.instance_id, seq=r.seq, step=r.name, stream=r.stream,
                    text=r.text, created_at=to_datetime(r.created_at))  # type: ignore[arg-type]
            for r in rows
        ]  # fmt: skip

    # -- scheduling ----------------------------------------------------------

    async def claim(
        self, owner: str, limit: int, per_tenant: int, lease_seconds: float
    ) -> builtins.list[Claim]:
        """Lease up to ``limit`` runnable instances, fairly across tenants."""
        if isinstance(self.journal, SqliteJournal):
            # SQLite has one writer: claim on the journal's connection, under its lock.
            return await asyncio.to_thread(
                self.journal.claim, owner, limit, per_tenant, lease_seconds
            )
        async with self.engine.begin() as conn:
            return await claims.claim(
                conn, postgres=self.postgres, owner=owner, limit=limit, per_tenant=per_tenant,
                lease_seconds=lease_seconds, now=time.time(),
            )  # fmt: skip

    async def renew(
        self, owner: str, instance_ids: Sequence[str], lease_seconds: float
    ) -> set[str]:
        """Extend leases; returns the ids still held."""
        if isinstance(self.journal, SqliteJournal):
            return await asyncio.to_thread(self.journal.renew, owner, instance_ids, lease_seconds)
        async with self.engine.begin() as conn:
            return await claims.renew(conn, owner, instance_ids, time.time() + lease_seconds)

    async def next_ready(self) -> float | None:
        """Earliest time an unleased instance becomes runnable or a lease expires."""
        async with self.engine.connect() as conn:
            ready = (
                await conn.execute(
                    select(func.min(_I.c.ready_at)).where(
                        _I.c.ready_at.is_not(None), _I.c.lease_owner.is_(None)
                    )
                )
            ).scalar()
            expiry = (
                await conn.execute(
                    select(func.min(_I.c.lease_expires_at)).where(_I.c.lease_owner.is_not(None))
                )
            ).scalar()
        times = [t for t in (ready, expiry) if t is not None]
        return min(times) if times else None

    async def ping(self) -> None:
        """Check the database answers."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
