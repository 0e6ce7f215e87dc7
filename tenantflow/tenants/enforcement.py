"""Tenant quotas applied to workflow runs: the sandbox as a worker sees it.

:class:`QuotaSandbox` fronts the real :class:`~tenantflow.sandbox.Sandbox`
for a worker. For every run of a tenant's workflow (the run's pool key names
the tenant) it:

- waits while the tenant already has ``max_live_sandboxes`` runs alive (work
  queues; nothing running is stopped);
- caps ``/workspace`` at ``max_workspace_bytes`` (the sandbox samples it while
  the guest runs, and a step that leaves it over the quota is not committed:
  the step fails with ``QuotaExceeded``);
- caps each step's time at ``max_cpu_seconds_per_run`` (the step timeout the
  guest asks for, or the default, is lowered to the quota; a guest running
  alone in its sandbox burns CPU for the time it runs);
- refuses a step past ``max_steps_per_instance`` journal entries with a
  ``QuotaExceeded`` error the tenant's code sees (the guest checks its budget
  before the step runs; the host refuses to store an entry past it).

Quotas are read when the run starts; a change applies to the next run.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tenantflow.sandbox import HandlerError, Limits, Mounts, RunResult, Sandbox
from tenantflow.sandbox.interpreter import Handler
from tenantflow.sandbox.monitor import tree_size
from tenantflow.tenants.accounts import TenantStore
from tenantflow.tenants.quotas import Quotas

# The engine's handlers (tenantflow.engine.runner) that quotas wrap.
NEXT_INSTANCE = "wf.next"
"""Hands the guest its next instance (a dict the guest reads its budget from)."""
STEP_START = "wf.start"
"""Called (one way) before each new step attempt: arms the step timeout."""
STEP_COMMIT = "wf.commit"
"""Commits a step's result."""
JOURNAL_WRITES = (STEP_COMMIT, "wf.fail", "wf.sleep", "wf.wait")
"""Every handler that stores a new journal entry (its first argument is ``seq``)."""


def tenant_of(pool_key: str | None) -> str | None:
    """The tenant of a workflow run's pool key ``wf:<tenant>:<workflow>:<hash>``."""
    if not pool_key or not pool_key.startswith("wf:"):
        return None
    tenant = pool_key.split(":", 2)[1]
    return tenant or None


class QuotaSandbox:
    """A :class:`Sandbox` front that applies each tenant's quotas to its runs."""

    def __init__(self, sandbox: Sandbox, tenants: TenantStore) -> None:
        self.sandbox = sandbox
        self.tenants = tenants
        self._live: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Condition()

    @property
    def default_limits(self) -> Limits:
        """The wrapped sandbox's default limits."""
        return self.sandbox.default_limits

    def __getattr__(self, name: str) -> Any:
        # Everything else (pool, prewarm, settings, ...) is the real sandbox's.
        return getattr(self.sandbox, name)

    def live(self, tenant_id: str) -> int:
        """Runs of the tenant alive now (in this process)."""
        return self._live.get(tenant_id, 0)

    @asynccontextmanager
    async def _slot(self, tenant_id: str, limit: int) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._live[tenant_id] < max(limit, 1))
            self._live[tenant_id] += 1
        try:
            yield
        finally:
            async with self._changed:
                self._live[tenant_id] -= 1
                self._changed.notify_all()

    async def run(
        self,
        code: str | None = None,
        *,
        pool_key: str | None = None,
        limits: Limits | None = None,
        handlers: Mapping[str, Handler] | None = None,
        **kwargs: Any,
    ) -> RunResult:
        """``Sandbox.run`` with the quotas of the tenant named by ``pool_key``."""
        tenant = tenant_of(pool_key)
        if tenant is None:
            return await self.sandbox.run(
                code, pool_key=pool_key, limits=limits, handlers=handlers, **kwargs
            )
        quotas = await self.tenants.quotas(tenant)
        limits = limits or self.sandbox.default_limits
        workspace = quotas.max_workspace_bytes
        if limits.workspace_bytes is not None:
            workspace = min(workspace, limits.workspace_bytes)
        limits = limits.with_(workspace_bytes=workspace)
        mounts: Mounts | None = kwargs.get("mounts")
        workspace_dir = mounts.workspace if mounts is not None else None
        async with self._slot(tenant, quotas.max_live_sandboxes):
            return await self.sandbox.run(
                code,
                pool_key=pool_key,
                limits=limits,
                handlers=with_step_quotas(
                    handlers or {},
                    quotas,
                    workspace_dir,
                    workspace,
                    default_step_seconds=self.sandbox.settings.engine_step_timeout_seconds,
                ),
                **kwargs,
            )


