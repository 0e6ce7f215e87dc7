"""The proxy end to end on the host side, against a real upstream on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time

import pytest

from tenantflow.egress import (
    BadRequest,
    CredentialRule,
    EgressContext,
    EgressDenied,
    EgressError,
    EgressLimits,
    EgressPolicy,
    EgressProxy,
    EgressTimeout,
    FetchRequest,
    InjectionRefused,
    MemorySecretSource,
    PlaceholderError,
    RequestTooLarge,
    ResponseTooLarge,
    SecretUnavailable,
    TooManyRedirects,
    UpstreamError,
)
from tests.egress.conftest import PASSWORD, SECRET, audit_of, loopback_policy, make_ctx, token_rule
from tests.egress.upstream import BINARY, Upstream


def echoed(body: bytes) -> dict[str, str]:
    """Headers the upstream received, by lower-case name (last wins)."""
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


async def test_injection_reaches_upstream_and_echo_is_redacted(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    response = await proxy.fetch(
        ctx, FetchRequest(upstream.url("/echo-raw"), headers=[("Authorization", "Bearer mine")])
    )
    # The upstream got the injected token (and only it): it echoes it back...
    assert response.status == 200
    assert b"Authorization: Bearer [REDACTED]\n" in response.body
    assert response.body.count(b"Authorization") == 1
    assert b"mine" not in response.body
    # ...in the body and in a header, both scrubbed before the caller sees them.
    assert dict(response.headers)["x-echo-auth"] == "Bearer [REDACTED]"
    assert "x-name-[REDACTED]" in dict(response.headers)
    assert all(SECRET not in k and SECRET not in v for k, v in response.headers)
    assert SECRET.encode() not in response.body
    entry = audit_of(ctx).entries[-1]
    assert entry.decision == "allowed" and entry.credential_rules == ("upstream-token",)
    assert entry.status == 200 and entry.path == "/echo-raw" and entry.tenant == "t1"


async def test_upstream_really_receives_the_secret(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    seen = await proxy.fetch(ctx, FetchRequest(upstream.url("/echo?probe=real")))
    assert echoed(seen.body)["authorization"] == "Bearer [REDACTED]"
    path, headers = upstream.seen[-1]
    assert path == "/echo?probe=real"
    assert ("Authorization", f"Bearer {SECRET}") in headers


async def test_gzip_echo_is_redacted_after_decoding(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    response = await proxy.fetch(ctx, FetchRequest(upstream.url("/echo-raw?gzip=1")))
    assert b"Authorization: Bearer [REDACTED]" in response.body
    assert "content-encoding" not in dict(response.headers)


async def test_basic_auth_and_query_rules(proxy: EgressProxy, upstream: Upstream) -> None:
    rules = (
        CredentialRule(
            name="db-basic",
            host="127.0.0.1",
            kind="basic",
            username="svc",
            secret="DB_PASSWORD",
            schemes=("http",),
        ),
        CredentialRule(
            name="q-key",
            host="127.0.0.1",
            kind="query",
            param="api_key",
            secret="API_TOKEN",
            schemes=("http",),
        ),
    )
    ctx = make_ctx(loopback_policy(upstream), rules)
    response = await proxy.fetch(ctx, FetchRequest(upstream.url("/echo?x=1&api_key=guest")))
    data = json.loads(response.body)
    assert data["query"] == "x=1&api_key=[REDACTED]"
    assert echoed(response.body)["authorization"] == "Basic [REDACTED]"
    assert PASSWORD.encode() not in response.body
    assert base64.b64encode(f"svc:{PASSWORD}".encode()) not in response.body
    assert response.url == upstream.url("/echo?x=1&api_key=guest")  # the guest's URL
    assert audit_of(ctx).entries[-1].credential_rules == ("db-basic", "q-key")


async def test_placeholder_in_header(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    response = await proxy.fetch(
        ctx, FetchRequest(upstream.url("/echo"), headers=[("X-Key", "k={{secret:API_TOKEN}}")])
    )
    assert echoed(response.body)["x-key"] == "k=[REDACTED]"


@pytest.mark.parametrize(
    ("request_", "rule"),
    [
        (
            FetchRequest("http://127.0.0.1:1/echo", headers=[("X", "{{secret:DB_PASSWORD}}")]),
            "inject.placeholder_unbound",
        ),
        (FetchRequest("http://127.0.0.1:1/?k={{secret:API_TOKEN}}"), "inject.placeholder_in_url"),
        (
            FetchRequest("http://127.0.0.1:1/", method="POST", body=b"{{secret:API_TOKEN}}"),
            "inject.placeholder_in_body",
        ),
    ],
)
async def test_placeholder_misuse_is_refused(
    proxy: EgressProxy, upstream: Upstream, request_: FetchRequest, rule: str
) -> None:
    ctx = make_ctx(loopback_policy(upstream), (token_rule(),))
    url = request_.url.replace("127.0.0.1:1", upstream.netloc)
    with pytest.raises(PlaceholderError) as err:
        await proxy.fetch(ctx, FetchRequest(url, request_.method, request_.headers, request_.body))
    assert err.value.rule == rule
    assert audit_of(ctx).entries[-1].decision == "denied"
    assert audit_of(ctx).entries[-1].rule == rule


async def test_placeholder_toward_a_host_without_rule(
    proxy: EgressProxy, upstream: Upstream
) -> None:
    # The token is bound to another host; the request to the upstream may not use it.
    ctx = make_ctx(loopback_policy(upstream), (token_rule("api.example.com"),))
    with pytest.raises(PlaceholderError) as err:
        await proxy.fetch(
            ctx, FetchRequest(upstream.url(), headers=[("X", "{{secret:API_TOKEN}}")])
        )
    assert "API_TOKEN" in err.value.reason


async def test_redirects_are_rechecked(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    ok = await proxy.fetch(ctx, FetchRequest(upstream.url("/redirect?to=/echo")))
    assert ok.status == 200 and ok.redirects == 1 and ok.url == upstream.url("/echo")
    for target, rule in [
        ("http://evil.example/", "policy.hosts"),
        ("http://localhost:1/", "policy.hosts"),
        ("http://2130706433/", "guard.ip_spelling"),
        (f"http://127.0.0.1:{upstream.port + 1 if upstream.port < 65535 else 1}/", "policy.ports"),
        ("https://127.0.0.1/", "policy.schemes"),
        ("file:///etc/passwd", "policy.schemes"),
    ]:
        with pytest.raises(EgressDenied) as err:
            await proxy.fetch(ctx, FetchRequest(upstream.url(f"/redirect?to={target}")))
        assert err.value.rule == rule, target
        assert audit_of(ctx).entries[-1].redirects == 1


async def test_redirect_from_allowed_address_to_loopback_is_refused_by_the_guard(
    proxy: EgressProxy, upstream: Upstream, upstream6: Upstream
) -> None:
    # ::1 is opened by the policy, 127.0.0.1 is a listed host but not an opened address.
    policy = EgressPolicy(
        allowed_hosts=("::1", "127.0.0.1"),
        schemes=("http",),
        ports=(upstream.port, upstream6.port),
        allowed_addresses=("::1",),
    )
    ctx = make_ctx(policy)
    first = await proxy.fetch(ctx, FetchRequest(upstream6.url("/echo")))
    assert first.status == 200
    with pytest.raises(EgressDenied) as err:
        await proxy.fetch(ctx, FetchRequest(upstream6.url(f"/redirect?to={upstream.url()}")))
    assert err.value.rule == "guard.loopback"
    assert audit_of(ctx).entries[-1].final_host == "127.0.0.1"


async def test_injected_credentials_do_not_follow_a_redirect_to_another_host(
    proxy: EgressProxy, upstream: Upstream, upstream6: Upstream
) -> None:
    policy = EgressPolicy(
        allowed_hosts=("::1", "127.0.0.1"),
        schemes=("http",),
        ports=(upstream.port, upstream6.port),
        allowed_addresses=("::1", "127.0.0.1"),
    )
    ctx = make_ctx(policy, (token_rule(),))
    response = await proxy.fetch(
        ctx,
        FetchRequest(
            upstream.url(f"/redirect?to={upstream6.url()}"),
            headers=[("Authorization", "guest-own"), ("X-Trace", "1")],
        ),
    )
    headers = echoed(response.body)
    assert "authorization" not in headers  # neither the injected nor the guest's own
    assert headers["x-trace"] == "1" and headers["host"] == upstream6.netloc


async def test_redirect_location_carrying_a_secret_is_scrubbed_before_following(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    # An upstream that redirects to a URL holding the secret (simulated here by
    # a guest-written Location) must not make the proxy send the secret on.
    response = await proxy.fetch(
        ctx, FetchRequest(upstream.url(f"/redirect?to=/echo-query%3Fleak%3D{SECRET}"))
    )
    assert response.status == 200
    path, _ = upstream.seen[-1]
    assert path.startswith("/echo-query?leak=") and SECRET not in path
    assert "REDACTED" in path


async def test_host_header_and_hop_by_hop_headers_from_the_guest_are_dropped(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    response = await proxy.fetch(
        ctx,
        FetchRequest(
            upstream.url("/echo"),
            headers=[
                ("Host", "internal.example"),
                ("Connection", "close"),
                ("Transfer-Encoding", "chunked"),
                ("Accept-Encoding", "br"),
                ("Proxy-Authorization", "x"),
            ],
        ),
    )
    headers = echoed(response.body)
    assert headers["host"] == upstream.netloc
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "proxy-authorization" not in headers and "transfer-encoding" not in headers


async def test_name_is_resolved_by_the_proxy_and_sent_as_host(
    proxy: EgressProxy, upstream: Upstream
) -> None:
    policy = EgressPolicy(
        allowed_hosts=("localhost",),
        schemes=("http",),
        ports=(upstream.port,),
        allowed_addresses=("127.0.0.1",),
    )
    response = await proxy.fetch(
        make_ctx(policy), FetchRequest(f"http://localhost:{upstream.port}/echo")
    )
    assert echoed(response.body)["host"] == f"localhost:{upstream.port}"
    # Without the address opened, the same name is refused after resolution.
    closed = make_ctx(
        EgressPolicy(allowed_hosts=("localhost",), schemes=("http",), ports=(upstream.port,))
    )
    with pytest.raises(EgressDenied) as err:
        await proxy.fetch(closed, FetchRequest(f"http://localhost:{upstream.port}/echo"))
    assert err.value.rule == "guard.loopback"


async def test_binary_bodies_and_methods(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    assert (await proxy.fetch(ctx, FetchRequest(upstream.url("/binary")))).body == BINARY
    payload = bytes(range(256))
    response = await proxy.fetch(ctx, FetchRequest(upstream.url("/echo"), "put", body=payload))
    data = json.loads(response.body)
    assert data["method"] == "PUT" and base64.b64decode(data["body"]) == payload
    assert audit_of(ctx).entries[-1].request_bytes == 256
    head = await proxy.fetch(ctx, FetchRequest(upstream.url("/echo"), "HEAD"))
    assert head.status == 200 and head.body == b""


async def test_limits(proxy: EgressProxy, ctx: EgressContext, upstream: Upstream) -> None:
    cap = proxy.limits.max_response_bytes
    ok = await proxy.fetch(ctx, FetchRequest(upstream.url(f"/big?n={cap}")))
    assert len(ok.body) == cap
    with pytest.raises(ResponseTooLarge):
        await proxy.fetch(ctx, FetchRequest(upstream.url(f"/big?n={cap + 1}")))
    with pytest.raises(TooManyRedirects):
        await proxy.fetch(ctx, FetchRequest(upstream.url("/loop")))
    assert audit_of(ctx).entries[-1].redirects == proxy.limits.max_redirects
    with pytest.raises(EgressTimeout):
        await proxy.fetch(ctx, FetchRequest(upstream.url("/slow?s=1.5"), timeout=0.3))
    with pytest.raises(RequestTooLarge):
        small = make_ctx(loopback_policy(upstream), limits=EgressLimits(max_request_bytes=10))
        await proxy.fetch(small, FetchRequest(upstream.url(), "POST", body=b"x" * 11))
    entry = audit_of(ctx).entries[-1]
    assert entry.decision == "error" and entry.rule == "limits.timeout"


async def test_context_deadline_caps_the_timeout(proxy: EgressProxy, upstream: Upstream) -> None:
    ctx = make_ctx(loopback_policy(upstream))
    ctx.deadline = time.monotonic() + 0.3
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        await proxy.fetch(ctx, FetchRequest(upstream.url("/slow?s=1.5"), timeout=10))
    assert time.monotonic() - started < 1.2
    ctx.deadline = time.monotonic() - 1
    with pytest.raises(EgressTimeout):
        await proxy.fetch(ctx, FetchRequest(upstream.url("/echo")))


async def test_undecodable_encoding_is_refused(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    # Redaction cannot see inside an encoding it cannot decode.
    with pytest.raises(UpstreamError) as err:
        await proxy.fetch(ctx, FetchRequest(upstream.url("/brotli")))
    assert err.value.rule == "upstream.encoding"


async def test_injection_refused_under_allow_all_policy(
    proxy: EgressProxy, upstream: Upstream
) -> None:
    open_policy = EgressPolicy(
        default="allow", schemes=("http",), ports=(upstream.port,), allowed_addresses=("127.0.0.1",)
    )
    ctx = make_ctx(open_policy, (token_rule(),))
    with pytest.raises(InjectionRefused):
        await proxy.fetch(ctx, FetchRequest(upstream.url()))
    plain = await proxy.fetch(make_ctx(open_policy), FetchRequest(upstream.url()))
    assert plain.status == 200


async def test_bad_requests_and_missing_secret(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    for url in ("not a url", "http://user:pw@127.0.0.1/", "http:///nohost"):
        with pytest.raises(EgressError):
            await proxy.fetch(ctx, FetchRequest(url))
    with pytest.raises(BadRequest):
        await proxy.fetch(ctx, FetchRequest(upstream.url(), headers=[("X", "a\r\nB: c")]))
    with pytest.raises(BadRequest):
        await proxy.fetch(ctx, FetchRequest(upstream.url(), method="GE T"))
    with pytest.raises(BadRequest):
        await proxy.fetch(ctx, FetchRequest(upstream.url(), headers=[("X", "é")]))
    non_ascii = make_ctx(loopback_policy(upstream), (token_rule(),))
    non_ascii.secrets = MemorySecretSource({"API_TOKEN": "tökén"})
    with pytest.raises(BadRequest) as err:
        await proxy.fetch(non_ascii, FetchRequest(upstream.url()))
    assert err.value.rule == "inject.value" and "tökén" not in str(err.value)
    missing = make_ctx(
        loopback_policy(upstream),
        (CredentialRule(name="m", host="127.0.0.1", secret="NOPE", schemes=("http",)),),
    )
    with pytest.raises(SecretUnavailable):
        await proxy.fetch(missing, FetchRequest(upstream.url()))
    with pytest.raises(UpstreamError):
        closed_port = EgressPolicy(
            allowed_hosts=("127.0.0.1",),
            schemes=("http",),
            ports=(1,),
            allowed_addresses=("127.0.0.1",),
        )
        await proxy.fetch(make_ctx(closed_port), FetchRequest("http://127.0.0.1:1/"))


async def test_audit_and_logs_never_hold_secret_values(
    proxy: EgressProxy, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rules = (
        token_rule(),
        CredentialRule(
            name="b",
            host="127.0.0.1",
            kind="basic",
            username="u",
            secret="DB_PASSWORD",
            schemes=("http",),
        ),
    )
    ctx = make_ctx(loopback_policy(upstream), rules)
    await proxy.fetch(ctx, FetchRequest(upstream.url("/echo-raw?a=1")))
    for request in (
        FetchRequest(upstream.url("/loop")),
        FetchRequest(upstream.url("/redirect?to=http://evil.example/")),
    ):
        with pytest.raises(EgressError):
            await proxy.fetch(ctx, request)
    dumped = "".join(e.model_dump_json() for e in audit_of(ctx).entries)
    assert len(audit_of(ctx).entries) == 3
    for value in (SECRET, PASSWORD, base64.b64encode(f"u:{PASSWORD}".encode()).decode()):
        assert value not in dumped
        assert value not in caplog.text
        assert value not in repr(ctx)


async def test_head_of_a_large_resource_is_not_refused(
    proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    big = proxy.limits.max_response_bytes * 4
    head = await proxy.fetch(ctx, FetchRequest(upstream.url(f"/big?n={big}"), "HEAD"))
    assert head.status == 200 and head.body == b""


async def test_a_cancelled_request_is_audited(proxy: EgressProxy, upstream: Upstream) -> None:
    ctx = make_ctx(loopback_policy(upstream))
    task = asyncio.ensure_future(proxy.fetch(ctx, FetchRequest(upstream.url("/slow?s=1"))))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    entry = audit_of(ctx).entries[-1]
    assert entry.decision == "error" and entry.rule == "cancelled"
