"""MCP round trip with the ``mcp`` client library against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import Running, bearer, run_server, server_settings
from tests.api.conftest import new_tenant as api_tenant


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with run_server(server_settings(tmp_path_factory.mktemp("sessions-mcp"))) as running:
        yield running


async def _setup(srv: Running) -> tuple[str, str]:
    async with httpx.AsyncClient(timeout=60) as http:
        _, key = await api_tenant(http, srv)
        body = {
            "tools": [
                {
                    "name": "note",
                    "description": "Write a note into the workspace.",
                    "target": {"kind": "builtin", "name": "files.write"},
                }
            ]
        }
        r = await http.post(f"{srv.url}/v1/sessions", json=body, headers=bearer(key))
        assert r.status_code == 201, r.text
        return key, r.json()["id"]


def _client(srv: Running, session_id: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers=bearer(key), timeout=60)
    return Client(
        streamable_http_client(f"{srv.url}/v1/sessions/{session_id}/mcp", http_client=http)
    )


def _text(result: Any) -> str:
    assert result.content, result
    text: str = result.content[0].text
    return text


async def test_mcp_round_trip(srv: Running) -> None:
    key, sid = await _setup(srv)
    async with _client(srv, sid, key) as client:
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        assert names == ["python", "shell", "files", "note"]
        note = tools.tools[3]
        assert note.description == "Write a note into the workspace."
        assert note.input_schema["required"] == ["path", "content"]

        r = await client.call_tool("python", {"code": "x = 6\nprint('hi')\nx * 7"})
        data = json.loads(_text(r))
        assert not r.is_error and (data["stdout"], data["result"]) == ("hi\n", "42")
        r = await client.call_tool("python", {"code": "x"})
        assert json.loads(_text(r))["state_kept"] is True

        r = await client.call_tool("note", {"path": "n.txt", "content": "from mcp"})
        assert not r.is_error and json.loads(_text(r))["size"] == 8
        r = await client.call_tool("note", {"path": 1})
        assert r.is_error and "invalid arguments" in _text(r)

        r = await client.call_tool("shell", {"command": "cat n.txt; ls | wc -l"})
        data = json.loads(_text(r))
        assert not r.is_error and data["stdout"] == "from mcp1\n"

        r = await client.call_tool(
            "files", {"action": "write", "path": "d/x.txt", "content": "abc"}
        )
        assert not r.is_error
        r = await client.call_tool("files", {"action": "read", "path": "d/x.txt"})
        assert _text(r) == "abc"
        r = await client.call_tool("files", {"action": "list"})
        paths = [e["path"] for e in json.loads(_text(r))["items"]]
        assert paths == ["d", "d/x.txt", "n.txt"]
        r = await client.call_tool("files", {"action": "read", "path": "../../etc/passwd"})
        assert r.is_error and "InvalidPath" in _text(r)


async def test_mcp_refuses_wrong_tenant_and_missing_key(srv: Running) -> None:
    key, sid = await _setup(srv)
    other_key, _ = await _setup(srv)
    url = f"{srv.url}/v1/sessions/{sid}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(url, json=body)
        assert r.status_code == 401
        r = await http.post(url, json=body, headers=bearer(other_key))
        assert r.status_code == 404
    with pytest.raises(Exception):  # noqa: B017 (the client's own error type for an HTTP 404)
        async with _client(srv, sid, other_key) as client:
            await client.list_tools()
    async with _client(srv, sid, key) as client:
        assert len((await client.list_tools()).tools) == 4
