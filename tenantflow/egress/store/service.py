"""``EgressService``: the SQL-backed stores and the proxy, and the contexts runs fetch under.

One per process (the API's ``Services`` builds it). It answers two needs:

* the REST API and the CLI manage secrets, policies and rules through it
  (with the cross-checks that span stores: credential rules exist only under
  a default-deny tenant policy);
* runs get the ``fetch`` capability: :meth:`EgressService.context` builds the
  :class:`~tenantflow.egress.EgressContext` of a workflow instance or an agent
  session (tenant policy -> workflow patch -> session patch, the tenant's rules
  and secrets, the SQL audit sink), and :meth:`EgressService.run_handlers`
  gives an engine run a ``fetch`` handler for whichever instance it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.config import Settings
from tenantflow.egress.context import EgressContext
from tenantflow.egress.inject import CredentialRule
from tenantflow.egress.models import EgressLimits
from tenantflow.egress.policy import EgressPolicy, EgressPolicyPatch, effective_policy
from tenantflow.egress.proxy import EgressProxy
from tenantflow.egress.store.audit import SqlAuditLog
from tenantflow.egress.store.errors import InjectionNeedsDefaultDeny
from tenantflow.egress.store.keyring import KeyRing
from tenantflow.egress.store.policies import PolicyStore, StoredPolicy
from tenantflow.egress.store.rules import RuleStore, StoredRule
from tenantflow.egress.store.secrets import SqlSecretStore
from tenantflow.sandbox import HandlerError

Handler = Callable[..., Any]


class RunKeyLike(Protocol):
    """What :class:`tenantflow.engine.runner.RunKey` offers (egress does not import engine)."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def workflow(self) -> str: ...


class RunScopeLike(Protocol):
    """What :class:`tenantflow.engine.runner.RunScope` offers: the run and its current instance."""

    @property
    def key(self) -> RunKeyLike: ...

    @property
    def instance_id(self) -> str | None: ...


def limits_from(settings: Settings) -> EgressLimits:
    """The proxy's per-request limits from ``settings``."""
    return EgressLimits(
        max_response_bytes=settings.egress_max_response_bytes,
        max_request_bytes=settings.egress_max_request_bytes,
        timeout_s=settings.egress_timeout_seconds,
        max_timeout_s=settings.egress_max_timeout_seconds,
        connect_timeout_s=settings.egress_connect_timeout_seconds,
        max_redirects=settings.egress_max_redirects,
    )


