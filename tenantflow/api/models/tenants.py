"""Wire models of tenants, API keys and quotas."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tenantflow.api.models.common import WireModel

MAX_INT = 2**62


class QuotaValues(WireModel):
    """A tenant's effective quotas."""

    max_running_instances: int = Field(description="Queued or running instances at once.")
    max_live_sandboxes: int = Field(description="Sandboxes alive at once.")
    max_steps_per_instance: int = Field(description="Steps one instance may run.")
    max_bundle_bytes: int = Field(description="Largest workflow upload.")
    max_cpu_seconds_per_run: float = Field(description="Sandbox time of one run.")
    max_workspace_bytes: int = Field(description="Size of one instance's /workspace.")


class QuotaUpdate(WireModel):
    """Quota overrides; a field left out is unchanged, ``null`` restores the default."""

    max_running_instances: int | None = Field(None, ge=0, le=1_000_000)
    max_live_sandboxes: int | None = Field(None, ge=1, le=100_000)
    max_steps_per_instance: int | None = Field(None, ge=1, le=10_000_000)
    max_bundle_bytes: int | None = Field(None, ge=1024, le=MAX_INT)
    max_cpu_seconds_per_run: float | None = Field(None, gt=0, le=86_400)
    max_workspace_bytes: int | None = Field(None, ge=0, le=MAX_INT)


class TenantCreate(WireModel):
    """A new tenant. ``id`` defaults to a random one."""

    name: str = Field(min_length=1, max_length=200)
    id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    quotas: QuotaUpdate | None = None


class Tenant(WireModel):
    """A tenant and its effective quotas."""

    id: str
    name: str
    created_at: datetime
    quotas: QuotaValues


class TenantList(WireModel):
    """A page of tenants."""

    items: list[Tenant]
    next_cursor: str | None = None


class ApiKeyCreate(WireModel):
    """A new API key."""

    name: str = Field("default", min_length=1, max_length=200)


class ApiKey(WireModel):
    """An API key as listed: its public prefix only."""

    id: str
    name: str
    prefix: str = Field(description="Public part of the key: tf_<prefix>_...")
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeySecret(ApiKey):
    """A key just made: ``key`` is shown this once and never again."""

    key: str


class ApiKeyList(WireModel):
    """A tenant's keys."""

    items: list[ApiKey]


class TenantCreated(WireModel):
    """A new tenant with its first API key (shown once)."""

    tenant: Tenant
    api_key: ApiKeySecret
