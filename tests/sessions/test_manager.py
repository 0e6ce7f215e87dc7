"""Sessions through the manager: notebook state, shell, limits, isolation."""

from __future__ import annotations

import asyncio

import pytest

from tenantflow.sessions import (
    SessionLimits,
    SessionManager,
    SessionNotFound,
    SessionSpec,
)
from tests.sessions.conftest import new_tenant


async def test_create_get_list_delete(manager: SessionManager) -> None:
    tenant = new_tenant()
    a = await manager.create(tenant, SessionSpec(name="a"))
    b = await manager.create(tenant, SessionSpec(name="b"))
    assert (await manager.get(tenant, a.id)).spec.name == "a"
    assert [s.id for s in await manager.list(tenant)] == [b.id, a.id]
    root = (await manager.open(tenant, a.id)).root
    assert root.is_dir()
    await manager.delete(tenant, a.id)
    assert not root.exists()
    with pytest.raises(SessionNotFound):
        await manager.get(tenant, a.id)
    assert [s.id for s in await manager.list(tenant)] == [b.id]


async def test_python_is_a_notebook_while_warm(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    first = await manager.python(tenant, info.id, "x = 20\nprint('set')\nx + 1")
    assert first.ok, first.error
    assert (first.stdout, first.result) == ("set\n", "21")
    assert first.woke and not first.state_kept
    second = await manager.python(tenant, info.id, "x * 2")
    assert second.ok and second.result == "40"
    assert second.state_kept and not second.woke
    # No final expression: nothing echoed; None is not echoed either.
    assert (await manager.python(tenant, info.id, "y = 1")).result is None
    assert (await manager.python(tenant, info.id, "None")).result is None


async def test_python_error_is_reported_not_raised(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    result = await manager.python(tenant, info.id, "1 / 0")
    assert not result.ok
    assert result.error is not None and result.error["type"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in result.error["traceback"]
    # The interpreter survives a guest exception: state is kept.
    assert (await manager.python(tenant, info.id, "2")).state_kept


async def test_shell_runs_in_workspace_and_keeps_cwd(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    r = await manager.shell(tenant, info.id, "mkdir -p src && cd src && echo hi > a.txt; pwd")
    assert r.ok and r.exit_code == 0, r
    assert r.stdout == "/workspace/src\n"
    r = await manager.shell(tenant, info.id, "cat a.txt | tr a-z A-Z; false")
    assert (r.stdout, r.exit_code) == ("HI\n", 1)
    r = await manager.shell(tenant, info.id, "nosuchcommand")
    assert r.exit_code == 127 and "command not found" in r.stderr
    assert await manager.files.read(tenant, info.id, "src/a.txt") == b"hi\n"
    # Python sees the shell's files (same workspace, same interpreter).
    r = await manager.python(tenant, info.id, "open('/workspace/src/a.txt').read()")
    assert r.result == "'hi\\n'"


async def test_shell_streams_output(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    chunks: list[tuple[str, str]] = []
    r = await manager.shell(
        tenant,
        info.id,
        "echo one; echo two >&2; echo three",
        on_output=lambda s, t: chunks.append((s, t)),
    )
    assert r.stdout == "one\nthree\n" and r.stderr == "two\n"
    assert "".join(t for s, t in chunks if s == "stdout") == "one\nthree\n"
    assert "".join(t for s, t in chunks if s == "stderr") == "two\n"


async def test_deadline_ends_the_call_and_the_state(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant, SessionSpec(limits=SessionLimits(call_seconds=5)))
    await manager.python(tenant, info.id, "keep = 1\nopen('f.txt', 'w').write('x')")
    r = await manager.python(tenant, info.id, "while True: pass", deadline=0.3)
    assert not r.ok and r.limit == "deadline"
    after = await manager.python(
        tenant, info.id, "import os\n(os.path.exists('f.txt'), 'keep' in globals())"
    )
    assert after.ok and after.result == "(True, False)"
    assert after.woke and not after.state_kept


async def test_memory_limit(manager: SessionManager) -> None:
    tenant = new_tenant()
    spec = SessionSpec(limits=SessionLimits(memory_bytes=64 * 1024 * 1024))
    info = await manager.create(tenant, spec)
    r = await manager.python(tenant, info.id, "b = bytearray(200 * 1024 * 1024)")
    assert not r.ok
    assert r.limit == "memory" or (r.error and r.error["type"] == "MemoryError"), r


async def test_sessions_of_one_tenant_do_not_share_files_or_state(manager: SessionManager) -> None:
    tenant = new_tenant()
    a = await manager.create(tenant)
    b = await manager.create(tenant)
    await manager.python(tenant, a.id, "secret = 42\nopen('only-a.txt', 'w').write('a')")
    r = await manager.python(
        tenant, b.id, "import os\n(sorted(os.listdir('/workspace')), 'secret' in globals())"
    )
    assert r.result == "([], False)"
    assert [e.path for e in await manager.files.list(tenant, b.id)] == []
    r = await manager.shell(tenant, b.id, "ls -a /workspace/..; cat ../only-a.txt")
    assert "only-a.txt" not in r.stdout


async def test_other_tenants_session_is_not_found(manager: SessionManager) -> None:
    owner, other = new_tenant(), new_tenant()
    info = await manager.create(owner)
    await manager.files.write(owner, info.id, "x.txt", b"private")
    for call in (
        manager.get(other, info.id),
        manager.python(other, info.id, "1"),
        manager.shell(other, info.id, "ls"),
        manager.files.read(other, info.id, "x.txt"),
        manager.files.list(other, info.id),
        manager.files.write(other, info.id, "y.txt", b"no"),
        manager.snapshots.create(other, info.id),
        manager.delete(other, info.id),
    ):
        with pytest.raises(SessionNotFound):
            await call
    assert await manager.files.read(owner, info.id, "x.txt") == b"private"
    assert [e.path for e in await manager.files.list(owner, info.id)] == ["x.txt"]
    assert await manager.list(other) == []


async def test_calls_queued_behind_a_delete_find_no_session(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    root = (await manager.open(tenant, info.id)).root
    running = asyncio.ensure_future(manager.python(tenant, info.id, "import time\ntime.sleep(0.5)"))
    await asyncio.sleep(0.1)
    deleting = asyncio.ensure_future(manager.delete(tenant, info.id))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(manager.python(tenant, info.id, "open('x', 'w')"))
    assert (await running).ok
    await deleting
    with pytest.raises(SessionNotFound):
        await queued
    assert not root.exists()  # the queued call did not bring the workspace back
    with pytest.raises(SessionNotFound):
        await manager.files.write(tenant, info.id, "y.txt", b"no")
    assert not root.exists()


async def test_output_cap(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    r = await manager.python(tenant, info.id, "print('x' * (3 * 1024 * 1024))")
    assert not r.ok and r.limit == "output", r.limit
    assert len(r.stdout) <= manager.config.output_bytes
    assert (await manager.python(tenant, info.id, "1 + 1")).result == "2"


async def test_python_output_streams_while_running(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, str]] = []
    code = "import time\nprint('first')\ntime.sleep(0.6)\nprint('second')\n'end'"
    r = await manager.python(
        tenant, info.id, code, on_output=lambda s, t: arrivals.append((loop.time(), t))
    )
    done = loop.time()
    assert r.ok and r.result == "'end'" and r.stdout == "first\nsecond\n"
    assert arrivals[0][1].startswith("first") and done - arrivals[0][0] > 0.4
    # Not streaming again: the next call's output is buffered as usual and still complete.
    assert (await manager.python(tenant, info.id, "print('x')")).stdout == "x\n"
