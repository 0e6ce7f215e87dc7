"""Quotas applied to running workflows: steps, step time, workspace size, live sandboxes."""

from __future__ import annotations

import pytest

from tenantflow.api.models import QuotaUpdate
from tenantflow.client import AsyncClient
from tenantflow.tenants.enforcement import with_step_quotas
from tenantflow.tenants.quotas import Quotas
from tests.api.conftest import Running

STEPS = b"""
def run(event, step):
    for i in range(event["steps"]):
        step.do(f"s{i}", lambda: i)
    return "done"
"""
BUSY = b"""
import time

def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass
    return seconds

def run(event, step):
    return step.do("spin", lambda: spin(event["seconds"]), retries=0, timeout="60 s")
"""
CHEATER = b"""
from tenantflow.guest import _channel

def run(event, step):
    step._max_steps = None  # skip the guest-side budget check
    for i in range(3):
        step.do(f"s{i}", lambda: i)
    if event["how"] == "sleep":
        step.sleep("nap", 0)
    elif event["how"] == "wait":
        step.wait_for_event("evt", type="go", timeout=1)
    elif event["how"] == "raw":
        _channel.call("wf.commit", seq=7, name="forged", attempt=1, started=0.0, output="1")
    else:
        step.do("s3", lambda: 3)
    return "done"
"""
BUSY_NO_TIMEOUT = b"""
import time

def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass
    return seconds

def run(event, step):
    return step.do("spin", lambda: spin(event["seconds"]), retries=0)
"""
WRITE = b"""
def write(size):
    with open("blob.bin", "wb") as f:
        f.write(b"x" * size)
    return size

def run(event, step):
    return step.do("write", lambda: write(event["bytes"]), retries=0)
"""


async def _tenant(server: Running, **quotas: int | float) -> AsyncClient:
    async with AsyncClient(server.url, server.admin_key) as admin:
        made = await admin.create_tenant("quota test", quotas=QuotaUpdate(**quotas))
    return AsyncClient(server.url, made.api_key.key)


@pytest.fixture
def srv(shared_server: Running) -> Running:
    return shared_server


async def test_steps_per_instance(srv: Running) -> None:
    async with await _tenant(srv, max_steps_per_instance=3) as tf:
        await tf.upload_workflow("steps", STEPS)
        ok = await tf.create_instance("steps", {"steps": 3})
        over = await tf.create_instance("steps", {"steps": 5})
        assert (await tf.wait(ok.id, timeout=60)).status.value == "complete"
        failed = await tf.wait(over.id, timeout=60)
        assert failed.status.value == "errored"
        assert "max_steps_per_instance" in str(failed.error)
        assert [s.name for s in failed.steps if s.status == "complete"] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("how", ["do", "sleep", "wait", "raw"])
async def test_a_guest_that_skips_the_step_budget_is_refused_by_the_host(
    srv: Running, how: str
) -> None:
    async with await _tenant(srv, max_steps_per_instance=3) as tf:
        await tf.upload_workflow("cheat", CHEATER)
        cheat = await tf.create_instance("cheat", {"how": how})
        failed = await tf.wait(cheat.id, timeout=60)
        assert failed.status.value == "errored"
        assert "max_steps_per_instance" in str(failed.error)
        assert [s.name for s in failed.steps] == ["s0", "s1", "s2"]


async def test_step_time_is_capped(srv: Running) -> None:
    async with await _tenant(srv, max_cpu_seconds_per_run=0.5) as tf:
        await tf.upload_workflow("busy", BUSY)
        quick = await tf.create_instance("busy", {"seconds": 0.05})
        slow = await tf.create_instance("busy", {"seconds": 5})
        assert (await tf.wait(quick.id, timeout=60)).status.value == "complete"
        detail = await tf.wait(slow.id, timeout=60)
        assert detail.status.value == "errored", detail
        step = detail.steps[0]
        assert step.status == "failed"
        assert step.ended_at and step.started_at
        assert (step.ended_at - step.started_at).total_seconds() < 4


