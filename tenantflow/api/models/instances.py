"""Wire models of workflow instances, their steps, events and logs."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from tenantflow.api.models.common import WireModel

MAX_PAYLOAD_BYTES = 1024 * 1024
"""Largest event payload (JSON), as in the engine."""


def _capped(value: Any) -> Any:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload is {size} bytes of JSON; at most {MAX_PAYLOAD_BYTES}")
    return value


class Status(StrEnum):
    """Instance states."""

    queued = "queued"
    running = "running"
    sleeping = "sleeping"
    waiting = "waiting"
    paused = "paused"
    complete = "complete"
    errored = "errored"
    terminated = "terminated"


class InstanceCreate(WireModel):
    """One instance to start. The same ``idempotency_key`` again returns the same instance."""

    event: Any = Field(None, description="JSON passed to run(event, step); at most 1 MiB.")
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    version: str = Field(
        "latest",
        pattern=r"^(latest|[0-9]{1,9}|[0-9a-f]{64})$",
        description="Version to pin: 'latest', a number or a SHA-256.",
    )

    _cap = field_validator("event")(_capped)


class InstanceBatchCreate(WireModel):
    """Up to 100 instances of one workflow, created together."""

    instances: list[InstanceCreate] = Field(min_length=1, max_length=100)


class EventSend(WireModel):
    """An event for ``step.wait_for_event(type=...)``; kept until a wait consumes it."""

    type: str = Field(min_length=1, max_length=200)
    payload: Any = Field(None, description="JSON; at most 1 MiB.")

    _cap = field_validator("payload")(_capped)


class Instance(WireModel):
    """An instance. ``code_hash`` is the pinned version's SHA-256."""

    id: str
    workflow: str
    code_hash: str
    status: Status
    event: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    idempotency_key: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wake_at: datetime | None = Field(None, description="When a sleep or retry wait ends.")
    waiting_for: str | None = Field(None, description="Event type a wait expects.")


class Step(WireModel):
    """One entry of the step timeline (kind: do, sleep or wait)."""

    seq: int
    name: str
    kind: str
    status: str
    attempts: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wake_at: datetime | None = None
    output: Any = None
    error: dict[str, Any] | None = None


class InstanceDetail(Instance):
    """An instance with its step timeline."""

    steps: list[Step] = Field(default_factory=list)


class InstanceList(WireModel):
    """A page of instances, newest first; pass ``next_cursor`` as ``cursor`` for more."""

    items: list[Instance]
    next_cursor: str | None = None


class InstanceBatch(WireModel):
    """Instances created (or found by idempotency key) by a batch, in request order."""

    items: list[Instance]


class EventAccepted(WireModel):
    """The event is stored; a waiting instance was woken."""

    instance_id: str
    type: str
    accepted: bool = True


class LogLine(WireModel):
    """Guest output, attributed to the step that was running (``step`` null: between steps)."""

    id: int
    seq: int | None = None
    step: str | None = None
    stream: str
    text: str
    created_at: datetime


class LogList(WireModel):
    """Log lines after ``after``; pass ``next_after`` back for more."""

    items: list[LogLine]
    next_after: int | None = None
