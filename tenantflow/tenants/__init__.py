"""Tenants: accounts, API keys, quotas, content-addressed workflow versions and the code loader."""

from tenantflow.tenants.accounts import TenantStore
from tenantflow.tenants.bundles import ENTRY, ENTRY_FILE, ENTRY_MODULE, BundleLimits
from tenantflow.tenants.errors import (
    ConflictError,
    InvalidBundleError,
    NotFoundError,
    QuotaExceededError,
    TenantError,
)
from tenantflow.tenants.keys import IssuedKey, KeyStore
from tenantflow.tenants.loader import BundleCache, BundleCorruptError, CodeLoader
from tenantflow.tenants.quotas import QUOTA_NAMES, Quotas
from tenantflow.tenants.workflows import Upload, WorkflowStore

__all__ = [
    "ENTRY",
    "ENTRY_FILE",
    "ENTRY_MODULE",
    "QUOTA_NAMES",
    "BundleCache",
    "BundleCorruptError",
    "BundleLimits",
    "CodeLoader",
    "ConflictError",
    "InvalidBundleError",
    "IssuedKey",
    "KeyStore",
    "NotFoundError",
    "QuotaExceededError",
    "Quotas",
    "TenantError",
    "TenantStore",
    "Upload",
    "WorkflowStore",
]
