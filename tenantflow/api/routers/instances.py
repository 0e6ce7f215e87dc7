"""Workflow instances: create (single, batch), list, status, control, events, logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from tenantflow.api import convert_instances as convert
from tenantflow.api.auth import ServicesDep, TenantId
from tenantflow.api.models import (
    EventAccepted,
    EventSend,
    Instance,
    InstanceBatch,
    InstanceBatchCreate,
    InstanceCreate,
    InstanceDetail,
    InstanceList,
    LogList,
    Status,
)
from tenantflow.api.problems import ApiProblem
from tenantflow.api.routers._docs import AUTHED, problems
from tenantflow.api.routers.workflows import Name
from tenantflow.api.services import Services
from tenantflow.engine import Engine, InstanceQuery, InstanceStatus, NewInstance
from tenantflow.tenants import QuotaExceededError

router = APIRouter(tags=["instances"], responses=AUTHED)

InstanceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _engine(svc: Services) -> Engine:
    if svc.engine is None:
        raise ApiProblem("not-ready", "the workflow engine is not running in this process")
    return svc.engine


async def _admit(svc: Services, tenant: str, adding: int) -> None:
    quotas = await svc.tenants.quotas(tenant)
    try:
        await svc.admission.admit(tenant, quotas, adding)
    except QuotaExceededError as exc:
        svc.metrics.quota_rejections.labels(exc.quota).inc()
        raise


@router.post(
    "/v1/workflows/{name}/instances",
    status_code=status.HTTP_201_CREATED,
    response_model=Instance,
    responses={
        200: {"model": Instance, "description": "The idempotency key's existing instance."},
        **problems(404, 409, 429),
    },
    summary="Start an instance",
)
async def create_instance(
    name: Name, body: InstanceCreate, tenant: TenantId, svc: ServicesDep
) -> Response:
    """Start an instance pinned to a version ('latest' by default).

    The same ``idempotency_key`` again returns the instance it first created (200).
    """
    asked_at = datetime.now(UTC)
    _engine(svc)
    code_hash = await svc.workflows.pin(tenant, name, body.version)
    await _admit(svc, tenant, 1)
    assert svc.batcher is not None
    created = await svc.batcher.create(
        NewInstance(tenant, name, code_hash, body.event, body.idempotency_key)
    )
    svc.metrics.instances_created.inc()
    # The hot path: serialise the model directly (it is built from trusted engine data),
    # skipping FastAPI's re-validation of the response.
    new = created.idempotency_key is None or created.created_at >= asked_at
    return Response(
        convert.instance(created).model_dump_json(),
        status_code=status.HTTP_201_CREATED if new else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.post(
    "/v1/workflows/{name}/instances/batch",
    status_code=status.HTTP_201_CREATED,
    responses=problems(404, 409, 429),
    summary="Start up to 100 instances",
)
async def create_instances(
    name: Name, body: InstanceBatchCreate, tenant: TenantId, svc: ServicesDep
) -> InstanceBatch:
    """Start instances in one transaction (each with its own optional idempotency key)."""
    engine = _engine(svc)
    items = [
        NewInstance(
            tenant, name, await svc.workflows.pin(tenant, name, item.version), item.event,
            item.idempotency_key,
        )
        for item in body.instances
    ]  # fmt: skip
    await _admit(svc, tenant, len(items))
    created = await engine.create_batch(items)
    svc.metrics.instances_created.inc(len(created))
    return InstanceBatch(items=[convert.instance(i) for i in created])


@router.get("/v1/instances", summary="List instances")
async def list_instances(
    tenant: TenantId,
    svc: ServicesDep,
    workflow: Annotated[str | None, Query(max_length=100)] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Default api_page_size.")] = None,
) -> InstanceList:
    """Instances newest first, filtered by workflow, status and creation time."""
    engine = _engine(svc)
    limit = limit or svc.settings.api_page_size
    after = convert.aware(created_after) if created_after else None
    before = convert.aware(created_before) if created_before else None
    items: list[Instance] = []
    next_cursor = cursor
    # Pages are asked for exactly what is still missing, so the engine's cursor is
    # exact even when the time filters drop items.
    while len(items) < limit:
        page = await engine.list(
            InstanceQuery(
                tenant_id=tenant,
                workflow=workflow,
                status=InstanceStatus(status_.value) if status_ else None,
                cursor=next_cursor,
                limit=limit - len(items),
            )
        )
        next_cursor = page.next_cursor
        older = False
        for found in page.items:
            if after is not None and found.created_at < after:
                older = True
                break
            if before is None or found.created_at < before:
                items.append(convert.instance(found))
        if older or next_cursor is None:
            next_cursor = None
            break
    return InstanceList(items=items, next_cursor=next_cursor)


@router.get("/v1/instances/{instance_id}", responses=problems(404), summary="Instance status")
async def get_instance(
    instance_id: InstanceId, tenant: TenantId, svc: ServicesDep
) -> InstanceDetail:
    """An instance with its step timeline."""
    return convert.detail(await _engine(svc).status(instance_id, tenant_id=tenant))


def _control(operation: str, summary: str, doc: str) -> None:
    async def endpoint(instance_id: InstanceId, tenant: TenantId, svc: ServicesDep) -> Instance:
        engine = _engine(svc)
        method = getattr(engine, operation)
        return convert.instance(await method(instance_id, tenant_id=tenant))

    endpoint.__doc__ = doc
    endpoint.__name__ = f"{operation}_instance"
    router.add_api_route(
        f"/v1/instances/{{instance_id}}/{operation}",
        endpoint,
        methods=["POST"],
        responses=problems(404, 409),
        summary=summary,
        response_model=Instance,
    )


_control("pause", "Pause an instance", "Pause a live instance; a running step re-runs on resume.")
_control("resume", "Resume an instance", "Resume a paused instance; it replays and continues.")
_control("terminate", "Terminate an instance", "End a live or paused instance now.")
_control("restart", "Restart an instance", "Start over from the first step, same pinned version.")


@router.post(
    "/v1/instances/{instance_id}/events",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(404),
    summary="Send an event",
)
async def send_event(
    instance_id: InstanceId, body: EventSend, tenant: TenantId, svc: ServicesDep
) -> EventAccepted:
    """Deliver an event; it is kept until a ``wait_for_event`` of its type consumes it."""
    await _engine(svc).send_event(instance_id, body.type, body.payload, tenant_id=tenant)
    return EventAccepted(instance_id=instance_id, type=body.type)


@router.get("/v1/instances/{instance_id}/logs", responses=problems(404), summary="Instance logs")
async def logs(
    instance_id: InstanceId,
    tenant: TenantId,
    svc: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> LogList:
    """Guest stdout/stderr per step, oldest first; pass ``next_after`` as ``after`` for more."""
    lines = await _engine(svc).logs(instance_id, tenant_id=tenant, after=after, limit=limit)
    return LogList(
        items=[convert.log_line(line) for line in lines],
        next_after=lines[-1].id if len(lines) == limit else None,
    )
