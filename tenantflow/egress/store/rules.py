"""Credential rules in SQL: per tenant, by name, stored as the rule's JSON.

Whether a rule may exist at all (the tenant's policy must be default-deny)
is checked by :class:`~tenantflow.egress.store.service.EgressService`, which
sees both the rules and the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.egress import EgressRule
from tenantflow.egress.inject import CredentialRule
from tenantflow.egress.store.errors import AlreadyExists, LimitExceeded, NotFound
from tenantflow.egress.store.secrets import aware


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A credential rule with its timestamps."""

    rule: CredentialRule
    created_at: datetime
    updated_at: datetime


def _stored(row: EgressRule) -> StoredRule:
    return StoredRule(
        CredentialRule.model_validate_json(row.rule), aware(row.created_at), aware(row.updated_at)
    )


class RuleStore:
    """A tenant's credential rules: list, get, put (create or replace), delete."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_per_tenant: int = 200):
        self.sessions = sessions
        self.max_per_tenant = max_per_tenant

    async def list(self, tenant: str) -> list[StoredRule]:
        """The tenant's rules by name."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(EgressRule).where(EgressRule.tenant_id == tenant).order_by(EgressRule.name)
            )
            return [_stored(r) for r in rows]

    async def count(self, tenant: str) -> int:
        """How many rules the tenant has."""
        async with self.sessions() as session:
            n = await session.scalar(
                select(func.count()).select_from(EgressRule).where(EgressRule.tenant_id == tenant)
            )
        return int(n or 0)

    async def get(self, tenant: str, name: str) -> StoredRule:
        """One rule; :class:`NotFound` if absent."""
        async with self.sessions() as session:
            row = await session.get(EgressRule, (tenant, name))
        if row is None:
            raise NotFound(f"no credential rule named {name!r}")
        return _stored(row)

    async def put(
        self, tenant: str, rule: CredentialRule, *, create_only: bool = False
    ) -> tuple[StoredRule, bool]:
        """Store ``rule`` under its name; returns it and whether it is new.

        ``create_only`` refuses to replace an existing rule (:class:`AlreadyExists`).
        """
        now = datetime.now(UTC)
        data = rule.model_dump_json()
        try:
            async with self.sessions() as session, session.begin():
                row = await session.get(EgressRule, (tenant, rule.name), with_for_update=True)
                if row is not None:
                    if create_only:
                        raise AlreadyExists(f"a credential rule named {rule.name!r} exists")
                    row.rule, row.updated_at = data, now
                    return _stored(row), False
                count = await session.scalar(
                    select(func.count())
                    .select_from(EgressRule)
                    .where(EgressRule.tenant_id == tenant)
                )
                if (count or 0) >= self.max_per_tenant:
                    raise LimitExceeded(
                        f"a tenant may hold at most {self.max_per_tenant} credential rules",
                        quota="egress_rules",
                        limit=self.max_per_tenant,
                    )
                row = EgressRule(
                    tenant_id=tenant, name=rule.name, rule=data, created_at=now, updated_at=now
                )
                session.add(row)
        except IntegrityError:
            # Created concurrently by another request.
            raise AlreadyExists(f"a credential rule named {rule.name!r} exists") from None
        return StoredRule(rule, now, now), True

    async def delete(self, tenant: str, name: str) -> None:
        """Delete a rule; :class:`NotFound` if absent."""
        async with self.sessions() as session, session.begin():
            row = await session.get(EgressRule, (tenant, name))
            if row is None:
                raise NotFound(f"no credential rule named {name!r}")
            await session.delete(row)
