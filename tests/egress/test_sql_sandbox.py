"""End to end in a real sandbox: guest ``fetch`` under a context built from the SQL stores.

The secret lives encrypted in the database; the proxy injects it toward the
upstream; the guest's output, result and the audit table never hold it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from tenantflow.egress import EgressPolicyPatch, EgressProxy
from tenantflow.egress.store import EgressService
from tenantflow.sandbox import Sandbox
from tests.egress.conftest import SECRET, loopback_policy, token_rule
from tests.egress.sql_support import Db, db, service
from tests.egress.upstream import Upstream

__all__ = ["db", "service"]


@dataclass(frozen=True)
class Key:
    """Shaped like the engine's ``RunKey``."""

    tenant_id: str
    workflow: str
    code_hash: str = "0" * 64


@dataclass
class Scope:
    """Shaped like the engine's ``RunScope``: the run, and the instance it serves now."""

    key: Key
    instance_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def needles() -> list[str]:
    """The secret and its encodings that would betray it."""
    return [SECRET, base64.b64encode(SECRET.encode()).decode(), SECRET[::-1]]


async def test_run_handlers_inject_from_sql_and_the_guest_never_sees_the_secret(
    db: Db, service: EgressService, sandbox: Sandbox, proxy: EgressProxy, upstream: Upstream
) -> None:
    await service.set_policy("t1", loopback_policy(upstream))
    await service.put_rule("t1", token_rule())
    await service.secrets.set("t1", "API_TOKEN", SECRET)
    scope = Scope(Key("t1", "sync"))
    handlers = service.run_handlers(scope)
    code = f"""
import os
from tenantflow.guest import fetch, EgressDenied
r = fetch({upstream.url("/echo-raw")!r}, headers={{"Authorization": "{{{{secret:API_TOKEN}}}}"}})
print(r.text())
print(r.headers.items(), sorted(os.environ.items()))
refused = []
for url, headers in [
    ("http://example.com/", {{"X": "{{{{secret:API_TOKEN}}}}"}}),
    ({upstream.url("/echo?t={{{{secret:API_TOKEN}}}}")!r}, {{}}),
]:
    try:
        fetch(url, headers=headers)
    except EgressDenied as exc:
        refused.append(exc.rule)
__result__ = {{"status": r.status, "body": r.text(), "refused": refused}}
"""
    scope.instance_id = "inst-1"
    result = await sandbox.run(code, handlers=handlers, pool_key="egress-sql")
    assert result.ok, (result.error, result.stderr)
    assert result.value["status"] == 200
    assert "Authorization: Bearer [REDACTED]" in result.value["body"]
    assert result.value["refused"] == ["policy.hosts", "inject.placeholder_in_url"]
    # The upstream got the real value.
    _, headers = upstream.seen[-1]
    assert ("Authorization", f"Bearer {SECRET}") in headers

    rows = await db.rows("egress_audit")
    assert [r["decision"] for r in sorted(rows, key=lambda r: r["id"])] == [
        "allowed",
        "denied",
        "denied",
    ]
    assert {r["instance_id"] for r in rows} == {"inst-1"}
    places = [result.stdout, result.stderr, json.dumps(result.value), repr(rows)]
    for needle in needles():
        for place in places:
            assert needle not in place

    # The same run serving the next instance audits under that instance.
    scope.instance_id = "inst-2"
    again = await sandbox.run(
        f"from tenantflow.guest import fetch\n__result__ = fetch({upstream.url('/echo')!r}).status",
        handlers=handlers,
        pool_key="egress-sql",
    )
    assert again.ok and again.value == 200
    latest = (await service.audit.query("t1", limit=1)).items[0].entry
    assert latest.instance == "inst-2" and latest.credential_rules == ("upstream-token",)


async def test_session_context_with_patch(
    service: EgressService, sandbox: Sandbox, proxy: EgressProxy, upstream: Upstream
) -> None:
    # The tenant allows nothing; the session's patch opens the upstream for that session only.
    patch = loopback_policy(upstream).model_dump(exclude={"default"})
    ctx = await service.context(
        "t2", session="sess-9", session_patch=EgressPolicyPatch.model_validate(patch)
    )
    code = (
        f"from tenantflow.guest import fetch\n__result__ = fetch({upstream.url('/echo')!r}).status"
    )
    result = await sandbox.run(code, handlers=service.handlers(ctx), pool_key="egress-sql")
    assert result.ok and result.value == 200
    [record] = (await service.audit.query("t2", limit=5)).items
    assert record.entry.session == "sess-9" and record.entry.decision == "allowed"
