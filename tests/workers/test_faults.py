"""Faults with real processes: kill -9 a worker mid-step; database connections killed, and the
database server restarted, under load."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

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

T = TypeVar("T")

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


async def _committed_work_survives(
    database_url: str, tmp_path: Path, sandbox: Sandbox, fault: Callable[[], Awaitable[int]],
    rounds: int,
) -> int:  # fmt: skip
    """Run 60 ten-step instances while ``fault`` strikes ``rounds`` times; every step
    committed before a fault keeps its output, and every instance completes. Returns how many
    connections the faults cut."""
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
    struck_mid_run: list[int] = []  # unfinished instances when each fault struck
    cut = 0
    async with worker:
        for _ in range(rounds):
            await asyncio.sleep(0.15)
            unfinished = 0
            for inst in instances:  # what is committed now must survive
                detail = await _retrying(partial(engine.status, inst.id))
                unfinished += detail.instance.status is not InstanceStatus.COMPLETE
                for step in detail.steps:
                    snapshots[(inst.id, step.seq)] = step.output
            struck_mid_run.append(unfinished)
            cut += await fault()
        # Generous: abandoned instances wait out their leases, and CI machines can be slow.
        deadline = time.monotonic() + 180
        for inst in instances:
            while (
                current := await _retrying(partial(engine.get, inst.id))
            ).status is not InstanceStatus.COMPLETE:
                if time.monotonic() > deadline:
                    states = [(await engine.get(i.id)).status.value for i in instances]
                    raise AssertionError(
                        f"{inst.id} stayed {current.status.value}; all: {sorted(states)}; "
                        f"worker holds {worker.in_flight}"
                    )
                await asyncio.sleep(0.05)
    assert snapshots
    assert struck_mid_run[0] > 0, "the first fault came after the work was done"
    for inst in instances:
        steps = {s.seq: s for s in (await engine.status(inst.id)).steps}
        assert (await engine.get(inst.id)).output == [i * inst.event for i in range(10)]
        assert all(steps[seq].status == "complete" for seq in range(10))
    for (instance_id, seq), output in snapshots.items():
        steps = {s.seq: s for s in (await engine.status(instance_id)).steps}
        assert steps[seq].output == output
    await engine.close()
    return cut


async def _retrying(read: Callable[[], Awaitable[T]]) -> T:
    """``read()``, retried while the database comes back from a fault."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await read()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_database_connections_killed_under_load_lose_nothing_committed(
    fresh_postgres_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    # Connection termination is a Postgres fault (SQLite is in-process): Postgres only.
    killed = await _committed_work_survives(
        fresh_postgres_url, tmp_path, sandbox, lambda: _kill_connections(fresh_postgres_url), 6
    )
    assert killed > 0


def _local_cluster(url: str) -> list[str] | None:
    """``pg_ctlcluster`` arguments for the server behind ``url``, if it runs on this machine."""
    from sqlalchemy.engine import make_url

    exe = shutil.which("pg_ctlcluster")
    configs = Path("/etc/postgresql")
    if exe is None or not configs.is_dir() or make_url(url).host not in ("127.0.0.1", "localhost"):
        return None
    versions = sorted(configs.iterdir(), key=lambda p: p.name)
    if not versions or not (versions[-1] / "main").is_dir():
        return None
    return [exe, "--skip-systemctl-redirect", versions[-1].name, "main"]


async def _restart_server(cluster: list[str], url: str) -> int:
    """Restart Postgres itself (fast shutdown: every connection is cut, the server is down
    for a moment) and wait until it accepts connections again. Returns 1 if the server that
    answers afterwards is a new one (its start time moved), else 0."""
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)

    async def started_at() -> object:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            return await conn.fetchval("SELECT pg_postmaster_start_time()")
        finally:
            await conn.close()

    before = await started_at()
    await asyncio.to_thread(
        subprocess.run, [*cluster, "restart", "-m", "fast"], check=True, timeout=120,
        capture_output=True,
    )  # fmt: skip
    after = await _retrying(started_at)
    return int(after != before)


async def test_database_server_restart_under_load_loses_nothing_committed(
    fresh_postgres_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    cluster = _local_cluster(fresh_postgres_url)
    if cluster is None:
        pytest.skip("the test database does not run on this machine: it cannot be restarted")
    restarts = await _committed_work_survives(
        fresh_postgres_url, tmp_path, sandbox,
        lambda: _restart_server(cluster, fresh_postgres_url), 2,
    )  # fmt: skip
    assert restarts == 2  # both were real restarts, each a new server process


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
