"""Engine records -> instance wire models."""

from __future__ import annotations

from typing import Any

from tenantflow.api.convert import aware
from tenantflow.api.models import instances as wire
from tenantflow.engine import Instance, InstanceDetail, LogLine, StepRecord

__all__ = ["aware", "detail", "instance", "log_line", "step"]


def _fields(item: Instance) -> dict[str, Any]:
    return {
        "id": item.id,
        "workflow": item.workflow,
        "code_hash": item.code_hash,
        "status": wire.Status(item.status.value),
        "event": item.event,
        "output": item.output,
        "error": item.error,
        "idempotency_key": item.idempotency_key,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "started_at": item.started_at,
        "ended_at": item.ended_at,
        "wake_at": item.wake_at,
        "waiting_for": item.waiting_for,
    }


def instance(item: Instance) -> wire.Instance:
    """An instance (no timeline)."""
    return wire.Instance.model_construct(**_fields(item))


def step(record: StepRecord) -> wire.Step:
    """One timeline entry."""
    return wire.Step(
        seq=record.seq,
        name=record.name,
        kind=record.kind,
        status=record.status,
        attempts=record.attempts,
        started_at=record.started_at,
        ended_at=record.ended_at,
        wake_at=record.wake_at,
        output=record.output,
        error=record.error,
    )


def detail(item: InstanceDetail) -> wire.InstanceDetail:
    """An instance with its step timeline."""
    return wire.InstanceDetail(
        **_fields(item.instance),
        steps=[step(s) for s in item.steps],
    )


def log_line(line: LogLine) -> wire.LogLine:
    """One line of guest output."""
    return wire.LogLine(
        id=line.id,
        seq=line.seq,
        step=line.step,
        stream=line.stream,
        text=line.text,
        created_at=line.created_at,
    )
