"""Guest code in a real sandbox calling ``tenantflow.guest.fetch`` through the proxy."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tenantflow.egress import EgressContext, EgressPolicy, EgressProxy
from tenantflow.sandbox import RunResult, Sandbox
from tests.egress.conftest import SECRET, audit_of, loopback_policy, make_ctx, token_rule
from tests.egress.upstream import BINARY, Upstream

POOL = "egress-tests"


async def run(sandbox: Sandbox, proxy: EgressProxy, ctx: EgressContext, code: str) -> RunResult:
    """Run ``code`` with the fetch capability of ``ctx``; the run must succeed."""
    result = await sandbox.run(code, handlers=proxy.handlers(ctx), pool_key=POOL)
    assert result.ok, (result.error, result.stderr)
    return result


def assert_secret_absent(result: RunResult, ctx: EgressContext) -> None:
    """The secret (and its base64) is nowhere the guest or an operator can read it."""
    places = [
        result.stdout,
        result.stderr,
        json.dumps(result.value),
        "".join(e.model_dump_json() for e in audit_of(ctx).entries),
    ]
    for needle in (SECRET, base64.b64encode(SECRET.encode()).decode()):
        for place in places:
            assert needle not in place


async def test_injection_reaches_upstream_and_guest_never_sees_the_secret(
    sandbox: Sandbox, proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    code = f"""
from tenantflow.guest import fetch
r = fetch({upstream.url("/echo")!r}, headers={{"authorization": "Bearer guest-guess"}})
data = r.json()
print(r.status, r.text())
raw = fetch({upstream.url("/echo-raw?gzip=1")!r})
print(raw.text(), raw.headers.items())
__result__ = {{"status": r.status, "echo": data, "raw": raw.text(),
              "echo_auth": raw.headers.get("X-Echo-Auth")}}
"""
    result = await run(sandbox, proxy, ctx, code)
    value: dict[str, Any] = result.value
    assert value["status"] == 200
    auth = [v for k, v in value["echo"]["headers"] if k.lower() == "authorization"]
    assert auth == ["Bearer [REDACTED]"]  # one Authorization: the injected one, scrubbed
    assert "Authorization: Bearer [REDACTED]" in value["raw"]
    assert value["echo_auth"] == "Bearer [REDACTED]"
    # The upstream really received the secret, and only the injected header.
    _, headers = upstream.seen[-2]
    assert [v for k, v in headers if k.lower() == "authorization"] == [f"Bearer {SECRET}"]
    assert_secret_absent(result, ctx)
    assert [e.decision for e in audit_of(ctx).entries] == ["allowed", "allowed"]
    assert audit_of(ctx).entries[0].instance == "inst-1"


async def test_every_exfiltration_attempt_is_refused(
    sandbox: Sandbox, proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    port = upstream.port
    attempts = {
        "placeholder toward a host without rule": (
            f"http://localhost:{port}/echo",
            {"X-Key": "{{secret:API_TOKEN}}"},
            None,
        ),
        "placeholder not bound by any rule": (
            upstream.url(),
            {"X-Key": "{{secret:DB_PASSWORD}}"},
            None,
        ),
        "placeholder in URL": (upstream.url("/echo?k={{secret:API_TOKEN}}"), None, None),
        "placeholder percent-encoded in URL": (
            upstream.url("/echo?k=%7B%7Bsecret:API_TOKEN%7D%7D"),
            None,
            None,
        ),
        "placeholder in body": (upstream.url(), None, "{{secret:API_TOKEN}}"),
        "redirect to a disallowed host": (
            upstream.url("/redirect?to=http://attacker.example/collect"),
            None,
            None,
        ),
        "redirect to localhost": (
            upstream.url(f"/redirect?to=http://localhost:{port}/echo"),
            None,
            None,
        ),
        "localhost": (f"http://localhost:{port}/echo", None, None),
        "[::1]": (f"http://[::1]:{port}/echo", None, None),
        "0.0.0.0": (f"http://0.0.0.0:{port}/echo", None, None),
        "2130706433": (f"http://2130706433:{port}/echo", None, None),
        "0x7f.1": (f"http://0x7f.1:{port}/echo", None, None),
        "127.1": (f"http://127.1:{port}/echo", None, None),
        "0177.0.0.1": (f"http://0177.0.0.1:{port}/echo", None, None),
        "IPv4-mapped IPv6": (f"http://[::ffff:127.0.0.1]:{port}/echo", None, None),
        "metadata": ("http://169.254.169.254/latest/meta-data/", None, None),
        "metadata IPv6": ("http://[fd00:ec2::254]/", None, None),
        "file scheme": ("file:///etc/passwd", None, None),
        "userinfo in URL": (f"http://u:p@127.0.0.1:{port}/echo", None, None),
    }
    code = f"""
