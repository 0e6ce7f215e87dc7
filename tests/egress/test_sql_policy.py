"""SQL policies, workflow overrides and credential rules, and the context a run gets from them."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.egress import CredentialRule, EgressPolicy, EgressPolicyPatch
from tenantflow.egress.store import (
    AlreadyExists,
    EgressService,
    InjectionNeedsDefaultDeny,
    LimitExceeded,
    NotFound,
)
from tests.egress.sql_support import Db, db, service

__all__ = ["db", "service"]

RULE = CredentialRule(name="gh", host="api.github.com", secret="GH_TOKEN")


async def test_tenant_policy_defaults_to_deny_everything_then_is_stored(
    service: EgressService,
) -> None:
    default = await service.policies.tenant("t1")
    assert default.updated_at is None and default.policy == EgressPolicy()
    assert default.policy.is_default_deny and default.policy.allowed_hosts == ()
    policy = EgressPolicy(allowed_hosts=("api.github.com", "*.example.com"), ports=(443, 8443))
    stored = await service.set_policy("t1", policy)
    assert stored.updated_at is not None
    assert (await service.policies.tenant("t1")).policy == policy
    assert (await service.policies.tenant("t2")).policy == EgressPolicy()  # per tenant


async def test_workflow_override_and_effective_context(service: EgressService) -> None:
    await service.set_policy("t1", EgressPolicy(allowed_hosts=("a.example.com",)))
    assert await service.policies.workflow("t1", "sync") is None
    patch = EgressPolicyPatch(add_hosts=("b.example.com",), methods=("GET",))
    _, created = await service.policies.set_workflow("t1", "sync", patch)
    assert created
    _, created = await service.policies.set_workflow("t1", "sync", patch)
    assert not created
    assert [p.workflow for p in await service.policies.workflows("t1")] == ["sync"]
    assert await service.policies.workflows("t2") == []
    # Tenant policy -> workflow patch -> session patch.
    ctx = await service.context(
        "t1",
        instance="i-1",
        workflow="sync",
        session_patch=EgressPolicyPatch(add_hosts=("c.example.com",)),
    )
    assert ctx.policy.allowed_hosts == ("a.example.com", "b.example.com", "c.example.com")
    assert ctx.policy.methods == ("GET",) and ctx.instance == "i-1" and ctx.tenant == "t1"
    other = await service.context("t1", workflow="other")
    assert other.policy.allowed_hosts == ("a.example.com",)
    await service.policies.delete_workflow("t1", "sync")
    with pytest.raises(NotFound):
        await service.policies.delete_workflow("t1", "sync")


async def test_rules_crud_and_context(service: EgressService) -> None:
    stored, created = await service.put_rule("t1", RULE)
    assert created and stored.rule == RULE
    with pytest.raises(AlreadyExists):
        await service.put_rule("t1", RULE, create_only=True)
    basic = CredentialRule(name="db", host="*.db.example.com", secret="PW", kind="basic")
    await service.put_rule("t1", basic)
    changed = RULE.model_copy(update={"template": "token {secret}"})
    replaced, created = await service.put_rule("t1", changed)
    assert not created and replaced.rule.template == "token {secret}"
    assert replaced.created_at == stored.created_at
    assert [r.rule.name for r in await service.rules.list("t1")] == ["db", "gh"]
    assert await service.rules.list("t2") == []
    with pytest.raises(NotFound):
        await service.rules.get("t2", "gh")
    ctx = await service.context("t1", session="s-1")
    assert [r.name for r in ctx.rules] == ["db", "gh"] and ctx.session == "s-1"
    await service.rules.delete("t1", "db")
    with pytest.raises(NotFound):
        await service.rules.delete("t1", "db")
    assert (await service.rules.get("t1", "gh")).rule == changed


async def test_injection_requires_a_default_deny_policy(service: EgressService) -> None:
    open_policy = EgressPolicy(default="allow")
    await service.set_policy("t1", open_policy)
    with pytest.raises(InjectionNeedsDefaultDeny) as refused:
        await service.put_rule("t1", RULE)
    assert "default" in str(refused.value)
    assert await service.rules.list("t1") == []
    # The other way round: with rules, the policy cannot be opened.
    await service.set_policy("t2", EgressPolicy())
    await service.put_rule("t2", RULE)
    with pytest.raises(InjectionNeedsDefaultDeny):
        await service.set_policy("t2", open_policy)
    assert (await service.policies.tenant("t2")).policy.is_default_deny


async def test_rule_limit(db: object, service: EgressService) -> None:
    service.rules.max_per_tenant = 1
    await service.put_rule("t1", RULE)
    with pytest.raises(LimitExceeded) as full:
        await service.put_rule("t1", RULE.model_copy(update={"name": "second"}))
    assert full.value.quota == "egress_rules"
    await service.put_rule("t1", RULE)  # replacing is fine


async def test_migration_matches_the_models_and_downgrades(db: Db) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    import tenantflow.db.models  # noqa: F401  (every table on the metadata)
    from tenantflow.db.base import Base
    from tenantflow.db.session import migrate

    def diff(conn: Any) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if "egress" in repr(d)]

    def tables(conn: Any) -> set[str]:
        return {t for t in inspect(conn).get_table_names() if t.startswith("egress")}

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert await conn.run_sync(tables) == {
            "egress_secrets", "egress_policies", "egress_workflow_policies", "egress_rules",
            "egress_audit",
        }  # fmt: skip
    url = db.engine.url.render_as_string(hide_password=False)
    await downgrade(url, "0003_sessions")
    async with db.engine.connect() as conn:
        assert await conn.run_sync(tables) == set()
    await migrate(url)


async def downgrade(url: str, revision: str) -> None:
    """Alembic downgrade to ``revision``."""
    import asyncio

    from alembic import command

    from tenantflow.db.session import _alembic_config

    await asyncio.to_thread(command.downgrade, _alembic_config(url), revision)
