"""Operations: idempotent and batch create, list, pause/resume/terminate/restart, logs."""

from __future__ import annotations

import asyncio

import pytest

from tenantflow.engine import (
    BatchTooLarge,
    IdempotencyConflict,
    InstanceQuery,
    InstanceStatus,
    InvalidPayload,
    InvalidTransition,
    NewInstance,
    NotFound,
)
from tests.engine.conftest import Env

SLEEPER = (
    "def run(event, step):\n"
    "    a = step.do('a', lambda: 1)\n"
    "    step.sleep('nap', event.get('nap', 0.5))\n"
    "    return step.do('b', lambda: a + 1)\n"
)


async def test_idempotent_create_and_batch(env: Env) -> None:
    code_hash = env.publish(SLEEPER)
    first = await env.engine.create("acme", "wf", code_hash, {"n": 1}, idempotency_key="order-1")
    again = await env.engine.create("acme", "wf", code_hash, {"n": 2}, idempotency_key="order-1")
    assert again.id == first.id and again.event == {"n": 1}
    other_tenant = await env.engine.create("beta", "wf", "h", None, idempotency_key="order-1")
    assert other_tenant.id != first.id
    with pytest.raises(IdempotencyConflict):
        await env.engine.create("acme", "other", code_hash, None, idempotency_key="order-1")
    batch = await env.engine.create_batch(
        [NewInstance("acme", "wf", code_hash, {"n": n}, f"b-{n % 2}") for n in range(4)]
    )
    assert [b.event for b in batch] == [{"n": 0}, {"n": 1}, {"n": 0}, {"n": 1}]
    assert batch[0].id == batch[2].id and batch[1].id == batch[3].id
    with pytest.raises(BatchTooLarge):
        await env.engine.create_batch([NewInstance("acme", "wf", code_hash)] * 101)
    with pytest.raises(InvalidPayload, match="not JSON"):
        await env.engine.create("acme", "wf", code_hash, {"x": object()})
    with pytest.raises(InvalidPayload, match="over the cap"):
        await env.engine.create("acme", "wf", code_hash, "x" * (1024 * 1024 + 1))


async def test_list_filters_and_cursor(env: Env) -> None:
    code_hash = env.publish("def run(event, step):\n    return event\n")
    made = [await env.engine.create("acme", "wf", code_hash, n) for n in range(5)]
    await env.engine.create("beta", "wf", code_hash, 9)
    for inst in made:
        await env.wait_for(inst.id)
    seen: list[str] = []
    cursor = None
    while True:
        page = await env.engine.list(InstanceQuery(tenant_id="acme", limit=2, cursor=cursor))
        seen += [i.id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [i.id for i in reversed(made)]
    complete = await env.engine.list(InstanceQuery(status=InstanceStatus.COMPLETE, limit=100))
    assert {i.id for i in made} <= {i.id for i in complete.items}
    assert (await env.engine.list(InstanceQuery(workflow="nope"))).items == []


async def test_pause_resume(env: Env) -> None:
    instance = await env.start(SLEEPER, {"nap": 0.3})
    await env.wait_for(instance.id, InstanceStatus.SLEEPING)
    paused = await env.engine.pause(instance.id)
    assert paused.status is InstanceStatus.PAUSED
    await asyncio.sleep(0.6)  # the timer passes while paused: nothing runs
    assert (await env.engine.get(instance.id)).status is InstanceStatus.PAUSED
    with pytest.raises(InvalidTransition):
        await env.engine.pause(instance.id)
    await env.engine.resume(instance.id)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE and done.output == 2
    with pytest.raises(InvalidTransition):
        await env.engine.resume(instance.id)


async def test_terminate_a_stuck_running_instance(env: Env) -> None:
    source = (
        "def run(event, step):\n"
        "    step.do('spin', lambda: [None for _ in iter(int, 1)], timeout='1 hour')\n"
    )
    instance = await env.start(source)
    await env.wait_for(instance.id, InstanceStatus.RUNNING)
    await asyncio.sleep(0.2)
    ended = await env.engine.terminate(instance.id)
    assert ended.status is InstanceStatus.TERMINATED
    # The worker notices at its next lease renewal and stops the guest.
    for _ in range(100):
        if env.worker.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert env.worker.in_flight == 0
    assert (await env.engine.get(instance.id)).status is InstanceStatus.TERMINATED
    with pytest.raises(InvalidTransition):
        await env.engine.terminate(instance.id)
    with pytest.raises(InvalidTransition):
        await env.engine.send_event(instance.id, "x")


async def test_terminate_an_instance_held_by_a_dead_worker(env: Env) -> None:
    await env.worker.shutdown()  # nobody runs it: a "ghost" worker claims and dies
    instance = await env.start(SLEEPER)
    (claim,) = await env.engine.backend.claim("ghost", 10, 10, 3600)
    assert claim.instance_id == instance.id
    assert (await env.engine.get(instance.id)).status is InstanceStatus.RUNNING
    ended = await env.engine.terminate(instance.id)
    assert ended.status is InstanceStatus.TERMINATED


async def test_restart_runs_from_the_beginning(env: Env) -> None:
    instance = await env.start(SLEEPER, {"nap": 0.05})
    assert (await env.wait_for(instance.id)).output == 2
    restarted = await env.engine.restart(instance.id)
    assert restarted.status is InstanceStatus.QUEUED and restarted.output is None
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE and done.output == 2
    assert len((await env.engine.status(instance.id)).steps) == 3


async def test_logs_per_step_and_tenant_scoping(env: Env) -> None:
    source = (
        "import sys\n"
        "def run(event, step):\n"
        "    print('before')\n"
        "    step.do('talk', lambda: print('inside') or sys.stderr.write('oops\\n') or 1)\n"
        "    step.sleep('nap', 0.05)\n"
        "    print('after')\n"
    )
    instance = await env.start(source)
    await env.wait_for(instance.id)
    lines = await env.engine.logs(instance.id)
    text = [(line.step, line.stream, line.text.strip()) for line in lines if line.text.strip()]
    assert (None, "stdout", "before") in text
    assert ("talk", "stdout", "inside") in text
    assert ("talk", "stderr", "oops") in text
    assert (None, "stdout", "after") in text
    with pytest.raises(NotFound):
        await env.engine.logs(instance.id, tenant_id="beta")
    with pytest.raises(NotFound):
        await env.engine.status(instance.id, tenant_id="beta")
    with pytest.raises(NotFound):
        await env.engine.get("nope")
