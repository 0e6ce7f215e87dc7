"""Claiming runnable instances: leases, per-tenant concurrency and fair order.

One statement leases a batch. Candidates are runnable (``ready_at`` passed,
no live lease: expired leases are reclaimed here) and ranked per tenant
(``ROW_NUMBER() OVER (PARTITION BY tenant_id)``); ordering by that rank
interleaves tenants, so 10,000 queued instances of one tenant cannot starve
another tenant's single instance. A tenant's rank plus its live leases must
stay within the per-tenant limit; instances that hibernated or whose lease
expired hold no slot. On Postgres, claims are serialized by a transaction
advisory lock (so the limit holds across workers) and rows locked by other
transactions are skipped (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tenantflow.engine.backend import Claim, Lease

CLAIM_LOCK_KEY = 0x7466_636C  # "tfcl"

_RUNNABLE = "ready_at <= :now AND (lease_expires_at IS NULL OR lease_expires_at < :now)"
_CANDIDATES = f"""
SELECT r.id FROM (
  SELECT id, tenant_id, ready_at,
         ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY ready_at, id) AS rn
  FROM wf_instances WHERE {_RUNNABLE}
) r LEFT JOIN (
  SELECT tenant_id, COUNT(*) AS n FROM wf_instances
  WHERE lease_owner IS NOT NULL AND lease_expires_at >= :now GROUP BY tenant_id
) c ON c.tenant_id = r.tenant_id
WHERE r.rn + COALESCE(c.n, 0) <= :per_tenant
ORDER BY r.rn, r.ready_at, r.id
LIMIT :limit
"""
_LEASE = """
UPDATE wf_instances SET status = 'running', lease_owner = :owner, lease_expires_at = :expires,
  run_gen = run_gen + 1, started_at = COALESCE(started_at, :now), updated_at = :now
WHERE id IN ({candidates}) AND {runnable}
RETURNING id, tenant_id, workflow, code_hash, event, run_gen
"""
SQLITE_CLAIM_SQL = _LEASE.format(candidates=_CANDIDATES, runnable=_RUNNABLE)
POSTGRES_CLAIM = text(
    _LEASE.format(
        candidates=f"SELECT id FROM wf_instances WHERE id IN ({_CANDIDATES}) AND {_RUNNABLE}"
        " FOR UPDATE SKIP LOCKED",
        runnable=_RUNNABLE,
    )
)
JOURNAL_SQL = (
    "SELECT instance_id, seq, name, kind, status, attempts, output, error, wake_at"
    " FROM wf_steps WHERE instance_id IN ({ids}) ORDER BY instance_id, seq"
)
_JOURNAL = text(JOURNAL_SQL.replace("({ids})", ":ids")).bindparams(bindparam("ids", expanding=True))


async def claim(
    conn: AsyncConnection,
    *,
    postgres: bool,
    owner: str,
    limit: int,
    per_tenant: int,
    lease_seconds: float,
    now: float,
) -> list[Claim]:
    """Lease up to ``limit`` instances to ``owner`` inside the caller's transaction."""
    if postgres:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK_KEY})
    params: dict[str, Any] = {
        "owner": owner, "expires": now + lease_seconds, "now": now, "limit": limit,
        "per_tenant": per_tenant,
    }  # fmt: skip
    rows = (
        await conn.execute(POSTGRES_CLAIM if postgres else text(SQLITE_CLAIM_SQL), params)
    ).all()
    claims = leased(rows, owner)
    if claims:
        add_journals(claims, (await conn.execute(_JOURNAL, {"ids": list(claims)})).all())
    return sorted(claims.values(), key=lambda c: c.instance_id)


def leased(rows: Sequence[Any], owner: str) -> dict[str, Claim]:
    """Claims from rows of (id, tenant_id, workflow, code_hash, event, run_gen)."""
    return {
        row[0]: Claim(
            lease=Lease(row[0], owner, row[5]),
            tenant_id=row[1],
            workflow=row[2],
            code_hash=row[3],
            event=row[4],
        )
        for row in rows
    }


def add_journals(claims: dict[str, Claim], steps: Sequence[Any]) -> None:
    """Attach journal rows (instance_id first, then the guest's entry fields)."""
    for step in steps:
        claims[step[0]].journal.append(list(step[1:]))


async def renew(
    conn: AsyncConnection, owner: str, instance_ids: Sequence[str], expires: float
) -> set[str]:
    """Extend ``owner``'s leases on ``instance_ids``; returns those still held."""
    if not instance_ids:
        return set()
    statement = text(
        "UPDATE wf_instances SET lease_expires_at = :expires"
        " WHERE lease_owner = :owner AND id IN :ids RETURNING id"
    ).bindparams(bindparam("ids", expanding=True))
    result = await conn.execute(
        statement, {"expires": expires, "owner": owner, "ids": list(instance_ids)}
    )
    return {row.id for row in result}
