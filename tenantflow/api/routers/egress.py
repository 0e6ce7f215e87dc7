"""Egress: the tenant's policy, per-workflow overrides, credential rules and the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import ValidationError

from tenantflow.api.auth import ServicesDep, TenantId
from tenantflow.api.models import egress as wire
from tenantflow.api.problems import ApiProblem
from tenantflow.api.routers._docs import AUTHED, problems
from tenantflow.egress import CredentialRule, EgressPolicy, EgressPolicyPatch
from tenantflow.egress.store import (
    AuditFilter,
    AuditRecord,
    EgressService,
    LimitExceeded,
    StoredPatch,
    StoredRule,
    StoreError,
)

router = APIRouter(prefix="/v1/egress", tags=["egress"], responses=AUTHED)

T = TypeVar("T")

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100)]


def egress_service(svc: ServicesDep) -> EgressService:
    """The process's egress service."""
    return svc.egress


Egress = Annotated[EgressService, Depends(egress_service)]


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn egress store errors into problems (their messages never hold a secret value)."""
    try:
        yield
    except LimitExceeded as exc:
        raise ApiProblem(exc.code, exc.message, quota=exc.quota, limit=exc.limit) from None
    except StoreError as exc:
        raise ApiProblem(exc.code, exc.message) from None


def validated(build: Callable[[], T], where: tuple[str, ...] = ("body",)) -> T:
    """``build()`` or a validation-error problem naming the field (never the input).

    ``where`` is the location of what ``build`` validates in the request.
    """
    try:
        return build()
    except ValidationError as exc:
        errors = [
            {
                "loc": [*where, *(str(p) for p in e.get("loc", ()))],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors(include_input=False, include_url=False)
        ]
        first = errors[0]
        detail = f"{'.'.join(first['loc'])}: {first['msg']}"
        raise ApiProblem("validation-error", detail, errors=errors) from None


def _policy_out(policy: EgressPolicy) -> wire.EgressPolicy:
    return wire.EgressPolicy.model_validate(policy.model_dump(mode="json"))


def _patch_out(patch: EgressPolicyPatch) -> wire.PolicyPatch:
    return wire.PolicyPatch.model_validate(patch.model_dump(mode="json", exclude_unset=True))


def _rule_out(stored: StoredRule) -> wire.CredentialRuleOut:
    data = stored.rule.model_dump(mode="json")
    return wire.CredentialRuleOut(
        **data, created_at=stored.created_at, updated_at=stored.updated_at
    )


def _log_out(record: AuditRecord) -> wire.EgressLogEntry:
    e = record.entry
    return wire.EgressLogEntry(
        id=record.id, at=e.at, instance=e.instance, session=e.session, method=e.method,
        scheme=e.scheme, host=e.host, port=e.port, path=e.path, status=e.status,
        request_bytes=e.request_bytes, response_bytes=e.response_bytes,
        duration_ms=round(e.duration_ms, 3), decision=e.decision, rule=e.rule, reason=e.reason,
        credential_rules=list(e.credential_rules), redirects=e.redirects, final_host=e.final_host,
    )  # fmt: skip


# -- tenant policy ------------------------------------------------------------------


@router.get("/policy", summary="Get the egress policy")
async def get_policy(tenant: TenantId, egress: Egress) -> wire.TenantPolicy:
    """The tenant's policy (default deny with nothing allowed until one is set)."""
    stored = await egress.policies.tenant(tenant)
    out = _policy_out(stored.policy).model_dump()
    return wire.TenantPolicy(**out, updated_at=stored.updated_at)


@router.put("/policy", responses=problems(409), summary="Replace the egress policy")
async def put_policy(
    body: wire.TenantPolicy, tenant: TenantId, egress: Egress
) -> wire.TenantPolicy:
    """Replace the policy. A non-deny default is refused while credential rules exist."""
    policy = validated(lambda: EgressPolicy(**body.model_dump(exclude={"updated_at"})))
    with store_errors():
        stored = await egress.set_policy(tenant, policy)
    return wire.TenantPolicy(
        **_policy_out(stored.policy).model_dump(), updated_at=stored.updated_at
    )


# -- workflow overrides ----------------------------------------------------------------


async def _workflow_view(
    egress: EgressService, tenant: str, workflow: str, stored: StoredPatch | None
) -> wire.WorkflowPolicy:
    base = await egress.policies.tenant(tenant)
    patch = stored.patch if stored else None
    return wire.WorkflowPolicy(
        workflow=workflow,
        override=_patch_out(patch) if patch else None,
        effective=_policy_out(base.policy.override(patch)),
        updated_at=stored.updated_at if stored else None,
    )


@router.get("/policy/workflows", summary="List workflow overrides")
async def list_workflow_policies(tenant: TenantId, egress: Egress) -> wire.WorkflowPolicyList:
    """Every workflow that overrides the tenant policy, with its effective policy."""
    items = [
        await _workflow_view(egress, tenant, p.workflow, p)
        for p in await egress.policies.workflows(tenant)
    ]
    return wire.WorkflowPolicyList(items=items)


