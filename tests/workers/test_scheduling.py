"""Scheduling: fairness across tenants, per-tenant limits, leases, graceful shutdown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tenantflow.engine import Engine, InstanceQuery, InstanceStatus, NewInstance, RunScope
from tenantflow.sandbox import Sandbox
from tenantflow.workers import Worker
from tests.engine.conftest import Env, eventually, open_env


async def is_complete(engine: Engine, instance_id: str) -> bool:
    return (await engine.get(instance_id)).status is InstanceStatus.COMPLETE


async def has_steps(engine: Engine, instance_id: str, count: int) -> bool:
    return len((await engine.status(instance_id)).steps) >= count


QUICK = "def run(event, step):\n    return step.do('one', lambda: event)\n"
SLOW = (
    "import time\n"
    "def run(event, step):\n"
    "    for i in range(event.get('steps', 1)):\n"
    "        step.do('slow', lambda: time.sleep(event.get('secs', 0.3)))\n"
    "    return 'done'\n"
)


async def test_one_tenant_backlog_does_not_starve_another(
    database_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, worker, _ = await open_env(
        database_url, tmp_path / "data", sandbox, worker_concurrency=4,
        worker_tenant_concurrency=4, worker_run_queue=2,
    )  # fmt: skip
    code = worker.resolver.publish  # type: ignore[attr-defined]
    big, small = code("big", "wf", QUICK), code("small", "wf", QUICK)
    backlog = []
    for _ in range(4):
        backlog += await engine.create_batch([NewInstance("big", "wf", big, n) for n in range(100)])
    lone = await engine.create("small", "wf", small, "me")
    async with worker:
        await eventually(lambda: is_complete(engine, lone.id))
        done = [i for i in backlog if (await engine.get(i.id)).status is InstanceStatus.COMPLETE]
    await engine.close()
    # The lone instance was created last, behind 400 others, yet ran among the first.
    assert len(done) < 200, f"{len(done)} of the backlog ran before the other tenant's instance"


async def test_per_tenant_concurrency_limit(env: Env) -> None:
    code_hash = env.publish(SLOW)
    limit = env.settings.worker_tenant_concurrency
    instances = await env.engine.create_batch(
        [NewInstance("acme", "wf", code_hash, {"secs": 0.3}) for _ in range(limit + 4)]
    )
    peak = 0
    running = InstanceQuery(tenant_id="acme", status=InstanceStatus.RUNNING, limit=100)
    complete = InstanceQuery(tenant_id="acme", status=InstanceStatus.COMPLETE, limit=100)
    while len((await env.engine.list(complete)).items) < len(instances):
        peak = max(peak, len((await env.engine.list(running)).items))  # one snapshot
        await asyncio.sleep(0.02)
    assert 1 < peak <= limit


async def test_expired_lease_is_reclaimed_and_holds_no_slot(
    database_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, worker, _ = await open_env(
        database_url, tmp_path / "data", sandbox, worker_tenant_concurrency=1
    )
    code_hash = worker.resolver.publish("acme", "wf", QUICK)  # type: ignore[attr-defined]
    orphan = await engine.create("acme", "wf", code_hash, "orphan")
    # A worker claims it and dies: its lease (1 s) will expire.
    claimed_at = time.time()
    (claim,) = await engine.backend.claim("dead-worker", 1, 1, 1.0)
    assert claim.instance_id == orphan.id
    other = await engine.create("acme", "wf", code_hash, "other")
    async with worker:
        for instance in (orphan, other):
            while (await engine.get(instance.id)).status is not InstanceStatus.COMPLETE:
                assert time.time() - claimed_at < 15
                await asyncio.sleep(0.02)
        ended = [(await engine.get(i.id)).ended_at for i in (orphan, other)]
    await engine.close()
    # While the dead worker's lease lived it held the tenant's only slot; once it expired,
    # the orphan was reclaimed and both ran (the expired lease held no slot).
    assert all(e is not None and e.timestamp() >= claimed_at + 0.9 for e in ended)


async def test_graceful_shutdown_releases_at_a_step_boundary(
    database_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, first, settings = await open_env(database_url, tmp_path / "data", sandbox)
    code_hash = first.resolver.publish("acme", "wf", SLOW)  # type: ignore[attr-defined]
    instance = await engine.create("acme", "wf", code_hash, {"steps": 6, "secs": 0.2})
    async with first:
        await eventually(lambda: has_steps(engine, instance.id, 2))
    # Shut down mid-run: the step in progress finished and was committed, then released.
    after = await engine.get(instance.id)
    assert after.status is InstanceStatus.QUEUED
    committed = len((await engine.status(instance.id)).steps)
    assert 2 <= committed < 6
    second = Worker(settings, engine.backend, sandbox, first.resolver)
    async with second:
        await eventually(lambda: is_complete(engine, instance.id))
    steps = (await engine.status(instance.id)).steps
    assert [s.attempts for s in steps] == [1] * 6
    await engine.close()


async def test_shutdown_ends_even_when_a_host_call_hangs(
    database_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, idle, settings = await open_env(database_url, tmp_path / "data", sandbox)
    await idle.shutdown()
    entered = asyncio.Event()
    loop = asyncio.get_running_loop()

    def extra(scope: RunScope) -> dict[str, object]:
        async def hang() -> None:
            loop.call_soon(entered.set)
            await asyncio.Event().wait()  # a host capability that never answers

        return {"hang": hang}

    code = idle.resolver.publish(  # type: ignore[attr-defined]
        "acme", "wf", "from tenantflow.guest import call\n"
        "def run(event, step):\n    return step.do('stuck', lambda: call('hang'))\n",
    )  # fmt: skip
    worker = Worker(settings, engine.backend, sandbox, idle.resolver, extra_handlers=extra)
    instance = await engine.create("acme", "wf", code)
    async with worker:
        await asyncio.wait_for(entered.wait(), 20)
        stopping = time.monotonic()
    # Shutdown waited its grace period, stopped the guest and took the handler's thread back.
    took = time.monotonic() - stopping
    assert took < settings.worker_shutdown_seconds + 10, took
    assert (await engine.get(instance.id)).status is InstanceStatus.QUEUED  # handed back
    await engine.close()
