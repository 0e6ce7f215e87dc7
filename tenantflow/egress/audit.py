"""The audit trail: one :class:`AuditEntry` per guest request, allowed or not.

Entries name the tenant, the instance or session, the request (method, host,
path without query string), the outcome and the credential rules that
matched; never a secret value, a query string or a header value. Storage is
behind the small :class:`AuditSink` protocol; :class:`MemoryAuditSink` keeps
entries in a list (for embedding and tests), the SQL sink lives with the API.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["allowed", "denied", "error"]


class AuditEntry(BaseModel):
    """One guest request through the proxy."""

    model_config = ConfigDict(frozen=True)

    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant: str
    instance: str | None = None
    session: str | None = None
    method: str
    scheme: str = ""
    host: str
    port: int | None = None
    path: str
    """Path of the first request, without query string (queries may carry secrets)."""
    status: int | None = None
    """Final upstream status; ``None`` if no response was returned to the guest."""
    request_bytes: int = 0
    response_bytes: int = 0
    duration_ms: float
    decision: Decision
    rule: str = ""
    """The policy, guard or injection rule that refused or failed the request."""
    reason: str = ""
    credential_rules: tuple[str, ...] = ()
    """Credential rules that injected into any hop of this request."""
    redirects: int = 0
    final_host: str | None = None
    """Host of the last hop when redirects were followed."""


class AuditSink(Protocol):
    """Where audit entries go. ``record`` must not return before the entry is stored."""

    async def record(self, entry: AuditEntry) -> None:
        """Store one entry."""
        ...


class MemoryAuditSink:
    """Keeps the newest ``maxlen`` entries in memory. For embedding and tests, not durable."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.entries: deque[AuditEntry] = deque(maxlen=maxlen)

    async def record(self, entry: AuditEntry) -> None:
        """Append ``entry``."""
        self.entries.append(entry)
