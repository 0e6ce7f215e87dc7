"""HTTP plumbing of the proxy: URL and header hygiene, redirects, capped body reads."""

from __future__ import annotations

import httpx

from tenantflow.egress.errors import (
    BadRequest,
    EgressDenied,
    EgressTimeout,
    ResponseTooLarge,
    UpstreamError,
)
from tenantflow.egress.policy import DEFAULT_PORTS, normalize_host

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Hop-by-hop and framing headers are the proxy's business, never the guest's.
DROP_REQUEST = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "accept-encoding",
        "proxy-authorization",
    }
)
DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "trailer",
        "upgrade",
        "proxy-authenticate",
    }
)
# Credentials the guest set for one origin do not follow a redirect to another.
_CROSS_ORIGIN_DROP = frozenset({"authorization", "cookie"})
DECODABLE = frozenset({"", "identity", "gzip", "deflate"})
TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def parse_url(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise BadRequest("the URL cannot be parsed", rule="request.url") from None
    if url.scheme not in DEFAULT_PORTS:
        raise EgressDenied(
            f"scheme {url.scheme!r} is not supported (http and https only)", rule="policy.schemes"
        )
    if not url.host:
        raise BadRequest("the URL has no host", rule="request.url")
    if url.userinfo:
        raise BadRequest(
            "credentials in the URL are not allowed; use a credential rule", rule="request.url"
        )
    return url.copy_with(fragment=None)


def host_of(url: httpx.URL) -> str:
    return normalize_host(url.raw_host.decode("ascii"))


def guest_headers(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, value in pairs:
        if not name or not set(name) <= TOKEN_CHARS:
            raise BadRequest(f"invalid header name {name[:40]!r}", rule="request.headers")
        if not value.isascii():
            raise BadRequest(f"header {name!r} must be ASCII", rule="request.headers")
        if any(c in value for c in "\r\n\0"):
            raise BadRequest(f"header {name!r} has a control character", rule="request.headers")
        if name.lower() not in DROP_REQUEST:
            out.append((name, value))
    return out


def redirect(
    url: httpx.URL,
    location: str,
    status: int,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> tuple[httpx.URL, str, list[tuple[str, str]], bytes]:
    """The next hop: URL, method, guest headers and body (as browsers and httpx do)."""
    try:
        target = parse_url(str(url.join(location)))
    except BadRequest:
        raise UpstreamError("the upstream redirected to an invalid URL", rule="upstream") from None
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
        headers = [(k, v) for k, v in headers if not k.lower().startswith("content-")]
    if (target.scheme, target.raw_host, target.port) != (url.scheme, url.raw_host, url.port):
        headers = [(k, v) for k, v in headers if k.lower() not in _CROSS_ORIGIN_DROP]
    return target, method, headers, body


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, refused (not truncated) past ``limit`` bytes."""
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "")
    if declared.isdigit() and not encoded and int(declared) > limit:
        raise ResponseTooLarge(
            f"response of {declared} bytes exceeds the {limit}-byte cap",
            rule="limits.response_bytes",
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(
                    f"response exceeds the {limit}-byte cap", rule="limits.response_bytes"
                )
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise EgressTimeout(
            "the response body did not arrive in time", rule="limits.timeout"
        ) from None
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"the response body broke off ({type(exc).__name__})", rule="upstream"
        ) from None
    return b"".join(chunks)