@router.get("/policy/workflows/{name}", summary="Get a workflow's egress policy")
async def get_workflow_policy(name: Name, tenant: TenantId, egress: Egress) -> wire.WorkflowPolicy:
    """The workflow's override (null if none) and the policy its runs get."""
    return await _workflow_view(egress, tenant, name, await egress.policies.workflow(tenant, name))


@router.put(
    "/policy/workflows/{name}",
    responses={201: {"model": wire.WorkflowPolicy, "description": "Override created."}},
    summary="Set a workflow's override",
)
async def put_workflow_policy(
    name: Name, body: wire.PolicyPatch, response: Response, tenant: TenantId, egress: Egress
) -> wire.WorkflowPolicy:
    """Replace the workflow's override of the tenant policy (the workflow may not exist yet)."""
    patch = validated(lambda: EgressPolicyPatch(**body.model_dump(exclude_unset=True)))
    # Validate the result too: a patch is only good if the policy it makes is.
    base = await egress.policies.tenant(tenant)
    validated(lambda: base.policy.override(patch))
    with store_errors():
        stored, created = await egress.policies.set_workflow(tenant, name, patch)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return await _workflow_view(egress, tenant, name, stored)


@router.delete(
    "/policy/workflows/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404),
    summary="Remove a workflow's override",
)
async def delete_workflow_policy(name: Name, tenant: TenantId, egress: Egress) -> None:
    """The workflow inherits the tenant policy again."""
    with store_errors():
        await egress.policies.delete_workflow(tenant, name)


# -- credential rules ---------------------------------------------------------------------


@router.get("/rules", summary="List credential rules")
async def list_rules(tenant: TenantId, egress: Egress) -> wire.CredentialRuleList:
    """The tenant's credential rules by name."""
    return wire.CredentialRuleList(items=[_rule_out(r) for r in await egress.rules.list(tenant)])


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    responses=problems(409, 429),
    summary="Create a credential rule",
)
async def create_rule(
    body: wire.CredentialRuleSpec, tenant: TenantId, egress: Egress
) -> wire.CredentialRuleOut:
    """Create a rule (409 if the name exists). Refused unless the policy is default-deny."""
    rule = validated(lambda: CredentialRule(**body.model_dump()))
    with store_errors():
        stored, _ = await egress.put_rule(tenant, rule, create_only=True)
    return _rule_out(stored)


@router.get("/rules/{name}", responses=problems(404), summary="Get a credential rule")
async def get_rule(name: Name, tenant: TenantId, egress: Egress) -> wire.CredentialRuleOut:
    """One rule."""
    with store_errors():
        return _rule_out(await egress.rules.get(tenant, name))


@router.put(
    "/rules/{name}",
    responses={
        201: {"model": wire.CredentialRuleOut, "description": "Rule created."},
        **problems(409, 429),
    },
    summary="Create or replace a credential rule",
)
async def put_rule(
    name: Name, body: wire.CredentialRuleBody, response: Response, tenant: TenantId, egress: Egress
) -> wire.CredentialRuleOut:
    """Create or replace the rule ``name``. Refused unless the policy is default-deny."""
    if body.name is not None and body.name != name:
        raise ApiProblem(
            "validation-error", f"body.name: {body.name!r} does not match the path's {name!r}"
        )
    fields = body.model_dump(exclude={"name", "created_at", "updated_at"})
    rule = validated(lambda: CredentialRule(name=name, **fields))
    with store_errors():
        stored, created = await egress.put_rule(tenant, rule)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _rule_out(stored)


@router.delete(
    "/rules/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404),
    summary="Delete a credential rule",
)
async def delete_rule(name: Name, tenant: TenantId, egress: Egress) -> None:
    """Delete the rule; requests stop getting its secret at once (from the next run)."""
    with store_errors():
        await egress.rules.delete(tenant, name)


# -- audit log ---------------------------------------------------------------------------


@router.get("/log", summary="Query the egress audit log")
async def egress_log(
    tenant: TenantId,
    svc: ServicesDep,
    egress: Egress,
    since: Annotated[datetime | None, Query(description="Entries at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Entries before (ISO 8601).")] = None,
    instance: Annotated[str | None, Query(max_length=64)] = None,
    session: Annotated[str | None, Query(max_length=64)] = None,
    host: Annotated[str | None, Query(max_length=255, description="First or final host.")] = None,
    decision: Annotated[wire.Decision | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> wire.EgressLogPage:
    """One row per guest request (allowed, denied or failed), newest first."""
    where = AuditFilter(
        since=_utc(since), until=_utc(until), instance=instance, session=session, host=host,
        decision=decision,
    )  # fmt: skip
    with store_errors():
        page = await egress.audit.query(
            tenant, where, limit=limit or svc.settings.api_page_size, cursor=cursor
        )
    return wire.EgressLogPage(items=[_log_out(r) for r in page.items], next_cursor=page.next_cursor)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
