"""Egress: every outbound request of a sandbox leaves through the credential-injecting proxy.

Policy (default deny) -> address guard (names resolved here, connect-time
address checked) -> credential injection from tenant secrets -> request ->
size cap -> redaction of echoed secrets -> one audit entry. Secrets never
enter a sandbox.
"""

from tenantflow.egress.audit import AuditEntry, AuditSink, Decision, MemoryAuditSink
from tenantflow.egress.context import EgressContext
from tenantflow.egress.crypto import SecretBox, rotate_key_file
from tenantflow.egress.errors import (
    BadRequest,
    EgressDenied,
    EgressError,
    EgressTimeout,
    InjectionRefused,
    PlaceholderError,
    RequestTooLarge,
    ResponseTooLarge,
    SecretDecryptionError,
    SecretUnavailable,
    TooManyRedirects,
    UpstreamError,
)
from tenantflow.egress.guard import METADATA_ADDRESSES, checked_address, refusal
from tenantflow.egress.inject import CredentialRule
from tenantflow.egress.models import EgressLimits, FetchRequest, FetchResponse
from tenantflow.egress.policy import EgressPolicy, EgressPolicyPatch, effective_policy
from tenantflow.egress.proxy import EgressProxy
from tenantflow.egress.redact import Redactor
from tenantflow.egress.secrets import (
    EncryptedMemorySecretSource,
    MemorySecretSource,
    SecretSource,
)

__all__ = [
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
