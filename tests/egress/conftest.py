"""Egress fixtures: real upstreams on loopback, a proxy, and the test policy.

The test policy allows exactly the upstream's address (127.0.0.1) and port,
over plain http; the credential rule binds API_TOKEN to that host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tenantflow.egress import (
    CredentialRule,
    EgressContext,
    EgressLimits,
    EgressPolicy,
    EgressProxy,
    MemoryAuditSink,
    MemorySecretSource,
)
from tests.egress.upstream import Upstream

SECRET = "s3cr3t-T0ken-9f8e7d6c5b4a"
PASSWORD = "pa55-w0rd-Zq1xY2"


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The upstream on 127.0.0.1."""
    server = Upstream("127.0.0.1")
    yield server
    server.close()


@pytest.fixture(scope="session")
def upstream6() -> Iterator[Upstream]:
    """A second upstream on ::1 (for redirects from an allowed to a refused address)."""
    server = Upstream("::1")
    yield server
    server.close()


@pytest.fixture(scope="session")
async def proxy() -> AsyncIterator[EgressProxy]:
    """One proxy for the session with small limits, so limit tests stay fast."""
    limits = EgressLimits(max_response_bytes=256 * 1024, timeout_s=5.0, max_redirects=3)
    async with EgressProxy(limits) as p:
        yield p


def loopback_policy(upstream: Upstream) -> EgressPolicy:
    """Default deny; exactly the upstream's address, port and scheme."""
    return EgressPolicy(
        allowed_hosts=("127.0.0.1",),
        schemes=("http",),
        ports=(upstream.port,),
        allowed_addresses=("127.0.0.1",),
    )


def token_rule(host: str = "127.0.0.1") -> CredentialRule:
    """Injects ``Authorization: Bearer <API_TOKEN>`` toward ``host`` over http."""
    return CredentialRule(name="upstream-token", host=host, secret="API_TOKEN", schemes=("http",))


def make_ctx(
    policy: EgressPolicy,
    rules: tuple[CredentialRule, ...] = (),
    limits: EgressLimits | None = None,
) -> EgressContext:
    """A context with the test secrets and a fresh in-memory audit sink."""
    return EgressContext(
        tenant="t1",
        instance="inst-1",
        policy=policy,
        rules=rules,
        secrets=MemorySecretSource({"API_TOKEN": SECRET, "DB_PASSWORD": PASSWORD}),
        audit=MemoryAuditSink(),
        limits=limits,
    )


@pytest.fixture
def ctx(upstream: Upstream) -> EgressContext:
    """The test policy with the token rule."""
    return make_ctx(loopback_policy(upstream), (token_rule(),))


def audit_of(ctx: EgressContext) -> MemoryAuditSink:
    """The context's in-memory audit sink."""
    assert isinstance(ctx.audit, MemoryAuditSink)
    return ctx.audit
