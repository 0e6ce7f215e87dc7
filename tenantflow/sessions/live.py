"""Warm sessions: the sandbox interpreter a session holds while in use, and hibernation.

A session's interpreter lives while calls keep coming; after
``idle_ttl_seconds`` without a call the reaper closes it (the session
*hibernates*: its workspace stays on disk, its variables are gone). The next
call wakes it with a fresh interpreter, taken from the tenant's warm pool
when one is ready, so a wake skips CPython's boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenantflow.sandbox import Limits, Mounts, Sandbox, SandboxSession

log = logging.getLogger(__name__)


@dataclass(eq=False)
class LiveSession:
    """A session's interpreter and when it was last used."""

    sandbox_session: SandboxSession
    tenant: str = ""
    last_used: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        """Whether the interpreter (and so the session's variables) still lives."""
        return self.sandbox_session.alive


class LiveSessions:
    """Session id -> warm interpreter, with one lock per session and an idle reaper."""

    def __init__(
        self,
        sandbox: Sandbox,
        idle_ttl: float,
        reap_interval: float,
        on_hibernate: Callable[[str], Awaitable[None]] | None = None,
        max_warm_per_tenant: int | None = None,
        max_warm_total: int | None = None,
    ) -> None:
        self._sandbox = sandbox
        self.max_warm_total = max_warm_total
        self.max_warm_per_tenant = max_warm_per_tenant
        self.idle_ttl = idle_ttl
        self._interval = min(reap_interval, idle_ttl / 4)
        self._live: dict[str, LiveSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._on_hibernate = on_hibernate
        self._reaper: asyncio.Task[None] | None = None
        self.hibernations = 0

    def lock(self, session_id: str) -> asyncio.Lock:
        """The lock serializing calls, wakes and hibernation of one session."""
        found = self._locks.get(session_id)
        if found is None:
            found = self._locks[session_id] = asyncio.Lock()
        return found

    def get(self, session_id: str) -> LiveSession | None:
        """The session's warm interpreter, if it has a live one."""
        live = self._live.get(session_id)
        return live if live is not None and live.alive else None

    def is_warm(self, session_id: str) -> bool:
        """Whether the session holds a live interpreter now."""
        return self.get(session_id) is not None

    async def wake(
        self,
        session_id: str,
        tenant: str,
        workspace: Mounts,
        limits: Limits,
        pool_key: str | None,
        *,
        cap: int | None = None,
    ) -> LiveSession:
        """Open a fresh interpreter for the session (call with its lock held).

        If the tenant already has ``cap`` (default ``max_warm_per_tenant``) warm
        sessions, its least recently used idle one hibernates first (a busy one is
        never interrupted).
        """
        await self._drop(session_id)
        await self._make_room(tenant, cap if cap is not None else self.max_warm_per_tenant)
        opened = await self._sandbox.open_session(
            mounts=workspace, limits=limits, pool_key=pool_key
        )
        live = self._live[session_id] = LiveSession(opened, tenant)
        self.start()
        return live

    async def _make_room(self, tenant: str, cap: int | None) -> None:
        if cap is not None:
            mine = [(v.last_used, k) for k, v in self._live.items() if v.tenant == tenant]
            await self._evict(sorted(mine)[: max(0, len(mine) - cap + 1)])
        if self.max_warm_total is not None:
            everyone = sorted((v.last_used, k) for k, v in self._live.items())
            await self._evict(everyone[: max(0, len(everyone) - self.max_warm_total + 1)])

    async def _evict(self, oldest_first: list[tuple[float, str]]) -> None:
        for _, session_id in oldest_first:
            lock = self.lock(session_id)
            if lock.locked():
                continue  # running a call; the cap is soft rather than interrupting it
            async with lock:
                await self.hibernate(session_id)

    async def hibernate(self, session_id: str) -> bool:
        """Close the session's interpreter (call with its lock held); whether one was open."""
        had = await self._drop(session_id)
        if had:
            self.hibernations += 1
            if self._on_hibernate is not None:
                await self._on_hibernate(session_id)
        return had

    async def _drop(self, session_id: str) -> bool:
        live = self._live.pop(session_id, None)
        if live is None:
            return False
        await live.sandbox_session.close()
        return True

    def forget(self, session_id: str) -> None:
        """Forget a deleted session's lock."""
        self._locks.pop(session_id, None)

    # -- reaper -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the idle reaper (once, on the running loop)."""
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.reap()
            except Exception:
                log.exception("session reaper failed")

    async def reap(self) -> int:
        """Hibernate every session idle longer than the TTL; returns how many."""
        now = time.monotonic()
        idle = [sid for sid, live in self._live.items() if now - live.last_used > self.idle_ttl]
        count = 0
        for session_id in idle:
            lock = self.lock(session_id)
            if lock.locked():
                continue  # a call is running: not idle
            async with lock:
                live = self._live.get(session_id)
                if live is not None and time.monotonic() - live.last_used > self.idle_ttl:
                    count += await self.hibernate(session_id)
        return count

    async def close(self) -> None:
        """Stop the reaper and close every interpreter."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._reaper
            self._reaper = None
        sessions = [live.sandbox_session for live in self._live.values()]
        for session_id in list(self._live):
            await self._drop(session_id)
        # A closed guest finishes exiting on its own thread; a process that exits while it
        # still runs can abort inside wasmtime, so shutdown waits (bounded) for each one.
        waits = [
            asyncio.to_thread(interpreter.wait_exited, 5.0)
            for interpreter in (getattr(s, "_interpreter", None) for s in sessions)
            if interpreter is not None
        ]
        await asyncio.gather(*waits)