class EgressService:
    """Secrets, policies, rules, audit and proxy of one process; ``await aclose()`` at the end."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        proxy: EgressProxy | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys or KeyRing.from_settings(settings)
        self.secrets = SqlSecretStore(
            sessions,
            self.keys,
            max_value_bytes=settings.secrets_max_value_bytes,
            max_per_tenant=settings.secrets_max_per_tenant,
        )
        self.policies = PolicyStore(sessions)
        self.rules = RuleStore(sessions, settings.egress_max_rules_per_tenant)
        self.audit = SqlAuditLog(
            sessions,
            write_behind=settings.egress_audit_write_behind,
            retention_days=settings.egress_audit_retention_days,
        )
        self._owns_proxy = proxy is None
        self._proxy = proxy

    def __repr__(self) -> str:
        return f"EgressService({self.keys!r})"

    @property
    def proxy(self) -> EgressProxy:
        """The process's proxy (made on first use: it holds connection pools)."""
        if self._proxy is None:
            self._proxy = EgressProxy(limits_from(self.settings))
        return self._proxy

    async def aclose(self) -> None:
        """Flush the audit writer; close the proxy if this service made it. Safe to call twice."""
        await self.audit.aclose()
        if self._owns_proxy and self._proxy is not None:
            await self._proxy.aclose()

    # -- management (API, CLI) --------------------------------------------------

    async def set_policy(self, tenant: str, policy: EgressPolicy) -> StoredPolicy:
        """Replace the tenant's policy; refused if it is not default-deny while rules exist."""
        if not policy.is_default_deny:
            n = await self.rules.count(tenant)
            if n:
                raise InjectionNeedsDefaultDeny(
                    f"the tenant has {n} credential rule(s) and credential injection requires "
                    "a default-deny policy; delete the rules first or keep default: deny"
                )
        return await self.policies.set_tenant(tenant, policy)

    async def put_rule(
        self, tenant: str, rule: CredentialRule, *, create_only: bool = False
    ) -> tuple[StoredRule, bool]:
        """Store a credential rule; refused unless the tenant's policy is default-deny."""
        current = await self.policies.tenant(tenant)
        if not current.policy.is_default_deny:
            raise InjectionNeedsDefaultDeny(
                "credential rules inject secrets, which requires a default-deny egress policy; "
                "set the tenant policy's default to 'deny' first"
            )
        return await self.rules.put(tenant, rule, create_only=create_only)

    async def rotate_master_key(self) -> dict[str, Any]:
        """Re-encrypt every stored secret under a new primary key.

        Key-file mode: a fresh key is added to the file, rows are re-encrypted,
        then the old keys are retired from the file. Configuration mode: rows
        are moved to the configured master key (the operator already changed it).
        """
        added = None if self.keys.from_config else self.keys.add_primary().primary
        moved = await self.secrets.reencrypt_all()
        retired = self.keys.retire_old_keys()
        return {
            "primary": self.keys.box.primary,
            "new_key": added is not None,
            "reencrypted": moved,
            "retired": retired,
            "rows_by_key": await self.secrets.count_by_key(),
        }

    # -- runs ------------------------------------------------------------------

    async def context(
        self,
        tenant: str,
        *,
        instance: str | None = None,
        session: str | None = None,
        workflow: str | None = None,
        session_patch: EgressPolicyPatch | None = None,
        limits: EgressLimits | None = None,
    ) -> EgressContext:
        """The context a run fetches under: effective policy, rules, secrets, SQL audit."""
        base = await self.policies.tenant(tenant)
        patch = await self.policies.workflow(tenant, workflow) if workflow else None
        policy = effective_policy(base.policy, patch.patch if patch else None, session_patch)
        rules = tuple(r.rule for r in await self.rules.list(tenant))
        return EgressContext(
            tenant=tenant,
            policy=policy,
            secrets=self.secrets.source(tenant),
            audit=self.audit,
            rules=rules,
            instance=instance,
            session=session,
            limits=limits,
        )

    def handlers(self, ctx: EgressContext) -> dict[str, Handler]:
        """Sandbox handlers giving a run ``fetch`` under ``ctx`` (sessions use this)."""
        return dict(self.proxy.handlers(ctx))

    def run_handlers(self, scope: RunScopeLike) -> Mapping[str, Handler]:
        """An engine ``extra_handlers`` hook: ``fetch`` for the instance the run serves now.

        The context (policy, rules) is loaded when an instance first fetches,
        so a policy change applies from the next instance a run picks up.
        """
        current: dict[str, EgressContext] = {}

        async def fetch(
            url: Any,
            method: Any = "GET",
            headers: Any = None,
            body: Any = None,
            timeout: Any = None,  # noqa: ASYNC109 (the guest's wire argument)
        ) -> dict[str, Any]:
            instance = scope.instance_id
            if instance is None:
                raise HandlerError("fetch is only available inside a workflow", type="EgressError")
            ctx = current.get(instance)
            if ctx is None:
                current.clear()  # one instance at a time per run: keep only its context
                ctx = await self.context(
                    scope.key.tenant_id, instance=instance, workflow=scope.key.workflow
                )
                current[instance] = ctx
            result: dict[str, Any] = await self.proxy.handlers(ctx)["fetch"](
                url, method, headers, body, timeout
            )
            return result

        return {"fetch": fetch}


async def egress_handlers_for_instance(
    service: EgressService, tenant: str, workflow: str, instance: str
) -> dict[str, Handler]:
    """``fetch`` for one workflow instance, for a caller without an engine run scope.

    Engine runs should prefer ``extra_handlers=service.run_handlers``, which
    follows the run from instance to instance.
    """
    return service.handlers(await service.context(tenant, instance=instance, workflow=workflow))
