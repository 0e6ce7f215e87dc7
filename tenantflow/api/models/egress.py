"""Wire models of secrets, egress policies, credential rules and the egress audit log.

Secrets are write-only: :class:`SecretWrite` carries a value in, and no model
here carries one out. These mirror :mod:`tenantflow.egress` (which the server
validates against) without importing it, so the client stays light.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, SecretStr

from tenantflow.api.models.common import WireModel

Scheme = Literal["http", "https"]


def _https() -> list[Scheme]:
    return ["https"]


SECRET_NAME = r"^[A-Za-z0-9_.\-]{1,100}$"
"""What a secret name may be (what a ``{{secret:NAME}}`` placeholder accepts)."""

NEW_SECRET_NAME = r"^\.*[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$"
"""What a secret may be named when it is set (with at most 100 characters): a
:data:`SECRET_NAME` that is not only dots. ``.`` and ``..`` are path segments that
URL normalisation (clients, proxies) resolves away, so such a secret could not be
addressed reliably; ``...`` is refused with them. (No look-ahead: the regex engine
of pydantic has none, which also keeps ``$`` from matching before a newline.)"""

DEFAULT_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class SecretWrite(WireModel):
    """The value of a secret, sent once; it is never returned by any route."""

    value: SecretStr = Field(min_length=1, description="The secret value (UTF-8 text).")


class SecretInfo(WireModel):
    """What is shown about a secret: its name and when it was set, never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


class SecretList(WireModel):
    """The tenant's secrets by name."""

    items: list[SecretInfo]


class EgressPolicy(WireModel):
    """Where a tenant's runs may connect; everything else is refused (default deny)."""

    default: Literal["deny", "allow"] = Field(
        "deny",
        description="'deny': only allowed_hosts. 'allow': any public host, and credential "
        "rules are refused.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Exact hosts or '*.example.com'."
    )
    schemes: list[Scheme] = Field(default_factory=_https)
    ports: list[int] = Field(
        default_factory=list, description="Allowed ports; empty: 80 for http, 443 for https."
    )
    methods: list[str] = Field(default_factory=lambda: list(DEFAULT_METHODS))
    allowed_addresses: list[str] = Field(
        default_factory=list,
        description="Private addresses or CIDRs let past the address guard (e.g. 10.0.0.0/8).",
    )


class TenantPolicy(EgressPolicy):
    """The tenant's policy; ``updated_at`` is null while the built-in default applies.

    ``PUT`` takes the same shape (so a ``GET`` can be edited and sent back);
    ``updated_at`` is ignored there.
    """

    updated_at: datetime | None = Field(None, description="Read-only; ignored by PUT.")


class PolicyPatch(WireModel):
    """A workflow's changes to the tenant policy: fields set replace; ``add_*`` extend."""

    default: Literal["deny", "allow"] | None = None
    allowed_hosts: list[str] | None = None
    schemes: list[Scheme] | None = None
    ports: list[int] | None = None
    methods: list[str] | None = None
    allowed_addresses: list[str] | None = None
    add_hosts: list[str] = Field(default_factory=list)
    add_addresses: list[str] = Field(default_factory=list)


class WorkflowPolicy(WireModel):
    """A workflow's override and the policy its runs get (tenant policy + override)."""

    workflow: str
    override: PolicyPatch | None = Field(None, description="Null when the workflow has none.")
    effective: EgressPolicy
    updated_at: datetime | None = None


class WorkflowPolicyList(WireModel):
    """Every workflow override of the tenant."""

    items: list[WorkflowPolicy]


class CredentialRuleSpec(WireModel):
    """Inject the secret ``secret`` into requests to hosts matching ``host``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    host: str = Field(description="Exact host or '*.example.com'.")
    secret: str = Field(
        pattern=SECRET_NAME, description="Name of the secret injected (the password for basic)."
    )
    kind: Literal["header", "basic", "query"] = "header"
    header: str = "Authorization"
    template: str = Field("Bearer {secret}", description="Header value; {secret} once.")
    username: str = ""
    username_secret: str | None = Field(None, pattern=SECRET_NAME)
    param: str = Field("", description="Query parameter of a 'query' rule.")
    schemes: list[Scheme] = Field(default_factory=_https)


class CredentialRuleBody(WireModel):
    """A rule written to ``PUT /v1/egress/rules/{name}`` (the name comes from the path).

    What ``GET`` returned may be sent back as is: ``name`` (if given) must match
    the path, and the timestamps are ignored.
    """

    name: str | None = None
    created_at: datetime | None = Field(None, description="Ignored (read-only).")
    updated_at: datetime | None = Field(None, description="Ignored (read-only).")
    host: str
    secret: str = Field(pattern=SECRET_NAME)
    kind: Literal["header", "basic", "query"] = "header"
    header: str = "Authorization"
    template: str = "Bearer {secret}"
    username: str = ""
    username_secret: str | None = Field(None, pattern=SECRET_NAME)
    param: str = ""
    schemes: list[Scheme] = Field(default_factory=_https)


class CredentialRuleOut(CredentialRuleSpec):
    """A stored rule."""

    created_at: datetime
    updated_at: datetime


class CredentialRuleList(WireModel):
    """The tenant's rules by name."""

    items: list[CredentialRuleOut]


Decision = Literal["allowed", "denied", "error"]


class EgressLogEntry(WireModel):
    """One guest request through the egress proxy (never a secret, query string or header)."""

    id: int
    at: datetime
    instance: str | None
    session: str | None
    method: str
    scheme: str
    host: str
    port: int | None
    path: str
    status: int | None
    request_bytes: int
    response_bytes: int
    duration_ms: float
    decision: Decision
    rule: str = Field(description="The policy, guard or injection rule that refused or failed.")
    reason: str
    credential_rules: list[str] = Field(description="Credential rules that injected.")
    redirects: int
    final_host: str | None


class EgressLogPage(WireModel):
    """Entries newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[EgressLogEntry]
    next_cursor: str | None
