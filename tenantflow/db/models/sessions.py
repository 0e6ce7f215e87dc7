"""Storage models of agent sessions: the session's spec and its workspace snapshots.

Workspaces themselves live on disk under ``data_dir/sessions/<tenant>/``; only
metadata is kept here, so a restarted server finds every session again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenantflow.db.base import Base


class AgentSession(Base):
    """A tenant's agent session; ``spec`` is the JSON of its limits, egress override and tools."""

    __tablename__ = "agent_sessions"
    __table_args__ = (Index("ix_agent_sessions_tenant", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_active_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    parent_snapshot: Mapped[str | None] = mapped_column(String(40), nullable=True)


class SessionSnapshot(Base):
    """A snapshot of a session's workspace: file on disk, content hash here."""

    __tablename__ = "session_snapshots"
    __table_args__ = (Index("ix_session_snapshots_session", "tenant_id", "session_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
