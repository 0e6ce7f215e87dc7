"""Typed errors of the workflow engine. The API maps them to problem+json in one place."""

from __future__ import annotations


class EngineError(Exception):
    """Root of every engine error; ``code`` is a stable machine-readable name."""

    code = "engine_error"


class NotFound(EngineError):
    """No instance with that id (for that tenant)."""

    code = "not_found"


class InvalidTransition(EngineError):
    """The operation is not allowed in the instance's current state."""

    code = "invalid_transition"

    def __init__(self, instance_id: str, status: str, operation: str) -> None:
        super().__init__(f"cannot {operation} instance {instance_id} in state {status!r}")
        self.instance_id = instance_id
        self.status = status
        self.operation = operation


class InvalidPayload(EngineError):
    """An event or payload is not JSON, or is over the size cap."""

    code = "invalid_payload"


class BatchTooLarge(EngineError):
    """``create_batch`` got more instances than allowed."""

    code = "batch_too_large"


class IdempotencyConflict(EngineError):
    """The idempotency key is already used by an instance of another workflow."""

    code = "idempotency_conflict"


class LeaseLost(EngineError):
    """The runner no longer owns the instance (lease expired, paused, terminated, restarted)."""

    code = "lease_lost"


class CodeNotFound(EngineError):
    """The code resolver has no bundle for (tenant, workflow, code hash)."""

    code = "code_not_found"
