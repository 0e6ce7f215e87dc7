"""Engine fixtures: a migrated database (SQLite and Postgres), an engine and a running worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tenantflow.config import Settings
from tenantflow.db import migrate
from tenantflow.engine import DirectoryCodeResolver, Engine, Instance, InstanceStatus, LocalBackend
from tenantflow.sandbox import Sandbox
from tenantflow.workers import Worker
from tests.conftest import make_settings

FAST = {
    "worker_lease_seconds": 2.0,
    "worker_poll_seconds": 0.1,
    "worker_shutdown_seconds": 2.0,
    "worker_tenant_concurrency": 8,
}


@dataclass
class Env:
    """Everything a workflow test needs."""

    engine: Engine
    worker: Worker
    code: DirectoryCodeResolver
    settings: Settings
    url: str

    def publish(self, source: str, tenant: str = "acme", workflow: str = "wf") -> str:
        """Store ``main.py`` and return its code hash."""
        return self.code.publish(tenant, workflow, source)

    async def start(
        self, source: str, event: object = None, *, tenant: str = "acme", workflow: str = "wf"
    ) -> Instance:
        """Publish ``source`` and create an instance of it."""
        code_hash = self.publish(source, tenant, workflow)
        return await self.engine.create(tenant, workflow, code_hash, event)

    async def wait_for(
        self, instance_id: str, *statuses: InstanceStatus, within: float = 20.0
    ) -> Instance:
        """Poll until the instance reaches one of ``statuses``."""
        wanted = set(statuses) or {
            InstanceStatus.COMPLETE, InstanceStatus.ERRORED, InstanceStatus.TERMINATED
        }  # fmt: skip
        deadline = time.monotonic() + within
        while True:
            instance = await self.engine.get(instance_id)
            if instance.status in wanted:
                return instance
            if time.monotonic() > deadline:
                raise AssertionError(f"{instance_id} stayed {instance.status}, wanted {wanted}")
            await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll ``check`` until it holds (fails after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def open_env(
    url: str, data: Path, sandbox: Sandbox, **overrides: object
) -> tuple[Engine, Worker, Settings]:
    """Migrate ``url`` and start an engine and a worker on it."""
    settings = make_settings(data, **{**FAST, **overrides})
    await migrate(url)
    backend = await LocalBackend.open(url)
    engine = Engine(backend, settings)
    code = DirectoryCodeResolver(data / "code")
    worker = Worker(settings, backend, sandbox, code)
    engine.set_notify(worker.notify)
    return engine, worker, settings


@pytest.fixture
async def env(database_url: str, tmp_path: Path, sandbox: Sandbox) -> AsyncIterator[Env]:
    """A migrated database, an engine and a running worker sharing one sandbox."""
    engine, worker, settings = await open_env(database_url, tmp_path / "data", sandbox)
    code = worker.resolver
    assert isinstance(code, DirectoryCodeResolver)
    async with worker:
        yield Env(engine, worker, code, settings, database_url)
    await engine.close()
