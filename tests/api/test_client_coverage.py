"""The clients cover every route of the API, and every client method calls a real route.

The routes are what ``create_app`` documents (``app.openapi()``). The client side
is what the methods really send: each public method of :class:`Client` and
:class:`AsyncClient` is called with placeholder arguments against a real server
with an unknown API key, through a transport that records each request and the
status the server gave it. The server's own router decides whether a request
hit a route (401, not 404/405), and Starlette's path regexes map it onto the
route's template. Nothing is excluded silently: routes the clients deliberately
leave out, and methods that send nothing, are listed with the reason.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from re import Pattern
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import compile_path

from tenantflow.api.app import create_app
from tenantflow.api.models import InstanceCreate, QuotaUpdate
from tenantflow.api.models.egress import CredentialRuleSpec, EgressPolicy, PolicyPatch
from tenantflow.client import ApiError, AsyncClient, Client
from tests.api.conftest import Running
from tests.conftest import make_settings

Route = tuple[str, str]
"""(HTTP method, path template as in the OpenAPI document)."""

HIDDEN_ROUTES: dict[str, str] = {
    "/openapi.json": "the schema itself (FastAPI), read by tools, not an API operation",
    "/docs": "Swagger UI page for browsers",
    "/docs/oauth2-redirect": "Swagger UI's OAuth helper page",
    "/redoc": "ReDoc page for browsers",
    "/problems/{code}": "HTML documentation of a problem type (the `type` URI of every error)",
    "/v1/sessions/{session_id}/mcp": "MCP streamable-HTTP endpoint: agents speak MCP to it with "
    "an MCP client; this client's session methods cover the same operations over REST",
}
"""Routes outside the OpenAPI document, which the clients deliberately do not wrap."""

NO_REQUEST = {"close": "closes the connection pool"}
"""Public client methods that send nothing."""

SESSION_ID = "ses_" + "0" * 24
PLACEHOLDERS: dict[str, Any] = {
    "key_id": "key_placeholder",
    "name": "placeholder",
    "workflow": "placeholder",
    "bundle": b"def run(event, step):\n    return None\n",
    "items": [InstanceCreate()],
    "instance_id": "ins_placeholder",
    "type": "placeholder",
    "tenant_id": "t_placeholder",
    "quotas": QuotaUpdate(),
    "value": "placeholder-value",
    "policy": EgressPolicy(),
    "patch": PolicyPatch(),
    "rule": CredentialRuleSpec(name="placeholder", host="example.com", secret="S"),
    "session_id": SESSION_ID,
    "snapshot_id": "snap_" + "0" * 24,
    "code": "1",
    "command": "true",
    "path": "dir/file.txt",
    "data": b"\x00\xff",
    "archive": b"",
}
"""An argument for each required parameter, by name (any value the method accepts)."""


@dataclass(frozen=True)
class AppRoute:
    """A route of the app: how the server matches it and what it documents."""

    method: str
    template: str
    regex: Pattern[str]


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """The app as ``create_app`` builds it (not started: only its routes are read)."""
    built = create_app(make_settings(tmp_path_factory.mktemp("coverage")))
    yield built
    await built.state.services.close()


def route_entries(app: FastAPI) -> Iterator[Any]:
    """Every route of the app, with routers included under their prefixes."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    yield from walk(app.routes) if walk is not None else app.routes


def in_schema(entry: Any) -> bool:
    return bool(getattr(getattr(entry, "route", entry), "include_in_schema", False))


def documented(app: FastAPI) -> set[Route]:
    """(method, template) of every operation in the OpenAPI document."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def app_routes(app: FastAPI) -> list[AppRoute]:
    """The documented routes in the order the router tries them, with their regexes."""
    found = []
    for entry in route_entries(app):
        if not in_schema(entry):
            continue
        regex = compile_path(entry.path)[0]
        for method in sorted(entry.methods - {"HEAD"}):
            found.append(AppRoute(method, entry.path_format, regex))
    return found


def route_of(routes: list[AppRoute], method: str, path: str) -> Route | None:
    """The route the server dispatches ``method path`` to (first full match, as Starlette)."""
    for route in routes:
        if route.method == method and route.regex.match(path):
            return (route.method, route.template)
    return None


class Recording(httpx.HTTPTransport):
    """A real transport that also notes each request's method, path and answer status."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


