"""Secrets and egress over a real server (SQLite and Postgres), and a workflow that fetches.

Secrets are write-only: no response, log line, error or table other than
``egress_secrets`` (where it is sealed) may hold a value.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tenantflow.client import AsyncClient
from tenantflow.db import create_engine
from tests.api.conftest import Running, assert_problem, bearer, new_tenant
from tests.egress.upstream import Upstream

SECRET = "ghp_Zy9X8w7V6u5T4s3R2q1P0o"
SECRET_FORMS = (SECRET, base64.b64encode(SECRET.encode()).decode(), SECRET.encode().hex())


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """A real HTTP upstream on 127.0.0.1."""
    server = Upstream("127.0.0.1")
    yield server
    server.close()


def policy_for(upstream: Upstream) -> dict[str, Any]:
    """Default deny; exactly the upstream's address and port, over http."""
    return {
        "allowed_hosts": ["127.0.0.1"],
        "schemes": ["http"],
        "ports": [upstream.port],
        "allowed_addresses": ["127.0.0.1"],
    }


RULE = {"host": "127.0.0.1", "secret": "API_TOKEN", "schemes": ["http"]}


def assert_no_secret(*texts: str) -> None:
    """None of ``texts`` holds the secret in any common encoding."""
    for place in texts:
        for form in SECRET_FORMS:
            assert form not in place