def with_step_quotas(
    handlers: Mapping[str, Handler],
    quotas: Quotas,
    workspace_dir: Path | None = None,
    workspace_bytes: int | None = None,
    *,
    default_step_seconds: float,
) -> dict[str, Handler]:
    """``handlers`` with the step quotas: count, time and (at commit) the workspace.

    The step count is enforced twice. The guest receives its budget with each
    instance and refuses a step past it before the step runs (so a tenant's code
    sees ``QuotaExceeded`` and no side effect happens); the host refuses to
    store any journal entry past it, so a guest that skips the check gains
    nothing.
    """
    wrapped = dict(handlers)
    limit = quotas.max_steps_per_instance
    for name in JOURNAL_WRITES:
        if name in handlers:
            wrapped[name] = _counting_steps(handlers[name], limit)
    commit = wrapped.get(STEP_COMMIT)
    if commit is not None and workspace_dir is not None and workspace_bytes is not None:
        wrapped[STEP_COMMIT] = _checking_workspace(commit, workspace_dir, workspace_bytes)
    cap = quotas.max_cpu_seconds_per_run
    next_instance = handlers.get(NEXT_INSTANCE)
    if next_instance is not None:
        # Under a CPU cap below the default step timeout every step is announced, so each
        # one gets the capped timeout (an unannounced step runs under the engine's default).
        wrapped[NEXT_INSTANCE] = _with_budget(next_instance, limit, cap < default_step_seconds)
    start = handlers.get(STEP_START)
    if start is not None:
        wrapped[STEP_START] = _capping_time(start, cap, min(cap, default_step_seconds))
    return wrapped


def _steps_exceeded(limit: int) -> HandlerError:
    return HandlerError(
        f"quota max_steps_per_instance exceeded: this instance may run {limit} steps",
        type="QuotaExceeded",
    )


def _counting_steps(write: Handler, limit: int) -> Handler:
    def journal_write(*args: Any, **kwargs: Any) -> Any:
        seq = kwargs.get("seq", args[0] if args else 0)
        if not isinstance(seq, int) or seq >= limit:
            raise _steps_exceeded(limit)
        return write(*args, **kwargs)

    return journal_write


def _with_budget(next_instance: Handler, limit: int, announce: bool) -> Handler:
    def next_with_budget(*args: Any, **kwargs: Any) -> Any:
        job = next_instance(*args, **kwargs)
        if not isinstance(job, dict):
            return job
        job = {**job, "max_steps": limit}
        if announce:
            job["announce"] = True
        return job

    return next_with_budget


def _capping_time(start: Handler, seconds: float, default: float) -> Handler:
    """Lower a step's timeout to ``seconds``; a step without one gets ``default`` (the
    engine's default step timeout, capped), so a generous quota never raises it."""

    def step_start(*args: Any, **kwargs: Any) -> Any:
        timeout = kwargs.get("timeout")
        if timeout is None:
            kwargs["timeout"] = default
        elif isinstance(timeout, int | float) and timeout > seconds:
            kwargs["timeout"] = seconds
        return start(*args, **kwargs)

    return step_start


def _checking_workspace(commit: Handler, workspace_dir: Path, limit: int) -> Handler:
    def step_commit(*args: Any, **kwargs: Any) -> Any:
        used = tree_size(workspace_dir)
        if used > limit:
            raise HandlerError(
                f"quota max_workspace_bytes exceeded: /workspace holds {used} bytes, "
                f"the quota is {limit}",
                type="QuotaExceeded",
            )
        return commit(*args, **kwargs)

    return step_commit
