"""Durable execution of tenant workflows: journal, replay, retries, hibernation.

``Engine`` is the Python API (create, status, control, events, logs); a
``Backend`` stores and schedules instances (``LocalBackend`` on SQLite or
Postgres); ``tenantflow.workers.Worker`` runs them in sandboxes.
"""

from tenantflow.engine.backend import Backend, Claim, Journal, Lease
from tenantflow.engine.engine import Engine
from tenantflow.engine.errors import (
    BatchTooLarge,
    CodeNotFound,
    EngineError,
    IdempotencyConflict,
    InvalidPayload,
    InvalidTransition,
    LeaseLost,
    NotFound,
)
from tenantflow.engine.local import LocalBackend
from tenantflow.engine.models import (
    Instance,
    InstanceDetail,
    InstanceQuery,
    InstanceStatus,
    LogLine,
    NewInstance,
    Page,
    StepRecord,
)
from tenantflow.engine.resolver import CodeResolver, DirectoryCodeResolver
from tenantflow.engine.runner import ExtraHandlers, RunKey, RunScope

__all__ = [
    "Backend",
    "BatchTooLarge",
    "Claim",
    "CodeNotFound",
    "CodeResolver",
    "DirectoryCodeResolver",
    "Engine",
    "EngineError",
    "ExtraHandlers",
    "IdempotencyConflict",
    "Instance",
    "InstanceDetail",
    "InstanceQuery",
    "InstanceStatus",
    "InvalidPayload",
    "InvalidTransition",
    "Journal",
    "Lease",
    "LeaseLost",
    "LocalBackend",
    "LogLine",
    "NewInstance",
    "NotFound",
    "Page",
    "RunKey",
    "RunScope",
    "StepRecord",
]
