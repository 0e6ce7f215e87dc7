"""The proxy's request and response, its limits, and their form on the sandbox bridge.

On the bridge (JSON), bodies travel as base64 so binary data survives, and
headers as ``[[name, value], ...]`` so repeated headers keep their order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tenantflow.egress.errors import BadRequest

MiB = 1024 * 1024


@dataclass(frozen=True)
class EgressLimits:
    """Per-request limits of the proxy. Every number is a tunable with a documented default."""

    max_response_bytes: int = 10 * MiB
    """Decoded response body cap; a larger body fails the request (nothing partial)."""
    max_request_bytes: int = 10 * MiB
    """Request body cap."""
    timeout_s: float = 30.0
    """Whole-request deadline (all redirects, body included) when the guest gives none."""
    max_timeout_s: float = 300.0
    """Upper bound on a guest-chosen timeout."""
    connect_timeout_s: float = 10.0
    max_redirects: int = 5
    """Redirects followed before the request fails (0: any redirect fails the request)."""


@dataclass(frozen=True)
class FetchRequest:
    """One guest request, as the guest wrote it (before policy and injection)."""

    url: str
    method: str = "GET"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    timeout: float | None = None

    @classmethod
    def from_wire(
        cls,
        url: Any,
        method: Any = "GET",
        headers: Any = None,
        body: Any = None,
        timeout: Any = None,
    ) -> FetchRequest:
        """Validate the JSON arguments of the guest's ``fetch`` call."""
        if not isinstance(url, str) or not url:
            raise BadRequest("url must be a non-empty string", rule="request.url")
        if not isinstance(method, str):
            raise BadRequest("method must be a string", rule="request.method")
        pairs: list[tuple[str, str]] = []
        items = headers.items() if isinstance(headers, Mapping) else headers or []
        if not isinstance(items, list | tuple) and not isinstance(headers, Mapping):
            raise BadRequest("headers must be a dict or a list of pairs", rule="request.headers")
        for item in items:
            if not (isinstance(item, list | tuple) and len(item) == 2):
                raise BadRequest("headers must be name/value pairs", rule="request.headers")
            name, value = item
            if not isinstance(name, str) or not isinstance(value, str):
                raise BadRequest("header names and values must be strings", rule="request.headers")
            pairs.append((name, value))
        data = b""
        if body is not None:
            if not isinstance(body, str):
                raise BadRequest("body must be base64 text on the bridge", rule="request.body")
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("body is not valid base64", rule="request.body") from None
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise BadRequest("timeout must be a positive number of seconds", rule="request.timeout")
        return cls(url=url, method=method, headers=pairs, body=data, timeout=timeout)


@dataclass(frozen=True)
class FetchResponse:
    """What the guest gets: already size-capped and redacted."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str
    """Final URL (after redirects), without injected query parameters."""
    redirects: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The JSON value returned over the sandbox bridge."""
        return {
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "body": base64.b64encode(self.body).decode("ascii"),
            "url": self.url,
            "redirects": self.redirects,
        }
