"""A worker: claims runnable instances, runs them in sandboxes, renews its leases.

Use it embedded (``async with Worker(...) as worker: ...``; the API server
does this) or as a process (``tenantflow worker``). Timers are rows: a
sleeping instance is runnable once its ``ready_at`` passes, and the worker
sleeps exactly until the earliest one (or ``worker_poll_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from types import TracebackType

from tenantflow.config import Settings
from tenantflow.engine.backend import Backend, Claim, Lease
from tenantflow.engine.errors import CodeNotFound, LeaseLost
from tenantflow.engine.resolver import CodeResolver
from tenantflow.engine.runner import ExtraHandlers, Run, RunKey
from tenantflow.engine.workspace import Workspaces
from tenantflow.sandbox import Sandbox

log = logging.getLogger(__name__)


class Worker:
    """Runs workflow instances from ``backend`` in ``sandbox``.

    ``run()`` serves until :meth:`shutdown`; ``async with`` starts ``run()`` in
    a task and shuts down on exit. Shutdown stops claiming, lets in-flight
    instances reach their next step boundary (up to
    ``worker_shutdown_seconds``), then stops the rest and releases their leases.
    """

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        sandbox: Sandbox,
        resolver: CodeResolver,
        *,
        extra_handlers: ExtraHandlers | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.sandbox = sandbox
        self.resolver = resolver
        self.extra_handlers = extra_handlers
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.workspaces = Workspaces(settings.data_dir / "workspaces")
        # Instance id -> (its run, the lease): an id can be released and reclaimed quickly,
        # so every update checks the lease (run_gen), not just the id.
        self._held: dict[str, tuple[Run, Lease]] = {}
        self._runs: dict[RunKey, list[Run]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.claimed = 0

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Worker:
        self._main = asyncio.create_task(self.run(), name=f"worker {self.id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def notify(self) -> None:
        """Look for work now (thread-safe): call after creating instances or sending events."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Claim and run instances until :meth:`shutdown`."""
        self._loop = asyncio.get_running_loop()
        renewer = asyncio.create_task(self._renew_loop(), name="lease renewal")
        try:
            # Instances created and events sent by other processes wake the claim loop now,
            # not at the next poll (Postgres LISTEN/NOTIFY).
            async with self.backend.listen(self.notify):
                await self._claim_loop()
            await self._drain()
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def shutdown(self) -> None:
        """Stop claiming, finish or release in-flight work, and return when done."""
        self._stopping.set()
        self._wake.set()
        if self._main is not None:
            await self._main

    def request_shutdown(self) -> None:
        """Begin shutdown without waiting (a signal handler calls this)."""
        self._stopping.set()
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Instances this worker holds."""
        return len(self._held)

    # -- claiming ------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        settings = self.settings
        while not self._stopping.is_set():
            self._wake.clear()
            free = settings.worker_concurrency - len(self._held)
            got = 0
            # Claim in batches: one claim ranks every runnable row, so refilling one slot at
            # a time would spend more on claiming than on running.
            batch = max(1, settings.worker_concurrency // 4)
            if free >= batch or (free > 0 and not self._held):
                try:
                    claims = await self.backend.claim(
                        self.id, free, settings.worker_tenant_concurrency,
                        settings.worker_lease_seconds,
                    )  # fmt: skip
                except Exception:
                    log.exception("claim failed; retrying")
                    claims = []
                    await self._sleep(settings.worker_poll_seconds)
                    continue
                got = len(claims)
                self.claimed += got
                for claim in claims:
                    self._dispatch(claim)
            if got == free or (0 < free < batch and self._held):
                await self._sleep(settings.worker_poll_seconds)  # full: a release wakes us
                continue
            if got:
                continue
            await self._sleep(await self._idle_seconds())

    async def _idle_seconds(self) -> float:
        poll = self.settings.worker_poll_seconds
        try:
            ready = await self.backend.next_ready()
        except Exception:
            log.exception("next_ready failed")
            return poll
        if ready is None:
            return poll
        delay = ready - time.time()
        # Already due but not claimable (tenant at its limit): wait for a slot or the poll.
        return poll if delay <= 0 else min(delay + 0.001, poll)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _dispatch(self, claim: Claim) -> None:
        key = RunKey(claim.tenant_id, claim.workflow, claim.code_hash)
        for run in self._runs[key]:
            if run.offer(claim):
                self._held[claim.instance_id] = (run, claim.lease)
                return
        run = Run(
            key, self.backend.journal, self.settings, self.workspaces,
            on_released=self._released_threadsafe, extra_handlers=self.extra_handlers,
        )  # fmt: skip
        run.offer(claim)
        self._held[claim.instance_id] = (run, claim.lease)
        self._runs[key].append(run)
        task = asyncio.create_task(self._execute(run, claim), name=f"run {key.pool_key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run: Run, first: Claim) -> None:
        try:
            try:
                code_dir = await self.resolver.resolve(run.key.tenant_id, run.key.workflow,
                                                       run.key.code_hash)  # fmt: skip
            except CodeNotFound as exc:
                await asyncio.to_thread(self._fail_unresolvable, run, str(exc))
                return
            except Exception:
                log.exception("could not load the code of %s; retrying later", run.key.pool_key)
                await asyncio.to_thread(self._release_all, run, self.settings.worker_poll_seconds)
                return
            await run.execute(self.sandbox, code_dir)
        except Exception:
            log.exception("sandbox run for %s failed", run.key.pool_key)
        finally:
            runs = self._runs.get(run.key)
            if runs is not None and run in runs:
                runs.remove(run)
                if not runs:
                    del self._runs[run.key]
            for instance_id, (holder, _) in list(self._held.items()):
                if holder is run:
                    del self._held[instance_id]
            self._wake.set()

    def _fail_unresolvable(self, run: Run, message: str) -> None:
        for claim in run.take_all():
            with contextlib.suppress(LeaseLost):
                error = {"type": "CodeNotFound", "message": message}
                self.backend.journal.finish(claim.lease, None, error, ())

    def _release_all(self, run: Run, delay: float) -> None:
        for claim in run.take_all():
            try:
                self.backend.journal.release(claim.lease, (), delay)
            except Exception:
                log.exception("could not release %s; its lease will expire", claim.instance_id)

    def _released_threadsafe(self, lease: Lease) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._released, lease)

    def _released(self, lease: Lease) -> None:
        held = self._held.get(lease.instance_id)
        if held is not None and held[1] == lease:
            del self._held[lease.instance_id]
        self._wake.set()

    # -- leases --------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        interval = self.settings.worker_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            held = dict(self._held)
            if not held:
                continue
            try:
                still = await self.backend.renew(
                    self.id, list(held), self.settings.worker_lease_seconds
                )
            except Exception:
                log.exception("lease renewal failed")
                continue
            for instance_id in set(held) - still:
                run, lease = held[instance_id]
                if self._held.get(instance_id) == (run, lease):  # not released meanwhile
                    run.lost(lease)

    # -- shutdown ------------------------------------------------------------------

    async def _drain(self) -> None:
        runs = [run for runs in self._runs.values() for run in runs]
        for run in runs:
            run.drain()
        if self._tasks:
            _, pending = await asyncio.wait(
                set(self._tasks), timeout=self.settings.worker_shutdown_seconds
            )
            if pending:
                for run in [run for runs in self._runs.values() for run in runs]:
                    run.stop()
                await asyncio.wait(pending)
