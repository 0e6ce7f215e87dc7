"""Credential rules: the proxy adds a tenant's secrets to requests bound for certain hosts.

A :class:`CredentialRule` binds one named secret to a host pattern and says
how it travels: a header built from a template (``Authorization: Bearer
{secret}``), HTTP basic auth, or a query parameter. An injected header
*replaces* any header of the same name the guest sent (case-insensitive), so
a guest cannot smuggle a second ``Authorization``.

A guest may write ``{{secret:NAME}}`` in a header value; it is filled only if
a rule binds ``NAME`` to the destination host (and scheme). Placeholders
anywhere else (URL, body, header names) are refused, never substituted.
Injection of any kind requires a default-deny policy.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from tenantflow.egress.errors import InjectionRefused, PlaceholderError
from tenantflow.egress.policy import EgressPolicy, _validate_pattern, host_matches

PLACEHOLDER = re.compile(r"\{\{secret:([A-Za-z0-9_.\-]+)\}\}")
_PLACEHOLDER_START = b"{{secret:"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class CredentialRule(BaseModel):
    """Inject the secret ``secret`` into requests to hosts matching ``host``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Names the rule in audit rows and error messages."""
    host: str
    """Exact host or ``*.example.com``."""
    secret: str
    """Name of the tenant secret injected (the password, for basic auth)."""
    kind: Literal["header", "basic", "query"] = "header"
    header: str = "Authorization"
    """Header set by a ``header`` rule."""
    template: str = "Bearer {secret}"
    """Value of a ``header`` rule; ``{secret}`` is replaced by the secret's value."""
    username: str = ""
    """Basic auth user name (literal), unless ``username_secret`` names a secret."""
    username_secret: str | None = None
    param: str = ""
    """Query parameter set by a ``query`` rule."""
    schemes: tuple[Literal["http", "https"], ...] = ("https",)
    """Schemes the secret may travel over; plain http must be opted into."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _validate_pattern(value)

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _TOKEN.match(value):
            raise ValueError(f"invalid header name {value!r}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> CredentialRule:
        if self.kind == "header" and self.template.count("{secret}") != 1:
            raise ValueError("a header rule's template must contain {secret} exactly once")
        if self.kind == "query" and not self.param:
            raise ValueError("a query rule needs param")
        return self

    def applies_to(self, scheme: str, host: str) -> bool:
        """Whether this rule injects into a request to ``scheme://host``."""
        return scheme in self.schemes and host_matches(self.host, host)

    @property
    def secret_names(self) -> tuple[str, ...]:
        """Every secret this rule reads."""
        if self.kind == "basic" and self.username_secret:
            return (self.username_secret, self.secret)
        return (self.secret,)


Headers = list[tuple[str, str]]


@dataclass
class Injection:
    """What to inject into one request hop, before secret values are known."""

    rules: list[CredentialRule] = field(default_factory=list)
    placeholder_rules: dict[str, CredentialRule] = field(default_factory=dict)

    @property
    def secret_names(self) -> list[str]:
        """Secrets to fetch for this hop."""
        names = [n for rule in self.rules for n in rule.secret_names]
        names.extend(self.placeholder_rules)
        return list(dict.fromkeys(names))

    @property
    def rule_names(self) -> list[str]:
        """Names of the rules that matched (for the audit row)."""
        names = [r.name for r in self.rules] + [r.name for r in self.placeholder_rules.values()]
        return list(dict.fromkeys(names))


def refuse_placeholders(url: str, body: bytes) -> None:
    """Refuse a ``{{secret:...}}`` placeholder in the URL (raw or percent-encoded) or body."""
    if _PLACEHOLDER_START in unquote_to_bytes(url).lower():
        raise PlaceholderError(
            "secret placeholders are not allowed in the URL (headers only)",
            rule="inject.placeholder_in_url",
        )
    if _PLACEHOLDER_START in body.lower():
        raise PlaceholderError(
            "secret placeholders are not allowed in the body (headers only)",
            rule="inject.placeholder_in_body",
        )


