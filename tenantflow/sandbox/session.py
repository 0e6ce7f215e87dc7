"""A sandbox session: one interpreter serving many jobs, for agent sessions.

Globals persist between jobs in a named namespace, like notebook cells. The
interpreter is the session's only state besides its workspace: if a limit
ends it, the caller opens a new one (fresh variables, same files).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tenantflow.sandbox.interpreter import Handler, Interpreter, OutputSink
from tenantflow.sandbox.jobs import job_message
from tenantflow.sandbox.limits import Limits
from tenantflow.sandbox.mounts import Mounts
from tenantflow.sandbox.result import GuestError, RunResult

if TYPE_CHECKING:
    from tenantflow.sandbox.sandbox import RunControl, Sandbox


class SandboxSession:
    """One guest interpreter serving several jobs; its globals persist between them."""

    def __init__(
        self,
        sandbox: Sandbox,
        interpreter: Interpreter,
        mounts: Mounts,
        limits: Limits,
        warm: bool,
    ) -> None:
        self._sandbox = sandbox
        self._interpreter = interpreter
        self._lock = asyncio.Lock()
        self.mounts = mounts
        self.limits = limits
        self.warm = warm
        self.jobs = 0

    @property
    def alive(self) -> bool:
        """Whether the interpreter (and so the session's variables) still lives."""
        return self._interpreter.alive

    async def run(
        self,
        code: str,
        *,
        namespace: str = "main",
        echo: bool = False,
        handlers: Mapping[str, Handler] | None = None,
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
        filename: str = "<cell>",
        on_output: OutputSink | None = None,
        control: RunControl | None = None,
    ) -> RunResult:
        """Run ``code`` in the persistent ``namespace``; ``echo`` returns the last
        expression's ``repr`` as ``{"repr": ...}`` like a notebook cell."""
        limits = limits or self.limits
        if not self.alive:
            error = GuestError("SessionEnded", "the interpreter has ended; open a new session")
            return RunResult(ok=False, error=error)
        refused = self._sandbox._check_quota_before(self.mounts, limits)
        if refused is not None:
            return refused
        job = job_message(
            code,
            env=env,
            filename=filename,
            namespace=namespace,
            echo=echo,
            workspace=self.mounts.workspace is not None,
        )
        async with self._lock, self._sandbox._slots:
            result = await self._sandbox.execute(
                self._interpreter, job, limits, handlers, on_output=on_output, control=control
            )
        self.jobs += 1
        result.warm = self.warm or self.jobs > 1
        return result

    async def close(self) -> None:
        """End the interpreter. Safe to call twice."""
        self._interpreter.close()

    async def __aenter__(self) -> SandboxSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
