"""Where a session's egress comes from: the policy, rules, secrets and proxy it fetches under.

The API passes its :class:`~tenantflow.egress.store.EgressService` (the
tenant's stored policy, credential rules and encrypted secrets, the SQL
audit log). :class:`StaticEgress` serves embedding and tests: one policy,
rule list and secret source for every tenant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from tenantflow.egress import (
    AuditSink,
    CredentialRule,
    EgressContext,
    EgressPolicy,
    EgressPolicyPatch,
    EgressProxy,
    MemoryAuditSink,
    MemorySecretSource,
    SecretSource,
    effective_policy,
)


class EgressProvider(Protocol):
    """Builds the egress context of a session (``EgressService`` is one)."""

    @property
    def proxy(self) -> EgressProxy:
        """The process's egress proxy."""
        ...

    async def context(
        self,
        tenant: str,
        *,
        session: str | None = None,
        session_patch: EgressPolicyPatch | None = None,
    ) -> EgressContext:
        """The context for ``tenant``'s ``session`` with its policy patch applied."""
        ...


class StaticEgress:
    """The same base policy, rules and secrets for every tenant; owns its proxy unless given."""

    def __init__(
        self,
        policy: EgressPolicy | None = None,
        *,
        rules: Sequence[CredentialRule] = (),
        secrets: Mapping[str, str] | SecretSource | None = None,
        proxy: EgressProxy | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.policy = policy or EgressPolicy()
        self.rules = tuple(rules)
        if secrets is None or isinstance(secrets, Mapping):
            self.secrets: SecretSource = MemorySecretSource(secrets or {})
        else:
            self.secrets = secrets
        self._owns_proxy = proxy is None
        self._proxy = proxy or EgressProxy()
        self.audit = audit or MemoryAuditSink()

    @property
    def proxy(self) -> EgressProxy:
        """The proxy requests go through."""
        return self._proxy

    async def context(
        self,
        tenant: str,
        *,
        session: str | None = None,
        session_patch: EgressPolicyPatch | None = None,
    ) -> EgressContext:
        """The base policy with the session's patch, the rules and secrets."""
        return EgressContext(
            tenant=tenant,
            policy=effective_policy(self.policy, None, session_patch),
            secrets=self.secrets,
            audit=self.audit,
            rules=self.rules,
            session=session,
        )

    async def aclose(self) -> None:
        """Close the proxy if it is ours."""
        if self._owns_proxy:
            await self._proxy.aclose()
