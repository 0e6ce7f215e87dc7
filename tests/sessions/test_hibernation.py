"""Idle hibernation and wake; sessions surviving a restart (new manager, same disk and DB)."""

from __future__ import annotations

import asyncio

from tenantflow.sessions import SessionManager
from tests.sessions.conftest import Harness, new_tenant


async def test_idle_session_hibernates_and_wakes_with_files(harness: Harness) -> None:
    manager = await harness.manager(idle_ttl_seconds=0.4, reap_interval_seconds=0.1)
    tenant = new_tenant()
    info = await manager.create(tenant)
    r = await manager.python(tenant, info.id, "x = 5\nopen('kept.txt', 'w').write('files stay')")
    assert r.ok
    assert (await manager.get(tenant, info.id)).warm
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not (await manager.get(tenant, info.id)).warm:
            break
    assert not (await manager.get(tenant, info.id)).warm
    assert manager.live.hibernations == 1
    r = await manager.python(tenant, info.id, "print(open('kept.txt').read())\n'x' in globals()")
    assert r.ok and r.stdout == "files stay\n" and r.result == "False"
    assert r.woke and not r.state_kept
    # Warm again: state persists from here on.
    assert (await manager.python(tenant, info.id, "y = 1\ny")).state_kept


async def test_a_running_call_is_not_hibernated(harness: Harness) -> None:
    manager = await harness.manager(idle_ttl_seconds=0.2, reap_interval_seconds=0.05)
    tenant = new_tenant()
    info = await manager.create(tenant)
    await manager.python(tenant, info.id, "v = 1")
    r = await manager.python(tenant, info.id, "import time\ntime.sleep(0.8)\nv")
    assert r.ok and r.result == "1" and r.state_kept


async def test_explicit_hibernate(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    await manager.python(tenant, info.id, "v = 1")
    assert await manager.hibernate(tenant, info.id)
    assert not await manager.hibernate(tenant, info.id)
    r = await manager.python(tenant, info.id, "'v' in globals()")
    assert r.result == "False" and r.woke


async def test_sessions_survive_a_restart(harness: Harness) -> None:
    first = await harness.manager()
    tenant = new_tenant()
    info = await first.create(tenant)
    await first.shell(tenant, info.id, "mkdir -p notes && echo persisted > notes/a.txt")
    snap = await first.snapshots.create(tenant, info.id, "before restart")
    await first.close()
    # A new process: new manager over the same data directory and database.
    second = await harness.manager()
    assert [s.id for s in await second.list(tenant)] == [info.id]
    assert not (await second.get(tenant, info.id)).warm
    r = await second.shell(tenant, info.id, "cat notes/a.txt")
    assert r.stdout == "persisted\n" and r.woke
    assert [s.label for s in await second.snapshots.list(tenant, info.id)] == ["before restart"]
    await second.files.write(tenant, info.id, "notes/a.txt", b"changed")
    await second.snapshots.restore(tenant, info.id, snap.id)
    assert await second.files.read(tenant, info.id, "notes/a.txt") == b"persisted\n"


async def test_warm_sessions_per_tenant_are_capped_lru(harness: Harness) -> None:
    manager = await harness.manager(max_warm_per_tenant=2)
    tenant, other = new_tenant(), new_tenant()
    ids = [(await manager.create(tenant)).id for _ in range(3)]
    elsewhere = (await manager.create(other)).id
    await manager.python(other, elsewhere, "1")
    for sid in ids:
        await manager.python(tenant, sid, "v = 1")
    warm = [(await manager.get(tenant, sid)).warm for sid in ids]
    assert warm == [False, True, True]  # the least recently used one hibernated
    assert (await manager.get(other, elsewhere)).warm  # other tenants are not affected
    r = await manager.python(tenant, ids[0], "'v' in globals()")
    assert r.woke and r.result == "False"
    assert [(await manager.get(tenant, sid)).warm for sid in ids] == [True, False, True]


async def test_warm_sessions_of_the_process_are_capped(harness: Harness) -> None:
    manager = await harness.manager(max_warm_total=2)
    a, b, c = new_tenant(), new_tenant(), new_tenant()
    sa = (await manager.create(a)).id
    sb = (await manager.create(b)).id
    sc = (await manager.create(c)).id
    for tenant, sid in ((a, sa), (b, sb), (c, sc)):
        await manager.python(tenant, sid, "1")
    assert [(await manager.get(t, s)).warm for t, s in ((a, sa), (b, sb), (c, sc))] == [
        False,
        True,
        True,
    ]
