"""Admission of new instances against the ``max_running_instances`` quota.

Counting a tenant's queued and running instances on every create would cost a
query on the hot path, so the count is cached and bumped locally by each
admission; when it is older than ``ttl`` it is refreshed in the background
(one query per tenant at a time) while requests go on with the estimate.
Before refusing, the count is read again exactly: a stale count never refuses
a tenant wrongly. The estimate can fall short by the creates in flight during
a refresh, and with several API processes by what the others admit within a
``ttl``: the quota may be overshot by that much, never undershot.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.engine import WorkflowInstance
from tenantflow.tenants import Quotas
from tenantflow.tenants._singleflight import SingleFlight

log = logging.getLogger(__name__)

COUNTED = ("queued", "running")
"""States that hold (or are about to hold) a sandbox slot."""


class Admission:
    """Checks ``max_running_instances`` before instances are created."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = 1.0) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self._counts: dict[str, tuple[int, float]] = {}
        self._flight: SingleFlight[str, int] = SingleFlight()
        self._refreshes: set[asyncio.Task[int]] = set()

    async def _count(self, tenant_id: str) -> int:
        return await self._flight.do(tenant_id, lambda: self._query(tenant_id))

    async def _query(self, tenant_id: str) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(WorkflowInstance)
                .where(
                    WorkflowInstance.tenant_id == tenant_id, WorkflowInstance.status.in_(COUNTED)
                )
            )
        value = int(count or 0)
        self._counts[tenant_id] = (value, time.monotonic() + self.ttl)
        return value

    def _refresh_soon(self, tenant_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._count(tenant_id))
        self._refreshes.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[int]) -> None:
        self._refreshes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("refreshing an admission count failed: %r", task.exception())

    async def admit(self, tenant_id: str, quotas: Quotas, adding: int) -> None:
        """Raise ``QuotaExceededError`` (429) if ``adding`` more would pass the quota."""
        hit = self._counts.get(tenant_id)
        if hit is None:
            estimate = await self._count(tenant_id)
        else:
            estimate = hit[0]
            if hit[1] <= time.monotonic():
                # Push the expiry so one refresh is started, not one per request.
                self._counts[tenant_id] = (estimate, time.monotonic() + self.ttl)
                self._refresh_soon(tenant_id)
        if estimate + adding > quotas.max_running_instances:
            estimate = await self._count(tenant_id)
            quotas.check_running_instances(estimate, adding)
        current = self._counts.get(tenant_id)
        if current is not None:
            self._counts[tenant_id] = (current[0] + adding, current[1])
