"""Names are resolved once per hop by the proxy, and the connection goes to the checked
address: a resolver that changes its answer (DNS rebinding) cannot move a request."""

from __future__ import annotations

import ipaddress

import pytest

from tenantflow.egress import EgressDenied, EgressPolicy, EgressProxy, FetchRequest, UpstreamError
from tenantflow.egress.policy import IPAddress
from tests.egress.conftest import make_ctx
from tests.egress.test_proxy import echoed
from tests.egress.upstream import Upstream


class ScriptedResolver:
    """A resolver answering from a script of address lists (one per call), like a
    rebinding DNS server with a zero TTL."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [ipaddress.ip_address(a) for a in answer]


def _policy(upstream: Upstream) -> EgressPolicy:
    return EgressPolicy(
        allowed_hosts=("rebind.test",),
        schemes=("http",),
        ports=(upstream.port,),
        allowed_addresses=("127.0.0.1",),
    )


async def test_the_connection_goes_to_the_checked_address(upstream: Upstream) -> None:
    # The system resolver does not know rebind.test: the request can only succeed
    # if the proxy connects to the address it resolved and checked itself.
    resolver = ScriptedResolver(["127.0.0.1"])
    async with EgressProxy(resolver=resolver) as proxy:
        url = f"http://rebind.test:{upstream.port}/echo"
        response = await proxy.fetch(make_ctx(_policy(upstream)), FetchRequest(url))
    assert response.status == 200
    assert echoed(response.body)["host"] == f"rebind.test:{upstream.port}"
    assert resolver.calls == ["rebind.test"]  # once, by the proxy


async def test_a_rebinding_answer_is_checked_again_and_refused(upstream: Upstream) -> None:
    resolver = ScriptedResolver(["127.0.0.1"], ["10.0.0.7"])
    async with EgressProxy(resolver=resolver) as proxy:
        ctx = make_ctx(_policy(upstream))
        url = f"http://rebind.test:{upstream.port}/echo"
        assert (await proxy.fetch(ctx, FetchRequest(url))).status == 200
        with pytest.raises(EgressDenied) as err:
            await proxy.fetch(ctx, FetchRequest(url))
    assert err.value.rule == "guard.private"
    assert "10.0.0.7" in err.value.reason and "rebind.test" in err.value.reason
    assert resolver.calls == ["rebind.test", "rebind.test"]


async def test_a_mixed_answer_is_refused_not_half_trusted(upstream: Upstream) -> None:
    resolver = ScriptedResolver(["127.0.0.1", "169.254.169.254"])
    async with EgressProxy(resolver=resolver) as proxy:
        with pytest.raises(EgressDenied) as err:
            await proxy.fetch(
                make_ctx(_policy(upstream)),
                FetchRequest(f"http://rebind.test:{upstream.port}/echo"),
            )
    assert err.value.rule == "guard.metadata"


async def test_an_empty_answer_is_an_upstream_error(upstream: Upstream) -> None:
    async with EgressProxy(resolver=ScriptedResolver([])) as proxy:
        with pytest.raises(UpstreamError) as err:
            await proxy.fetch(
                make_ctx(_policy(upstream)),
                FetchRequest(f"http://rebind.test:{upstream.port}/echo"),
            )
    assert err.value.rule == "guard.dns"
