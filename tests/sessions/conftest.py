"""Session fixtures: a migrated SQLite database, a session manager over the shared sandbox,
and a real HTTP upstream on 127.0.0.1 for HTTP tools."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantflow.config import Settings
from tenantflow.db import create_engine, session_factory
from tenantflow.db.session import migrate_sync
from tenantflow.sandbox import Sandbox
from tenantflow.sessions import SessionManager, SessionSettings
from tenantflow.sessions.egress import StaticEgress
from tests.conftest import make_settings
from tests.egress.upstream import Upstream

SECRET = "tool-s3cr3t-7c1d9e"


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """A real HTTP server on 127.0.0.1 (``/echo`` answers with what it received)."""
    server = Upstream("127.0.0.1")
    yield server
    server.close()


def new_tenant() -> str:
    """A fresh tenant id (tests share a manager, never a tenant)."""
    return "t_" + secrets.token_hex(6)


class Harness:
    """A database and data directory that managers can be (re)built over."""

    def __init__(self, root: Path, sandbox: Sandbox) -> None:
        self.settings: Settings = make_settings(root)
        self.sandbox = sandbox
        self.db: AsyncEngine | None = None
        self.managers: list[SessionManager] = []

    async def migrate(self) -> None:
        await asyncio.to_thread(migrate_sync, self.settings.resolved_database_url)
        self.db = create_engine(self.settings.resolved_database_url)

    async def manager(self, **config: object) -> SessionManager:
        """A started manager over this harness's data dir and database."""
        assert self.db is not None
        values: dict[str, object] = {"idle_ttl_seconds": 300.0}
        values.update(config)
        manager = SessionManager(
            self.settings,
            session_factory(self.db),
            self.sandbox,
            config=SessionSettings(**values),  # type: ignore[arg-type]
            egress=StaticEgress(secrets={"API_TOKEN": SECRET}),
        )
        self.managers.append(manager)
        return await manager.start()

    async def close(self) -> None:
        for manager in self.managers:
            await manager.close()
            assert isinstance(manager.egress, StaticEgress)
            await manager.egress.aclose()
        if self.db is not None:
            await self.db.dispose()


@pytest.fixture(scope="module")
async def harness(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harness]:
    """One migrated database and data directory per test module."""
    h = Harness(tmp_path_factory.mktemp("sessions"), sandbox)
    await h.migrate()
    yield h
    await h.close()


@pytest.fixture(scope="module")
async def manager(harness: Harness) -> SessionManager:
    """A session manager shared by a module's tests (each test uses its own tenants)."""
    return await harness.manager()
