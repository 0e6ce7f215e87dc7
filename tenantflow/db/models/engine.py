"""Storage models of durable execution: instances, their step journal, events and logs.

Times are float seconds since the epoch (UTC): the hot path compares and
writes them with raw SQL on SQLite and Postgres alike. JSON values are kept
as text exactly as the guest produced them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tenantflow.db.base import Base


class WorkflowInstance(Base):
    """One run of a workflow. ``ready_at`` not NULL means a worker may claim it then.

    A claim sets ``lease_owner``/``lease_expires_at`` and bumps ``run_gen``, the
    fencing token every journal write checks; a control operation (pause,
    terminate, restart) clears the lease and bumps ``run_gen`` too, so a
    runner that lost its instance can no longer write.
    """

    __tablename__ = "wf_instances"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ready_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    run_gen: Mapped[int] = mapped_column(Integer, default=0)
    wait_event_type: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_wf_instances_idempotency"),
        Index("ix_wf_instances_ready", "ready_at", postgresql_where=text("ready_at IS NOT NULL")),
        Index("ix_wf_instances_tenant_id", "tenant_id", "id"),
        Index("ix_wf_instances_lease_owner", "lease_owner"),
    )


class WorkflowStep(Base):
    """One journal entry: a step (``do``), a ``sleep`` or a ``wait`` for an event.

    ``status`` is ``complete``, ``failed``, ``retrying`` (an attempt failed and
    the next is scheduled), ``sleeping`` or ``waiting``.
    """

    __tablename__ = "wf_steps"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    wake_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (UniqueConstraint("instance_id", "seq", name="uq_wf_steps_instance_seq"),)


class WorkflowEvent(Base):
    """An event sent to an instance; kept until a ``wait_for_event`` of its type consumes it."""

    __tablename__ = "wf_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    consumed_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_wf_events_instance", "instance_id", "type", "id"),)


class WorkflowLog(Base):
    """Guest output (stdout or stderr) attributed to the step that was running."""

    __tablename__ = "wf_logs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stream: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_wf_logs_instance", "instance_id", "id"),)
