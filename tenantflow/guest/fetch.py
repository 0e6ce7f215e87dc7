"""``fetch``: outbound HTTP from inside the sandbox, through the host's egress proxy.

The guest has no sockets; ``fetch`` asks the host's ``fetch`` handler, which
applies the tenant's egress policy, injects credentials (the guest never sees
them; write ``{{secret:NAME}}`` in a header to use one where a rule allows
it), caps and scrubs the response. A refusal raises :class:`EgressDenied`
naming the rule that refused.
"""

from __future__ import annotations

import binascii

from tenantflow.guest import _wire
from tenantflow.guest._channel import HostError, call

# Guest modules never import typing at run time: it costs ~50 ms to import in
# CPython for WASI. Annotations stay strings (``from __future__ import annotations``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class EgressError(Exception):
    """The request failed in the egress proxy; ``type`` is stable, ``rule`` names the cause."""

    def __init__(self, message: str, *, type: str = "EgressError") -> None:
        super().__init__(message)
        self.type = type
        self.rule, self.reason = _split(message)


class EgressDenied(EgressError):
    """The egress policy, the address guard or a credential rule refused the request."""


def _split(message: str) -> tuple[str, str]:
    # The host sends "[rule] reason".
    if message.startswith("[") and "] " in message:
        rule, _, reason = message[1:].partition("] ")
        return rule, reason
    return "", message


class Response:
    """An HTTP response: ``status``, ``headers`` (case-insensitive get), ``body`` bytes."""

    def __init__(
        self, status: int, headers: list[tuple[str, str]], body: bytes, url: str, redirects: int
    ) -> None:
        self.status = status
        self.headers = Headers(headers)
        self.body = body
        self.url = url
        self.redirects = redirects

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url}>"

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def text(self, encoding: str | None = None) -> str:
        """The body decoded with ``encoding``, else the Content-Type charset, else UTF-8."""
        return self.body.decode(encoding or self._charset(), "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _wire.loads(self.text())

    def raise_for_status(self) -> Response:
        """Raise :class:`HTTPStatusError` for a 4xx or 5xx status; return self otherwise."""
        if self.status >= 400:
            raise HTTPStatusError(f"HTTP {self.status} from {self.url}", response=self)
        return self

    def _charset(self) -> str:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"


class HTTPStatusError(Exception):
    """A response had an error status (raised only by :meth:`Response.raise_for_status`)."""

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message)
        self.response = response


class Headers:
    """Response headers in order; lookups ignore case."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name`` (several are joined with ``, ``), or ``default``."""
        values = self.get_list(name)
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``."""
        lowered = name.lower()
        return [v for k, v in self._items if k.lower() == lowered]

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in order."""
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        values = self.get_list(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_list(name))

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
    timeout: float | None = None,
) -> Response:
    """Send an HTTP request through the egress proxy and return its :class:`Response`.

    ``body`` is bytes or text (UTF-8); ``json`` serializes a value and sets
    Content-Type. Raises :class:`EgressDenied` when a rule refuses the request
    and :class:`EgressError` for timeouts, size caps and upstream failures.
    """
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if json is not None:
        if body is not None:
            raise ValueError("give body or json, not both")
        body = _wire.dumps(json)
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("Content-Type", "application/json"))
    data = body.encode("utf-8") if isinstance(body, str) else body
    args: dict[str, Any] = {"url": url, "method": method, "headers": [list(p) for p in pairs]}
    if data is not None:
        args["body"] = binascii.b2a_base64(data, newline=False).decode("ascii")
    if timeout is not None:
        args["timeout"] = timeout
    try:
        reply = call("fetch", **args)
    except HostError as exc:
        if exc.type == "EgressDenied":
            raise EgressDenied(str(exc), type=exc.type) from None
        if exc.type.startswith("Egress"):
            raise EgressError(str(exc), type=exc.type) from None
        raise
    return Response(
        status=int(reply["status"]),
        headers=[(str(k), str(v)) for k, v in reply["headers"]],
        body=binascii.a2b_base64(reply["body"]),
        url=str(reply["url"]),
        redirects=int(reply.get("redirects", 0)),
    )
