"""The audit trail in SQL: an :class:`~tenantflow.egress.AuditSink` and its query.

Entries are read newest first and paged with an opaque cursor (the row id of
the last entry seen, so pages stay stable while new entries arrive). Filters:
time range, instance, session, host (the first or the final host), decision.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.egress import EgressAudit
from tenantflow.egress.audit import AuditEntry, Decision
from tenantflow.egress.store.errors import InvalidInput
from tenantflow.egress.store.secrets import aware

_CURSOR = "ea1:"

log = logging.getLogger(__name__)
_PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to return; every field left None matches everything."""

    since: datetime | None = None
    until: datetime | None = None
    instance: str | None = None
    session: str | None = None
    host: str | None = None
    decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored entry and its id."""

    id: int
    entry: AuditEntry


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page, newest first; ``next_cursor`` is None on the last page."""

    items: list[AuditRecord]
    next_cursor: str | None


def encode_cursor(row_id: int) -> str:
    """The opaque cursor that continues after ``row_id``."""
    return base64.urlsafe_b64encode(f"{_CURSOR}{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id inside ``cursor``; :class:`InvalidInput` if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith(_CURSOR):
            return int(text[len(_CURSOR) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput("cursor is not a cursor returned by this endpoint")


def _values(entry: AuditEntry) -> dict[str, Any]:
    return dict(
        tenant_id=entry.tenant,
        at=entry.at.timestamp(),
        instance_id=entry.instance,
        session_id=entry.session,
        method=entry.method[:16],
        scheme=entry.scheme[:8],
        host=entry.host[:255],
        port=entry.port,
        path=entry.path,
        status=entry.status,
        request_bytes=entry.request_bytes,
        response_bytes=entry.response_bytes,
        duration_ms=entry.duration_ms,
        decision=entry.decision,
        rule=entry.rule[:100],
        reason=entry.reason,
        credential_rules=",".join(entry.credential_rules),
        redirects=entry.redirects,
        final_host=entry.final_host[:255] if entry.final_host else None,
    )


def _entry(row: EgressAudit) -> AuditEntry:
    return AuditEntry(
        at=datetime.fromtimestamp(row.at, UTC),
        tenant=row.tenant_id,
        instance=row.instance_id,
        session=row.session_id,
        method=row.method,
        scheme=row.scheme,
        host=row.host,
        port=row.port,
        path=row.path,
        status=row.status,
        request_bytes=row.request_bytes,
        response_bytes=row.response_bytes,
        duration_ms=row.duration_ms,
        decision=row.decision,
        rule=row.rule,
        reason=row.reason,
        credential_rules=tuple(r for r in row.credential_rules.split(",") if r),
        redirects=row.redirects,
        final_host=row.final_host,
    )


class SqlAuditLog:
    """Writes one row per proxied request (the proxy's sink) and answers audit queries.

    Writes are group-committed: entries recorded while a transaction is in
    flight go together in the next one, so concurrent sandboxes share commits.
    By default ``record`` returns only once its entry is committed (a request
    whose audit row cannot be written fails). With ``write_behind`` it returns
    at once and a background writer commits within milliseconds: the commit
    leaves the request's latency, at the price of losing the entries not yet
    written if the process dies; ``record`` still waits once ``max_pending``
    entries are queued, and :meth:`aclose` flushes.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        write_behind: bool = False,
        max_pending: int = 10_000,
        retention_days: float = 0,
    ) -> None:
        self.sessions = sessions
        self.write_behind = write_behind
        self.max_pending = max_pending
        self.retention_days = retention_days
        self._next_prune = 0.0
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, entry: AuditEntry) -> None:
        """Store ``entry``; returns once committed unless ``write_behind`` (see the class)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((_values(entry), done))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = loop.create_task(self._drain())
        if self.write_behind and len(self._pending) <= self.max_pending:
            return
        # Shielded: a caller that gives up (timeout, cancel) does not cancel the write.
        await asyncio.shield(done)

    async def aclose(self) -> None:
        """Wait until every recorded entry is written."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.sessions() as session, session.begin():
                    await session.execute(insert(EgressAudit), [values for values, _ in batch])
            except Exception as exc:
                if self.write_behind:
                    # Nobody waits for these: say how many were lost (never their contents).
                    log.error(
                        "egress audit: %d entries not written (%s)", len(batch), type(exc).__name__
                    )
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                        done.exception()  # retrieved: no "never retrieved" warning
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
                await self._prune_if_due()

    async def prune(self, before: datetime) -> int:
        """Delete every tenant's entries older than ``before``; returns how many."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                delete(EgressAudit).where(EgressAudit.at < aware(before).timestamp())
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _prune_if_due(self) -> None:
        # At most once per _PRUNE_EVERY_S per process, after a write: no timer task to manage.
        if self.retention_days <= 0 or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + _PRUNE_EVERY_S
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        try:
            removed = await self.prune(cutoff)
        except Exception as exc:
            log.error("egress audit: pruning failed (%s)", type(exc).__name__)
            return
        if removed:
            log.info("egress audit: pruned %d entries older than %s", removed, cutoff)

    async def query(
        self,
        tenant: str,
        where: AuditFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        """The tenant's entries matching ``where``, newest first, ``limit`` per page."""
        stmt = _filtered(select(EgressAudit).where(EgressAudit.tenant_id == tenant), where)
        if cursor:
            stmt = stmt.where(EgressAudit.id < decode_cursor(cursor))
        stmt = stmt.order_by(EgressAudit.id.desc()).limit(limit + 1)
        async with self.sessions() as session:
            rows = list(await session.scalars(stmt))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [AuditRecord(r.id, _entry(r)) for r in rows]
        return AuditPage(items, encode_cursor(rows[-1].id) if more and rows else None)


def _filtered(stmt: Select[EgressAudit], where: AuditFilter | None) -> Select[EgressAudit]:
    if where is None:
        return stmt
    if where.since is not None:
        stmt = stmt.where(EgressAudit.at >= aware(where.since).timestamp())
    if where.until is not None:
        stmt = stmt.where(EgressAudit.at < aware(where.until).timestamp())
    if where.instance is not None:
        stmt = stmt.where(EgressAudit.instance_id == where.instance)
    if where.session is not None:
        stmt = stmt.where(EgressAudit.session_id == where.session)
    if where.host is not None:
        host = where.host.strip().lower()
        stmt = stmt.where(or_(EgressAudit.host == host, EgressAudit.final_host == host))
    if where.decision is not None:
        stmt = stmt.where(EgressAudit.decision == where.decision)
    return stmt
