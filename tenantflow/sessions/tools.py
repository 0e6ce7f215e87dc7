"""Programmatic tool calling, host side: the session's tools as sandbox handlers.

The guest's ``tools.NAME(**kwargs)`` sends one ``tool`` call (``tool.async``
for targets that do I/O). Here the arguments are validated against the
tool's JSON schema, the target runs (an HTTP endpoint through the egress
proxy with credentials injected, or a built-in), the result is returned as
JSON, and the call is recorded for the exec response. Failures reach the
guest as ``HandlerError`` with a message about the tool, never the host.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

from tenantflow.egress import (
    CredentialRule,
    EgressContext,
    EgressError,
    EgressPolicyPatch,
    EgressProxy,
    FetchRequest,
)
from tenantflow.sandbox import HandlerError
from tenantflow.sessions.builtins import BUILTIN_SCHEMAS, run_file_builtin
from tenantflow.sessions.errors import SessionError
from tenantflow.sessions.models import HttpTarget, ToolCall, ToolSpec
from tenantflow.sessions.workspace import Workspace

log = logging.getLogger(__name__)

ContextFactory = Callable[[EgressPolicyPatch | None, Sequence[CredentialRule]], EgressContext]


def signature(tool: ToolSpec, schema: dict[str, Any]) -> str:
    """``name(a: string, b?: integer)``: required arguments first, optional marked ``?``."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    parts = []
    for key, prop in properties.items():
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        kind = "|".join(kind) if isinstance(kind, list) else kind
        parts.append((key not in required, f"{key}{'' if key in required else '?'}: {kind}"))
    parts.sort(key=lambda p: p[0])
    return f"{tool.name}({', '.join(p for _, p in parts)})"


