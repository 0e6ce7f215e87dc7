"""Programmatic tool calling: schema checks, HTTP targets through egress, built-ins, records."""

from __future__ import annotations

import json

import pytest

from tenantflow.egress import EgressPolicy, EgressPolicyPatch
from tenantflow.sessions import (
    BuiltinTarget,
    HttpTarget,
    SessionManager,
    SessionSpec,
    ToolCredential,
    ToolSpec,
)
from tenantflow.sessions.egress import StaticEgress
from tests.egress.upstream import Upstream
from tests.sessions.conftest import SECRET, Harness, new_tenant

FORECAST_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def tool_spec(upstream: Upstream) -> SessionSpec:
    return SessionSpec(
        # The session's override opens the loopback address of the test upstream.
        egress=EgressPolicyPatch(allowed_addresses=("127.0.0.1",)),
        tools=(
            ToolSpec(
                name="forecast",
                description="Weather forecast for a city.\nReturns the echo of the request.",
                parameters=FORECAST_SCHEMA,
                target=HttpTarget(
                    url=f"http://127.0.0.1:{upstream.port}/echo",
                    credential=ToolCredential(secret="API_TOKEN"),
                ),
            ),
            ToolSpec(
                name="lookup",
                description="Look a key up (GET with query parameters).",
                parameters={"type": "object", "properties": {"key": {"type": "string"}}},
                target=HttpTarget(url=f"http://127.0.0.1:{upstream.port}/echo", method="GET"),
            ),
            ToolSpec(
                name="broken",
                description="An endpoint that answers 404.",
                target=HttpTarget(url=f"http://127.0.0.1:{upstream.port}/nothing-here"),
            ),
            ToolSpec(
                name="read_file",
                description="Read a workspace file.",
                target=BuiltinTarget(name="files.read"),
            ),
            ToolSpec(
                name="write_file",
                description="Write a workspace file.",
                target=BuiltinTarget(name="files.write"),
            ),
        ),
    )


@pytest.fixture
async def session(manager: SessionManager, upstream: Upstream) -> tuple[str, str]:
    tenant = new_tenant()
    info = await manager.create(tenant, tool_spec(upstream))
    return tenant, info.id


async def test_http_tool_through_egress_with_credential(
    manager: SessionManager, upstream: Upstream, session: tuple[str, str]
) -> None:
    tenant, sid = session
    code = (
        "from tenantflow.guest import tools\n"
        "r = tools.forecast(city='Paris', days=3)\n"
        "body = __import__('base64').b64decode(r['body']).decode()\n"
        "(r['method'], body, [v for k, v in r['headers'] if k.lower() == 'authorization'])"
    )
    result = await manager.python(tenant, sid, code)
    assert result.ok, result.error
    method, body, auth = eval(result.result or "")
    assert method == "POST" and json.loads(body) == {"city": "Paris", "days": 3}
    # The egress proxy injected the credential, then scrubbed the echoed secret.
    assert SECRET not in (result.result or "") and auth != []
    path, headers = upstream.seen[-1]
    assert path == "/echo" and ("Authorization", f"Bearer {SECRET}") in headers
    [call] = result.tool_calls
    assert (call.name, call.arguments, call.ok, call.error) == (
        "forecast",
        {"city": "Paris", "days": 3},
        True,
        None,
    )
    assert call.duration_ms > 0


async def test_get_tool_sends_query_and_no_credential(
    manager: SessionManager, upstream: Upstream, session: tuple[str, str]
) -> None:
    tenant, sid = session
    r = await manager.python(
        tenant, sid, "from tenantflow.guest import tools\ntools.lookup(key='a b')['query']"
    )
    assert r.ok and r.result == "'key=a+b'", r
    assert not any(k.lower() == "authorization" for k, _ in upstream.seen[-1][1])


async def test_schema_violations_raise_in_the_guest(
    manager: SessionManager, session: tuple[str, str]
) -> None:
    tenant, sid = session
    code = """
from tenantflow.guest import tools, ToolArgumentError
out = []
for kwargs in ({}, {'city': 5}, {'city': 'X', 'days': 0}, {'city': 'X', 'when': 'now'}):
    try:
        tools.forecast(**kwargs)
    except ToolArgumentError as exc:
        out.append(str(exc))
out
"""
    r = await manager.python(tenant, sid, code)
    assert r.ok, r.error
    errors = eval(r.result or "")
    assert len(errors) == 4
    assert "'city' is a required property" in errors[0]
    assert "at 'city'" in errors[1] and "not of type 'string'" in errors[1]
    assert "at 'days'" in errors[2] and "minimum" in errors[2]
    assert "'when' was unexpected" in errors[3]
    assert [c.ok for c in r.tool_calls] == [False] * 4
    assert r.tool_calls[1].arguments == {"city": 5}


