"""Fixtures for the SQL-backed egress stores: a migrated database with two tenants.

Imported by the ``test_sql_*`` modules (``from tests.egress.sql_support import ...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tenantflow.config import Settings
from tenantflow.db import create_engine, session_factory
from tenantflow.db.models.tenants import Tenant
from tenantflow.db.session import migrate
from tenantflow.egress import EgressProxy
from tenantflow.egress.store import EgressService
from tests.conftest import make_settings

TENANTS = ("t1", "t2")


class Db:
    """A migrated database: its engine, sessions and the raw rows of a table."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self.sessions = sessions

    async def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` as stored (no decryption, no model)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(text(f"SELECT * FROM {table}"))  # test tables only
            return [dict(r._mapping) for r in result]

    async def execute(self, sql: str, **params: Any) -> None:
        """Run one statement and commit."""
        async with self.engine.begin() as conn:
            await conn.execute(text(sql), params)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Db]:
    """The database at ``database_url`` migrated to head, with tenants t1 and t2."""
    await migrate(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        for tenant in TENANTS:
            session.add(Tenant(id=tenant, name=tenant, created_at=datetime.now(UTC)))
    try:
        yield Db(engine, sessions)
    finally:
        await engine.dispose()


def egress_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings with their own data dir (so their own key file)."""
    return make_settings(tmp_path / "data", **overrides)


@pytest.fixture
async def service(db: Db, tmp_path: Path, proxy: EgressProxy) -> AsyncIterator[EgressService]:
    """An egress service on ``db`` with a key file in this test's data dir."""
    svc = EgressService(egress_settings(tmp_path), db.sessions, proxy=proxy)
    yield svc
    await svc.aclose()
