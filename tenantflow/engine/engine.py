"""The engine's Python API: create, inspect and control workflow instances.

The REST API and the CLI call this; it validates input and delegates
storage to a :class:`~tenantflow.engine.backend.Backend`. Every read and
operation takes an optional ``tenant_id``: when given, an instance of another
tenant is reported as :class:`NotFound`.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Sequence
from typing import Any

from tenantflow.config import Settings
from tenantflow.engine.backend import Backend
from tenantflow.engine.errors import BatchTooLarge, InvalidPayload, NotFound
from tenantflow.engine.models import (
    Instance,
    InstanceDetail,
    InstanceQuery,
    LogLine,
    NewInstance,
    Page,
)


def encode_payload(value: Any, limit: int, what: str) -> str:
    """``value`` as compact JSON text, or :class:`InvalidPayload`."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} is not JSON: {exc}") from None
    size = len(text.encode())
    if size > limit:
        raise InvalidPayload(f"{what} is {size} bytes, over the cap of {limit} bytes")
    return text


class Engine:
    """Workflow instances: create, status, list, pause/resume/terminate/restart, events, logs."""

    def __init__(
        self, backend: Backend, settings: Settings, *, notify: Callable[[], None] | None = None
    ) -> None:
        self.backend = backend
        self.settings = settings
        self._notify = notify

    @classmethod
    async def open(cls, settings: Settings, database_url: str | None = None) -> Engine:
        """An engine on the local backend at ``database_url`` (default: the settings')."""
        from tenantflow.engine.local import LocalBackend

        backend = await LocalBackend.open(database_url or settings.resolved_database_url)
        return cls(backend, settings)

    def set_notify(self, notify: Callable[[], None] | None) -> None:
        """Call ``notify`` after writes that make work runnable (an embedded worker's)."""
        self._notify = notify

    async def close(self) -> None:
        """Close the backend."""
        await self.backend.close()

    def _wake(self) -> None:
        if self._notify is not None:
            self._notify()

    async def _owned(self, instance_id: str, tenant_id: str | None) -> Instance:
        instance = await self.backend.get(instance_id)
        if tenant_id is not None and instance.tenant_id != tenant_id:
            raise NotFound(f"no workflow instance {instance_id!r}")
        return instance

    # -- create --------------------------------------------------------------------

    async def create(
        self,
        tenant_id: str,
        workflow: str,
        code_hash: str,
        event: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> Instance:
        """Queue a new instance; with ``idempotency_key`` a repeat returns the first one."""
        item = NewInstance(tenant_id, workflow, code_hash, event, idempotency_key)
        return (await self.create_batch([item]))[0]

    async def create_batch(self, items: Sequence[NewInstance]) -> builtins.list[Instance]:
        """Queue up to ``engine_batch_max`` (100) instances in one transaction, in order."""
        if len(items) > self.settings.engine_batch_max:
            raise BatchTooLarge(
                f"{len(items)} instances in one batch; the most is {self.settings.engine_batch_max}"
            )
        if not items:
            return []
        limit = self.settings.engine_max_payload_bytes
        for index, item in enumerate(items):
            encode_payload(item.event, limit, f"event of instance {index}")
        created = await self.backend.create(items, limit)
        self._wake()
        return created

    # -- read ----------------------------------------------------------------------

    async def get(self, instance_id: str, *, tenant_id: str | None = None) -> Instance:
        """One instance (raises :class:`NotFound`)."""
        return await self._owned(instance_id, tenant_id)

    async def status(self, instance_id: str, *, tenant_id: str | None = None) -> InstanceDetail:
        """An instance with its step timeline."""
        instance = await self._owned(instance_id, tenant_id)
        return InstanceDetail(instance, await self.backend.steps(instance_id))

    async def list(self, query: InstanceQuery | None = None) -> Page:
        """Instances matching ``query`` (filters and cursor), newest first."""
        query = query or InstanceQuery()
        if not 1 <= query.limit <= 1000:
            raise ValueError("limit must be between 1 and 1000")
        return await self.backend.list(query)

    async def logs(
        self, instance_id: str, *, tenant_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> builtins.list[LogLine]:
        """Guest stdout/stderr of an instance, per step, after log id ``after``."""
        await self._owned(instance_id, tenant_id)
        return await self.backend.logs(instance_id, after, limit)

    # -- control -------------------------------------------------------------------

    async def _control(self, instance_id: str, tenant_id: str | None, operation: str) -> Instance:
        await self._owned(instance_id, tenant_id)
        instance = await self.backend.control(instance_id, operation)
        self._wake()
        return instance

    async def pause(self, instance_id: str, *, tenant_id: str | None = None) -> Instance:
        """Pause a live instance; a running step is interrupted and re-runs on resume."""
        return await self._control(instance_id, tenant_id, "pause")

    async def resume(self, instance_id: str, *, tenant_id: str | None = None) -> Instance:
        """Resume a paused instance (it replays and continues)."""
        return await self._control(instance_id, tenant_id, "resume")

    async def terminate(self, instance_id: str, *, tenant_id: str | None = None) -> Instance:
        """End a live or paused instance now, even one stuck running on a dead worker."""
        return await self._control(instance_id, tenant_id, "terminate")

    async def restart(self, instance_id: str, *, tenant_id: str | None = None) -> Instance:
        """Start an instance over from its first step (journal and logs cleared)."""
        return await self._control(instance_id, tenant_id, "restart")

    async def send_event(
        self, instance_id: str, type: str, payload: Any = None, *, tenant_id: str | None = None
    ) -> None:
        """Deliver an event; kept until a ``wait_for_event`` of ``type`` consumes it."""
        if not type:
            raise InvalidPayload("an event needs a type")
        text = encode_payload(payload, self.settings.engine_max_payload_bytes, "event payload")
        await self._owned(instance_id, tenant_id)
        await self.backend.send_event(instance_id, type, text)
        self._wake()
