"""Authentication: ``Authorization: Bearer <key>`` with a tenant's key or the operator's.

Tenant routes take a tenant key (the admin key is refused there: an operator
acts on tenants through /v1/admin, never as one). Admin routes take only the
admin key from settings, compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tenantflow.api.problems import ApiProblem
from tenantflow.api.services import Services

bearer = HTTPBearer(auto_error=False, description="A tenant API key, or the admin key.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def services(request: Request) -> Services:
    """The app's services."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def _is_admin(token: str, svc: Services) -> bool:
    admin = svc.settings.admin_api_key
    return bool(admin) and hmac.compare_digest(token.encode(), admin.encode())


async def tenant_id(credentials: Credentials, svc: ServicesDep) -> str:
    """The calling tenant's id (401 without a valid key, 403 for the admin key)."""
    if credentials is None:
        raise ApiProblem(
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials
    tenant = await svc.keys.authenticate(token)
    if tenant is not None:
        return tenant
    if _is_admin(token, svc):
        raise ApiProblem("forbidden", "the admin key cannot act as a tenant; use a tenant key")
    raise ApiProblem("unauthorized", "unknown or revoked API key")


async def admin(credentials: Credentials, svc: ServicesDep) -> None:
    """Allow only the operator's admin key (401 without a key, 403 for a tenant key)."""
    if credentials is None:
        raise ApiProblem("unauthorized", "missing admin key: send 'Authorization: Bearer <key>'")
    if _is_admin(credentials.credentials, svc):
        return
    if await svc.keys.authenticate(credentials.credentials) is not None:
        raise ApiProblem("forbidden", "admin routes need the admin key, not a tenant key")
    raise ApiProblem("unauthorized", "unknown API key")


TenantId = Annotated[str, Depends(tenant_id)]
Admin = Depends(admin)
