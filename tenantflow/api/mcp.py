"""MCP server: every session is an MCP endpoint (streamable HTTP) at ``/v1/sessions/{id}/mcp``.

An agent runtime connects with any MCP client and the tenant's API key
(``Authorization: Bearer <key>``). The endpoint exposes ``python``, ``shell``
and ``files`` (read, write, list, delete) on that session, plus each of the
session's declared tools (validated against its JSON schema, run on the
host). Stateless JSON mode: every POST is self-contained, so any API
process can serve any session.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
from dataclasses import asdict
from typing import Any

import mcp_types as types
from fastapi import FastAPI
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tenantflow import __version__
from tenantflow.api.routers.sessions import session_manager
from tenantflow.api.services import Services
from tenantflow.egress import EgressError
from tenantflow.sandbox import HandlerError
from tenantflow.sessions import SessionError, SessionManager
from tenantflow.sessions.builtins import run_file_builtin

log = logging.getLogger(__name__)

PATH = "/v1/sessions/{session_id}/mcp"
SCOPE_KEY = "tenantflow.session"
_caller: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "tenantflow_mcp_caller", default=None
)

_TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "description": "Deadline in seconds."}
BUILTIN_TOOLS = [
    types.Tool(
        name="python",
        description="Run Python in the session (variables persist while the session is warm; "
        "the final expression's repr is returned as result; files persist in /workspace). "
        "Session tools are importable: from tenantflow.guest import tools.",
        input_schema={
            "type": "object",
            "properties": {"code": {"type": "string"}, "timeout": _TIMEOUT},
            "required": ["code"],
        },
    ),
    types.Tool(
        name="shell",
        description="Run a bash command line in /workspace inside the sandbox "
        "(pipes, redirections, &&, ||, loops, grep, sed, awk, find, jq, python, ...).",
        input_schema={
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": _TIMEOUT},
            "required": ["command"],
        },
    ),
    types.Tool(
        name="files",
        description="Workspace files: action read | write | list | delete. Paths are relative "
        "to /workspace. content is text, or base64 with encoding='base64'.",
        input_schema={
            "type": "object",
            "properties": {
                "action": {"enum": ["read", "write", "list", "delete"]},
                "path": {"type": "string"},
                "content": {"type": "string"},
                "encoding": {"enum": ["utf-8", "base64"]},
                "recursive": {"type": "boolean"},
            },
            "required": ["action"],
        },
    ),
]
RESERVED = {t.name for t in BUILTIN_TOOLS}


def _text(value: Any, *, error: bool = False) -> types.CallToolResult:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    structured = value if isinstance(value, dict) else None
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured, is_error=error
    )


class SessionMcp:
    """The ASGI endpoint: authenticates the tenant, finds the session, serves MCP."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.server: Server[Any] = Server(
            "tenantflow-session",
            version=__version__,
            instructions="A tenantflow agent session: a persistent /workspace with python, "
            "shell, files and the session's tools.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self._http = StreamableHTTPSessionManager(self.server, stateless=True, json_response=True)
        self._ready: asyncio.Event | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = session_manager(self._services)
        session_id = str(scope.get("path_params", {}).get("session_id", ""))
        token = ""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip() if scheme.lower() == "bearer" else ""
        tenant = await self._services.keys.authenticate(token) if token else None
        if tenant is None:
            await _problem(401, "unauthorized", "missing or unknown API key")(scope, receive, send)
            return
        try:
            await manager.open(tenant, session_id)
        except SessionError:
            await _problem(404, "not-found", f"no session {session_id!r}")(scope, receive, send)
            return
        await self._start()
        scope[SCOPE_KEY] = (tenant, session_id)
        _caller.set((tenant, session_id))
        await self._http.handle_request(scope, receive, send)

    async def _start(self) -> None:
        # The transport's task group lives as long as the app's loop; started on first use
        # because a route cannot take part in the app's lifespan.
        if self._ready is None:
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        await self._ready.wait()

    async def _run(self) -> None:
        async with self._http.run():
            assert self._ready is not None
            self._ready.set()
            await self._stop.wait()

    async def aclose(self) -> None:
        """Stop the transport's task group."""
        self._stop.set()
        if self._task is not None:
            await self._task

    # -- MCP handlers -------------------------------------------------------------------

    def _who(self, ctx: ServerRequestContext[Any]) -> tuple[SessionManager, str, str]:
        request = ctx.request
        found = getattr(request, "scope", {}).get(SCOPE_KEY) if request is not None else None
        found = found or _caller.get()
        manager = session_manager(self._services)
        if found is None:
            raise RuntimeError("MCP call outside an authenticated session request")
        return manager, found[0], found[1]

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        manager, tenant, session_id = self._who(ctx)
        session = await manager.open(tenant, session_id)
        tools = list(BUILTIN_TOOLS)
        for entry in session.toolbox.catalog:
            name = entry["name"] if entry["name"] not in RESERVED else f"tool_{entry['name']}"
            tools.append(
                types.Tool(
                    name=name,
                    description=entry["description"] or entry["signature"],
                    input_schema=entry["parameters"],
                )
            )
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        manager, tenant, session_id = self._who(ctx)
        args = dict(params.arguments or {})
        try:
            return await self._dispatch(manager, tenant, session_id, params.name, args)
        except SessionError as exc:
            return _text(f"{type(exc).__name__}: {exc.message}", error=True)
        except HandlerError as exc:
            return _text(str(exc), error=True)
        except EgressError as exc:
            return _text(f"tool {params.name!r}: {exc}", error=True)
        except (KeyError, TypeError, ValueError) as exc:
            return _text(f"invalid arguments for {params.name}: {exc}", error=True)
        except Exception:
            # Never the exception text: it is the host's, not the caller's.
            log.exception("MCP tool %s failed", params.name)
            return _text(f"{params.name} failed (internal error)", error=True)

    async def _dispatch(
        self, manager: SessionManager, tenant: str, session_id: str, name: str, args: dict[str, Any]
    ) -> types.CallToolResult:
        timeout = args.get("timeout")
        if name == "python":
            result = await manager.python(tenant, session_id, str(args["code"]), deadline=timeout)
            return _text(_exec_dict(result), error=not result.ok)
        if name == "shell":
            result = await manager.shell(tenant, session_id, str(args["command"]), deadline=timeout)
            return _text(_exec_dict(result), error=not result.ok or result.exit_code != 0)
        if name == "files":
            return await self._files(manager, tenant, session_id, args)
        session = await manager.open(tenant, session_id)
        tool_name = name[5:] if name.startswith("tool_") and name[5:] in RESERVED else name
        spec = session.toolbox.tools.get(tool_name)
        if spec is None:
            return _text(f"no tool named {name!r}", error=True)
        problem = session.toolbox.validation_error(tool_name, args)
        if problem is not None:
            return _text(problem, error=True)
        if spec.target.kind == "builtin" and spec.target.name != "fetch":
            value = await asyncio.to_thread(
                run_file_builtin, session.workspace, spec.target.name, args
            )
        else:
            value = await session.toolbox.call_io(spec, args)
        return _text(value if isinstance(value, dict | str) else {"result": value})

    async def _files(
        self, manager: SessionManager, tenant: str, session_id: str, args: dict[str, Any]
    ) -> types.CallToolResult:
        action, path = args["action"], str(args.get("path", ""))
        base64_encoded = args.get("encoding") == "base64"
        if action == "read":
            data = await manager.files.read(tenant, session_id, path)
            if base64_encoded:
                return _text(base64.b64encode(data).decode())
            return _text(data.decode("utf-8", "replace"))
        if action == "write":
            content = str(args.get("content", ""))
            raw = base64.b64decode(content) if base64_encoded else content.encode()
            size = await manager.files.write(tenant, session_id, path, raw)
            return _text({"path": path, "size": size})
        if action == "list":
            entries = await manager.files.list(
                tenant, session_id, path, recursive=bool(args.get("recursive", True))
            )
            return _text({"items": [asdict(e) for e in entries]})
        if action == "delete":
            await manager.files.delete(
                tenant, session_id, path, recursive=bool(args.get("recursive"))
            )
            return _text({"deleted": path})
        return _text(f"unknown files action {action!r}", error=True)


def _exec_dict(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = asdict(result)
    return data


def _problem(status: int, code: str, detail: str) -> JSONResponse:
    body = {"type": f"/problems/{code}", "title": code, "status": status, "detail": detail}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def install(app: FastAPI, services: Services) -> SessionMcp:
    """Add the MCP endpoint to ``app``; returns it (``await endpoint.aclose()`` on shutdown)."""
    endpoint = SessionMcp(services)
    # An ASGI endpoint (not a request handler): Starlette passes scope, receive and send through.
    app.add_route(PATH, endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)  # type: ignore[arg-type]
    app.state.session_mcp = endpoint
    return endpoint