async def test_failures_are_useful_and_leak_nothing(
    manager: SessionManager, session: tuple[str, str]
) -> None:
    tenant, sid = session
    code = """
from tenantflow.guest import tools, ToolError
out = []
try:
    tools.broken()
except ToolError as exc:
    out.append(str(exc))
try:
    tools.read_file(path='../../etc/passwd')
except ToolError as exc:
    out.append(str(exc))
try:
    tools.nope
except AttributeError as exc:
    out.append(str(exc))
out
"""
    r = await manager.python(tenant, sid, code)
    assert r.ok, r.error
    broken, escape, missing = eval(r.result or "")
    assert "HTTP 404" in broken and "not found" in broken
    assert "'..' is not allowed" in escape
    assert "no tool named 'nope'" in missing and "forecast" in missing
    for text in (broken, escape):
        assert "Traceback" not in text and "tenantflow/" not in text
    assert [(c.name, c.ok) for c in r.tool_calls] == [("broken", False), ("read_file", False)]


async def test_builtin_file_tools_and_search_and_help(
    manager: SessionManager, session: tuple[str, str]
) -> None:
    tenant, sid = session
    code = """
from tenantflow.guest import tools
tools.write_file(path='notes/a.txt', content='hello')
print(tools.read_file(path='notes/a.txt'))
print(tools.search('weather'))
print(tools.search('file read'))
print(sorted(tools.names()))
help(tools.forecast)
import sys
print(sorted({'typing', 'json', 'ast'} & set(sys.modules)))  # slow guest imports stay out
"""
    r = await manager.python(tenant, sid, code)
    assert r.ok, r.error
    lines = r.stdout.splitlines()
    assert lines[0] == "hello"
    assert lines[1] == "['forecast(city: string, days?: integer) - Weather forecast for a city.']"
    assert lines[2] == "['read_file(path: string, encoding?: any) - Read a workspace file.']"
    assert lines[3] == "['broken', 'forecast', 'lookup', 'read_file', 'write_file']"
    assert "Help on tool forecast" in r.stdout and "Returns the echo of the request." in r.stdout
    assert "city (string, required): City name" in r.stdout
    assert lines[-1] == "[]"
    assert await manager.files.read(tenant, sid, "notes/a.txt") == b"hello"
    assert [c.name for c in r.tool_calls] == ["write_file", "read_file"]


async def test_tool_spec_validation() -> None:
    for reserved in ("search", "names", "import", "class"):
        with pytest.raises(ValueError, match="reserved"):
            ToolSpec(name=reserved, target=BuiltinTarget(name="fetch"))
    with pytest.raises(ValueError, match="valid JSON schema"):
        ToolSpec(
            name="x",
            parameters={"type": "object", "properties": 3},
            target=BuiltinTarget(name="fetch"),
        )
    with pytest.raises(ValueError, match="unique"):
        SessionSpec(tools=(ToolSpec(name="a", target=BuiltinTarget(name="fetch")),) * 2)
    with pytest.raises(ValueError):
        HttpTarget(url="file:///etc/passwd")


async def test_fetch_builtin_and_guest_fetch_follow_the_session_policy(
    manager: SessionManager, upstream: Upstream
) -> None:
    tenant = new_tenant()
    url = f"http://127.0.0.1:{upstream.port}/echo"
    open_spec = SessionSpec(
        egress=EgressPolicyPatch(
            allowed_hosts=("127.0.0.1",),
            schemes=("http",),
            ports=(upstream.port,),
            allowed_addresses=("127.0.0.1",),
        ),
        tools=(ToolSpec(name="get", target=BuiltinTarget(name="fetch")),),
    )
    closed_spec = SessionSpec(tools=(ToolSpec(name="get", target=BuiltinTarget(name="fetch")),))
    opened = await manager.create(tenant, open_spec)
    closed = await manager.create(tenant, closed_spec)
    code = (
        "from tenantflow.guest import tools, fetch\n"
        f"(tools.get(url={url!r})['status'], fetch({url!r}).status)"
    )
    r = await manager.python(tenant, opened.id, code)
    assert r.ok and r.result == "(200, 200)", r
    r = await manager.python(tenant, closed.id, code)
    assert not r.ok and r.error is not None and r.error["type"] == "ToolError"
    assert "policy" in r.error["message"]


async def test_egress_changes_apply_from_the_next_wake(
    harness: Harness, upstream: Upstream
) -> None:
    manager = await harness.manager()
    assert isinstance(manager.egress, StaticEgress)
    tenant = new_tenant()
    spec = SessionSpec(tools=(ToolSpec(name="get", target=BuiltinTarget(name="fetch")),))
    sid = (await manager.create(tenant, spec)).id
    code = f"from tenantflow.guest import tools\ntools.get(url='http://127.0.0.1:{upstream.port}/echo')['status']"
    refused = await manager.python(tenant, sid, code)
    assert not refused.ok and "policy" in (refused.error or {}).get("message", "")
    manager.egress.policy = EgressPolicy(
        allowed_hosts=("127.0.0.1",),
        schemes=("http",),
        ports=(upstream.port,),
        allowed_addresses=("127.0.0.1",),
    )
    assert not (await manager.python(tenant, sid, code)).ok  # warm: the run's policy holds
    await manager.hibernate(tenant, sid)
    allowed = await manager.python(tenant, sid, code)
    assert allowed.ok and allowed.result == "200", allowed
