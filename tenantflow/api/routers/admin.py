"""Operator routes: tenants, their API keys and their quotas (admin key only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from tenantflow.api import convert
from tenantflow.api.auth import Admin, ServicesDep
from tenantflow.api.models import ApiKey as ApiKeyModel
from tenantflow.api.models import (
    ApiKeyCreate,
    ApiKeyList,
    ApiKeySecret,
    QuotaUpdate,
    Tenant,
    TenantCreate,
    TenantCreated,
    TenantList,
)
from tenantflow.api.routers._docs import AUTHED, problems

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Admin], responses=AUTHED)


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    responses=problems(409),
    summary="Create a tenant (returns its first API key, shown once)",
)
async def create_tenant(body: TenantCreate, svc: ServicesDep) -> TenantCreated:
    """Create a tenant with optional quota overrides and issue its first key."""
    quotas = body.quotas.model_dump(exclude_unset=True) if body.quotas else None
    row = await svc.tenants.create(body.name, body.id, quotas)
    issued = await svc.keys.issue(row.id, "default")
    return TenantCreated(
        tenant=convert.tenant(row, svc.tenants.effective(row)),
        api_key=convert.api_key_secret(issued.row, issued.secret),
    )


@router.get("/tenants", summary="List tenants")
async def list_tenants(
    svc: ServicesDep,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Default api_page_size.")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> TenantList:
    """Tenants by id; pass ``next_cursor`` back as ``cursor`` for the next page."""
    limit = limit or svc.settings.api_page_size
    rows = await svc.tenants.list(limit + 1, cursor)
    items = [convert.tenant(r, svc.tenants.effective(r)) for r in rows[:limit]]
    return TenantList(items=items, next_cursor=rows[limit - 1].id if len(rows) > limit else None)


@router.get("/tenants/{tenant_id}", responses=problems(404), summary="Get a tenant")
async def get_tenant(tenant_id: str, svc: ServicesDep) -> Tenant:
    """One tenant and its effective quotas."""
    row = await svc.tenants.get(tenant_id)
    return convert.tenant(row, svc.tenants.effective(row))


@router.patch(
    "/tenants/{tenant_id}/quotas", responses=problems(404), summary="Change a tenant's quotas"
)
async def set_quotas(tenant_id: str, body: QuotaUpdate, svc: ServicesDep) -> Tenant:
    """Override quotas; ``null`` restores the operator default. Running work is not harmed."""
    row = await svc.tenants.set_quotas(tenant_id, body.model_dump(exclude_unset=True))
    return convert.tenant(row, svc.tenants.effective(row))


@router.get("/tenants/{tenant_id}/keys", responses=problems(404), summary="List a tenant's keys")
async def list_keys(tenant_id: str, svc: ServicesDep) -> ApiKeyList:
    """Keys by prefix (secrets are never shown again)."""
    await svc.tenants.get(tenant_id)
    return ApiKeyList(items=[convert.api_key(r) for r in await svc.keys.list(tenant_id)])


@router.post(
    "/tenants/{tenant_id}/keys",
    status_code=status.HTTP_201_CREATED,
    responses=problems(404),
    summary="Issue a key for a tenant",
)
async def create_key(tenant_id: str, body: ApiKeyCreate, svc: ServicesDep) -> ApiKeySecret:
    """A new key; its secret is in this response only."""
    await svc.tenants.get(tenant_id)
    issued = await svc.keys.issue(tenant_id, body.name)
    return convert.api_key_secret(issued.row, issued.secret)


@router.post(
    "/tenants/{tenant_id}/keys/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses=problems(404),
    summary="Rotate a tenant's key",
)
async def rotate_key(tenant_id: str, key_id: str, svc: ServicesDep) -> ApiKeySecret:
    """Issue a replacement key and revoke the old one."""
    issued = await svc.keys.rotate(tenant_id, key_id)
    return convert.api_key_secret(issued.row, issued.secret)


@router.delete(
    "/tenants/{tenant_id}/keys/{key_id}", responses=problems(404), summary="Revoke a tenant's key"
)
async def revoke_key(tenant_id: str, key_id: str, svc: ServicesDep) -> ApiKeyModel:
    """Revoke a key at once (idempotent)."""
    return convert.api_key(await svc.keys.revoke(tenant_id, key_id))
