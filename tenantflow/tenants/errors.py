"""Typed errors of the tenants package. The API maps each to problem+json in one place."""

from __future__ import annotations


class TenantError(Exception):
    """Root of tenant-side errors. ``code`` is stable and names the problem type."""

    code = "tenant-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(TenantError):
    """A tenant, key, workflow or version that does not exist (or is not the caller's)."""

    code = "not-found"


class ConflictError(TenantError):
    """The resource already exists in a different state."""

    code = "conflict"


class InvalidBundleError(TenantError):
    """An uploaded bundle was refused: bad archive, bad encoding, or the guest rejected it."""

    code = "invalid-bundle"

    def __init__(self, message: str, *, guest_error: str | None = None) -> None:
        super().__init__(message)
        self.guest_error = guest_error


class QuotaExceededError(TenantError):
    """A tenant quota would be exceeded. ``quota`` names it; ``limit`` is its value."""

    code = "quota-exceeded"

    def __init__(self, quota: str, limit: float, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.quota = quota
        self.limit = limit
        # Too-large uploads are 413; too-many-at-once quotas are 429.
        self.too_large = too_large