def plan(
    rules: Sequence[CredentialRule],
    policy: EgressPolicy,
    scheme: str,
    host: str,
    headers: Headers,
) -> Injection:
    """Decide which rules and placeholders apply to a request to ``scheme://host``.

    Raises :class:`PlaceholderError` for a placeholder no rule binds to this
    host, and :class:`InjectionRefused` if anything would be injected under a
    policy that is not default-deny.
    """
    injection = Injection(rules=[r for r in rules if r.applies_to(scheme, host)])
    for name, value in headers:
        if _PLACEHOLDER_START in name.lower().encode():
            raise PlaceholderError(
                "secret placeholders are not allowed in header names",
                rule="inject.placeholder_in_header_name",
            )
        if "{{" not in value:
            continue
        found = PLACEHOLDER.findall(value)
        if _PLACEHOLDER_START in value.lower().encode() and len(found) != value.lower().count(
            "{{secret:"
        ):
            raise PlaceholderError(
                f"malformed secret placeholder in header {name!r}; write {{{{secret:NAME}}}}",
                rule="inject.placeholder_syntax",
            )
        for secret in found:
            rule = _binding(rules, scheme, host, secret)
            if rule is None:
                raise PlaceholderError(
                    f"secret {secret!r} is not bound to {scheme}://{host} by any credential "
                    "rule, so the placeholder cannot be filled",
                    rule="inject.placeholder_unbound",
                )
            injection.placeholder_rules[secret] = rule
    if (injection.rules or injection.placeholder_rules) and not policy.is_default_deny:
        names = ", ".join(injection.rule_names)
        raise InjectionRefused(
            f"credential rules ({names}) match {host!r} but the egress policy is not "
            "default-deny; injection requires default: deny",
            rule="inject.requires_default_deny",
        )
    return injection


def _binding(
    rules: Iterable[CredentialRule], scheme: str, host: str, secret: str
) -> CredentialRule | None:
    for rule in rules:
        if secret in rule.secret_names and rule.applies_to(scheme, host):
            return rule
    return None


def apply(
    injection: Injection,
    secrets: Mapping[str, str],
    headers: Headers,
    query: list[tuple[str, str]],
) -> tuple[Headers, list[tuple[str, str]]]:
    """Headers and query parameters with placeholders filled and rules applied.

    A rule's header (or ``Authorization`` for basic auth) replaces every guest
    header of that name; a query rule replaces every parameter of that name.
    Rules apply in order, so a later rule for the same header wins.
    """
    if not injection.rules and not injection.placeholder_rules:
        return headers, query
    out: Headers = []
    for name, value in headers:
        if "{{secret:" in value:
            value = PLACEHOLDER.sub(lambda m: secrets[m.group(1)], value)
        out.append((name, value))
    for rule in injection.rules:
        if rule.kind == "query":
            query = [(k, v) for k, v in query if k != rule.param]
            query.append((rule.param, secrets[rule.secret]))
            continue
        if rule.kind == "basic":
            user = secrets[rule.username_secret] if rule.username_secret else rule.username
            token = base64.b64encode(f"{user}:{secrets[rule.secret]}".encode()).decode("ascii")
            header, value = "Authorization", f"Basic {token}"
        else:
            header, value = rule.header, rule.template.replace("{secret}", secrets[rule.secret])
        lowered = header.lower()
        out = [(k, v) for k, v in out if k.lower() != lowered]
        out.append((header, value))
    return out, query


def basic_forms(rules: Iterable[CredentialRule], secrets: Mapping[str, str]) -> list[str]:
    """``user:password`` strings of the basic-auth rules applied (redacted in any encoding)."""
    forms = []
    for rule in rules:
        if rule.kind == "basic" and rule.secret in secrets:
            user = secrets.get(rule.username_secret or "", rule.username)
            forms.append(f"{user}:{secrets[rule.secret]}")
    return forms
