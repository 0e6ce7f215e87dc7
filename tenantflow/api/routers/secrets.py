"""Secrets: write-only. Values go in with PUT and are never returned, logged or echoed.

Only the egress proxy decrypts a secret, to inject it into a request bound for
a host a credential rule names; sandboxes never see values.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from tenantflow.api.auth import TenantId
from tenantflow.api.models import egress as wire
from tenantflow.api.routers._docs import AUTHED, problems
from tenantflow.api.routers.egress import Egress, store_errors
from tenantflow.egress.store import SecretInfo

router = APIRouter(prefix="/v1/secrets", tags=["secrets"], responses=AUTHED)

SecretName = Annotated[
    str,
    Path(
        pattern=wire.SECRET_NAME,
        description="Letters, digits, '_', '.', '-' (what {{secret:NAME}} accepts).",
    ),
]
"""A secret's name in ``GET`` and ``DELETE``: what it may have been named when it was set,
so a secret stored before only-dots names were refused can still be seen and deleted."""

NewSecretName = Annotated[
    str,
    Path(
        pattern=wire.NEW_SECRET_NAME,
        max_length=100,
        description="1-100 letters, digits, '_', '.', '-' (what {{secret:NAME}} accepts), "
        "not only dots ('.' and '..' are path segments URLs resolve away).",
    ),
]
"""The name a secret is set under."""


def _out(info: SecretInfo) -> wire.SecretInfo:
    return wire.SecretInfo(name=info.name, created_at=info.created_at, updated_at=info.updated_at)


@router.get("", summary="List secrets")
async def list_secrets(tenant: TenantId, egress: Egress) -> wire.SecretList:
    """Names and timestamps; values are never returned."""
    return wire.SecretList(items=[_out(i) for i in await egress.secrets.list(tenant)])


@router.put(
    "/{name}",
    responses={
        201: {"model": wire.SecretInfo, "description": "Secret created."},
        **problems(429),
    },
    summary="Set a secret",
)
async def put_secret(
    name: NewSecretName,
    body: wire.SecretWrite,
    response: Response,
    tenant: TenantId,
    egress: Egress,
) -> wire.SecretInfo:
    """Create or replace a secret. The answer names it; the value is never returned."""
    with store_errors():
        info, created = await egress.secrets.set(tenant, name, body.value.get_secret_value())
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _out(info)


@router.get("/{name}", responses=problems(404), summary="Get a secret's metadata")
async def get_secret(name: SecretName, tenant: TenantId, egress: Egress) -> wire.SecretInfo:
    """Name and timestamps of one secret (never its value)."""
    with store_errors():
        return _out(await egress.secrets.info(tenant, name))


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404),
    summary="Delete a secret",
)
async def delete_secret(name: SecretName, tenant: TenantId, egress: Egress) -> None:
    """Delete a secret; rules naming it fail with 'secret missing' until it is set again."""
    with store_errors():
        await egress.secrets.delete(tenant, name)
