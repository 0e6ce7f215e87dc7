"""Storage rows -> wire models: the one edge where the two meet."""

from __future__ import annotations

from datetime import UTC, datetime

from tenantflow.api.models import tenants as wire_t
from tenantflow.api.models import workflows as wire_w
from tenantflow.db.models import tenants as db
from tenantflow.tenants import Quotas


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def tenant(row: db.Tenant, quotas: Quotas) -> wire_t.Tenant:
    """A tenant with its effective quotas."""
    return wire_t.Tenant(
        id=row.id,
        name=row.name,
        created_at=aware(row.created_at),
        quotas=wire_t.QuotaValues(**quotas.as_dict()),
    )


def api_key(row: db.ApiKey) -> wire_t.ApiKey:
    """A key as listed (prefix only)."""
    return wire_t.ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=aware(row.created_at),
        revoked_at=aware(row.revoked_at) if row.revoked_at else None,
    )


def api_key_secret(row: db.ApiKey, key: str) -> wire_t.ApiKeySecret:
    """A new key with its secret (shown once)."""
    return wire_t.ApiKeySecret(**api_key(row).model_dump(), key=key)


def workflow(row: db.Workflow) -> wire_w.Workflow:
    """A workflow."""
    return wire_w.Workflow(
        name=row.name,
        latest_version=row.latest_version,
        latest_sha256=row.latest_sha256,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


def version(row: db.WorkflowVersion, created: bool = False) -> wire_w.WorkflowVersion:
    """One version of a workflow."""
    return wire_w.WorkflowVersion(
        workflow=row.workflow,
        version=row.version,
        sha256=row.sha256,
        size=row.size,
        kind=row.kind,
        created_at=aware(row.created_at),
        created=created,
    )
