"""Typed errors of the egress stores. ``code`` names the API problem type each maps to.

Messages name tenants, secrets, rules and workflows; never a secret value.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of egress store errors."""

    code = "bad-request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    """No such secret, rule or workflow override for this tenant."""

    code = "not-found"


class AlreadyExists(StoreError):
    """A rule of that name exists (create-only request)."""

    code = "conflict"


class InvalidInput(StoreError):
    """A name, value, policy or rule the stores refuse."""

    code = "validation-error"


class InjectionNeedsDefaultDeny(StoreError):
    """Credential rules and a policy that is not default-deny cannot coexist."""

    code = "injection-requires-default-deny"


class LimitExceeded(StoreError):
    """A per-tenant cap (secrets or rules) would be exceeded."""

    code = "quota-exceeded"

    def __init__(self, message: str, *, quota: str, limit: int) -> None:
        super().__init__(message)
        self.quota = quota
        self.limit = limit


class KeyRotationError(StoreError):
    """The master key cannot be rotated this way (e.g. it comes from configuration)."""

    code = "conflict"