from tenantflow.guest import fetch, EgressDenied, EgressError
out = {{}}
for label, (url, headers, body) in {attempts!r}.items():
    try:
        r = fetch(url, method="POST" if body else "GET", headers=headers, body=body)
        out[label] = ["LEAKED", r.status, r.text()]
    except EgressDenied as exc:
        out[label] = ["denied", exc.rule, exc.reason]
    except EgressError as exc:
        out[label] = ["error", exc.rule, exc.type]
__result__ = out
"""
    result = await run(sandbox, proxy, ctx, code)
    outcomes: dict[str, list[str]] = result.value
    assert set(outcomes) == set(attempts)
    for label, outcome in outcomes.items():
        assert outcome[0] in ("denied", "error"), (label, outcome)
        assert outcome[1], (label, outcome)  # names the rule that refused
    assert outcomes["placeholder not bound by any rule"][1] == "inject.placeholder_unbound"
    assert outcomes["placeholder in URL"][1] == "inject.placeholder_in_url"
    assert outcomes["placeholder percent-encoded in URL"][1] == "inject.placeholder_in_url"
    assert outcomes["placeholder in body"][1] == "inject.placeholder_in_body"
    for label in ("2130706433", "0x7f.1", "127.1"):
        assert outcomes[label][1] == "guard.ip_spelling", label
    # httpx's URL parser already rejects a dotted quad with a leading zero.
    assert outcomes["0177.0.0.1"][1] in ("request.url", "guard.ip_spelling")
    assert outcomes["redirect to a disallowed host"][1] == "policy.hosts"
    assert "attacker.example" in outcomes["redirect to a disallowed host"][2]
    assert_secret_absent(result, ctx)
    assert len(audit_of(ctx).entries) == len(attempts)
    assert all(e.decision != "allowed" for e in audit_of(ctx).entries)


async def test_the_guard_refuses_loopback_forms_even_when_the_hosts_are_listed(
    sandbox: Sandbox, proxy: EgressProxy, upstream: Upstream
) -> None:
    # Every host is on the allow list and no address is opened: only the guard stands.
    hosts = ["127.0.0.1", "localhost", "::1", "0.0.0.0", "::ffff:127.0.0.1"]
    policy = EgressPolicy(allowed_hosts=tuple(hosts), schemes=("http",), ports=(upstream.port,))
    ctx = make_ctx(policy)
    urls = [f"http://{f'[{h}]' if ':' in h else h}:{upstream.port}/echo" for h in hosts]
    code = f"""
from tenantflow.guest import fetch, EgressDenied
out = []
for url in {urls!r}:
    try:
        fetch(url)
        out.append("LEAKED")
    except EgressDenied as exc:
        out.append(exc.rule)
__result__ = out
"""
    result = await run(sandbox, proxy, ctx, code)
    assert result.value == [
        "guard.loopback",
        "guard.loopback",
        "guard.loopback",
        "guard.unspecified",
        "guard.ipv4_mapped",
    ]


async def test_redirect_to_loopback_when_not_allowed(
    sandbox: Sandbox, proxy: EgressProxy, upstream: Upstream, upstream6: Upstream
) -> None:
    policy = EgressPolicy(
        allowed_hosts=("::1", "127.0.0.1"),
        schemes=("http",),
        ports=(upstream.port, upstream6.port),
        allowed_addresses=("::1",),
    )
    ctx = make_ctx(policy, (token_rule(),))
    code = f"""
from tenantflow.guest import fetch, EgressDenied
try:
    fetch({upstream6.url(f"/redirect?to={upstream.url()}")!r})
    __result__ = "LEAKED"
