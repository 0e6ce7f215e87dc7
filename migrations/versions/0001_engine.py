"""Durable execution: workflow instances, step journal, events and logs.

Revision ID: 0001_engine
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_engine"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wf_instances",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("ready_at", sa.Float(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("run_gen", sa.Integer(), nullable=False),
        sa.Column("wait_event_type", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wf_instances")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_wf_instances_idempotency"),
    )
    op.create_index(
        "ix_wf_instances_ready",
        "wf_instances",
        ["ready_at"],
        postgresql_where=sa.text("ready_at IS NOT NULL"),
    )
    op.create_index("ix_wf_instances_tenant_id", "wf_instances", ["tenant_id", "id"])
    op.create_index("ix_wf_instances_lease_owner", "wf_instances", ["lease_owner"])

    op.create_table(
        "wf_steps",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("wake_at", sa.Float(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wf_steps")),
        sa.UniqueConstraint("instance_id", "seq", name="uq_wf_steps_instance_seq"),
    )

    op.create_table(
        "wf_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("consumed_seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wf_events")),
    )
    op.create_index("ix_wf_events_instance", "wf_events", ["instance_id", "type", "id"])

    op.create_table(
        "wf_logs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("stream", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wf_logs")),
    )
    op.create_index("ix_wf_logs_instance", "wf_logs", ["instance_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_wf_logs_instance", table_name="wf_logs")
    op.drop_table("wf_logs")
    op.drop_index("ix_wf_events_instance", table_name="wf_events")
    op.drop_table("wf_events")
    op.drop_table("wf_steps")
    op.drop_index("ix_wf_instances_lease_owner", table_name="wf_instances")
    op.drop_index("ix_wf_instances_tenant_id", table_name="wf_instances")
    op.drop_index("ix_wf_instances_ready", table_name="wf_instances")
    op.drop_table("wf_instances")
