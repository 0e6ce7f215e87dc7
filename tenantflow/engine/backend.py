"""The storage contract of durable execution, kept small so a Temporal backend fits.

A running guest yields commands (step committed, step failed, sleep until,
wait for event, complete, fail). A :class:`Journal` stores them for one
claimed instance, synchronously on the sandbox's own thread (the hot path:
no event-loop hop where the database allows it). A :class:`Backend` stores
instances, answers the control operations and hands runnable instances to
workers (:meth:`Backend.claim`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenantflow.engine.models import Instance, InstanceQuery, LogLine, NewInstance, Page, StepRecord

# One journal entry as the guest receives it:
# [seq, name, kind, status, attempts, output_json, error_json, wake_at]
JournalEntry = list[Any]


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's hold on one instance; ``run_gen`` is the fencing token of every write."""

    instance_id: str
    owner: str
    run_gen: int


@dataclass(slots=True)
class Claim:
    """A claimed instance: what a runner needs to replay and continue it."""

    lease: Lease
    tenant_id: str
    workflow: str
    code_hash: str
    event: str
    journal: builtins.list[JournalEntry] = field(default_factory=list)

    @property
    def instance_id(self) -> str:
        """The claimed instance's id."""
        return self.lease.instance_id


@dataclass(frozen=True, slots=True)
class LogEntry:
    """Buffered guest output, written with the next command of its instance."""

    seq: int | None
    stream: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    """Answer to a wait: an event payload (JSON text), a timeout, or hibernate."""

    event: str | None = None
    timed_out: bool = False


class Journal(Protocol):
    """Commands of running instances. Called on a sandbox thread; each returns once durable,
    except the ``*_later`` ones, which return a future that settles once durable (the sandbox
    replies to the guest from its callback, so no thread waits on the hot path).

    Every command raises :class:`tenantflow.engine.errors.LeaseLost` (or settles with it) if
    ``lease`` is no longer current, and writes ``logs`` in the same transaction.
    """

    def commit_step_later(
        self,
        lease: Lease,
        seq: int,
        name: str,
        attempts: int,
        started: float,
        output: str,
        logs: Sequence[LogEntry],
    ) -> Future[None]:
        """Record a step's result (the step is complete). The future's callbacks run where
        the commit settled (Postgres: the event loop; SQLite: its committer thread), so they
        must not block."""

    def fail_step(
        self,
        lease: Lease,
        seq: int,
        name: str,
        attempts: int,
        started: float,
        error: dict[str, Any],
        retry_at: float | None,
        logs: Sequence[LogEntry],
    ) -> None:
        """Record a failed attempt; with ``retry_at`` the instance hibernates until then."""

    def sleep(
        self, lease: Lease, seq: int, name: str, wake_at: float | None, logs: Sequence[LogEntry]
    ) -> bool:
        """Sleep until ``wake_at`` (``None``: the journal's). True: already due, step complete."""

    def wait(
        self,
        lease: Lease,
        seq: int,
        name: str,
        type: str,
        timeout_at: float | None,
        logs: Sequence[LogEntry],
    ) -> WaitOutcome:
        """Consume the oldest unconsumed event of ``type``, time out, or hibernate."""

    def finish(
        self,
        lease: Lease,
        output: str | None,
        error: dict[str, Any] | None,
        logs: Sequence[LogEntry],
    ) -> None:
        """The workflow returned (``output``) or raised (``error``)."""

    def release(self, lease: Lease, logs: Sequence[LogEntry], delay: float = 0.0) -> None:
        """Give the instance back unfinished; it is runnable again after ``delay`` seconds."""

    def release_later(self, lease: Lease, logs: Sequence[LogEntry]) -> Future[None]:
        """:meth:`release` at once, without waiting."""

    def close(self) -> None:
        """Release connections."""


class Backend(Protocol):
    """Stores instances and schedules them. One implementation per storage system."""

    journal: Journal

    async def create(
        self, items: Sequence[NewInstance], max_payload: int
    ) -> builtins.list[Instance]:
        """Create instances (idempotent per tenant and idempotency key)."""

    async def get(self, instance_id: str) -> Instance:
        """One instance; raises NotFound."""

    async def steps(self, instance_id: str) -> builtins.list[StepRecord]:
        """The step timeline, in order."""

    async def list(self, query: InstanceQuery) -> Page:
        """Instances matching ``query``, newest first."""

    async def control(self, instance_id: str, operation: str) -> Instance:
        """``pause``, ``resume``, ``terminate`` or ``restart``; raises InvalidTransition."""

    async def send_event(self, instance_id: str, type: str, payload: str) -> None:
        """Keep an event for the instance and wake it if it waits for ``type``."""

    async def logs(self, instance_id: str, after: int, limit: int) -> builtins.list[LogLine]:
        """Guest output with ids greater than ``after``."""

    async def claim(
        self, owner: str, limit: int, per_tenant: int, lease_seconds: float
    ) -> builtins.list[Claim]:
        """Lease up to ``limit`` runnable instances, fairly across tenants."""

    async def renew(
        self, owner: str, instance_ids: Sequence[str], lease_seconds: float
    ) -> set[str]:
        """Extend leases; returns the ids still held (the others were taken away)."""

    async def next_ready(self) -> float | None:
        """When the earliest unleased instance becomes runnable (or a lease expires)."""

    def listen(self, wake: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """While the block runs, call ``wake`` when another process makes work runnable."""

    async def close(self) -> None:
        """Release connections."""