async def test_workspace_size(srv: Running) -> None:
    async with await _tenant(srv, max_workspace_bytes=256 * 1024) as tf:
        await tf.upload_workflow("write", WRITE)
        small = await tf.create_instance("write", {"bytes": 1024})
        big = await tf.create_instance("write", {"bytes": 4 * 1024 * 1024})
        assert (await tf.wait(small.id, timeout=60)).status.value == "complete"
        detail = await tf.wait(big.id, timeout=60)
        assert detail.status.value == "errored", detail
        assert "quota" in str(detail.error).lower() or "limit" in str(detail.error).lower()


async def test_live_sandboxes_queue_instead_of_overlapping(srv: Running) -> None:
    async with await _tenant(srv, max_live_sandboxes=1) as tf:
        await tf.upload_workflow("busy", BUSY)
        # Two versions: different code never shares one sandbox run.
        await tf.upload_workflow("busy2", BUSY + b"\n# another version\n")
        a = await tf.create_instance("busy", {"seconds": 0.6})
        b = await tf.create_instance("busy2", {"seconds": 0.6})
        da = await tf.wait(a.id, timeout=60)
        db = await tf.wait(b.id, timeout=60)
        assert da.status.value == db.status.value == "complete"
        sa, sb = da.steps[0], db.steps[0]
        assert sa.started_at and sa.ended_at and sb.started_at and sb.ended_at
        first, second = sorted([sa, sb], key=lambda s: s.started_at)  # type: ignore[arg-type,return-value]
        assert second.started_at >= first.ended_at  # type: ignore[operator]


TAMPER = b"""
def tamper():
    try:
        with open("/code/main.py", "a") as f:
            f.write("# changed")
    except OSError as exc:
        return type(exc).__name__
    return "wrote"

def run(event, step):
    return step.do("tamper", tamper)
"""


async def test_code_is_mounted_read_only(srv: Running) -> None:
    async with await _tenant(srv) as tf:
        version = await tf.upload_workflow("tamper", TAMPER)
        run = await tf.create_instance("tamper", {})
        detail = await tf.wait(run.id, timeout=60)
        assert detail.status.value == "complete"
        assert detail.output != "wrote", detail.output
        # The bundle is unchanged: a new instance of the same version still sees its bytes.
        again = await tf.create_instance("tamper", {}, version=version.sha256)
        assert (await tf.wait(again.id, timeout=60)).output == detail.output


async def test_a_step_without_a_timeout_is_capped_too(srv: Running) -> None:
    async with await _tenant(srv, max_cpu_seconds_per_run=0.5) as tf:
        await tf.upload_workflow("busy-default", BUSY_NO_TIMEOUT)
        slow = await tf.create_instance("busy-default", {"seconds": 5})
        detail = await tf.wait(slow.id, timeout=60)
        assert detail.status.value == "errored", detail
        assert detail.steps[0].status == "failed"


def _timeouts_seen(cpu_quota: float, default: float, asked: float | None) -> float | None:
    seen: list[float | None] = []
    quotas = Quotas(
        max_running_instances=1, max_live_sandboxes=1, max_steps_per_instance=10,
        max_bundle_bytes=1, max_cpu_seconds_per_run=cpu_quota, max_workspace_bytes=1,
    )  # fmt: skip
    wrapped = with_step_quotas(
        {"wf.start": lambda **kw: seen.append(kw["timeout"])}, quotas, default_step_seconds=default
    )
    wrapped["wf.start"](seq=0, name="s", attempt=1, timeout=asked, retries=None)
    return seen[0]


def test_the_cpu_quota_lowers_step_timeouts_and_never_raises_them() -> None:
    assert _timeouts_seen(5, default=600, asked=None) == 5
    assert _timeouts_seen(5, default=600, asked=60) == 5
    assert _timeouts_seen(5, default=600, asked=2) == 2
    assert _timeouts_seen(3600, default=600, asked=None) == 600
    assert _timeouts_seen(3600, default=600, asked=1200) == 1200
