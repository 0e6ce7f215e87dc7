"""The sessions REST API on a real uvicorn server: lifecycle, exec, streaming, files,
snapshots, problems, and tenant isolation."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from tenantflow.api import problems
from tenantflow.api.routers.sessions import problem_body
from tenantflow.sessions import WorkspaceQuotaExceeded
from tests.api.conftest import Running, assert_problem, bearer, run_server, server_settings
from tests.api.conftest import new_tenant as api_tenant


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with run_server(server_settings(tmp_path_factory.mktemp("sessions-api"))) as running:
        yield running


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def _session(http: httpx.AsyncClient, srv: Running, key: str, **body: Any) -> str:
    r = await http.post(f"{srv.url}/v1/sessions", json=body, headers=bearer(key))
    assert r.status_code == 201, r.text
    session_id: str = r.json()["id"]
    return session_id


async def test_session_lifecycle_python_shell(http: httpx.AsyncClient, srv: Running) -> None:
    _, key = await api_tenant(http, srv)
    tools = [
        {
            "name": "save",
            "description": "Save a file",
            "target": {"kind": "builtin", "name": "files.write"},
        }
    ]
    sid = await _session(http, srv, key, name="agent", tools=tools)
    url, h = f"{srv.url}/v1/sessions/{sid}", bearer(key)
    got = (await http.get(url, headers=h)).json()
    assert (got["name"], got["state"], got["tools"][0]["name"]) == ("agent", "hibernated", "save")
    r = await http.post(f"{url}/python", json={"code": "a = 2\nprint('p')\na * 21"}, headers=h)
    body = r.json()
    assert r.status_code == 200 and body["ok"], body
    assert (body["stdout"], body["result"], body["state_kept"], body["woke"]) == (
        "p\n",
        "42",
        False,
        True,
    )
    code = "from tenantflow.guest import tools\ntools.save(path='t.txt', content='via tool')\na"
    body = (await http.post(f"{url}/python", json={"code": code}, headers=h)).json()
    assert body["result"] == "2" and body["state_kept"]
    [call] = body["tool_calls"]
    assert call["name"] == "save" and call["ok"] and call["arguments"]["path"] == "t.txt"
    assert "duration_ms" in call
    assert (await http.get(url, headers=h)).json()["state"] == "warm"
    r = await http.post(f"{url}/shell", json={"command": "cat t.txt | wc -c; exit 3"}, headers=h)
    assert (r.json()["stdout"], r.json()["exit_code"]) == ("8\n", 3)
    body = (
        await http.post(
            f"{url}/python", json={"code": "while True: pass", "timeout": 0.3}, headers=h
        )
    ).json()
    assert not body["ok"] and body["limit"] == "deadline"
    hib = await http.post(f"{url}/hibernate", headers=h)
    assert hib.json()["state"] == "hibernated"
    listed = (await http.get(f"{srv.url}/v1/sessions", headers=h)).json()["items"]
    assert [s["id"] for s in listed] == [sid]
    assert (await http.delete(url, headers=h)).status_code == 204
    assert_problem(await http.get(url, headers=h), 404, "not-found")


async def test_streaming_shell_and_python(http: httpx.AsyncClient, srv: Running) -> None:
    _, key = await api_tenant(http, srv)
    sid = await _session(http, srv, key)
    url, h = f"{srv.url}/v1/sessions/{sid}", bearer(key)
    events: list[tuple[str, Any]] = []
    body = {"command": "for i in 1 2 3; do echo line $i; done; echo oops >&2"}
    async with http.stream("POST", f"{url}/shell?stream=true", json=body, headers=h) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "result" and "stdout" in kinds and "stderr" in kinds
    assert "".join(d for k, d in events if k == "stdout") == "line 1\nline 2\nline 3\n"
    assert events[-1][1]["stdout"] == "line 1\nline 2\nline 3\n" and events[-1][1]["exit_code"] == 0
    code = {"code": "import sys\nfor i in range(3): print(i, flush=True)\n'done'"}
    async with http.stream("POST", f"{url}/python?stream=true", json=code, headers=h) as r:
        text = (await r.aread()).decode()
    assert "event: result" in text and '"result": "\'done\'"' in text


async def test_files_binary_list_archive_and_problems(
    http: httpx.AsyncClient, srv: Running
) -> None:
    _, key = await api_tenant(http, srv)
    sid = await _session(http, srv, key, limits={"workspace_bytes": 100_000})
    url, h = f"{srv.url}/v1/sessions/{sid}", bearer(key)
    blob = bytes(range(256)) * 3
    r = await http.put(f"{url}/files/data/blob.bin", content=blob, headers=h)
    assert r.status_code == 200 and r.json() == {"path": "data/blob.bin", "size": 768}
    r = await http.get(f"{url}/files/data/blob.bin", headers=h)
    assert r.content == blob and r.headers["content-type"] == "application/octet-stream"
    listing = (await http.get(f"{url}/files", headers=h)).json()
    assert [(e["path"], e["size"]) for e in listing["items"]] == [
        ("data", 0),
        ("data/blob.bin", 768),
    ]
    assert (listing["used_bytes"], listing["quota_bytes"]) == (768, 100_000)
    assert_problem(
        await http.get(f"{url}/files/..%2F..%2Fetc%2Fpasswd", headers=h), 400, "invalid-path"
    )
    assert_problem(await http.get(f"{url}/files/nope.txt", headers=h), 404, "not-found")
    big = await http.put(f"{url}/files/big.bin", content=b"x" * 200_000, headers=h)
    assert assert_problem(big, 413, "workspace-quota")["limit"] == 100_000
    archive = await http.get(f"{url}/archive", headers=h)
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        assert sorted(tar.getnames()) == ["data", "data/blob.bin"]
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        member = tarfile.TarInfo("../../escape.txt")
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    r = await http.post(f"{url}/archive", content=evil.getvalue(), headers=h)
    assert_problem(r, 422, "invalid-archive")
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w:gz") as tar:
        member = tarfile.TarInfo("pkg/mod.py")
        member.size = 5
        tar.addfile(member, io.BytesIO(b"x = 1"))
    r = await http.post(f"{url}/archive?path=lib", content=good.getvalue(), headers=h)
    assert r.json() == {"files": 1}
    r = await http.delete(f"{url}/files/lib", headers=h)
    assert_problem(r, 400, "invalid-path")
    assert (await http.delete(f"{url}/files/lib?recursive=true", headers=h)).status_code == 204


async def test_snapshots_restore_and_fork(http: httpx.AsyncClient, srv: Running) -> None:
    _, key = await api_tenant(http, srv)
    sid = await _session(http, srv, key, name="origin", env={"MODE": "test"})
    url, h = f"{srv.url}/v1/sessions/{sid}", bearer(key)
    await http.put(f"{url}/files/a.txt", content=b"one", headers=h)
    r = await http.post(f"{url}/snapshots", json={"label": "first"}, headers=h)
    assert r.status_code == 201
    snap = r.json()
    assert len(snap["sha256"]) == 64 and snap["files"] == 1 and snap["label"] == "first"
    await http.put(f"{url}/files/a.txt", content=b"two", headers=h)
    r = await http.post(f"{url}/restore", json={"snapshot_id": snap["id"]}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "hibernated"
    assert (await http.get(f"{url}/files/a.txt", headers=h)).content == b"one"
    fork = await http.post(f"{srv.url}/v1/sessions", json={"from_snapshot": snap["id"]}, headers=h)
    assert fork.status_code == 201
    forked = fork.json()
    assert forked["parent_snapshot"] == snap["id"] and forked["name"] == "origin"
    body = {"command": "cat a.txt; echo $MODE"}
    r = await http.post(f"{srv.url}/v1/sessions/{forked['id']}/shell", json=body, headers=h)
    assert r.json()["stdout"] == "onetest\n"  # a.txt has no newline
    listed = (await http.get(f"{url}/snapshots", headers=h)).json()["items"]
    assert [s["id"] for s in listed] == [snap["id"]]
    r = await http.post(f"{url}/restore", json={"snapshot_id": "snap_" + "0" * 24}, headers=h)
    assert_problem(r, 404, "not-found")
    r = await http.delete(f"{srv.url}/v1/sessions/{forked['id']}/snapshots/{snap['id']}", headers=h)
    assert_problem(r, 404, "not-found")  # the snapshot belongs to the origin session
    assert (await http.delete(f"{url}/snapshots/{snap['id']}", headers=h)).status_code == 204
    assert (await http.get(f"{url}/snapshots", headers=h)).json()["items"] == []


async def test_other_tenant_gets_404_everywhere(http: httpx.AsyncClient, srv: Running) -> None:
    _, owner = await api_tenant(http, srv)
    _, other = await api_tenant(http, srv)
    sid = await _session(http, srv, owner)
    url = f"{srv.url}/v1/sessions/{sid}"
    await http.put(f"{url}/files/secret.txt", content=b"mine", headers=bearer(owner))
    snap = (await http.post(f"{url}/snapshots", json={}, headers=bearer(owner))).json()
    h = bearer(other)
    for method, path, body in [
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/python", {"code": "1"}),
        ("POST", "/shell", {"command": "ls"}),
        ("GET", "/files", None),
        ("GET", "/files/secret.txt", None),
        ("GET", "/archive", None),
        ("POST", "/snapshots", {}),
        ("POST", "/restore", {"snapshot_id": snap["id"]}),
    ]:
        r = await http.request(method, f"{url}{path}", json=body, headers=h)
        assert_problem(r, 404, "not-found")
    r = await http.post(f"{srv.url}/v1/sessions", json={"from_snapshot": snap["id"]}, headers=h)
    assert_problem(r, 404, "not-found")
    assert (await http.get(f"{srv.url}/v1/sessions", headers=h)).json()["items"] == []
    assert_problem(await http.get(url), 401, "unauthorized")
    assert (await http.get(f"{url}/files/secret.txt", headers=bearer(owner))).content == b"mine"


async def test_invalid_session_specs(http: httpx.AsyncClient, srv: Running) -> None:
    _, key = await api_tenant(http, srv)
    bad_tools = [
        [{"name": "Bad-Name", "target": {"kind": "builtin", "name": "fetch"}}],
        [
            {
                "name": "x",
                "parameters": {"type": "array"},
                "target": {"kind": "builtin", "name": "fetch"},
            }
        ],
        [{"name": "x", "target": {"kind": "http", "url": "ftp://example.com"}}],
        [{"name": "x", "target": {"kind": "shell"}}],
    ]
    for tools in bad_tools:
        r = await http.post(f"{srv.url}/v1/sessions", json={"tools": tools}, headers=bearer(key))
        assert_problem(r, 422, "validation-error")
    bad_egress = [
        {"allowed_hosts": ["a/b"]},
        {"add_hosts": ["exa mple.com"]},
        {"allowed_addresses": ["not-an-address"]},
        {"methods": ["G ET"]},
        {"ports": [70000]},
    ]
    for egress in bad_egress:
        # A fresh connection each time: a failure here must be a clean 422, not a 500.
        async with httpx.AsyncClient(timeout=60) as fresh:
            r = await fresh.post(
                f"{srv.url}/v1/sessions", json={"egress": egress}, headers=bearer(key)
            )
        body = assert_problem(r, 422, "validation-error")
        assert body["errors"][0]["loc"][:2] == ["body", "egress"], body


async def test_http_tool_with_a_stored_tenant_secret(http: httpx.AsyncClient, srv: Running) -> None:
    from tests.egress.upstream import Upstream

    upstream = Upstream("127.0.0.1")
    try:
        _, key = await api_tenant(http, srv)
        h = bearer(key)
        secret = "api-secret-from-the-store-91"
        r = await http.put(f"{srv.url}/v1/secrets/API_TOKEN", json={"value": secret}, headers=h)
        assert r.status_code in (200, 201), r.text
        tool = {
            "name": "echo",
            "description": "Echo the request",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            "target": {
                "kind": "http",
                "url": f"http://127.0.0.1:{upstream.port}/echo",
                "credential": {"secret": "API_TOKEN"},
            },
        }
        # The session's egress override opens the loopback address of the test upstream.
        body = {"tools": [tool], "egress": {"allowed_addresses": ["127.0.0.1"]}}
        sid = await _session(http, srv, key, **body)
        code = "from tenantflow.guest import tools\nr = tools.echo(q='hi')\nr['method']"
        r = await http.post(f"{srv.url}/v1/sessions/{sid}/python", json={"code": code}, headers=h)
        result = r.json()
        assert result["ok"] and result["result"] == "'POST'", result
        assert result["tool_calls"][0]["ok"]
        assert ("Authorization", f"Bearer {secret}") in upstream.seen[-1][1]
        assert secret not in r.text
    finally:
        upstream.close()


async def test_tenant_quotas_bound_sessions(http: httpx.AsyncClient, srv: Running) -> None:
    tenant, key = await api_tenant(http, srv)
    quotas = {"max_workspace_bytes": 50_000, "max_cpu_seconds_per_run": 0.5}
    r = await http.patch(
        f"{srv.url}/v1/admin/tenants/{tenant}/quotas", json=quotas, headers=srv.admin()
    )
    assert r.status_code == 200, r.text
    sid = await _session(http, srv, key, limits={"call_seconds": 20})
    url, h = f"{srv.url}/v1/sessions/{sid}", bearer(key)
    r = await http.put(f"{url}/files/big.bin", content=b"x" * 60_000, headers=h)
    assert assert_problem(r, 413, "workspace-quota")["limit"] == 50_000
    listing = (await http.get(f"{url}/files", headers=h)).json()
    assert listing["quota_bytes"] == 50_000
    body = {"code": "while True: pass", "timeout": 10}
    r = await http.post(f"{url}/python", json=body, headers=h)
    result = r.json()
    assert result["limit"] == "deadline" and result["duration_ms"] < 5000, result
    # A quota change applies from the session's next wake.
    quotas = {"max_workspace_bytes": 200_000}
    r = await http.patch(
        f"{srv.url}/v1/admin/tenants/{tenant}/quotas", json=quotas, headers=srv.admin()
    )
    assert r.status_code == 200
    await http.post(f"{url}/hibernate", headers=h)
    await http.post(f"{url}/python", json={"code": "1"}, headers=h)
    assert (await http.get(f"{url}/files", headers=h)).json()["quota_bytes"] == 200_000
    r = await http.put(f"{url}/files/big.bin", content=b"x" * 60_000, headers=h)
    assert r.status_code == 200


async def test_streaming_a_missing_session_is_a_404(http: httpx.AsyncClient, srv: Running) -> None:
    _, key = await api_tenant(http, srv)
    url = f"{srv.url}/v1/sessions/ses_{'0' * 24}/shell?stream=true"
    r = await http.post(url, json={"command": "ls"}, headers=bearer(key))
    assert_problem(r, 404, "not-found")


async def _events(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], key: str
) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a streamed call, read to the end."""
    events: list[tuple[str, Any]] = []
    async with http.stream("POST", url, json=body, headers=bearer(key)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event, data = "", []
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line and data:
                events.append((event, json.loads("\n".join(data))))
                event, data = "", []
    return events


def _workspace(srv: Running, session_id: str) -> Path:
    """The directory the server keeps the session's workspace in."""
    [found] = [p for p in srv.settings.data_dir.rglob("workspace") if p.parent.name == session_id]
    return found


async def test_streamed_errors_carry_the_unstreamed_problem(
    http: httpx.AsyncClient, srv: Running
) -> None:
    """An error after the stream's 200 is one ``error`` event whose data is the whole
    problem the unstreamed call answers with (type, title, status, detail, instance).

    The fault is real: the hibernated session's workspace directory is replaced by a
    file, so waking its sandbox fails inside the call, after the stream began.
    """
    _, key = await api_tenant(http, srv)
    sid = await _session(http, srv, key)
    url = f"{srv.url}/v1/sessions/{sid}"
    workspace = _workspace(srv, sid)
    shutil.rmtree(workspace)
    workspace.write_bytes(b"not a directory")
    try:
        for route, body in (("python", {"code": "1"}), ("shell", {"command": "ls"})):
            # The unstreamed 500 on a connection of its own: the server closes it afterwards,
            # and the next request on it could meet the close.
            async with httpx.AsyncClient(timeout=60) as alone:
                plain = await alone.post(f"{url}/{route}", json=body, headers=bearer(key))
            expected = assert_problem(plain, 500, "internal-error")
            assert expected["instance"] == f"/v1/sessions/{sid}/{route}"
            streamed = await _events(http, f"{url}/{route}?stream=true", body, key)
            assert streamed == [("error", expected)]
    finally:
        workspace.unlink()
        workspace.mkdir()
    # Repaired, the same session streams its result again.
    streamed = await _events(http, f"{url}/python?stream=true", {"code": "6 * 7"}, key)
    assert streamed[-1][0] == "result" and streamed[-1][1]["result"] == "42"


async def test_streamed_problems_keep_extension_members(
    http: httpx.AsyncClient, srv: Running
) -> None:
    """The event's problem is made as the unstreamed answer is, extension members included:
    what a file write over quota answers over HTTP is what :func:`problem_body` makes of
    the same session error on the same path (with the app's own problem handlers)."""
    _, key = await api_tenant(http, srv)
    sid = await _session(http, srv, key, limits={"workspace_bytes": 10_000})
    path = f"/v1/sessions/{sid}/files/big.bin"
    r = await http.put(f"{srv.url}{path}", content=b"x" * 20_000, headers=bearer(key))
    answered = assert_problem(r, 413, "workspace-quota")
    assert (answered["quota"], answered["limit"]) == ("workspace_bytes", 10_000)

    app = FastAPI()
    problems.install(app)
    scope = {"type": "http", "app": app, "method": "PUT", "path": path, "headers": []}
    error = WorkspaceQuotaExceeded(answered["detail"], limit=answered["limit"])
    assert await problem_body(Request(scope), error) == answered


async def test_tool_targets_may_omit_their_kind(http: httpx.AsyncClient, srv: Running) -> None:
    """``kind`` defaults on both targets, so a client that leaves defaults out omits it:
    the target's fields say which it is (a builtin names one; anything else is HTTP)."""
    _, key = await api_tenant(http, srv)
    tools = [
        {"name": "save", "target": {"name": "files.write"}},
        {"name": "get", "target": {"url": "https://api.example.com/items", "method": "GET"}},
    ]
    r = await http.post(f"{srv.url}/v1/sessions", json={"tools": tools}, headers=bearer(key))
    assert r.status_code == 201, r.text
    save, get = (t["target"] for t in r.json()["tools"])
    assert save == {"kind": "builtin", "name": "files.write"}
    assert (get["kind"], get["url"], get["method"]) == (
        "http",
        "https://api.example.com/items",
        "GET",
    )
    sid = r.json()["id"]
    code = "from tenantflow.guest import tools\ntools.save(path='t.txt', content='no kind')"
    body = (
        await http.post(
            f"{srv.url}/v1/sessions/{sid}/python", json={"code": code}, headers=bearer(key)
        )
    ).json()
    assert body["ok"] and body["tool_calls"][0]["ok"], body
    r = await http.get(f"{srv.url}/v1/sessions/{sid}/files/t.txt", headers=bearer(key))
    assert r.content == b"no kind"

    # A kind that is given is still checked against the fields, and must be known.
    for target in (
        {"kind": "builtin", "url": "https://api.example.com/"},
        {"kind": "http", "name": "fetch"},
        {"kind": "shell", "name": "fetch"},
        {"kind": 1, "name": "fetch"},
        {"name": "fetch", "url": "https://api.example.com/"},
        {"name": "shell"},
        {},
    ):
        body = {"tools": [{"name": "x", "target": target}]}
        r = await http.post(f"{srv.url}/v1/sessions", json=body, headers=bearer(key))
        assert_problem(r, 422, "validation-error")
