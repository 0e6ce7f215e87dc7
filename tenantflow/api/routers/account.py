"""A tenant's own account: its quotas and its API keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from tenantflow.api import convert
from tenantflow.api.auth import ServicesDep, TenantId
from tenantflow.api.models import ApiKey, ApiKeyCreate, ApiKeyList, ApiKeySecret, Tenant
from tenantflow.api.routers._docs import AUTHED, problems

router = APIRouter(prefix="/v1", tags=["account"], responses=AUTHED)


@router.get("/account", summary="The calling tenant and its quotas")
async def account(tenant: TenantId, svc: ServicesDep) -> Tenant:
    """Who this key belongs to, and the quotas that apply."""
    row = await svc.tenants.get(tenant)
    return convert.tenant(row, svc.tenants.effective(row))


@router.get("/keys", summary="List this tenant's keys")
async def list_keys(tenant: TenantId, svc: ServicesDep) -> ApiKeyList:
    """Keys by prefix (secrets are never shown again)."""
    return ApiKeyList(items=[convert.api_key(r) for r in await svc.keys.list(tenant)])


@router.post("/keys", status_code=status.HTTP_201_CREATED, summary="Issue another key")
async def create_key(tenant: TenantId, body: ApiKeyCreate, svc: ServicesDep) -> ApiKeySecret:
    """A new key for this tenant; its secret is in this response only."""
    issued = await svc.keys.issue(tenant, body.name)
    return convert.api_key_secret(issued.row, issued.secret)


@router.post(
    "/keys/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses=problems(404),
    summary="Rotate a key",
)
async def rotate_key(tenant: TenantId, key_id: str, svc: ServicesDep) -> ApiKeySecret:
    """Issue a replacement and revoke the old key."""
    issued = await svc.keys.rotate(tenant, key_id)
    return convert.api_key_secret(issued.row, issued.secret)


@router.delete("/keys/{key_id}", responses=problems(404), summary="Revoke a key")
async def revoke_key(tenant: TenantId, key_id: str, svc: ServicesDep) -> ApiKey:
    """Revoke a key at once (idempotent; a tenant may revoke the key it calls with)."""
    return convert.api_key(await svc.keys.revoke(tenant, key_id))
