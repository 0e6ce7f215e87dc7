"""The SQL audit trail behind the real proxy and upstream: rows, filters, cursor, no secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenantflow.egress import EgressDenied, EgressPolicy, EgressProxy, FetchRequest
from tenantflow.egress.store import AuditFilter, EgressService, InvalidInput
from tests.egress.conftest import SECRET, loopback_policy, token_rule
from tests.egress.sql_support import Db, db, service
from tests.egress.upstream import Upstream

__all__ = ["db", "service"]


async def _configure(service: EgressService, upstream: Upstream) -> None:
    await service.set_policy("t1", loopback_policy(upstream))
    await service.put_rule("t1", token_rule())
    await service.secrets.set("t1", "API_TOKEN", SECRET)


async def test_allowed_and_denied_requests_are_audited_and_queryable(
    db: Db, service: EgressService, proxy: EgressProxy, upstream: Upstream
) -> None:
    await _configure(service, upstream)
    started = datetime.now(UTC)
    inst = await service.context("t1", instance="inst-A", workflow="wf")
    # Allowed, with the secret injected: the upstream echoes it and the echo is scrubbed.
    response = await proxy.fetch(inst, FetchRequest(upstream.url("/echo-raw?q=1")))
    assert response.status == 200 and SECRET.encode() not in response.body
    assert ("Authorization", f"Bearer {SECRET}") in upstream.seen[-1][1]
    # Denied: a host the policy does not list.
    with pytest.raises(EgressDenied) as denied:
        await proxy.fetch(inst, FetchRequest(f"http://localhost:{upstream.port}/echo"))
    assert denied.value.rule in ("policy.hosts", "guard.loopback")
    # A session of the same tenant.
    sess = await service.context("t1", session="sess-1")
    await proxy.fetch(sess, FetchRequest(upstream.url("/echo"), method="POST", body=b"hello"))

    page = await service.audit.query("t1")
    assert [r.entry.decision for r in page.items] == ["allowed", "denied", "allowed"]
    newest, refused, first = (r.entry for r in page.items)
    assert first.instance == "inst-A" and first.path == "/echo-raw" and first.status == 200
    assert first.credential_rules == ("upstream-token",) and first.response_bytes > 0
    assert first.host == "127.0.0.1" and first.port == upstream.port and first.scheme == "http"
    assert (
        refused.rule == denied.value.rule and refused.status is None and refused.host == "localhost"
    )
    assert newest.session == "sess-1" and newest.instance is None and newest.request_bytes == 5
    assert page.next_cursor is None

    async def names(**where: object) -> list[str]:
        found = await service.audit.query("t1", AuditFilter(**where))  # type: ignore[arg-type]
        return [r.entry.decision + ":" + r.entry.host for r in found.items]

    assert await names(decision="denied") == ["denied:localhost"]
    assert await names(instance="inst-A") == ["denied:localhost", "allowed:127.0.0.1"]
    assert await names(session="sess-1") == ["allowed:127.0.0.1"]
    assert await names(host="LOCALHOST") == ["denied:localhost"]
    assert len(await names(since=started)) == 3
    assert await names(until=started) == []
    assert await names(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert (await service.audit.query("t2")).items == []  # tenants see only their own

    # Cursor pagination: one per page, newest first, then the end.
    seen, cursor = [], None
    for _ in range(4):
        p = await service.audit.query("t1", limit=1, cursor=cursor)
        seen.extend(r.id for r in p.items)
        cursor = p.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 3
    with pytest.raises(InvalidInput):
        await service.audit.query("t1", cursor="bm90LWEtY3Vyc29y")

    # The secret is nowhere in the audit table.
    rows = await db.rows("egress_audit")
    assert len(rows) == 3 and SECRET not in repr(rows)
    assert all("q=1" not in str(r["path"]) for r in rows)  # no query strings


async def test_a_missing_secret_is_a_clear_error_and_audited(
    service: EgressService, proxy: EgressProxy, upstream: Upstream
) -> None:
    await service.set_policy("t1", loopback_policy(upstream))
    await service.put_rule("t1", token_rule())
    ctx = await service.context("t1", instance="i")
    with pytest.raises(Exception) as failed:
        await proxy.fetch(ctx, FetchRequest(upstream.url("/echo")))
    assert "API_TOKEN" in str(failed.value) and "does not exist" in str(failed.value)
    [entry] = (await service.audit.query("t1")).items
    assert entry.entry.decision == "error" and entry.entry.rule == "inject.secret_missing"


async def test_policy_changes_apply_to_new_contexts(
    service: EgressService, proxy: EgressProxy, upstream: Upstream
) -> None:
    await service.set_policy("t1", EgressPolicy())
    ctx = await service.context("t1")
    with pytest.raises(EgressDenied):
        await proxy.fetch(ctx, FetchRequest(upstream.url("/echo")))
    await service.set_policy("t1", loopback_policy(upstream))
    fresh = await service.context("t1")
    assert (await proxy.fetch(fresh, FetchRequest(upstream.url("/echo")))).status == 200


async def test_group_commit_and_write_behind(
    db: Db, caplog: pytest.LogCaptureFixture, tmp_path: object
) -> None:
    import asyncio

    from tenantflow.db import create_engine, session_factory
    from tenantflow.egress import AuditEntry
    from tenantflow.egress.store import SqlAuditLog

    def entry(i: int) -> AuditEntry:
        return AuditEntry(
            tenant="t1", method="GET", host=f"h{i}.example", path="/", duration_ms=1.0,
            decision="allowed",
        )  # fmt: skip

    durable = SqlAuditLog(db.sessions)
    await asyncio.gather(*(durable.record(entry(i)) for i in range(50)))  # committed on return
    assert len(await db.rows("egress_audit")) == 50
    behind = SqlAuditLog(db.sessions, write_behind=True)
    for i in range(20):
        await behind.record(entry(100 + i))
    await behind.aclose()
    assert len(await db.rows("egress_audit")) == 70
    page = await behind.query("t1", AuditFilter(host="h119.example"))
    assert [r.entry.host for r in page.items] == ["h119.example"]

    # A database without the table: the durable sink fails the caller...
    empty = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        broken = SqlAuditLog(session_factory(empty))
        with pytest.raises(Exception, match="egress_audit"):
            await broken.record(entry(1))
        # ...the write-behind sink logs how many entries it lost (and nothing of them).
        lossy = SqlAuditLog(session_factory(empty), write_behind=True)
        await lossy.record(entry(2))
        await lossy.aclose()
        assert "1 entries not written" in caplog.text
        assert "h2.example" not in caplog.text
    finally:
        await empty.dispose()


async def test_retention_prunes_old_entries(db: Db) -> None:
    from tenantflow.egress import AuditEntry
    from tenantflow.egress.store import SqlAuditLog

    now = datetime.now(UTC)
    sink = SqlAuditLog(db.sessions, retention_days=30)
    for age_days in (40, 31, 29, 0):
        await sink.record(
            AuditEntry(
                at=now - timedelta(days=age_days), tenant="t1", method="GET",
                host=f"age{age_days}.example", path="/", duration_ms=1.0, decision="allowed",
            )
        )  # fmt: skip
    # The first write pruned what was already too old (the 40-day entry); the next
    # pass is an hour away, so the 31-day entry stays until an explicit prune.
    hosts = [r.entry.host for r in (await sink.query("t1")).items]
    assert hosts == ["age0.example", "age29.example", "age31.example"]
    assert await sink.prune(now - timedelta(days=30)) == 1
    left = [r.entry.host for r in (await sink.query("t1")).items]
    assert left == ["age0.example", "age29.example"]
    keep_all = SqlAuditLog(db.sessions)
    assert keep_all.retention_days == 0
