"""Storage models of tenants: accounts, API keys, workflows and their content-addressed bundles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenantflow.db.base import Base


class Tenant(Base):
    """A platform customer. Quota columns left NULL use the operator's defaults."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_running_instances: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_live_sandboxes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_steps_per_instance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_bundle_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_cpu_seconds_per_run: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_workspace_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ApiKey(Base):
    """A tenant's API key: only its public prefix and a SHA-256 of the whole key are kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Bundle(Base):
    """The bytes of one uploaded bundle, keyed by their SHA-256 (shared, immutable).

    Kept in the database so every worker (on any machine) can load any version.
    """

    __tablename__ = "bundles"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "py" or "zip"
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Workflow(Base):
    """A tenant's named workflow; ``latest_sha256`` is the newest version."""

    __tablename__ = "workflows"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    latest_sha256: Mapped[str] = mapped_column(String(64))
    latest_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkflowVersion(Base):
    """One immutable version of a workflow: a number and the bundle it points at."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "workflow", "sha256", name="uq_workflow_versions_hash"),
        Index("ix_workflow_versions_lookup", "tenant_id", "workflow", "version", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    workflow: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(ForeignKey("bundles.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
