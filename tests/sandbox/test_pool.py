"""The warm pool: warm starts, isolation between keys and runs, bursts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tenantflow.sandbox import Mounts, Sandbox
from tenantflow.sandbox.pool import PoolSpec


async def _wait_warm(sandbox: Sandbox, key: str, mounts: Mounts | None = None) -> None:
    resolved = (mounts or Mounts()).resolved()
    spec = PoolSpec(
        key, resolved.code, sandbox.default_limits.memory_bytes, resolved.workspace is not None
    )
    sandbox.pool.ensure(spec)
    for _ in range(500):
        if sandbox.pool.warm_count(spec) >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"pool for {key} never warmed")


async def test_pooled_run_is_warm(sandbox: Sandbox) -> None:
    await _wait_warm(sandbox, "tenant-a:v1")
    result = await sandbox.run("print('warm')", pool_key="tenant-a:v1")
    assert result.ok and result.warm
    cold = await sandbox.run("print('cold')")
    assert cold.ok and not cold.warm


async def test_interpreters_are_never_reused_between_runs(sandbox: Sandbox) -> None:
    await _wait_warm(sandbox, "tenant-a:v2")
    first = await sandbox.run(
        "import builtins\nbuiltins.leak = 'tenant a data'", pool_key="tenant-a:v2"
    )
    assert first.ok
    await _wait_warm(sandbox, "tenant-a:v2")
    second = await sandbox.run(
        "import builtins\n__result__ = getattr(builtins, 'leak', None)", pool_key="tenant-a:v2"
    )
    assert second.ok and second.warm
    assert second.value is None


async def test_keys_do_not_share_interpreters(sandbox: Sandbox, tmp_path: Path) -> None:
    code_a = tmp_path / "a"
    code_b = tmp_path / "b"
    for code, who in ((code_a, "a"), (code_b, "b")):
        code.mkdir()
        (code / "main.py").write_text(f"def run():\n    return {who!r}\n")
    await _wait_warm(sandbox, "tenant-a:x", Mounts(code=code_a))
    await _wait_warm(sandbox, "tenant-b:y", Mounts(code=code_b))
    a = await sandbox.run(entry="main:run", mounts=Mounts(code=code_a), pool_key="tenant-a:x")
    b = await sandbox.run(entry="main:run", mounts=Mounts(code=code_b), pool_key="tenant-b:y")
    assert (a.value, a.warm) == ("a", True)
    assert (b.value, b.warm) == ("b", True)


async def test_pooled_run_adopts_the_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "existing.txt").write_text("kept")
    mounts = Mounts(workspace=workspace)
    await _wait_warm(sandbox, "tenant-c:v1", mounts)
    result = await sandbox.run(
        "print(open('existing.txt').read())\nopen('new.txt', 'w').write('made')",
        mounts=mounts,
        pool_key="tenant-c:v1",
    )
    assert result.ok and result.warm, result.error
    assert result.stdout == "kept\n"
    assert (workspace / "new.txt").read_text() == "made"
    assert (workspace / "existing.txt").read_text() == "kept"


async def test_burst_larger_than_the_pool_falls_back_to_cold_starts(sandbox: Sandbox) -> None:
    await _wait_warm(sandbox, "tenant-d:v1")
    results = await asyncio.gather(
        *(sandbox.run(f"__result__ = {i}", pool_key="tenant-d:v1") for i in range(10))
    )
    assert [r.value for r in results] == list(range(10))
    assert all(r.ok for r in results)
    assert any(r.warm for r in results)
    assert not all(r.warm for r in results)
