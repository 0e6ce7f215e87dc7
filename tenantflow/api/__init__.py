"""The REST API (FastAPI): routers per resource, auth, problem+json errors.

``create_app`` is imported lazily so :mod:`tenantflow.api.models` (shared
with the client) can be used without FastAPI's import cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenantflow.api.app import create_app
    from tenantflow.api.services import Services

__all__ = ["Services", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from tenantflow.api.app import create_app

        return create_app
    if name == "Services":
        from tenantflow.api.services import Services

        return Services
    raise AttributeError(name)
