"""Egress policies in SQL: one per tenant, and a patch per workflow that needs to differ.

A tenant that never set a policy gets :class:`EgressPolicy()` (default deny,
nothing allowed). Rows hold the policy's JSON; they are validated again when
read, so a policy written by an older version still passes today's checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.egress import EgressTenantPolicy, EgressWorkflowPolicy
from tenantflow.egress.policy import EgressPolicy, EgressPolicyPatch
from tenantflow.egress.store.errors import NotFound
from tenantflow.egress.store.secrets import aware


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A tenant's policy; ``updated_at`` is None while the default applies."""

    policy: EgressPolicy
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredPatch:
    """A workflow's patch over its tenant's policy."""

    workflow: str
    patch: EgressPolicyPatch
    updated_at: datetime


def _patch(row: EgressWorkflowPolicy) -> StoredPatch:
    return StoredPatch(
        row.workflow, EgressPolicyPatch.model_validate_json(row.patch), aware(row.updated_at)
    )


class PolicyStore:
    """Reads and writes tenant policies and workflow patches."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def tenant(self, tenant: str) -> StoredPolicy:
        """The tenant's policy (the default-deny policy if none was set)."""
        async with self.sessions() as session:
            row = await session.get(EgressTenantPolicy, tenant)
        if row is None:
            return StoredPolicy(EgressPolicy(), None)
        return StoredPolicy(EgressPolicy.model_validate_json(row.policy), aware(row.updated_at))

    async def set_tenant(self, tenant: str, policy: EgressPolicy) -> StoredPolicy:
        """Replace the tenant's policy."""
        now = datetime.now(UTC)
        data = policy.model_dump_json()
        for attempt in range(2):
            try:
                async with self.sessions() as session, session.begin():
                    row = await session.get(EgressTenantPolicy, tenant, with_for_update=True)
                    if row is None:
                        session.add(
                            EgressTenantPolicy(tenant_id=tenant, policy=data, updated_at=now)
                        )
                    else:
                        row.policy, row.updated_at = data, now
                break
            except IntegrityError:
                if attempt:
                    raise
        return StoredPolicy(policy, now)

    async def workflow(self, tenant: str, workflow: str) -> StoredPatch | None:
        """The workflow's patch, or None if it inherits the tenant's policy unchanged."""
        async with self.sessions() as session:
            row = await session.get(EgressWorkflowPolicy, (tenant, workflow))
        return None if row is None else _patch(row)

    async def workflows(self, tenant: str) -> list[StoredPatch]:
        """Every workflow patch of the tenant, by workflow name."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(EgressWorkflowPolicy)
                .where(EgressWorkflowPolicy.tenant_id == tenant)
                .order_by(EgressWorkflowPolicy.workflow)
            )
            return [_patch(r) for r in rows]

    async def set_workflow(
        self, tenant: str, workflow: str, patch: EgressPolicyPatch
    ) -> tuple[StoredPatch, bool]:
        """Replace the workflow's patch; returns it and whether it is new."""
        now = datetime.now(UTC)
        data = patch.model_dump_json(exclude_unset=True)
        for attempt in range(2):
            try:
                async with self.sessions() as session, session.begin():
                    row = await session.get(
                        EgressWorkflowPolicy, (tenant, workflow), with_for_update=True
                    )
                    created = row is None
                    if row is None:
                        session.add(
                            EgressWorkflowPolicy(
                                tenant_id=tenant, workflow=workflow, patch=data, updated_at=now
                            )
                        )
                    else:
                        row.patch, row.updated_at = data, now
                return StoredPatch(workflow, patch, now), created
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def delete_workflow(self, tenant: str, workflow: str) -> None:
        """Drop the workflow's patch (it inherits the tenant's policy again)."""
        async with self.sessions() as session, session.begin():
            row = await session.get(EgressWorkflowPolicy, (tenant, workflow))
            if row is None:
                raise NotFound(f"workflow {workflow!r} has no egress policy override")
            await session.delete(row)
