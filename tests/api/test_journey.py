"""The whole tenant journey over a real server, on SQLite and Postgres, through the client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantflow.api.models import InstanceCreate, QuotaUpdate
from tenantflow.client import ApiError, AsyncClient
from tests.api.conftest import Running

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELLO = (EXAMPLES / "hello.py").read_bytes()


async def test_tenant_journey(server: Running) -> None:
    async with AsyncClient(server.url, server.admin_key) as admin:
        created = await admin.create_tenant("Acme", tenant_id="acme")
        other = await admin.create_tenant("Globex")
    assert created.tenant.id == "acme" and created.api_key.key.startswith("tf_")
    async with (
        AsyncClient(server.url, created.api_key.key) as tf,
        AsyncClient(server.url, other.api_key.key) as globex,
    ):
        # Deploy; the same bytes again are a no-op.
        v1 = await tf.upload_workflow("orders", EXAMPLES / "order_approval.py")
        assert v1.created and v1.version == 1
        assert not (await tf.upload_workflow("orders", EXAMPLES / "order_approval.py")).created
        # Start with an idempotency key; a repeat returns the same instance.
        first = await tf.create_instance(
            "orders", {"order": 7, "amount": 10}, idempotency_key="o-7"
        )
        again = await tf.create_instance(
            "orders", {"order": 7, "amount": 10}, idempotency_key="o-7"
        )
        assert first.id == again.id and first.code_hash == v1.sha256
        # Retry (first attempt fails), durable sleep, then it waits for the approval event.
        waiting = await tf.wait(first.id, timeout=60, until=lambda d: d.status.value == "waiting")
        assert waiting.waiting_for == "approved"
        steps = {s.name: s for s in waiting.steps}
        assert steps["reserve stock"].status == "complete" and steps["reserve stock"].attempts == 2
        assert steps["cool down"].kind == "sleep" and steps["cool down"].status == "complete"
        # Another tenant cannot see or touch it.
        for call in (
            globex.get_instance(first.id),
            globex.send_event(first.id, "approved", {}),
            globex.logs(first.id),
            globex.pause(first.id),
            globex.terminate(first.id),
            globex.restart(first.id),
            globex.create_instance("orders", {}),
            globex.get_version("orders", v1.sha256),
        ):
            with pytest.raises(ApiError) as info:
                await call
            assert info.value.status == 404 and info.value.code == "not-found"
        assert (await globex.list_instances()).items == []
        assert (await tf.get_instance(first.id)).status.value == "waiting"
        # A new version does not move the running instance (it stays pinned).
        v2 = await tf.upload_workflow(
            "orders", (EXAMPLES / "order_approval.py").read_bytes() + b"\n# v2\n"
        )
        assert v2.version == 2
        await tf.send_event(first.id, "approved", {"by": "alice"})
        done = await tf.wait(first.id, timeout=60)
        assert done.status.value == "complete", done
        assert done.output == {
            "order": 7,
            "reserved": True,
            "approved_by": "alice",
            "charged": 12.0,
        }
        assert done.code_hash == v1.sha256
        logs = await tf.logs(first.id)
        text = "".join(line.text for line in logs.items)
        assert "reserving stock" in text and "approved by alice" in text
        assert {line.step for line in logs.items if "reserving" in line.text} <= {
            None,
            "reserve stock",
        }
        # Batch create, list with filters and cursor pagination.
        await tf.upload_workflow("hello", HELLO)
        batch = await tf.create_instances(
            "hello", [InstanceCreate(event={"name": f"n{i}"}) for i in range(5)]
        )
        assert len(batch.items) == 5
        for item in batch.items:
            assert (await tf.wait(item.id, timeout=60)).output == {
                "greeting": f"hello, {item.event['name']}"
            }
        page = await tf.list_instances(workflow="hello", limit=2)
        assert len(page.items) == 2 and page.next_cursor
        seen = [i.id async for i in tf.iter_instances(workflow="hello", limit=2)]
        assert sorted(seen) == sorted(i.id for i in batch.items)
        assert len((await tf.list_instances(status="complete", limit=100)).items) == 6
        assert (await tf.list_instances(created_before="2000-01-01T00:00:00Z")).items == []
        newest = batch.items[-1].created_at.isoformat()
        assert len((await tf.list_instances(workflow="hello", created_after=newest)).items) >= 1
        # Control: pause, resume, terminate, restart.
        held = await tf.create_instance("orders", {"order": 8})
        await tf.wait(held.id, timeout=60, until=lambda d: d.status.value == "waiting")
        assert (await tf.pause(held.id)).status.value == "paused"
        with pytest.raises(ApiError) as info:
            await tf.pause(held.id)
        assert info.value.status == 409 and info.value.code == "invalid-state"
        assert (await tf.resume(held.id)).status.value in ("queued", "running", "waiting")
        await tf.wait(held.id, timeout=60, until=lambda d: d.status.value == "waiting")
        assert (await tf.terminate(held.id)).status.value == "terminated"
        assert (await tf.restart(held.id)).status.value == "queued"
        await tf.wait(held.id, timeout=60, until=lambda d: d.status.value == "waiting")
        await tf.terminate(held.id)


async def test_running_instances_quota(server: Running) -> None:
    async with AsyncClient(server.url, server.admin_key) as admin:
        made = await admin.create_tenant("Small", quotas=QuotaUpdate(max_running_instances=2))
    async with AsyncClient(server.url, made.api_key.key) as tf:
        await tf.upload_workflow("hello", HELLO)
        with pytest.raises(ApiError) as info:
            await tf.create_instances("hello", [InstanceCreate(event={}) for _ in range(3)])
        problem = info.value.problem
        assert info.value.status == 429 and problem.quota == "max_running_instances"
        assert problem.limit == 2
        # Nothing of the refused batch was created; within the quota it works.
        assert (await tf.list_instances()).items == []
        ok = await tf.create_instances("hello", [InstanceCreate(event={}) for _ in range(2)])
        for item in ok.items:
            assert (await tf.wait(item.id, timeout=60)).status.value == "complete"
        # Finished instances no longer count.
        assert (await tf.create_instance("hello", {})).status.value == "queued"