class AsyncRecording(httpx.AsyncHTTPTransport):
    """:class:`Recording` for the async client."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def arguments(name: str, method: Any) -> dict[str, Any]:
    """Placeholders for the required parameters of ``method`` (defaults for the rest)."""
    args: dict[str, Any] = {}
    for param in list(inspect.signature(method).parameters.values())[1:]:
        if param.default is not inspect.Parameter.empty or param.kind in (
            inspect.Parameter.VAR_KEYWORD,
            inspect.Parameter.VAR_POSITIONAL,
        ):
            continue
        if param.name not in PLACEHOLDERS:
            pytest.fail(f"{name}: add a placeholder for its parameter {param.name!r}")
        args[param.name] = PLACEHOLDERS[param.name]
    return args


UNKNOWN_KEY = "tf_" + "0" * 40
"""No tenant has it: every authenticated route answers 401 before doing anything."""


def sync_requests(url: str) -> dict[str, list[tuple[str, str, int]]]:
    """What each public method of :class:`Client` sent, and the statuses it got."""
    sent: dict[str, list[tuple[str, str, int]]] = {}
    transport = Recording()
    with Client(url, UNKNOWN_KEY, transport=transport) as tf:
        for name, function in public_methods(Client).items():
            if name in NO_REQUEST:
                continue
            transport.seen = []
            try:
                result = getattr(tf, name)(**arguments(name, function))
                if isinstance(result, Iterator):
                    list(result)
            except ApiError:
                pass
            sent[name] = transport.seen
        # Last, as they end the client.
        for name in NO_REQUEST:
            transport.seen = []
            getattr(tf, name)(**arguments(name, getattr(Client, name)))
            sent[name] = transport.seen
    return sent


async def async_requests(url: str) -> dict[str, list[tuple[str, str, int]]]:
    """What each public method of :class:`AsyncClient` sent, and the statuses it got."""
    sent: dict[str, list[tuple[str, str, int]]] = {}
    transport = AsyncRecording()
    async with AsyncClient(url, UNKNOWN_KEY, transport=transport) as tf:
        for name, function in public_methods(AsyncClient).items():
            if name in NO_REQUEST:
                continue
            transport.seen = []
            try:
                result = getattr(tf, name)(**arguments(name, function))
                if inspect.isawaitable(result):
                    await result
                elif isinstance(result, AsyncIterator):
                    async for _ in result:
                        pass
            except ApiError:
                pass
            sent[name] = transport.seen
        for name in NO_REQUEST:
            transport.seen = []
            await getattr(tf, name)(**arguments(name, getattr(AsyncClient, name)))
            sent[name] = transport.seen
    return sent


def routes_by_method(
    routes: list[AppRoute], sent: dict[str, list[tuple[str, str, int]]]
) -> dict[str, set[Route]]:
    """The routes each client method reached; fails on a request the server did not route."""
    reached: dict[str, set[Route]] = {}
    for name, requests in sent.items():
        if name in NO_REQUEST:
            assert requests == [], f"{name} is listed as sending nothing but sent {requests}"
            continue
        assert requests, f"{name} sent no request (list it in NO_REQUEST with the reason)"
        reached[name] = set()
        for method, path, status in requests:
            # 404/405 come from the router itself here: the unknown key stops every
            # request that reaches a route at authentication (401).
            assert status not in (404, 405), f"{name}: {method} {path} matched no route ({status})"
            route = route_of(routes, method, path)
            assert route is not None, f"{name}: {method} {path} is not a documented route"
            reached[name].add(route)
    return reached


def test_documented_routes_are_the_app_routes(app: FastAPI) -> None:
    """The regexes used to map requests cover exactly the OpenAPI operations."""
    routes = app_routes(app)
    assert {(r.method, r.template) for r in routes} == documented(app)
    assert len(routes) == len(documented(app))


def test_only_listed_routes_are_left_out_of_the_schema(app: FastAPI) -> None:
    """A route hidden from the OpenAPI document (so from the check below) must be listed."""
    hidden = {entry.path_format for entry in route_entries(app) if not in_schema(entry)}
    assert hidden == set(HIDDEN_ROUTES), "list each hidden route in HIDDEN_ROUTES with why"


def test_served_schema_is_the_app_schema(shared_server: Running, app: FastAPI) -> None:
    """The server under test documents the same operations as the app built here."""
    served = httpx.get(f"{shared_server.url}/openapi.json", timeout=60).json()["paths"]
    assert {(m.upper(), p) for p, ops in served.items() for m in ops} == documented(app)


def test_both_clients_have_the_same_methods() -> None:
    sync, async_ = public_methods(Client), public_methods(AsyncClient)
    assert set(sync) == set(async_)
    for name in sync:
        # Same parameters, names and defaults: code moves between the two unchanged.
        sync_params = list(inspect.signature(sync[name]).parameters.items())
        async_params = list(inspect.signature(async_[name]).parameters.items())
        assert [(n, p.kind, p.default) for n, p in sync_params] == [
            (n, p.kind, p.default) for n, p in async_params
        ], name


async def test_every_route_has_a_client_method_in_both_clients(
    shared_server: Running, app: FastAPI
) -> None:
    routes = app_routes(app)
    wanted = documented(app)
    sync_sent, async_sent = await asyncio.gather(
        asyncio.to_thread(sync_requests, shared_server.url), async_requests(shared_server.url)
    )
    sync = routes_by_method(routes, sync_sent)
    async_ = routes_by_method(routes, async_sent)
    # Each method sends the same requests in both clients.
    assert sync == async_
    covered = set().union(*sync.values())
    missing = sorted(wanted - covered)
    assert not missing, f"routes without a client method: {missing}"
    assert covered == wanted


def test_placeholder_paths_reach_the_intended_routes(app: FastAPI) -> None:
    """The mapping itself can fail: a file path with slashes is the files route, not another."""
    routes = app_routes(app)
    files = f"/v1/sessions/{SESSION_ID}/files/a/b/c.txt"
    assert route_of(routes, "GET", files) == ("GET", "/v1/sessions/{session_id}/files/{path}")
    assert route_of(routes, "GET", f"/v1/sessions/{SESSION_ID}/nope") is None
    assert route_of(routes, "PATCH", "/v1/secrets/x") is None


def test_importing_the_client_stays_light() -> None:
    """The client, session methods included, loads neither the runtime nor the server stack."""
    heavy = ["wasmtime", "sqlalchemy", "fastapi", "tenantflow.sessions", "tenantflow.egress"]
    code = (
        "import sys, tenantflow.client\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
        "from tenantflow.client import _calls\n"
        "_calls.get_session('ses_x')\n"
        "_calls.session_create('s', None, None, [{'name': 'x', 'target': {'url': 'https://a/'}}],"
        " None)\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "[]"]
