"""Address guard: the proxy resolves names itself and checks the addresses it connects to.

A request's host is resolved here (never by the upstream library), every
resolved address is checked, and the connection goes to the checked address
(see :mod:`tenantflow.egress.proxy`), so a name cannot resolve to a public
address at check time and to a private one at connect time.

Refused unless the policy's ``allowed_addresses`` opens them: loopback,
private, link-local, shared (CGNAT), multicast, reserved, unspecified,
IPv4-mapped / -compatible IPv6, NAT64 and 6to4 forms of refused IPv4
addresses, Teredo, and cloud metadata endpoints (those only by an exact
address entry, never by a range). Numeric host spellings that are not
canonical dotted decimal (``2130706433``, ``0x7f.1``, ``127.1``, ``0177.0.0.1``)
are refused outright: resolvers read them as addresses, policies never do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

from tenantflow.egress.errors import EgressDenied, UpstreamError
from tenantflow.egress.policy import HOSTNAME, EgressPolicy, IPAddress

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IPv6 metadata
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_V4 = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)


def parse_host(host: str) -> IPAddress | None:
    """The address ``host`` spells, or ``None`` for a DNS name.

    ``host`` is lower-case without brackets. Raises :class:`EgressDenied` for a
    numeric spelling that is not canonical, or a name that is not a valid host.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise EgressDenied(f"{host!r} is not a valid IPv6 address", rule="guard.host") from None
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last):
        # WHATWG and inet_aton read a host ending in a number as an IPv4 address.
        if _CANONICAL_V4.match(host):
            return ipaddress.IPv4Address(host)
        raise EgressDenied(
            f"host {host!r} is a non-canonical IP address spelling; write the dotted decimal form",
            rule="guard.ip_spelling",
        )
    if not HOSTNAME.match(host):
        raise EgressDenied(f"{host!r} is not a valid host name", rule="guard.host")
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is refused by default (``None``: a public address)."""
    if address in METADATA_ADDRESSES:
        return "metadata"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "ipv4_mapped"
        if address.is_unspecified:
            return "unspecified"
        if address.is_loopback:
            return "loopback"
        embedded: ipaddress.IPv4Address | None = None
        if address in _NAT64 or address in _V4_COMPAT:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        elif address.sixtofour is not None:
            embedded = address.sixtofour
        elif address.teredo is not None:
            return "teredo"
        if embedded is not None:
            inner = refusal(embedded)
            return f"embedded_ipv4_{inner}" if inner else None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "non_global"
    return None


def check_address(policy: EgressPolicy, host: str, address: IPAddress) -> None:
    """Raise :class:`EgressDenied` if ``address`` (for ``host``) may not be connected to."""
    reason = refusal(address)
    if reason is None:
        return
    if reason == "metadata":
        exact = ipaddress.ip_network(address)
        if str(exact) in policy.allowed_addresses:
            return
    elif policy.address_allowed(address):
        return
    via = "" if _same(host, address) else f" (resolved from {host!r})"
    what = _WHAT.get(reason, reason.replace("_", " "))
    raise EgressDenied(
        f"address {address}{via} is {what}; "
        "only the policy's allowed_addresses open such addresses",
        rule=f"guard.{reason}",
    )


_WHAT = {
    "metadata": "a cloud metadata endpoint",
    "ipv4_mapped": "an IPv4-mapped IPv6 address",
    "link_local": "link-local",
    "non_global": "not globally routable",
    "teredo": "a Teredo address",
}


def _same(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Resolves a DNS name (never an address literal) to its addresses."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The operating system's resolver (``getaddrinfo`` on a worker thread)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as exc:
        raise UpstreamError(f"cannot resolve {host!r}: {exc.strerror}", rule="guard.dns") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # Strip an IPv6 zone id: a scoped address is link-local and refused anyway.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def resolve(host: str, port: int, resolver: Resolver = system_resolver) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal resolves to itself)."""
    literal = parse_host(host)
    if literal is not None:
        return [literal]
    addresses = await resolver(host, port)
    if not addresses:
        raise UpstreamError(f"{host!r} has no addresses", rule="guard.dns")
    return addresses


async def checked_address(
    policy: EgressPolicy, host: str, port: int, resolver: Resolver = system_resolver
) -> IPAddress:
    """Resolve ``host`` and return the address to connect to.

    Every resolved address must pass: a name that resolves to a public and a
    private address at once is refused, not half-trusted.
    """
    addresses = await resolve(host, port, resolver)
    for address in addresses:
        check_address(policy, host, address)
    return addresses[0]
