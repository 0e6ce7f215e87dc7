"""Wire models (pydantic) of the REST API, shared with :mod:`tenantflow.client`.

Only pydantic here: the client imports these without FastAPI or SQLAlchemy.
"""

from tenantflow.api.models.common import Health, Problem, WireModel
from tenantflow.api.models.instances import (
    EventAccepted,
    EventSend,
    Instance,
    InstanceBatch,
    InstanceBatchCreate,
    InstanceCreate,
    InstanceDetail,
    InstanceList,
    LogLine,
    LogList,
    Status,
    Step,
)
from tenantflow.api.models.tenants import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyList,
    ApiKeySecret,
    QuotaUpdate,
    QuotaValues,
    Tenant,
    TenantCreate,
    TenantCreated,
    TenantList,
)
from tenantflow.api.models.workflows import (
    Workflow,
    WorkflowList,
    WorkflowVersion,
    WorkflowVersionList,
)

__all__ = [
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyList",
    "ApiKeySecret",
    "EventAccepted",
    "EventSend",
    "Health",
    "Instance",
    "InstanceBatch",
    "InstanceBatchCreate",
    "InstanceCreate",
    "InstanceDetail",
    "InstanceList",
    "LogLine",
    "LogList",
    "Problem",
    "QuotaUpdate",
    "QuotaValues",
    "Status",
    "Step",
    "Tenant",
    "TenantCreate",
    "TenantCreated",
    "TenantList",
    "WireModel",
    "Workflow",
    "WorkflowList",
    "WorkflowVersion",
    "WorkflowVersionList",
]
