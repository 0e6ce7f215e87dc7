"""The FastAPI application: routers per resource, auth, limits, metrics, problem+json."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import Scope

from tenantflow import __version__
from tenantflow.api import mcp, problems
from tenantflow.api.middleware import BodyLimitMiddleware, MetricsMiddleware
from tenantflow.api.routers import (
    account,
    admin,
    egress,
    health,
    instances,
    secrets,
    sessions,
    workflows,
)
from tenantflow.api.services import Services
from tenantflow.config import Settings, get_settings

Hook = Callable[[Services], Awaitable[None]]

DESCRIPTION = """Durable workflows and sandboxed code execution for multi-tenant platforms.

Authenticate with `Authorization: Bearer <key>`: a tenant key on `/v1/...`,
the operator's admin key on `/v1/admin/...` and `/metrics`. Every error is
RFC 9457 `application/problem+json` with a stable `type` (`/problems/<code>`).
"""


def _upload_route(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    method = scope.get("method")
    if path.startswith("/v1/sessions/"):  # workspace file and archive uploads
        return (method == "PUT" and "/files/" in path) or path.endswith("/archive")
    return method == "PUT" and path.startswith("/v1/workflows/")


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
) -> FastAPI:
    """The API app. Without ``services`` it builds and closes its own from ``settings``.

    ``on_startup``/``on_shutdown`` let ``tenantflow serve`` start the engine and an
    embedded worker alongside the API.
    """
    settings = settings or (services.settings if services else get_settings())
    owned = services is None
    svc = services or Services.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await svc.sandbox.start()
        if on_startup is not None:
            await on_startup(svc)
        # Everything loaded so far (frameworks, the runtime) lives as long as the process:
        # freezing it keeps full GC passes from rescanning it (150 ms pauses otherwise).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown(svc)
            if owned:
                await svc.close()

    app = FastAPI(
        title="tenantflow",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = svc
    problems.install(app)
    routers = (
        health.router,
        account.router,
        workflows.router,
        instances.router,
        secrets.router,
        egress.router,
        sessions.router,
        admin.router,
    )
    for router in routers:
        app.include_router(router)
    mcp.install(app, svc)
    _add_problem_docs(app)

    def limit_for(scope: Scope) -> int:
        if _upload_route(scope):
            return settings.api_max_upload_bytes
        return settings.api_max_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    return app


def _add_problem_docs(app: FastAPI) -> None:
    @app.get("/problems/{code}", include_in_schema=False)
    async def problem_doc(code: str) -> HTMLResponse:
        entry = problems.PROBLEMS.get(code)
        if entry is None:
            raise problems.ApiProblem("not-found", f"no problem type {code!r}")
        status, title, meaning = entry
        return HTMLResponse(f"<h1>{title} ({status})</h1><p>{meaning}</p>")