async def raw_rows(srv: Running, table: str) -> str:
    """Every row of ``table`` straight from the database, as text."""
    engine = create_engine(srv.settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
    finally:
        await engine.dispose()
    return repr([tuple(r) for r in rows])


async def test_secrets_are_write_only(
    server: Running, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, key = await new_tenant(http, server)
    _, other = await new_tenant(http, server)
    url = f"{server.url}/v1/secrets"
    seen: list[str] = []

    async def call(method: str, path: str = "", **kw: Any) -> httpx.Response:
        r = await http.request(method, url + path, headers=kw.pop("headers", bearer(key)), **kw)
        seen.append(r.text + repr(r.headers))
        return r

    r = await call("PUT", "/API_TOKEN", json={"value": SECRET})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"name", "created_at", "updated_at"}
    assert (await call("PUT", "/API_TOKEN", json={"value": SECRET + "2"})).status_code == 200
    await call("PUT", "/OTHER.key-1", json={"value": "another-value"})
    listed = (await call("GET")).json()["items"]
    assert [s["name"] for s in listed] == ["API_TOKEN", "OTHER.key-1"]
    assert set(listed[0]) == {"name", "created_at", "updated_at"}
    assert (await call("GET", "/API_TOKEN")).json()["name"] == "API_TOKEN"
    # Refusals never echo the value.
    assert_problem(await call("PUT", "/bad name", json={"value": SECRET}), 422, "validation-error")
    assert_problem(await call("PUT", "/X", json={"value": ""}), 422, "validation-error")
    assert_problem(
        await call("PUT", "/X", json={"value": SECRET, "extra": SECRET}), 422, "validation-error"
    )
    assert_problem(await call("PUT", "/X", json={"value": 12345}), 422, "validation-error")
    assert_problem(
        await call(
            "PUT", "/X", content=b'{"value": "' + SECRET.encode() + b'"', headers=bearer(key)
        ),
        422,
        "validation-error",
    )
    too_big = "y" * (server.settings.secrets_max_value_bytes + 1)
    body = assert_problem(
        await call("PUT", "/BIG", json={"value": too_big}), 422, "validation-error"
    )
    assert "y" * 50 not in str(body)
    assert_problem(await call("PUT", "/X", json={"value": SECRET}, headers={}), 401, "unauthorized")
    # Tenants see only their own.
    assert (await call("GET", headers=bearer(other))).json()["items"] == []
    assert_problem(await call("GET", "/API_TOKEN", headers=bearer(other)), 404, "not-found")
    assert_problem(await call("DELETE", "/API_TOKEN", headers=bearer(other)), 404, "not-found")
    # At rest: sealed, not in clear.
    stored = await raw_rows(server, "egress_secrets")
    assert "tfs1:" in stored
    assert_no_secret(stored, *seen, caplog.text)
    assert (await call("DELETE", "/API_TOKEN")).status_code == 204
    assert_problem(await call("GET", "/API_TOKEN"), 404, "not-found")
    assert_problem(await call("DELETE", "/API_TOKEN"), 404, "not-found")
    # The OpenAPI schema offers no way to read a value back.
    schema = (await http.get(f"{server.url}/openapi.json")).json()["components"]["schemas"]
    assert "value" not in schema["SecretInfo"]["properties"]


async def test_policy_workflow_overrides_and_rules(
    shared_server: Running, http: httpx.AsyncClient, upstream: Upstream
) -> None:
    srv = shared_server
    _, key = await new_tenant(http, srv)
    _, other = await new_tenant(http, srv)
    h = bearer(key)
    base = f"{srv.url}/v1/egress"

    default = (await http.get(f"{base}/policy", headers=h)).json()
    assert default["default"] == "deny" and default["allowed_hosts"] == []
    assert default["updated_at"] is None
    bad = await http.put(f"{base}/policy", headers=h, json={"allowed_hosts": ["a/b"]})
    assert "allowed_hosts" in assert_problem(bad, 422, "validation-error")["detail"]
    r = await http.put(f"{base}/policy", headers=h, json=policy_for(upstream))
    assert r.status_code == 200 and r.json()["ports"] == [upstream.port]
    assert (await http.get(f"{base}/policy", headers=h)).json()["updated_at"] is not None
    assert (await http.get(f"{base}/policy", headers=bearer(other))).json()["allowed_hosts"] == []

    # Workflow overrides: patch over the tenant policy; the effective policy is shown.
    wf = f"{base}/policy/workflows/sync"
    none = (await http.get(wf, headers=h)).json()
    assert none["override"] is None and none["effective"]["allowed_hosts"] == ["127.0.0.1"]
    r = await http.put(wf, headers=h, json={"add_hosts": ["api.example.com"], "methods": ["GET"]})
    assert r.status_code == 201, r.text
    assert r.json()["effective"]["allowed_hosts"] == ["127.0.0.1", "api.example.com"]
    assert r.json()["override"]["methods"] == ["GET"]
    assert (await http.put(wf, headers=h, json={"add_hosts": ["x.example.com"]})).status_code == 200
    listed = (await http.get(f"{base}/policy/workflows", headers=h)).json()["items"]
    assert [i["workflow"] for i in listed] == ["sync"]
    assert_problem(await http.put(wf, headers=h, json={"ports": [0]}), 422, "validation-error")
    assert_problem(await http.put(wf, headers=h, json={"nope": 1}), 422, "validation-error")
    assert (await http.delete(wf, headers=h)).status_code == 204
    assert_problem(await http.delete(wf, headers=h), 404, "not-found")

    # Credential rules.
    rules = f"{base}/rules"
    r = await http.post(rules, headers=h, json={"name": "up", **RULE})
    assert r.status_code == 201, r.text
    assert r.json()["template"] == "Bearer {secret}" and r.json()["kind"] == "header"
    assert_problem(await http.post(rules, headers=h, json={"name": "up", **RULE}), 409, "conflict")
    replaced = await http.put(f"{rules}/up", headers=h, json={**RULE, "template": "tok {secret}"})
    assert replaced.status_code == 200 and replaced.json()["template"] == "tok {secret}"
    query_rule = {**RULE, "kind": "query", "param": "k"}
    assert (await http.put(f"{rules}/q", headers=h, json=query_rule)).status_code == 201
    bad_rule = await http.put(f"{rules}/x", headers=h, json={**RULE, "template": "no secret"})
    assert "template" in assert_problem(bad_rule, 422, "validation-error")["detail"]
    bad_secret = await http.put(f"{rules}/x", headers=h, json={**RULE, "secret": "a b"})
    assert "secret" in assert_problem(bad_secret, 422, "validation-error")["detail"]
    assert_problem(await http.put(f"{rules}/x", headers=h, json={**RULE, "kind": "query"}), 422,
                   "validation-error")  # fmt: skip
    assert [x["name"] for x in (await http.get(rules, headers=h)).json()["items"]] == ["q", "up"]
    got = (await http.get(f"{rules}/up", headers=h)).json()
    assert got["host"] == "127.0.0.1"
    # What GET returns can be sent back with PUT (rules and the policy).
    assert (await http.put(f"{rules}/up", headers=h, json=got)).status_code == 200
    renamed = await http.put(f"{rules}/other", headers=h, json=got)
    assert "match" in assert_problem(renamed, 422, "validation-error")["detail"]
    current = (await http.get(f"{base}/policy", headers=h)).json()
    assert (await http.put(f"{base}/policy", headers=h, json=current)).json()["ports"] == [
        upstream.port
    ]
    assert (await http.get(rules, headers=bearer(other))).json()["items"] == []
    assert_problem(await http.get(f"{rules}/up", headers=bearer(other)), 404, "not-found")

    # Injection requires default deny, both ways.
    opened = await http.put(f"{base}/policy", headers=h, json={"default": "allow"})
    refused = assert_problem(opened, 409, "injection-requires-default-deny")
    assert "default" in refused["detail"]
    for name in ("up", "q"):
        assert (await http.delete(f"{rules}/{name}", headers=h)).status_code == 204
    assert_problem(await http.delete(f"{rules}/up", headers=h), 404, "not-found")
    assert (await http.put(f"{base}/policy", headers=h, json={"default": "allow"})).is_success
    refused = assert_problem(
        await http.post(rules, headers=h, json={"name": "up", **RULE}),
        409,
        "injection-requires-default-deny",
    )
    assert "deny" in refused["detail"]
    doc = await http.get(f"{srv.url}/problems/injection-requires-default-deny")
    assert doc.status_code == 200
    assert_problem(await http.get(f"{base}/log?cursor=zzz", headers=h), 422, "validation-error")


WORKFLOW = """
from tenantflow.guest import EgressDenied, fetch


def call():
    r = fetch("{base}/echo-raw")
    return {{"status": r.status, "body": r.text()}}


def sneaky():
    try:
        fetch("{base}/echo?t={{{{secret:API_TOKEN}}}}")
    except EgressDenied as exc:
        return exc.rule
    return "sent"


def run(event, step):
    got = step.do("call", call)
    print("upstream said:", got["body"])
    refused = step.do("sneaky", sneaky)
    return {{"got": got, "refused": refused}}
"""


async def test_workflow_step_fetch_injects_a_secret_the_guest_never_sees(
    server: Running,
    http: httpx.AsyncClient,
    upstream: Upstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, key = await new_tenant(http, server)
    _, other = await new_tenant(http, server)
    h = bearer(key)
    egress = f"{server.url}/v1/egress"
    assert (await http.put(f"{egress}/policy", headers=h, json=policy_for(upstream))).is_success
    assert (await http.put(f"{egress}/rules/token", headers=h, json=RULE)).status_code == 201
    put = await http.put(f"{server.url}/v1/secrets/API_TOKEN", headers=h, json={"value": SECRET})
    assert put.status_code == 201
    code = WORKFLOW.format(base=f"http://127.0.0.1:{upstream.port}")
    async with AsyncClient(server.url, key) as tf:
        await tf.upload_workflow("fetcher", code.encode())
        created = await tf.create_instance("fetcher", {})
        done = await tf.wait(created.id, timeout=120)
        assert done.status.value == "complete", done
        output = done.output
        logs = await tf.logs(created.id)
    assert output["got"]["status"] == 200
    assert "Authorization: Bearer [REDACTED]" in output["got"]["body"]
    assert output["refused"] == "inject.placeholder_in_url"
    # The upstream really received the secret, injected by the proxy.
    assert any(
        ("Authorization", f"Bearer {SECRET}") in headers for _, headers in list(upstream.seen)
    )
    log_text = "".join(line.text for line in logs.items)
    assert "upstream said:" in log_text

    # The audit log over the API: one allowed and one denied row for this instance.
    page = (await http.get(f"{egress}/log", headers=h, params={"instance": created.id})).json()
    assert [e["decision"] for e in page["items"]] == ["denied", "allowed"]
    denied, allowed = page["items"]
    assert allowed["credential_rules"] == ["token"] and allowed["status"] == 200
    assert allowed["path"] == "/echo-raw" and allowed["host"] == "127.0.0.1"
    assert denied["rule"] == "inject.placeholder_in_url" and denied["status"] is None
    only = await http.get(f"{egress}/log", headers=h, params={"decision": "denied"})
    assert [e["id"] for e in only.json()["items"]] == [denied["id"]]
    first = (await http.get(f"{egress}/log", headers=h, params={"limit": 1})).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = await http.get(
        f"{egress}/log", headers=h, params={"limit": 1, "cursor": first["next_cursor"]}
    )
    assert [e["id"] for e in rest.json()["items"]] == [allowed["id"]]
    assert rest.json()["next_cursor"] is None
    since = allowed["at"]
    assert (
        len((await http.get(f"{egress}/log", headers=h, params={"since": since})).json()["items"])
        == 2
    )
    assert (await http.get(f"{egress}/log", headers=bearer(other))).json()["items"] == []

    # Nowhere but the upstream: output, logs, step journal, instance rows, audit, server logs.
    detail = await http.get(f"{server.url}/v1/instances/{created.id}", headers=h)
    tables = [await raw_rows(server, t) for t in ("wf_instances", "wf_steps", "wf_logs")]
    assert_no_secret(
        repr(output),
        log_text,
        detail.text,
        logs.model_dump_json(),
        json_text(page),
        await raw_rows(server, "egress_audit"),
        *tables,
        caplog.text,
    )


def json_text(value: Any) -> str:
    """``value`` as it travelled."""
    import json

    return json.dumps(value)


def cli(args: list[str], *, stdin: str = "", env: dict[str, str] | None = None) -> Any:
    """``tenantflow <args>`` in a subprocess (the real entry point)."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "tenantflow.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


async def test_cli_sets_secrets_from_stdin_and_rotates_the_key(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    import asyncio
    import json
    import stat

    from tenantflow.egress import SecretBox

    srv = shared_server
    _, key = await new_tenant(http, srv)
    env = {"TENANTFLOW_URL": srv.url, "TENANTFLOW_API_KEY": key}
    done = await asyncio.to_thread(
        cli, ["secrets", "set", "CLI_TOKEN"], stdin=SECRET + "\n", env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created CLI_TOKEN"
    listed = await asyncio.to_thread(cli, ["secrets", "list", "--json"], env=env)
    assert [s["name"] for s in json.loads(listed.stdout)] == ["CLI_TOKEN"]
    empty = await asyncio.to_thread(cli, ["secrets", "set", "EMPTY"], stdin="", env=env)
    assert empty.returncode == 2 and "stdin" in empty.stderr
    bad = await asyncio.to_thread(cli, ["secrets", "set", "bad name"], stdin=SECRET, env=env)
    assert bad.returncode == 3 and "validation-error" in bad.stderr
    # The value has no command-line form at all.
    extra = await asyncio.to_thread(cli, ["secrets", "set", "X", SECRET], env=env)
    assert extra.returncode == 2 and "stdin" in extra.stderr

    # The operator rotates the master key while the server runs.
    key_file = srv.settings.resolved_secrets_key_file
    before = SecretBox.from_key_file(key_file).primary
    rotate = await asyncio.to_thread(
        cli,
        [
            "secrets", "rotate-key", "--database-url", srv.settings.resolved_database_url,
            "--data-dir", str(srv.settings.data_dir),
        ],
    )  # fmt: skip
    assert rotate.returncode == 0, rotate.stderr
    report = json.loads(rotate.stdout)
    after = SecretBox.from_key_file(key_file)
    assert report["primary"] == after.primary != before and after.key_ids == [after.primary]
    assert report["reencrypted"] >= 1 and report["retired"] == [before]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = await raw_rows(srv, "egress_secrets")
    assert before not in stored and after.primary in stored
    # The running server picked up the new key file: writing still works.
    again = await asyncio.to_thread(cli, ["secrets", "set", "CLI_TOKEN"], stdin="new", env=env)
    assert again.returncode == 0 and again.stdout.strip() == "updated CLI_TOKEN"
    deleted = await asyncio.to_thread(cli, ["secrets", "delete", "CLI_TOKEN"], env=env)
    assert deleted.returncode == 0
    for run in (done, listed, empty, bad, extra, rotate, again, deleted):
        assert_no_secret(run.stdout, run.stderr)
