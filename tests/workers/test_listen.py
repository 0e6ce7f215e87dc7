"""Cross-process wake-ups on Postgres: work made runnable elsewhere reaches a worker now.

The worker under test polls only every 60 s, so an instance it finishes within
the 20 s the tests wait can only have reached it through LISTEN/NOTIFY (or the
listener's wake-up after it connects).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tenantflow.engine import DirectoryCodeResolver, Engine, InstanceStatus, LocalBackend
from tenantflow.engine.local.listen import CHANNEL
from tenantflow.engine.local.pg_batch import asyncpg_dsn
from tenantflow.sandbox import Sandbox
from tenantflow.workers import Worker
from tests.engine.conftest import Env, eventually, open_env

SLOW_POLL = {"worker_poll_seconds": 60.0}
LISTENERS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1"


@dataclass
class TwoProcesses:
    """A worker on one backend and an engine on another: like two processes."""

    env: Env
    elsewhere: Engine

    async def listener_pids(self) -> set[int]:
        conn = await asyncpg.connect(asyncpg_dsn(self.env.url))
        try:
            rows = await conn.fetch(LISTENERS, f'LISTEN "{CHANNEL}"')
        finally:
            await conn.close()
        return {row["pid"] for row in rows}


@pytest.fixture
async def two(
    fresh_postgres_url: str, tmp_path: Path, sandbox: Sandbox
) -> AsyncIterator[TwoProcesses]:
    engine, worker, settings = await open_env(
        fresh_postgres_url, tmp_path / "data", sandbox, **SLOW_POLL
    )
    code = worker.resolver
    assert isinstance(code, DirectoryCodeResolver)
    # The other process's engine: its own connections, no in-process wake-up of the worker.
    elsewhere = Engine(await LocalBackend.open(fresh_postgres_url), settings)
    async with worker:
        pair = TwoProcesses(Env(engine, worker, code, settings, fresh_postgres_url), elsewhere)

        async def listening() -> bool:
            return bool(await pair.listener_pids())

        await eventually(listening)
        await asyncio.sleep(0.3)  # let the worker settle into its 60 s idle sleep
        yield pair
    await elsewhere.close()
    await engine.close()


async def _worker_idle(worker: Worker) -> None:
    async def idle() -> bool:
        return worker.in_flight == 0

    await eventually(idle)


async def test_an_instance_created_elsewhere_runs_now(two: TwoProcesses) -> None:
    code = two.env.publish("def run(event, step):\n    return step.do('one', lambda: 1)\n")
    instance = await two.elsewhere.create("acme", "wf", code)
    done = await two.env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE and done.output == 1


async def test_an_event_sent_elsewhere_wakes_the_waiting_instance(two: TwoProcesses) -> None:
    source = "def run(event, step):\n    return step.wait_for_event('go', type='go')\n"
    instance = await two.env.start(source)  # same process: woken in-process
    await two.env.wait_for(instance.id, InstanceStatus.WAITING)
    await _worker_idle(two.env.worker)
    await asyncio.sleep(0.3)
    await two.elsewhere.send_event(instance.id, "go", {"by": "elsewhere"})
    done = await two.env.wait_for(instance.id)
    assert done.output == {"by": "elsewhere"}


async def test_resume_and_restart_elsewhere_wake_the_worker(two: TwoProcesses) -> None:
    source = "def run(event, step):\n    return step.wait_for_event('go', type='go')\n"
    instance = await two.env.start(source)
    await two.env.wait_for(instance.id, InstanceStatus.WAITING)
    await two.elsewhere.pause(instance.id)
    await _worker_idle(two.env.worker)
    await asyncio.sleep(0.3)
    await two.elsewhere.resume(instance.id)
    await two.env.wait_for(instance.id, InstanceStatus.WAITING)  # ran again, waits again
    await two.elsewhere.terminate(instance.id)
    await asyncio.sleep(0.3)
    await two.elsewhere.restart(instance.id)
    await two.env.wait_for(instance.id, InstanceStatus.WAITING)


async def test_the_listener_reconnects_after_its_connection_is_killed(two: TwoProcesses) -> None:
    (old,) = await two.listener_pids()
    admin = await asyncpg.connect(asyncpg_dsn(two.env.url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", old)
    finally:
        await admin.close()

    async def replaced() -> bool:
        pids = await two.listener_pids()
        return bool(pids) and old not in pids

    await eventually(replaced)
    await asyncio.sleep(0.3)
    code = two.env.publish("def run(event, step):\n    return 'after reconnect'\n")
    instance = await two.elsewhere.create("acme", "wf", code)
    done = await two.env.wait_for(instance.id)
    assert done.output == "after reconnect"
