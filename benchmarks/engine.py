"""Durable execution figures: ms per sequential no-op step (SQLite, Postgres), aggregate
steps/s of 1,000 instances x 10 steps, timer-to-resume latency, worker memory with 10,000
sleeping instances.

Run: ``.venv/bin/python benchmarks/engine.py [--database-url postgresql+asyncpg://...]``
(Postgres URL defaults to ``TEST_DATABASE_URL``; a scratch database is created next to
it and dropped). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, percentiles
from sqlalchemy.engine import make_url

from tenantflow.config import Settings
from tenantflow.db import migrate
from tenantflow.engine import (
    DirectoryCodeResolver,
    Engine,
    InstanceStatus,
    LocalBackend,
    NewInstance,
)
from tenantflow.sandbox import Sandbox
from tenantflow.workers import Worker

REPO = Path(__file__).resolve().parent.parent
SEQUENTIAL = (
    "import time\n"
    "def noop():\n"
    "    return None\n"
    "def run(event, step):\n"
    "    t = time.perf_counter()\n"
    "    for i in range(event['n']):\n"
    "        step.do('noop', noop)\n"
    "    return (time.perf_counter() - t) / event['n']\n"
)
TEN_STEPS = "def run(event, step):\n    for i in range(10):\n        step.do('s', lambda: i)\n"
TIMER = (
    "import time\n"
    "def run(event, step):\n"
    "    step.sleep('timer', event['sleep'])\n"
    "    return step.do('resumed', time.time)\n"
)
SLEEP_LONG = "def run(event, step):\n    step.sleep('long', '1 hour')\n"


def settings_for(data: Path) -> Settings:
    return Settings(
        data_dir=data,
        module_cache_dir=REPO / ".cache" / "modules",
        warm_pool_size=2,
        worker_poll_seconds=0.2,
        worker_tenant_concurrency=64,
    )


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_postgres(base: str) -> AsyncIterator[str]:
    """A fresh database next to ``base``, dropped afterwards."""
    name = f"tf_bench_{uuid.uuid4().hex[:10]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def stack(url: str, data: Path, sandbox: Sandbox) -> AsyncIterator[tuple[Engine, Worker]]:
    """A migrated database, an engine and a running worker."""
    settings = settings_for(data)
    await migrate(url)
    backend = await LocalBackend.open(url)
    engine = Engine(backend, settings)
    worker = Worker(settings, backend, sandbox, DirectoryCodeResolver(data / "code"))
    engine.set_notify(worker.notify)
    try:
        async with worker:
            yield engine, worker
    finally:
        await engine.close()


async def wait_all(engine: Engine, ids: list[str], within: float = 300) -> list[Any]:
    """Outputs of ``ids`` once all are complete.

    ``ids`` are time-ordered and the benchmark's database holds nothing else created
    meanwhile, so one range count per poll watches them: the observer stays cheap (an
    expanding ``IN`` of 1,000 ids compiled every 50 ms cost the worker's loop real CPU).
    """
    from sqlalchemy import text

    backend = engine.backend
    assert isinstance(backend, LocalBackend)
    count = text(
        "SELECT status, COUNT(*) FROM wf_instances WHERE id >= :lo AND id <= :hi GROUP BY status"
    )
    bounds = {"lo": min(ids), "hi": max(ids)}
    deadline = time.monotonic() + within
    while True:
        async with backend.engine.connect() as conn:
            statuses = {s: n for s, n in (await conn.execute(count, bounds)).all()}
        if sum(statuses.values()) != len(ids):
            raise RuntimeError(f"the id range holds other instances: {statuses}")
        if statuses.get("complete", 0) == len(ids):
            break
        failed = {k: v for k, v in statuses.items() if k in ("errored", "terminated")}
        if failed:
            raise RuntimeError(f"instances ended badly: {failed}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"unfinished: {statuses}")
        await asyncio.sleep(0.05)
    return [(await engine.get(i)).output for i in ids] if len(ids) <= 100 else []


async def sequential(url: str, data: Path, sandbox: Sandbox, steps: int) -> dict[str, Any]:
    async with stack(url, data, sandbox) as (engine, _worker):
        code = DirectoryCodeResolver(data / "code").publish("bench", "seq", SEQUENTIAL)
        runs = []
        for n in (200, steps, steps):  # the first run warms the code path
            inst = await engine.create("bench", "seq", code, {"n": n})
            (per_step,) = await wait_all(engine, [inst.id])
            runs.append(per_step)
        return {
            "ms_per_step": round(min(runs[1:]) * 1000, 3),
            "steps": steps,
            "load_average_1m": round(os.getloadavg()[0], 2),
        }


async def aggregate(url: str, data: Path, sandbox: Sandbox, count: int) -> dict[str, Any]:
    async with stack(url, data, sandbox) as (engine, _worker):
        code = DirectoryCodeResolver(data / "code").publish("bench", "agg", TEN_STEPS)
        warm = await engine.create("bench", "agg", code)
        await wait_all(engine, [warm.id])
        started, cpu = time.perf_counter(), _cpu_seconds()
        ids: list[str] = []
        for offset in range(0, count, 100):
            batch = [NewInstance("bench", "agg", code) for _ in range(min(100, count - offset))]
            ids += [i.id for i in await engine.create_batch(batch)]
        await wait_all(engine, ids)
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        return {
            "instances": count,
            "steps": count * 10,
            "seconds": round(elapsed, 3),
            "steps_per_s": round(count * 10 / elapsed, 1),
            # CPU of this process (guests, host, SQLite) per step: the figure that does not
            # depend on what else the 2 shared cores are doing.
            "cpu_ms_per_step": round(cpu * 1000 / (count * 10), 3),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }


def start_worker(url: str, data: Path, settings: Settings, **env: str) -> subprocess.Popen[bytes]:
    """A ``tenantflow worker`` process on ``url``, running code published under ``data``."""
    command = [sys.executable, "-m", "tenantflow.cli", "worker", "--database-url", url,
               "--data-dir", str(data), "--code-dir", str(data / "code")]  # fmt: skip
    environ = {
        **os.environ,
        "TENANTFLOW_MODULE_CACHE_DIR": str(settings.resolved_module_cache_dir),
        "TENANTFLOW_WORKER_TENANT_CONCURRENCY": "64",
        **env,
    }
    return subprocess.Popen(  # started before any measurement
        command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def aggregate_processes(url: str, data: Path, count: int, workers: int) -> dict[str, Any]:
    """The aggregate figure with ``workers`` separate ``tenantflow worker`` processes sharing
    one Postgres (the scale-out deployment); this process only creates and watches."""
    settings = settings_for(data)
    await migrate(url)
    code_dir = data / "code"
    code = DirectoryCodeResolver(code_dir).publish("bench", "agg", TEN_STEPS)
    procs = [start_worker(url, data, settings) for _ in range(workers)]
    backend = await LocalBackend.open(url)
    engine = Engine(backend, settings)
    try:
        warm = await engine.create_batch([NewInstance("bench", "agg", code) for _ in range(50)])
        await wait_all(engine, [i.id for i in warm], within=120)
        started, cpu = time.perf_counter(), _cpu_seconds()
        worker_cpu = sum(_proc_cpu_seconds(p.pid) for p in procs)
        ids: list[str] = []
        for offset in range(0, count, 100):
            batch = [NewInstance("bench", "agg", code) for _ in range(min(100, count - offset))]
            ids += [i.id for i in await engine.create_batch(batch)]
        await wait_all(engine, ids)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
        worker_cpu = sum(_proc_cpu_seconds(p.pid) for p in procs) - worker_cpu
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        await engine.close()
    return {
        "worker_processes": workers,
        "instances": count,
        "steps": count * 10,
        "seconds": round(elapsed, 3),
        "steps_per_s": round(count * 10 / elapsed, 1),
        "worker_cpu_ms_per_step": round(worker_cpu * 1000 / (count * 10), 3),
        "driver_cpu_ms_per_step": round(cpu * 1000 / (count * 10), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def timers(url: str, data: Path, sandbox: Sandbox, count: int) -> dict[str, Any]:
    async with stack(url, data, sandbox) as (engine, _worker):
        code = DirectoryCodeResolver(data / "code").publish("bench", "timer", TIMER)
        ids = [
            (await engine.create("bench", "timer", code, {"sleep": 0.5 + 0.15 * n})).id
            for n in range(count)
        ]
        outputs = await wait_all(engine, ids)
        samples = []
        for instance_id, resumed in zip(ids, outputs, strict=True):
            steps = (await engine.status(instance_id)).steps
            wake_at = steps[0].wake_at
            assert wake_at is not None
            samples.append(resumed - wake_at.timestamp())
        return {**percentiles(samples), "load_average_1m": round(os.getloadavg()[0], 2)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def memory(url: str, data: Path, count: int) -> dict[str, Any]:
    """RSS of a ``tenantflow worker`` process: warmed up, then holding ``count`` sleepers, then
    holding ``2 * count``.

    The first figure (holding - idle) includes what the first run of a new workflow leaves
    in the process (allocator arenas grown by 10,000 claims, SQLAlchemy's compiled-statement
    cache, a warm pool for the new code): one-off growth, not a per-sleeper cost. The slope
    (RSS with ``2 * count`` sleepers minus RSS with ``count``) is what each additional
    sleeping instance costs the worker; it should be ~0.
    """
    settings = settings_for(data)
    await migrate(url)
    code_dir = data / "code"
    code = DirectoryCodeResolver(code_dir).publish("bench", "mem", SLEEP_LONG)
    proc = start_worker(url, data, settings, TENANTFLOW_WORKER_CONCURRENCY="64")
    backend = await LocalBackend.open(url)
    engine = Engine(backend, settings)
    quick = DirectoryCodeResolver(code_dir).publish("bench", "quick", TEN_STEPS)

    async def create(workflow: str, code_hash: str) -> list[str]:
        ids: list[str] = []
        for offset in range(0, count, 100):
            n = min(100, count - offset)
            batch = [NewInstance("bench", workflow, code_hash) for _ in range(n)]
            ids += [i.id for i in await engine.create_batch(batch)]
        return ids

    try:
        # Warm up with as many instances that complete, so "idle" already includes what
        # running 10,000 instances leaves behind (allocator arenas, caches).
        await wait_all(engine, await create("quick", quick), within=900)
        await asyncio.sleep(2)
        idle = rss_kib(proc.pid)
        await wait_sleeping(engine, await create("mem", code))
        await asyncio.sleep(2)
        holding = rss_kib(proc.pid)
        await wait_sleeping(engine, await create("mem", code))
        await asyncio.sleep(2)
        holding_twice = rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
        await engine.close()
    return {
        "sleeping_instances": count,
        "idle_rss_mib_after_as_many_completed": round(idle / 1024, 1),
        "holding_rss_mib": round(holding / 1024, 1),
        "delta_mib_first_sleepers_incl_one_off_growth": round((holding - idle) / 1024, 1),
        "holding_twice_as_many_rss_mib": round(holding_twice / 1024, 1),
        f"rss_slope_mib_per_{count}_more_sleepers": round((holding_twice - holding) / 1024, 1),
        # glibc grows one malloc arena per thread that allocates (sandbox, tokio, SQLite
        # threads): with MALLOC_ARENA_MAX unset, the slope is mostly arena growth (the
        # Python heap, traced with tracemalloc, grew ~0.1 MiB per 2,000 more sleepers).
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def wait_sleeping(engine: Engine, ids: list[str], within: float = 600) -> None:
    from tenantflow.engine import InstanceQuery

    deadline = time.monotonic() + within
    wanted = set(ids)
    while True:
        done: set[str] = set()
        cursor = None
        while True:
            page = await engine.list(
                InstanceQuery(status=InstanceStatus.SLEEPING, limit=1000, cursor=cursor)
            )
            done |= {i.id for i in page.items}
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if wanted <= done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(wanted - done)} instances not asleep")
        await asyncio.sleep(0.5)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--timers", type=int, default=30)
    parser.add_argument("--sleepers", type=int, default=10_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also run the Postgres aggregate on this many separate worker processes (0: skip)",
    )
    parser.add_argument("--only", choices=["sequential", "aggregate", "timers", "memory"])
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        root = Path(tmp)

        def sqlite(name: str) -> str:
            return f"sqlite+aiosqlite:///{root / name / 'tf.db'}"

        async with Sandbox(settings_for(root / "sandbox")) as sandbox:
            if args.only in (None, "sequential"):
                figures["sequential_sqlite"] = await sequential(
                    sqlite("seq"), root / "seq", sandbox, args.steps
                )
                if args.database_url:
                    async with scratch_postgres(args.database_url) as url:
                        figures["sequential_postgres"] = await sequential(
                            url, root / "seqpg", sandbox, args.steps
                        )
            if args.only in (None, "aggregate"):
                figures["aggregate_sqlite"] = await aggregate(
                    sqlite("agg"), root / "agg", sandbox, args.instances
                )
                if args.database_url:
                    async with scratch_postgres(args.database_url) as url:
                        figures["aggregate_postgres"] = await aggregate(
                            url, root / "aggpg", sandbox, args.instances
                        )
                    if args.workers > 0:
                        async with scratch_postgres(args.database_url) as url:
                            figures[
                                "aggregate_postgres_worker_processes"
                            ] = await aggregate_processes(
                                url, root / "aggproc", args.instances, args.workers
                            )
            if args.only in (None, "timers"):
                figures["timer_to_resume_sqlite"] = await timers(
                    sqlite("timer"), root / "timer", sandbox, args.timers
                )
        if args.only in (None, "memory"):
            figures["worker_memory_sqlite"] = await memory(
                sqlite("mem"), root / "mem", args.sleepers
            )
            if args.database_url:
                async with scratch_postgres(args.database_url) as url:
                    figures["worker_memory_postgres"] = await memory(
                        url, root / "mempg", args.sleepers
                    )
    emit(figures)


if __name__ == "__main__":
    asyncio.run(main())
