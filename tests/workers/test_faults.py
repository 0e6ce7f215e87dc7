"""Faults with real processes: kill -9 a worker mid-step; database connections killed under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantflow.db import migrate
from tenantflow.engine import (
    DirectoryCodeResolver,
    Engine,
    InstanceStatus,
    LocalBackend,
    NewInstance,
)
from tenantflow.engine.workspace import Workspaces
from tenantflow.sandbox import Sandbox
from tenantflow.workers import Worker
from tests.conftest import MODULE_CACHE, make_settings
from tests.engine.conftest import FAST, eventually
from tests.workers.test_scheduling import has_steps

# Each step appends to a file named after it in the instance's workspace, then works a bit.
COUNTED = (
    "import time\n"
    "def effect(name):\n"
    "    with open('effect-' + name, 'a') as f:\n"
    "        f.write('x')\n"
    "    time.sleep(0.25)\n"
    "    return name\n"
    "def run(event, step):\n"
    "    return [step.do('s%d' % i, lambda: effect('s%d' % i)) for i in range(6)]\n"
)


def start_worker(url: str, data: Path, name: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TENANTFLOW_MODULE_CACHE_DIR": str(MODULE_CACHE),
        "TENANTFLOW_WORKER_LEASE_SECONDS": "1.5",
        "TENANTFLOW_WORKER_POLL_SECONDS": "0.1",
        "TENANTFLOW_WARM_POOL_SIZE": "1",
    }
    command = [
        sys.executable, "-m", "tenantflow.cli", "worker", "--database-url", url,
        "--data-dir", str(data), "--code-dir", str(data / "code"), "--worker-id", name,
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "ready" in line, f"worker did not start: {line!r}"
    return proc


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def test_kill_9_mid_step_then_another_worker_finishes(
    database_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    data = tmp_path / "data"
    await migrate(database_url)
    code_hash = DirectoryCodeResolver(data / "code").publish("acme", "wf", COUNTED)
    engine = Engine(await LocalBackend.open(database_url), make_settings(data))
    try:
        instance = await engine.create("acme", "wf", code_hash)
        processes.append(start_worker(database_url, data, "first"))
        await eventually(lambda: has_steps(engine, instance.id, 2), within=30)
        await asyncio.sleep(0.1)  # inside step s2 (it takes 0.25 s)
        os.kill(processes[0].pid, signal.SIGKILL)
        processes[0].wait(10)
        committed = [s.name for s in (await engine.status(instance.id)).steps]
        assert (await engine.get(instance.id)).status is InstanceStatus.RUNNING
        processes.append(start_worker(database_url, data, "second"))
        deadline = time.monotonic() + 30
        while (await engine.get(instance.id)).status is not InstanceStatus.COMPLETE:
            assert time.monotonic() < deadline, "the second worker did not finish the instance"
            await asyncio.sleep(0.05)
        done = await engine.get(instance.id)
        assert done.output == [f"s{i}" for i in range(6)]
        workspace = Workspaces(data / "workspaces").path("acme", instance.id)
        effects = {f"s{i}": len((workspace / f"effect-s{i}").read_text()) for i in range(6)}
        interrupted = f"s{len(committed)}"
        for name, count in effects.items():
            if name == interrupted:
                assert count >= 1, effects  # ran at least once (twice if it had started)
            else:
                assert count == 1, effects  # committed steps ran exactly once
    finally:
        await engine.close()


TEN = "def run(event, step):\n    return [step.do('s', lambda: i * event) for i in range(10)]\n"


async def _kill_connections(url: str) -> int:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = await asyncpg.connect(parsed.set(drivername="postgresql").render_as_string(False))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            parsed.database,
        )
        return len(rows)
    finally:
        await conn.close()


async def test_database_connections_killed_under_load_lose_nothing_committed(
    fresh_postgres_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    # Connection termination is a Postgres fault (SQLite is in-process): Postgres only.
    database_url = fresh_postgres_url
    data = tmp_path / "data"
    settings = make_settings(data, **FAST)
    await migrate(database_url)
    backend = await LocalBackend.open(database_url)
    engine = Engine(backend, settings)
    code = DirectoryCodeResolver(data / "code")
    code_hash = code.publish("acme", "wf", TEN)
    worker = Worker(settings, backend, sandbox, code)
    engine.set_notify(worker.notify)
    instances = await engine.create_batch(
        [NewInstance("acme", "wf", code_hash, n) for n in range(60)]
    )
    snapshots: dict[tuple[str, int], object] = {}
    killed = 0
    async with worker:
        for _ in range(6):
            await asyncio.sleep(0.15)
            for inst in instances:  # what is committed now must survive
                for step in (await engine.status(inst.id)).steps:
                    snapshots[(inst.id, step.seq)] = step.output
            killed += await _kill_connections(database_url)
        # Generous: abandoned instances wait out their leases, and CI machines can be slow.
        deadline = time.monotonic() + 180
        for inst in instances:
            while (current := await engine.get(inst.id)).status is not InstanceStatus.COMPLETE:
                if time.monotonic() > deadline:
                    states = [(await engine.get(i.id)).status.value for i in instances]
                    raise AssertionError(
                        f"{inst.id} stayed {current.status.value}; all: {sorted(states)}; "
                        f"worker holds {worker.in_flight}"
                    )
                await asyncio.sleep(0.05)
    assert killed > 0 and snapshots
    for inst in instances:
        steps = {s.seq: s for s in (await engine.status(inst.id)).steps}
        assert (await engine.get(inst.id)).output == [i * inst.event for i in range(10)]
        assert all(steps[seq].status == "complete" for seq in range(10))
    for (instance_id, seq), output in snapshots.items():
        steps = {s.seq: s for s in (await engine.status(instance_id)).steps}
        assert steps[seq].output == output
    await engine.close()


async def test_sigterm_releases_in_flight_work_and_exits_cleanly(
    database_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    data = tmp_path / "data"
    await migrate(database_url)
    code_hash = DirectoryCodeResolver(data / "code").publish("acme", "wf", COUNTED)
    engine = Engine(await LocalBackend.open(database_url), make_settings(data))
    try:
        instance = await engine.create("acme", "wf", code_hash)
        worker = start_worker(database_url, data, "graceful")
        processes.append(worker)
        await eventually(lambda: has_steps(engine, instance.id, 2), within=30)
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 20) == 0
        after = await engine.get(instance.id)
        # Released at the step boundary: runnable by any worker at once, nothing lost.
        assert after.status is InstanceStatus.QUEUED
        steps = (await engine.status(instance.id)).steps
        assert 2 <= len(steps) < 6 and all(s.status == "complete" for s in steps)
    finally:
        await engine.close()
