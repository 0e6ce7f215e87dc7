"""Workflows: upload versions (one .py file or a zip), list them, read one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from tenantflow.api import convert
from tenantflow.api.auth import ServicesDep, TenantId
from tenantflow.api.models import Workflow, WorkflowList, WorkflowVersion, WorkflowVersionList
from tenantflow.api.routers._docs import AUTHED, problems
from tenantflow.tenants import InvalidBundleError, QuotaExceededError

router = APIRouter(prefix="/v1/workflows", tags=["workflows"], responses=AUTHED)

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100)]
Ref = Annotated[
    str,
    Path(
        pattern=r"^(latest|[0-9]{1,9}|[0-9a-f]{64})$",
        description="'latest', a version number, or a SHA-256.",
    ),
]

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "One Python source file (UTF-8) defining run(event, step), or a zip "
        "with main.py at its root and pure-Python dependencies.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "text/x-python": {"schema": {"type": "string"}},
        },
    }
}


@router.get("", summary="List workflows")
async def list_workflows(tenant: TenantId, svc: ServicesDep) -> WorkflowList:
    """The tenant's workflows with their latest versions."""
    return WorkflowList(items=[convert.workflow(r) for r in await svc.workflows.all(tenant)])


@router.put(
    "/{name}",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": WorkflowVersion, "description": "Same bytes as an existing version."},
        **problems(413, 422, 429),
    },
    summary="Upload a workflow version",
)
async def upload(
    name: Name, request: Request, response: Response, tenant: TenantId, svc: ServicesDep
) -> WorkflowVersion:
    """Validate the bundle in the sandbox and store it as the next version.

    The same bytes again are a no-op answered with 200 and the existing version.
    """
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit():
            # Refuse an over-quota bundle before reading it.
            (await svc.tenants.quotas(tenant)).check_bundle_size(int(declared))
        result = await svc.workflows.upload(tenant, name, await request.body())
    except QuotaExceededError as exc:
        svc.metrics.uploads.labels("rejected").inc()
        svc.metrics.quota_rejections.labels(exc.quota).inc()
        raise
    except InvalidBundleError:
        svc.metrics.uploads.labels("rejected").inc()
        raise
    svc.metrics.uploads.labels("created" if result.created else "unchanged").inc()
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return convert.version(result.version, created=result.created)


@router.get("/{name}", responses=problems(404), summary="Get a workflow")
async def get_workflow(name: Name, tenant: TenantId, svc: ServicesDep) -> Workflow:
    """One workflow and its latest version."""
    return convert.workflow(await svc.workflows.get(tenant, name))


@router.get("/{name}/versions", responses=problems(404), summary="List versions")
async def list_versions(name: Name, tenant: TenantId, svc: ServicesDep) -> WorkflowVersionList:
    """Every version, newest first."""
    rows = await svc.workflows.versions(tenant, name)
    return WorkflowVersionList(items=[convert.version(r) for r in rows])


@router.get("/{name}/versions/{ref}", responses=problems(404), summary="Get a version")
async def get_version(name: Name, ref: Ref, tenant: TenantId, svc: ServicesDep) -> WorkflowVersion:
    """One version by number, SHA-256 or 'latest'."""
    return convert.version(await svc.workflows.version(tenant, name, ref))
