"""Durable egress state: encrypted secrets, policies, credential rules and the audit trail (SQL).

:class:`EgressService` ties the stores to the proxy and builds the
:class:`~tenantflow.egress.EgressContext` of workflow instances and sessions.
"""

from tenantflow.egress.store.audit import AuditFilter, AuditPage, AuditRecord, SqlAuditLog
from tenantflow.egress.store.errors import (
    AlreadyExists,
    InjectionNeedsDefaultDeny,
    InvalidInput,
    KeyRotationError,
    LimitExceeded,
    NotFound,
    StoreError,
)
from tenantflow.egress.store.keyring import KeyRing
from tenantflow.egress.store.policies import PolicyStore, StoredPatch, StoredPolicy
from tenantflow.egress.store.rules import RuleStore, StoredRule
from tenantflow.egress.store.secrets import SecretInfo, SqlSecretSource, SqlSecretStore
from tenantflow.egress.store.service import (
    EgressService,
    RunScopeLike,
    egress_handlers_for_instance,
    limits_from,
)

__all__ = [
    "AlreadyExists",
    "AuditFilter",
    "AuditPage",
    "AuditRecord",
    "EgressService",
    "InjectionNeedsDefaultDeny",
    "InvalidInput",
    "KeyRing",
    "KeyRotationError",
    "LimitExceeded",
    "NotFound",
    "PolicyStore",
    "RuleStore",
    "RunScopeLike",
    "SecretInfo",
    "SqlAuditLog",
    "SqlSecretSource",
    "SqlSecretStore",
    "StoreError",
    "StoredPatch",
    "StoredPolicy",
    "StoredRule",
    "egress_handlers_for_instance",
    "limits_from",
]
