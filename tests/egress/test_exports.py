"""The public surface of the egress package and of the guest's fetch, pinned."""

from __future__ import annotations

import tenantflow.egress
import tenantflow.guest


def test_egress_exports() -> None:
    assert sorted(tenantflow.egress.__all__) == sorted(
        [
            "METADATA_ADDRESSES",
            "AuditEntry",
            "AuditSink",
            "BadRequest",
            "CredentialRule",
            "Decision",
            "EgressContext",
            "EgressDenied",
            "EgressError",
            "EgressLimits",
            "EgressPolicy",
            "EgressPolicyPatch",
            "EgressProxy",
            "EgressTimeout",
            "EncryptedMemorySecretSource",
            "FetchRequest",
            "FetchResponse",
            "InjectionRefused",
            "MemoryAuditSink",
            "MemorySecretSource",
            "PlaceholderError",
            "Redactor",
            "RequestTooLarge",
            "ResponseTooLarge",
            "SecretBox",
            "SecretDecryptionError",
            "SecretSource",
            "SecretUnavailable",
            "TooManyRedirects",
            "UpstreamError",
            "checked_address",
            "effective_policy",
            "refusal",
            "rotate_key_file",
        ]
    )
    for name in tenantflow.egress.__all__:
        assert getattr(tenantflow.egress, name) is not None


def test_guest_exports_fetch() -> None:
    for name in ("fetch", "EgressDenied", "EgressError", "Response", "HTTPStatusError"):
        assert name in tenantflow.guest.__all__
        assert getattr(tenantflow.guest, name) is not None
    assert issubclass(tenantflow.guest.EgressDenied, tenantflow.guest.EgressError)