except EgressDenied as exc:
    __result__ = [exc.rule, str(exc)]
"""
    result = await run(sandbox, proxy, ctx, code)
    assert result.value[0] == "guard.loopback"
    assert "127.0.0.1" in result.value[1]


async def test_limits_reach_the_guest_as_clear_errors(
    sandbox: Sandbox, proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    big = proxy.limits.max_response_bytes + 1
    code = f"""
from tenantflow.guest import fetch, EgressError
out = []
for url, timeout in [({upstream.url(f"/big?n={big}")!r}, None),
                     ({upstream.url("/slow?s=1.5")!r}, 0.3),
                     ({upstream.url("/loop")!r}, None)]:
    try:
        fetch(url, timeout=timeout)
        out.append("no error")
    except EgressError as exc:
        out.append([type(exc).__name__, exc.type, exc.rule])
__result__ = out
"""
    result = await run(sandbox, proxy, ctx, code)
    assert result.value == [
        ["EgressError", "EgressTooLarge", "limits.response_bytes"],
        ["EgressError", "EgressTimeout", "limits.timeout"],
        ["EgressError", "EgressTooManyRedirects", "limits.redirects"],
    ]


async def test_binary_bodies_json_and_response_helpers(
    sandbox: Sandbox, proxy: EgressProxy, ctx: EgressContext, upstream: Upstream
) -> None:
    code = f"""
from tenantflow.guest import fetch
payload = bytes(range(256))
echo = fetch({upstream.url("/echo")!r}, method="POST", body=payload,
             headers=[("Content-Type", "application/octet-stream")]).json()
binary = fetch({upstream.url("/binary")!r})
posted = fetch({upstream.url("/echo")!r}, method="PUT", json={{"a": [1, "é"]}}).json()
missing = fetch({upstream.url("/nope")!r})
__result__ = {{
    "echo_body": echo["body"], "method": echo["method"],
    "binary_ok": binary.body == bytes(range(256)) * 4, "binary_ok2": binary.ok,
    "ctype": binary.headers["content-type"], "posted": posted["body"],
    "missing": [missing.status, missing.ok, missing.text()],
}}
"""
    result = await run(sandbox, proxy, ctx, code)
    value = result.value
    assert base64.b64decode(value["echo_body"]) == bytes(range(256))
    assert value["method"] == "POST"
    assert value["binary_ok"] is True and value["binary_ok2"] is True
    assert len(BINARY) == 1024 and value["ctype"] == "application/octet-stream"
    assert json.loads(base64.b64decode(value["posted"])) == {"a": [1, "é"]}
    assert value["missing"] == [404, False, "not found"]


async def test_no_handler_no_capability(sandbox: Sandbox) -> None:
    code = """
from tenantflow.guest import fetch, HostError, EgressError
try:
    fetch("http://127.0.0.1/")
    __result__ = "fetched"
except EgressError:
    __result__ = "egress"
except HostError as exc:
    __result__ = exc.type
"""
    result = await sandbox.run(code, pool_key=POOL)
    assert result.ok and result.value == "UnknownHandler"


@pytest.mark.parametrize(
    "call",
    [
        "call('fetch', url=5)",
        "call('fetch', url='http://127.0.0.1/', body='***not base64***')",
        "call('fetch', url='http://127.0.0.1/', headers=[[1, 2]])",
        "call('fetch', url='http://127.0.0.1/', timeout=-1)",
    ],
)
async def test_malformed_bridge_arguments_are_refused(
    sandbox: Sandbox, proxy: EgressProxy, ctx: EgressContext, call: str
) -> None:
    code = f"""
from tenantflow.guest import call, HostError
try:
    {call}
    __result__ = "accepted"
except HostError as exc:
    __result__ = exc.type
"""
    result = await run(sandbox, proxy, ctx, code)
    assert result.value == "EgressBadRequest"


def test_the_test_policy_allows_exactly_the_upstream(upstream: Upstream) -> None:
    policy = loopback_policy(upstream)
    assert policy.allowed_hosts == ("127.0.0.1",)
    assert policy.allowed_addresses == ("127.0.0.1/32",)
    assert policy.ports == (upstream.port,)
