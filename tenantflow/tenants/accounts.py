"""Tenant accounts: created by the operator, each with its quota overrides."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.config import Settings
from tenantflow.db.models.tenants import Tenant
from tenantflow.tenants._singleflight import SingleFlight
from tenantflow.tenants.errors import ConflictError, NotFoundError
from tenantflow.tenants.quotas import QUOTA_NAMES, Quotas

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class TenantStore:
    """Create, read and re-quota tenants. Quotas are cached briefly for the hot path."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        cache_seconds: float | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.cache_seconds = (
            settings.api_key_cache_seconds if cache_seconds is None else cache_seconds
        )
        self._quotas: dict[str, tuple[Quotas, float]] = {}
        self._flight: SingleFlight[str, Quotas] = SingleFlight()

    async def create(
        self, name: str, tenant_id: str | None = None, quotas: dict[str, Any] | None = None
    ) -> Tenant:
        """A new tenant; ``tenant_id`` defaults to a random ``t-<hex>``."""
        tenant_id = tenant_id or f"t-{secrets.token_hex(6)}"
        if not TENANT_ID.match(tenant_id):
            raise ValueError("tenant id must be lowercase letters, digits and dashes")
        row = Tenant(id=tenant_id, name=name, created_at=datetime.now(UTC))
        for key, value in (quotas or {}).items():
            if key in QUOTA_NAMES:
                setattr(row, key, value)
        try:
            async with self.sessions() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise ConflictError(f"tenant {tenant_id!r} already exists") from None
        return row

    async def get(self, tenant_id: str) -> Tenant:
        """One tenant."""
        async with self.sessions() as session:
            row = await session.get(Tenant, tenant_id)
        if row is None:
            raise NotFoundError(f"no tenant {tenant_id!r}")
        return row

    async def list(self, limit: int = 100, after: str | None = None) -> list[Tenant]:
        """Tenants ordered by id, ``limit`` at a time after id ``after``."""
        query = select(Tenant).order_by(Tenant.id).limit(limit)
        if after:
            query = query.where(Tenant.id > after)
        async with self.sessions() as session:
            return list(await session.scalars(query))

    async def set_quotas(self, tenant_id: str, changes: dict[str, Any]) -> Tenant:
        """Override some quotas (``None`` restores the default)."""
        async with self.sessions() as session, session.begin():
            row = await session.get(Tenant, tenant_id)
            if row is None:
                raise NotFoundError(f"no tenant {tenant_id!r}")
            for key, value in changes.items():
                if key in QUOTA_NAMES:
                    setattr(row, key, value)
        self._quotas.pop(tenant_id, None)
        return row

    async def quotas(self, tenant_id: str) -> Quotas:
        """The tenant's effective quotas."""
        hit = self._quotas.get(tenant_id)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        return await self._flight.do(tenant_id, lambda: self._load_quotas(tenant_id))

    async def _load_quotas(self, tenant_id: str) -> Quotas:
        quotas = Quotas.for_tenant(await self.get(tenant_id), self.settings)
        if self.cache_seconds > 0:
            self._quotas[tenant_id] = (quotas, time.monotonic() + self.cache_seconds)
        return quotas

    def effective(self, tenant: Tenant) -> Quotas:
        """The quotas of a loaded tenant row."""
        return Quotas.for_tenant(tenant, self.settings)
