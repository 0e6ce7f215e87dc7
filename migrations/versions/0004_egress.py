"""Egress: encrypted secrets, tenant and workflow policies, credential rules, audit trail.

Revision ID: 0004_egress
Revises: 0003_sessions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_egress"
down_revision: str | None = "0003_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "egress_secrets",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("egress_secrets"),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_egress_secrets")),
    )
    op.create_index(op.f("ix_egress_secrets_key_id"), "egress_secrets", ["key_id"])
    op.create_table(
        "egress_policies",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("egress_policies"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_egress_policies")),
    )
    op.create_table(
        "egress_workflow_policies",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(100), nullable=False),
        sa.Column("patch", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("egress_workflow_policies"),
        sa.PrimaryKeyConstraint("tenant_id", "workflow", name=op.f("pk_egress_workflow_policies")),
    )
    op.create_table(
        "egress_rules",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("egress_rules"),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_egress_rules")),
    )
    op.create_table(
        "egress_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("instance_id", sa.String(64), nullable=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("scheme", sa.String(8), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("request_bytes", sa.BigInteger(), nullable=False),
        sa.Column("response_bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("credential_rules", sa.Text(), nullable=False),
        sa.Column("redirects", sa.Integer(), nullable=False),
        sa.Column("final_host", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_egress_audit")),
    )
    op.create_index("ix_egress_audit_tenant", "egress_audit", ["tenant_id", "id"])
    op.create_index("ix_egress_audit_instance", "egress_audit", ["tenant_id", "instance_id", "id"])
    op.create_index("ix_egress_audit_session", "egress_audit", ["tenant_id", "session_id", "id"])
    op.create_index("ix_egress_audit_at", "egress_audit", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_egress_audit_at", table_name="egress_audit")
    op.drop_index("ix_egress_audit_session", table_name="egress_audit")
    op.drop_index("ix_egress_audit_instance", table_name="egress_audit")
    op.drop_index("ix_egress_audit_tenant", table_name="egress_audit")
    op.drop_table("egress_audit")
    op.drop_table("egress_rules")
    op.drop_table("egress_workflow_policies")
    op.drop_table("egress_policies")
    op.drop_index(op.f("ix_egress_secrets_key_id"), table_name="egress_secrets")
    op.drop_table("egress_secrets")
