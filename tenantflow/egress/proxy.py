"""The egress proxy: every outbound request of a sandbox run goes through :class:`EgressProxy`.

Per hop (the first request and each redirect): policy check -> name resolved
here and every address checked -> credential injection for that host only ->
request sent to the checked address (``Host`` header and TLS SNI carry the
name, so certificates are verified against it). Then: body size cap,
redaction of every secret value the run has read, one audit entry.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tenantflow.egress import _http, guard, inject
from tenantflow.egress.audit import AuditEntry, Decision
from tenantflow.egress.context import EgressContext
from tenantflow.egress.errors import (
    BadRequest,
    EgressDenied,
    EgressError,
    EgressTimeout,
    RequestTooLarge,
    TooManyRedirects,
    UpstreamError,
    to_handler_error,
)
from tenantflow.egress.models import EgressLimits, FetchRequest, FetchResponse
from tenantflow.egress.policy import DEFAULT_PORTS, IPAddress

FetchHandler = Callable[..., Awaitable[dict[str, Any]]]

_MAX_TLS_POOLS = 256


@dataclass
class _Trace:
    """What the audit entry needs, filled in as the request progresses."""

    method: str
    scheme: str = ""
    host: str = ""
    port: int | None = None
    path: str = ""
    final_host: str = ""
    status: int | None = None
    request_bytes: int = 0
    response_bytes: int = 0
    redirects: int = 0
    rules: list[str] = field(default_factory=list)


class EgressProxy:
    """Sends guests' requests under policy, with credentials injected and responses scrubbed.

    One per process; ``async with EgressProxy() as proxy`` or ``await proxy.aclose()``.
    Connections are pooled per checked address (plain HTTP) and per host name (TLS).
    ``verify`` is the TLS trust (an ``ssl.SSLContext`` or ``True`` for the default
    store); ``resolver`` replaces the system resolver (for example a dedicated DNS
    client), and is the only place a host name is ever resolved.
    """

    def __init__(
        self,
        limits: EgressLimits | None = None,
        *,
        verify: ssl.SSLContext | bool = True,
        resolver: guard.Resolver = guard.system_resolver,
    ) -> None:
        self.limits = limits or EgressLimits()
        self._resolver = resolver
        self._verify = verify
        self._plain = self._new_transport()
        self._tls: dict[str, httpx.AsyncHTTPTransport] = {}
        _quiet_header_traces()
        self._closed = False

    async def __aenter__(self) -> EgressProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection. Safe to call twice."""
        self._closed = True
        transports = [self._plain, *self._tls.values()]
        self._tls.clear()
        for transport in transports:
            await transport.aclose()

    def handlers(self, ctx: EgressContext) -> dict[str, FetchHandler]:
        """The sandbox handlers that give a run the ``fetch`` capability under ``ctx``."""

        async def fetch(
            url: Any,
            method: Any = "GET",
            headers: Any = None,
            body: Any = None,
            timeout: Any = None,  # noqa: ASYNC109 (the guest's wire argument)
        ) -> dict[str, Any]:
            try:
                request = FetchRequest.from_wire(url, method, headers, body, timeout)
                response = await self.fetch(ctx, request)
            except EgressError as exc:
                raise to_handler_error(exc) from None
            return response.to_wire()

        return {"fetch": fetch}

    async def fetch(self, ctx: EgressContext, request: FetchRequest) -> FetchResponse:
        """Send ``request`` for ``ctx``; raises an :class:`EgressError` subclass when refused.

        Exactly one audit entry is recorded per call, whatever the outcome.
        """
        started = time.perf_counter()
        trace = _Trace(method=request.method.upper())
        limits = ctx.limits or self.limits
        timeout = min(request.timeout or limits.timeout_s, limits.max_timeout_s)
        if ctx.deadline is not None:
            timeout = max(0.0, min(timeout, ctx.deadline - time.monotonic()))
        try:
            try:
                spare: list[httpx.AsyncHTTPTransport] = []
                try:
                    async with asyncio.timeout(timeout):
                        response = await self._follow(ctx, request, trace, limits, timeout, spare)
                finally:
                    for transport in spare:
                        await transport.aclose()
            except TimeoutError:
                raise EgressTimeout(
                    f"no complete response within {timeout:g} s", rule="limits.timeout"
                ) from None
        except EgressError as exc:
            decision: Decision = "denied" if isinstance(exc, EgressDenied) else "error"
            await self._audit(ctx, trace, started, decision, exc.rule, exc.reason)
            raise
        except asyncio.CancelledError:
            # The run ended (deadline, terminate) while the request was in flight.
            await self._audit(ctx, trace, started, "error", "cancelled", "the run was stopped")
            raise
        except Exception:
            await self._audit(ctx, trace, started, "error", "internal", "proxy failure")
            raise
        await self._audit(ctx, trace, started, "allowed", "", "")
        return response

    async def _follow(
        self,
        ctx: EgressContext,
        request: FetchRequest,
        trace: _Trace,
        limits: EgressLimits,
        deadline_s: float,
        spare: list[httpx.AsyncHTTPTransport],
    ) -> FetchResponse:
        url = _http.parse_url(request.url)
        trace.scheme, trace.host = url.scheme, _http.host_of(url)
        trace.port, trace.path = url.port, url.path
        method = trace.method
        if not method or not set(method) <= _http.TOKEN_CHARS:
            raise BadRequest(f"invalid method {request.method!r}", rule="request.method")
        headers = _http.guest_headers(request.headers)
        body = request.body
        trace.request_bytes = len(body)
        if len(body) > limits.max_request_bytes:
            raise RequestTooLarge(
                f"request body of {len(body)} bytes exceeds {limits.max_request_bytes}",
                rule="limits.request_bytes",
            )
        inject.refuse_placeholders(request.url, body)
        while True:
            scheme, host = url.scheme, _http.host_of(url)
            port = url.port or DEFAULT_PORTS[scheme]
            trace.final_host = host
            guard.parse_host(host)  # odd IP spellings are named as such, before the host list
            ctx.policy.check(scheme=scheme, host=host, port=port, method=method)
            address = await guard.checked_address(ctx.policy, host, port, self._resolver)
            injection = inject.plan(ctx.rules, ctx.policy, scheme, host, headers)
            values = await ctx.secret_values(injection.secret_names)
            ctx.add_redactions(inject.basic_forms(injection.rules, values))
            trace.rules.extend(n for n in injection.rule_names if n not in trace.rules)
            hop_headers, query = inject.apply(injection, values, headers, url.params.multi_items())
            target = url.copy_with(params=query) if query != url.params.multi_items() else url
            response = await self._send(
                method,
                target,
                hop_headers,
                body,
                scheme,
                host,
                port,
                address,
                limits,
                deadline_s,
                spare,
            )
            try:
                location = response.headers.get("location")
                if response.status_code in _http.REDIRECTS and location is not None:
                    if trace.redirects >= limits.max_redirects:
                        raise TooManyRedirects(
                            f"more than {limits.max_redirects} redirects",
                            rule="limits.redirects",
                        )
                    trace.redirects += 1
                    url, method, headers, body = _http.redirect(
                        url,
                        ctx.redactor.text(location),
                        response.status_code,
                        method,
                        headers,
                        body,
                    )
                    continue
                trace.status = response.status_code
                data = (
                    b""
                    if method == "HEAD"
                    else await _http.read_capped(response, limits.max_response_bytes)
                )
            finally:
                await response.aclose()
            trace.response_bytes = len(data)
            redactor = ctx.redactor
            return FetchResponse(
                status=response.status_code,
                headers=[
                    (redactor.text(k), redactor.text(v))
                    for k, v in response.headers.multi_items()
                    if k.lower() not in _http.DROP_RESPONSE
                ],
                body=redactor.bytes(data),
                url=redactor.text(str(url)),
                redirects=trace.redirects,
            )

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        body: bytes,
        scheme: str,
        host: str,
        port: int,
        address: IPAddress,
        limits: EgressLimits,
        deadline_s: float,
        spare: list[httpx.AsyncHTTPTransport],
    ) -> httpx.Response:
        # Connect to the address the guard checked; the name travels in Host and SNI only.
        target = url.copy_with(host=str(address))
        netloc = url.netloc.decode("ascii")
        extensions: dict[str, Any] = {
            "timeout": {
                "connect": min(limits.connect_timeout_s, deadline_s),
                "read": deadline_s,
                "write": deadline_s,
                "pool": deadline_s,
            }
        }
        if scheme == "https":
            extensions["sni_hostname"] = host
        try:
            request = httpx.Request(
                method,
                target,
                headers=[("Host", netloc), *headers, ("Accept-Encoding", "gzip, deflate")],
                content=body if body or method not in ("GET", "HEAD") else None,
                extensions=extensions,
            )
        except UnicodeEncodeError:
            # Guest headers are checked to be ASCII already: an injected value is not.
            raise BadRequest(
                "a credential value is not ASCII and cannot travel in a header",
                rule="inject.value",
            ) from None
        # The transport, not a Client: no Client-level request log line (it would
        # print the URL with an injected query parameter), no cookie jar, less overhead.
        transport = self._transport(scheme, host, spare)
        try:
            response = await transport.handle_async_request(request)
            response.request = request
        except httpx.TimeoutException:
            raise EgressTimeout(f"{host} did not answer in time", rule="limits.timeout") from None
        except httpx.HTTPError as exc:
            # Never the exception text: it may quote a header value, hence a secret.
            raise UpstreamError(
                f"could not complete the request to {host}:{port} ({type(exc).__name__})",
                rule="upstream",
            ) from None
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if any(part.strip() not in _http.DECODABLE for part in encoding.split(",")):
            await response.aclose()
            raise UpstreamError(
                f"{host} answered with unsupported content-encoding {encoding!r}",
                rule="upstream.encoding",
            )
        return response

    def _transport(
        self, scheme: str, host: str, spare: list[httpx.AsyncHTTPTransport]
    ) -> httpx.AsyncHTTPTransport:
        if self._closed:
            raise UpstreamError("the egress proxy is closed", rule="proxy.closed")
        if scheme == "http":
            return self._plain
        # TLS connections are pooled per host name: a connection verified for one
        # name must never carry a request for another name at the same address.
        transport = self._tls.get(host)
        if transport is None:
            transport = self._new_transport()
            if len(self._tls) < _MAX_TLS_POOLS:
                self._tls[host] = transport
            else:
                spare.append(transport)  # one-off, closed when the request is done
        return transport

    def _new_transport(self) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=self._verify,
            trust_env=False,  # never route through an HTTP(S)_PROXY from the environment
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def _audit(
        self,
        ctx: EgressContext,
        trace: _Trace,
        started: float,
        decision: Decision,
        rule: str,
        reason: str,
    ) -> None:
        entry = AuditEntry(
            tenant=ctx.tenant,
            instance=ctx.instance,
            session=ctx.session,
            method=trace.method,
            scheme=trace.scheme,
            host=trace.host,
            port=trace.port,
            path=trace.path,
            status=trace.status,
            request_bytes=trace.request_bytes,
            response_bytes=trace.response_bytes,
            duration_ms=(time.perf_counter() - started) * 1000,
            decision=decision,
            rule=rule,
            reason=ctx.redactor.text(reason),
            credential_rules=tuple(trace.rules),
            redirects=trace.redirects,
            final_host=trace.final_host if trace.final_host != trace.host else None,
        )
        await ctx.audit.record(entry)


class _DropHeaderTraces(logging.Filter):
    """Drops httpcore's DEBUG lines that print response headers (an echo may hold a secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("receive_response_headers")


_HEADER_FILTER = _DropHeaderTraces()


def _quiet_header_traces() -> None:
    for name in ("httpcore.http11", "httpcore.http2"):
        logger = logging.getLogger(name)
        if _HEADER_FILTER not in logger.filters:
            logger.addFilter(_HEADER_FILTER)
