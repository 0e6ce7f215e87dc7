"""Storage models of egress: encrypted secrets, policies, credential rules and the audit trail.

Secret values are stored only as :class:`~tenantflow.egress.crypto.SecretBox`
tokens bound to ``"<tenant>/<name>"``; ``key_id`` names the master key that
sealed a row, so a key rotation finds the rows still under an old key.
Policies and rules are stored as the JSON of their pydantic models.
Audit times are float seconds since the epoch (cheap to compare on both
databases), like the engine's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenantflow.db.base import Base


class EgressSecret(Base):
    """One named secret of a tenant, encrypted at rest (never stored in clear)."""

    __tablename__ = "egress_secrets"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EgressTenantPolicy(Base):
    """A tenant's egress policy (absent: the default-deny policy that allows nothing)."""

    __tablename__ = "egress_policies"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EgressWorkflowPolicy(Base):
    """A workflow's patch over its tenant's policy (the workflow need not exist yet)."""

    __tablename__ = "egress_workflow_policies"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    workflow: Mapped[str] = mapped_column(String(100), primary_key=True)
    patch: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EgressRule(Base):
    """A credential rule of a tenant: which secret is injected toward which hosts, and how."""

    __tablename__ = "egress_rules"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EgressAudit(Base):
    """One guest request through the egress proxy. Never a secret value or a query string.

    No foreign key to tenants: the trail is append-only and written on the hot path.
    """

    __tablename__ = "egress_audit"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    instance_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    method: Mapped[str] = mapped_column(String(16))
    scheme: Mapped[str] = mapped_column(String(8))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    request_bytes: Mapped[int] = mapped_column(BigInteger)
    response_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    credential_rules: Mapped[str] = mapped_column(Text)
    """Names of the credential rules that injected, comma-separated."""
    redirects: Mapped[int] = mapped_column(Integer)
    final_host: Mapped[str | None] = mapped_column(String(255), nullable=True)

    __table_args__ = (
        Index("ix_egress_audit_tenant", "tenant_id", "id"),
        Index("ix_egress_audit_instance", "tenant_id", "instance_id", "id"),
        Index("ix_egress_audit_session", "tenant_id", "session_id", "id"),
        Index("ix_egress_audit_at", "tenant_id", "at"),
    )
