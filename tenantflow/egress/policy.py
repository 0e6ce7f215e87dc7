"""Egress policy: which schemes, hosts, ports and methods a run may reach.

A policy is immutable and default-deny. The tenant's policy is the base; a
workflow and then a session may override it with an :class:`EgressPolicyPatch`
(fields a patch sets replace the base's; ``add_hosts`` / ``add_addresses``
extend them). Both are pydantic models, ready to be sent over the API as is.

``allowed_addresses`` is the only way past the private-address guard
(:mod:`tenantflow.egress.guard`): an exact address or a CIDR range the
operator deliberately opens, for example a service on the host's loopback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator

# Pure pydantic, shared with the wire models (the client imports it without this package).
from tenantflow.api.models.specs import EgressPolicyPatch as EgressPolicyPatch
from tenantflow.egress.errors import EgressDenied

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_host(host: str) -> str:
    """Lower-case, no brackets around IPv6, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$"
)
"""A lower-case DNS name: labels of 1-63 letters, digits, '-' and '_', 253 characters at most."""


def host_matches(pattern: str, host: str) -> bool:
    """``pattern`` is an exact host or ``*.suffix`` (any depth below suffix, not suffix itself)."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _validate_pattern(pattern: str) -> str:
    value = normalize_host(pattern)
    if not value.isascii():
        # Requests are matched on the IDNA (punycode) form the proxy sends.
        try:
            value = ".".join(
                label if label == "*" else label.encode("idna").decode("ascii")
                for label in value.split(".")
            )
        except UnicodeError:
            raise ValueError(f"invalid host pattern {pattern!r}") from None
    bare = value[2:] if value.startswith("*.") else value
    if not _is_ip(bare) and not HOSTNAME.match(bare):
        raise ValueError(
            f"invalid host pattern {pattern!r}: use 'api.example.com' or '*.example.com'"
        )
    return value


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


class EgressPolicy(BaseModel):
    """Where a run may connect. Everything not listed is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Literal["deny", "allow"] = "deny"
    """``deny``: only ``allowed_hosts``. ``allow``: any host (the address guard still
    applies), and credential injection is refused."""
    allowed_hosts: tuple[str, ...] = ()
    """Exact hosts (``api.example.com``, ``203.0.113.7``) or ``*.example.com``."""
    schemes: tuple[Literal["http", "https"], ...] = ("https",)
    ports: tuple[int, ...] = ()
    """Allowed ports; empty means the scheme's default port only (80, 443)."""
    methods: tuple[str, ...] = DEFAULT_METHODS
    allowed_addresses: tuple[str, ...] = ()
    """Addresses or CIDRs the private-address guard lets through (``10.0.0.0/8``)."""

    _networks: tuple[IPNetwork, ...] = PrivateAttr(default=())

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_validate_pattern(v) for v in value))

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(dict.fromkeys(v.strip().upper() for v in value))
        if not all(m.isalpha() for m in out):
            raise ValueError("methods must be HTTP method names")
        return out

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 < p < 65536 for p in value):
            raise ValueError("ports must be between 1 and 65535")
        return value

    @field_validator("allowed_addresses")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(n) for n in _networks(normalize_host(v) for v in value))

    def model_post_init(self, context: object, /) -> None:
        self._networks = _networks(self.allowed_addresses)

    @property
    def is_default_deny(self) -> bool:
        """Whether only listed hosts are reachable (required for credential injection)."""
        return self.default == "deny"

    def check(self, *, scheme: str, host: str, port: int, method: str) -> None:
        """Raise :class:`EgressDenied` naming the first policy rule the request breaks."""
        if scheme not in self.schemes:
            raise EgressDenied(
                f"scheme {scheme!r} is not allowed (allowed: {', '.join(self.schemes)})",
                rule="policy.schemes",
            )
        if method not in self.methods:
            raise EgressDenied(f"method {method} is not allowed", rule="policy.methods")
        if self.default == "deny" and not any(host_matches(p, host) for p in self.allowed_hosts):
            raise EgressDenied(
                f"host {host!r} is not in the allowed hosts (default deny)", rule="policy.hosts"
            )
        allowed_ports = self.ports or (DEFAULT_PORTS[scheme],)
        if port not in allowed_ports:
            raise EgressDenied(f"port {port} is not allowed for {host!r}", rule="policy.ports")

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether ``address`` is explicitly opened past the private-address guard."""
        return any(address.version == n.version and address in n for n in self._networks)

    def override(self, *patches: EgressPolicyPatch | None) -> EgressPolicy:
        """This policy with ``patches`` applied in order (tenant -> workflow -> session)."""
        data = self.model_dump()
        for patch in patches:
            if patch is None:
                continue
            fields = patch.model_dump(exclude_unset=True, exclude_none=True)
            add_hosts = fields.pop("add_hosts", ())
            add_addresses = fields.pop("add_addresses", ())
            data.update(fields)
            data["allowed_hosts"] = (*data["allowed_hosts"], *add_hosts)
            data["allowed_addresses"] = (*data["allowed_addresses"], *add_addresses)
        return EgressPolicy.model_validate(data)


def effective_policy(
    tenant: EgressPolicy,
    workflow: EgressPolicyPatch | None = None,
    session: EgressPolicyPatch | None = None,
) -> EgressPolicy:
    """The policy a run gets: the tenant's, overridden by its workflow's, then its session's."""
    return tenant.override(workflow, session)
