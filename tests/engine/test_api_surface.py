"""The engine's public surface, pinned; the extra-handlers hook gives steps host capabilities."""

from __future__ import annotations

from pathlib import Path

import tenantflow.engine
import tenantflow.guest
from tenantflow.engine import DirectoryCodeResolver, Engine, InstanceStatus, RunScope
from tenantflow.sandbox import Sandbox
from tenantflow.workers import Worker
from tests.engine.conftest import open_env


def test_exported_members() -> None:
    assert sorted(tenantflow.engine.__all__) == [
        "Backend", "BatchTooLarge", "Claim", "CodeNotFound", "CodeResolver",
        "DirectoryCodeResolver", "Engine", "EngineError", "ExtraHandlers",
        "IdempotencyConflict", "Instance", "InstanceDetail", "InstanceQuery", "InstanceStatus",
        "InvalidPayload", "InvalidTransition", "Journal", "Lease", "LeaseLost", "LocalBackend",
        "LogLine", "NewInstance", "NotFound", "Page", "RunKey", "RunScope", "StepRecord",
    ]  # fmt: skip
    for name in ("NonRetryableError", "StepError", "EventTimeoutError", "NonDeterminismError"):
        assert name in tenantflow.guest.__all__


async def test_extra_handlers_see_the_current_instance(
    database_url: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    engine, worker, settings = await open_env(database_url, tmp_path / "data", sandbox)
    seen: list[tuple[str, str | None]] = []

    def extra(scope: RunScope) -> dict[str, object]:
        def whoami() -> str | None:
            seen.append((scope.key.tenant_id, scope.instance_id))
            return scope.instance_id

        return {"whoami": whoami}

    code = worker.resolver
    assert isinstance(code, DirectoryCodeResolver)
    code_hash = code.publish(
        "acme",
        "wf",
        "from tenantflow.guest import call\n"
        "def run(event, step):\n"
        "    return step.do('ask', lambda: call('whoami'))\n",
    )
    hooked = Worker(settings, engine.backend, sandbox, code, extra_handlers=extra)
    engine.set_notify(hooked.notify)
    first = await engine.create("acme", "wf", code_hash)
    second = await engine.create("acme", "wf", code_hash)
    async with hooked:
        for instance in (first, second):
            done = await _finished(engine, instance.id)
            assert done.status is InstanceStatus.COMPLETE and done.output == instance.id
    assert sorted(seen) == sorted([("acme", first.id), ("acme", second.id)])
    await engine.close()


async def _finished(engine: Engine, instance_id: str) -> tenantflow.engine.Instance:
    from tests.engine.conftest import eventually

    async def check() -> bool:
        return (await engine.get(instance_id)).status.terminal

    await eventually(check)
    return await engine.get(instance_id)
