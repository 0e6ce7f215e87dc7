"""Agent sessions and their workspace snapshots.

Revision ID: 0003_sessions
Revises: 0002_tenants
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sessions"
down_revision: str | None = "0002_tenants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_active_at", TS, nullable=False),
        sa.Column("parent_snapshot", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
    )
    op.create_index("ix_agent_sessions_tenant", "agent_sessions", ["tenant_id", "created_at"])
    op.create_table(
        "session_snapshots",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_snapshots")),
    )
    op.create_index(
        "ix_session_snapshots_session", "session_snapshots", ["tenant_id", "session_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_session_snapshots_session", table_name="session_snapshots")
    op.drop_table("session_snapshots")
    op.drop_index("ix_agent_sessions_tenant", table_name="agent_sessions")
    op.drop_table("agent_sessions")
