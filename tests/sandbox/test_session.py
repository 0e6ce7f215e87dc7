"""Sandbox sessions: one interpreter, many jobs, state that persists between them."""

from __future__ import annotations

from pathlib import Path

from tenantflow.sandbox import LimitHit, Mounts, Sandbox


async def test_variables_persist_between_cells(sandbox: Sandbox, tmp_path: Path) -> None:
    async with await sandbox.open_session(mounts=Mounts(workspace=tmp_path)) as session:
        first = await session.run("x = 20\ny = 22")
        assert first.ok, first.error
        second = await session.run("x + y", echo=True)
        assert second.ok and second.value == {"repr": "42"}
        assert second.warm  # the second job reuses the same booted interpreter
        silent = await session.run("z = x")
        assert silent.value is None


async def test_namespaces_are_separate(sandbox: Sandbox) -> None:
    async with await sandbox.open_session() as session:
        await session.run("secret = 1", namespace="a")
        other = await session.run("'secret' in globals()", namespace="b", echo=True)
        assert other.value == {"repr": "False"}


async def test_error_in_a_cell_keeps_the_session(sandbox: Sandbox) -> None:
    async with await sandbox.open_session() as session:
        await session.run("kept = 'yes'")
        failed = await session.run("1 / 0")
        assert not failed.ok and failed.error is not None
        assert failed.error.type == "ZeroDivisionError"
        assert session.alive
        after = await session.run("kept", echo=True)
        assert after.value == {"repr": "'yes'"}


async def test_limit_ends_the_session_cleanly(sandbox: Sandbox) -> None:
    session = await sandbox.open_session()
    short = sandbox.default_limits.with_(wall_seconds=0.3)
    result = await session.run("while True:\n    pass", limits=short)
    assert result.limit is LimitHit.DEADLINE
    assert not session.alive
    ended = await session.run("1", echo=True)
    assert not ended.ok and ended.error is not None and ended.error.type == "SessionEnded"
    await session.close()
    await session.close()  # closing twice is fine


async def test_handlers_per_cell(sandbox: Sandbox) -> None:
    async with await sandbox.open_session() as session:
        code = "from tenantflow.guest import call\ncall('tool', q='x')"
        result = await session.run(code, echo=True, handlers={"tool": lambda q: q * 3})
        assert result.value == {"repr": "'xxx'"}
