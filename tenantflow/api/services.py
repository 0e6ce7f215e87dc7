"""Everything a request handler needs, built once per process and closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tenantflow.api.admission import Admission
from tenantflow.api.batching import CreateBatcher
from tenantflow.api.metrics import Metrics
from tenantflow.config import Settings
from tenantflow.db import create_engine, session_factory
from tenantflow.egress.store import EgressService
from tenantflow.engine import Engine
from tenantflow.sandbox import Sandbox
from tenantflow.sessions import SessionManager
from tenantflow.tenants import CodeLoader, KeyStore, TenantStore, WorkflowStore
from tenantflow.workers import Worker


@dataclass
class Services:
    """The process's stores and services; ``engine`` is the durable-execution API."""

    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sandbox: Sandbox
    tenants: TenantStore
    keys: KeyStore
    loader: CodeLoader
    workflows: WorkflowStore
    admission: Admission
    egress: EgressService
    metrics: Metrics = field(default_factory=Metrics)
    engine: Engine | None = None
    worker: Worker | None = None
    batcher: CreateBatcher | None = None
    agent_sessions: SessionManager | None = None
    _owns_sandbox: bool = True

    @classmethod
    def build(cls, settings: Settings, sandbox: Sandbox | None = None) -> Services:
        """Wire the stores for ``settings`` (nothing is started yet)."""
        db = create_engine(settings.resolved_database_url)
        sessions = session_factory(db)
        tenants = TenantStore(sessions, settings)
        keys = KeyStore(sessions, settings.api_key_cache_seconds)
        loader = CodeLoader(settings, sessions)
        owns = sandbox is None
        sandbox = sandbox or Sandbox(settings)
        workflows = WorkflowStore(settings, sessions, tenants, loader, sandbox)
        return cls(
            settings=settings,
            db=db,
            sessions=sessions,
            sandbox=sandbox,
            tenants=tenants,
            keys=keys,
            loader=loader,
            workflows=workflows,
            admission=Admission(sessions),
            egress=EgressService(settings, sessions),
            _owns_sandbox=owns,
        )

    async def close(self) -> None:
        """Release the egress proxy, the database pool and (if it is ours) the sandbox."""
        if self.agent_sessions is not None:
            await self.agent_sessions.close()
        await self.egress.aclose()
        if self._owns_sandbox:
            await self.sandbox.close()
        await self.db.dispose()