class ToolBox:
    """A session's tools: catalog for the guest and the handlers that run them."""

    def __init__(
        self,
        tools: Sequence[ToolSpec],
        workspace: Workspace,
        proxy: EgressProxy,
        session_context: EgressContext,
        tool_context: ContextFactory,
        record_bytes: int,
    ) -> None:
        self.tools = {t.name: t for t in tools}
        self._schemas = {t.name: self._schema_of(t) for t in tools}
        self._validators = {n: Draft202012Validator(s) for n, s in self._schemas.items()}
        self._workspace = workspace
        self._proxy = proxy
        self._session_context = session_context
        self._contexts: dict[str, EgressContext] = {}
        self._tool_context = tool_context
        self._record_bytes = record_bytes
        self.catalog = [self._describe(t) for t in tools]

    @staticmethod
    def _schema_of(tool: ToolSpec) -> dict[str, Any]:
        if tool.target.kind == "builtin" and tool.parameters == {"type": "object"}:
            return BUILTIN_SCHEMAS[tool.target.name]
        return tool.parameters

    def _describe(self, tool: ToolSpec) -> dict[str, Any]:
        schema = self._schemas[tool.name]
        return {
            "name": tool.name,
            "description": tool.description,
            "parameters": schema,
            "signature": signature(tool, schema),
            "io": self._is_io(tool),
        }

    @staticmethod
    def _is_io(tool: ToolSpec) -> bool:
        return tool.target.kind == "http" or tool.target.name == "fetch"

    def schema(self, name: str) -> dict[str, Any]:
        """The JSON schema of a tool's arguments."""
        return self._schemas[name]

    # -- handlers -------------------------------------------------------------------

    def handlers(self, calls: list[ToolCall]) -> dict[str, Any]:
        """Sandbox handlers for one exec call; every tool call is appended to ``calls``."""

        def catalog() -> list[dict[str, Any]]:
            return self.catalog

        def tool(name: str, args: dict[str, Any]) -> Any:
            started = time.perf_counter()
            spec = self._check(name, args, calls, started)
            try:
                if self._is_io(spec):
                    raise HandlerError(
                        f"tool {name!r} does I/O; call it via tool.async", type="ToolError"
                    )
                assert spec.target.kind == "builtin"
                value = run_file_builtin(self._workspace, spec.target.name, args)
            except SessionError as exc:
                self._record(calls, name, args, started, exc.message)
                raise HandlerError(
                    f"tool {name!r} failed: {exc.message}", type="ToolError"
                ) from None
            self._record(calls, name, args, started, None)
            return value

        async def tool_async(name: str, args: dict[str, Any]) -> Any:
            started = time.perf_counter()
            spec = self._check(name, args, calls, started)
            try:
                value = await self.call_io(spec, args)
            except HandlerError as exc:
                self._record(calls, name, args, started, str(exc))
                raise
            except EgressError as exc:
                self._record(calls, name, args, started, str(exc))
                raise HandlerError(f"tool {name!r}: {exc}", type="ToolError") from None
            except Exception:
                log.exception("tool %s failed", name)
                self._record(calls, name, args, started, "internal error")
                raise HandlerError(
                    f"tool {name!r} failed (internal error)", type="ToolError"
                ) from None
            self._record(calls, name, args, started, None)
            return value

        handlers: dict[str, Any] = dict(self._proxy.handlers(self._session_context))
        handlers.update({"tools.list": catalog, "tool": tool, "tool.async": tool_async})
        return handlers

    def _check(self, name: str, args: Any, calls: list[ToolCall], started: float) -> ToolSpec:
        spec = self.tools.get(name)
        if spec is None:
            self._record(calls, name, args, started, "unknown tool")
            known = ", ".join(sorted(self.tools)) or "none"
            raise HandlerError(
                f"no tool named {name!r} (this session has: {known})", type="ToolError"
            )
        error = self.validation_error(name, args)
        if error is not None:
            self._record(calls, name, args, started, error)
            raise HandlerError(error, type="ToolArgumentError")
        return spec

    def validation_error(self, name: str, args: Any) -> str | None:
        """Why ``args`` do not match the tool's schema, or ``None``."""
        if not isinstance(args, dict):
            return f"tools.{name}: arguments must be keyword arguments"
        error = best_match(self._validators[name].iter_errors(args))
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path)
        return (
            f"tools.{name}: invalid arguments{f' at {where!r}' if where else ''}: {error.message}"
        )

    def _record(
        self, calls: list[ToolCall], name: str, args: Any, started: float, error: str | None
    ) -> None:
        arguments = args
        try:
            text = json.dumps(args, default=str)
        except (TypeError, ValueError):
            text = repr(args)
            arguments = text
        if len(text) > self._record_bytes:
            arguments = text[: self._record_bytes] + "...(cut)"
        duration = (time.perf_counter() - started) * 1000
        calls.append(ToolCall(name, arguments, round(duration, 3), error is None, error))

    # -- I/O targets ------------------------------------------------------------------

    async def call_io(self, spec: ToolSpec, args: dict[str, Any]) -> Any:
        """Run an HTTP or fetch tool (args already validated)."""
        target = spec.target
        if isinstance(target, HttpTarget):
            return await self._http(spec.name, target, args)
        request = FetchRequest.from_wire(
            args["url"],
            args.get("method", "GET"),
            [list(p) for p in (args.get("headers") or {}).items()],
            base64.b64encode(str(args.get("body", "")).encode()).decode()
            if args.get("body")
            else None,
            None,
        )
        response = await self._fetch(spec.name, self._session_context, request)
        return {
            "status": response.status,
            "headers": dict(response.headers),
            "body": response.body.decode("utf-8", "replace"),
        }

    async def _http(self, name: str, target: HttpTarget, args: dict[str, Any]) -> Any:
        context = self._contexts.get(name)
        if context is None:
            context = self._contexts[name] = self._http_context(name, target)
        url, body = target.url, None
        if target.method in ("GET", "DELETE"):
            from urllib.parse import urlencode

            query = urlencode(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}
            )
            url = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        else:
            body = base64.b64encode(json.dumps(args).encode()).decode()
        headers = [["Accept", "application/json"], *([k, v] for k, v in target.headers.items())]
        if body is not None:
            headers.append(["Content-Type", "application/json"])
        request = FetchRequest.from_wire(url, target.method, headers, body, None)
        response = await self._fetch(name, context, request)
        text = response.body.decode("utf-8", "replace")
        if response.status >= 400:
            raise HandlerError(
                f"tool {name!r}: HTTP {response.status} from {urlsplit(target.url).hostname}: "
                f"{text[:300]}",
                type="ToolError",
            )
        content_type = dict((k.lower(), v) for k, v in response.headers).get("content-type", "")
        if "json" in content_type:
            try:
                return json.loads(text)
            except ValueError:
                raise HandlerError(
                    f"tool {name!r}: the endpoint sent invalid JSON", type="ToolError"
                ) from None
        return text

    def _http_context(self, name: str, target: HttpTarget) -> EgressContext:
        parts = urlsplit(target.url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        base = self._session_context.policy
        # Declaring the tool opens its own host, scheme and port (only for this tool's calls).
        patch = EgressPolicyPatch(
            add_hosts=(host,),
            schemes=tuple(sorted({*base.schemes, scheme})),
            ports=tuple(sorted({*(base.ports or (443,)), port})),
        )
        rules: list[CredentialRule] = []
        if target.credential is not None:
            rules.append(
                CredentialRule(
                    name=f"tool:{name}",
                    host=host,
                    secret=target.credential.secret,
                    header=target.credential.header,
                    template=target.credential.template,
                    schemes=(scheme,),
                )
            )
        return self._tool_context(patch, rules)

    async def _fetch(self, name: str, context: EgressContext, request: FetchRequest) -> Any:
        try:
            return await self._proxy.fetch(context, request)
        except EgressError as exc:
            raise HandlerError(f"tool {name!r}: {exc}", type="ToolError") from None
