"""What the engine's Python API returns: plain typed records, no ORM objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class InstanceStatus(StrEnum):
    """States of a workflow instance."""

    QUEUED = "queued"
    RUNNING = "running"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPLETE = "complete"
    ERRORED = "errored"
    TERMINATED = "terminated"

    @property
    def terminal(self) -> bool:
        """Whether the instance will never run again (unless restarted)."""
        return self in (InstanceStatus.COMPLETE, InstanceStatus.ERRORED, InstanceStatus.TERMINATED)


def to_datetime(value: float | None) -> datetime | None:
    """A UTC datetime from stored epoch seconds."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def from_json(text: str | None) -> Any:
    """A stored JSON text as a value (``None`` stays ``None``)."""
    return None if text is None else json.loads(text)


@dataclass(frozen=True, slots=True)
class NewInstance:
    """One instance to create. ``event`` must be JSON (capped by ``engine_max_payload_bytes``)."""

    tenant_id: str
    workflow: str
    code_hash: str
    event: Any = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    """An instance as stored. ``output`` is set when complete, ``error`` when errored."""

    id: str
    tenant_id: str
    workflow: str
    code_hash: str
    status: InstanceStatus
    event: Any
    output: Any
    error: dict[str, Any] | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    wake_at: datetime | None
    waiting_for: str | None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One entry of the step timeline. ``kind``: ``do``, ``sleep`` or ``wait``.

    ``status``: ``complete``, ``failed``, ``retrying`` (an attempt failed, the
    next is scheduled at ``wake_at``), ``sleeping`` or ``waiting``.
    """

    seq: int
    name: str
    kind: str
    status: str
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    wake_at: datetime | None
    output: Any
    error: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class InstanceDetail:
    """An instance with its step timeline (``Engine.status``)."""

    instance: Instance
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogLine:
    """Guest output. ``step`` is the step that was running (``None``: between steps)."""

    id: int
    instance_id: str
    seq: int | None
    step: str | None
    stream: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InstanceQuery:
    """Filters of ``Engine.list``; ``cursor`` is the ``next_cursor`` of the previous page."""

    tenant_id: str | None = None
    workflow: str | None = None
    status: InstanceStatus | None = None
    code_hash: str | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Page:
    """One page of instances, newest first; ``next_cursor`` is ``None`` on the last page."""

    items: list[Instance]
    next_cursor: str | None
