"""Tenant quotas: the operator's defaults, per-tenant overrides, and the checks."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from tenantflow.config import Settings
from tenantflow.db.models.tenants import Tenant
from tenantflow.tenants.errors import QuotaExceededError

QUOTA_NAMES = (
    "max_running_instances",
    "max_live_sandboxes",
    "max_steps_per_instance",
    "max_bundle_bytes",
    "max_cpu_seconds_per_run",
    "max_workspace_bytes",
)


@dataclass(frozen=True, slots=True)
class Quotas:
    """The effective quotas of one tenant."""

    max_running_instances: int
    max_live_sandboxes: int
    max_steps_per_instance: int
    max_bundle_bytes: int
    max_cpu_seconds_per_run: float
    max_workspace_bytes: int

    @classmethod
    def defaults(cls, settings: Settings) -> Quotas:
        """The operator's defaults (``TENANTFLOW_QUOTA_*``)."""
        return cls(
            max_running_instances=settings.quota_running_instances,
            max_live_sandboxes=settings.quota_live_sandboxes,
            max_steps_per_instance=settings.quota_steps_per_instance,
            max_bundle_bytes=settings.quota_bundle_bytes,
            max_cpu_seconds_per_run=settings.quota_cpu_seconds_per_run,
            max_workspace_bytes=settings.quota_workspace_bytes,
        )

    @classmethod
    def for_tenant(cls, tenant: Tenant, settings: Settings) -> Quotas:
        """The tenant's overrides on top of the defaults."""
        base = cls.defaults(settings)
        overrides = {
            name: getattr(tenant, name) for name in QUOTA_NAMES if getattr(tenant, name) is not None
        }
        return replace(base, **overrides)

    def as_dict(self) -> dict[str, Any]:
        """Quota name -> value."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def check_bundle_size(self, size: int) -> None:
        """Refuse a bundle larger than ``max_bundle_bytes`` (413)."""
        if size > self.max_bundle_bytes:
            raise QuotaExceededError(
                "max_bundle_bytes",
                self.max_bundle_bytes,
                f"bundle is {size} bytes; quota max_bundle_bytes is {self.max_bundle_bytes}",
                too_large=True,
            )

    def check_running_instances(self, running: int, adding: int = 1) -> None:
        """Refuse new instances past ``max_running_instances`` (429)."""
        if running + adding > self.max_running_instances:
            raise QuotaExceededError(
                "max_running_instances",
                self.max_running_instances,
                f"{running} instances are queued or running and {adding} more were asked for; "
                f"quota max_running_instances is {self.max_running_instances}",
            )

    def check_live_sandboxes(self, live: int) -> None:
        """Refuse another sandbox past ``max_live_sandboxes`` (429)."""
        if live + 1 > self.max_live_sandboxes:
            raise QuotaExceededError(
                "max_live_sandboxes",
                self.max_live_sandboxes,
                f"{live} sandboxes are alive; quota max_live_sandboxes is "
                f"{self.max_live_sandboxes}",
            )
