"""Liveness, readiness and metrics: what load balancers and Prometheus ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text

from tenantflow.api.auth import Admin, ServicesDep
from tenantflow.api.metrics import CONTENT_TYPE
from tenantflow.api.models import Health
from tenantflow.api.problems import problem_response
from tenantflow.api.routers._docs import problems
from tenantflow.sandbox import SandboxError

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    """The process is up (no dependencies checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503), summary="Readiness")
async def readyz(svc: ServicesDep) -> Any:
    """The database answers and the sandbox has started."""
    checks: dict[str, str] = {}
    try:
        async with svc.db.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        svc.sandbox.pool  # noqa: B018  (raises until the sandbox has started)
        checks["sandbox"] = "ok"
    except SandboxError:
        checks["sandbox"] = "starting"
    if all(v == "ok" for v in checks.values()):
        return Health(status="ok", checks=checks)
    failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem_response(
        "not-ready", f"not ready ({failing})", instance="/readyz", checks=checks
    )


@router.get(
    "/metrics",
    dependencies=[Admin],
    responses={
        200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}},
        **problems(401, 403),
    },
    response_class=Response,
    summary="Prometheus metrics (admin key)",
)
async def metrics(svc: ServicesDep) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)
