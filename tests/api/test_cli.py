"""The tenant CLI as a user runs it: real subprocesses against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tenantflow.client import AsyncClient
from tests.api.conftest import Running, new_tenant

ROOT = Path(__file__).resolve().parents[2]


def cli(
    *args: str, key: str | None = None, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTFLOW_")}
    if key:
        env["TENANTFLOW_API_KEY"] = key
    if url:
        env["TENANTFLOW_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "tenantflow.cli", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


async def test_cli_tenant_commands(shared_server: Running, http: httpx.AsyncClient) -> None:
    url = shared_server.url
    _tid, key = await new_tenant(http, shared_server)
    r = cli("deploy", "examples/hello.py", "--name", "hello", key=key, url=url)
    assert r.returncode == 0, r.stderr
    assert "hello v1 new version" in r.stdout
    r = cli("deploy", "examples/pricing", key=key, url=url)  # a directory is zipped
    assert r.returncode == 0 and "pricing v1" in r.stdout, r.stderr
    r = cli("run", "hello", "--event", '{"name": "Ada"}', "--wait", key=key, url=url)
    assert r.returncode == 0, r.stderr
    assert "complete" in r.stderr  # the progress indicator writes to stderr
    detail = json.loads(r.stdout[r.stdout.index("{") :])
    assert detail["output"] == {"greeting": "hello, Ada"}
    instance = detail["id"]
    r = cli("status", instance, key=key, url=url)
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "complete"
    r = cli("logs", instance, key=key, url=url)
    assert r.returncode == 0 and "hello, Ada" in r.stdout
    r = cli("instances", "--workflow", "hello", key=key, url=url)
    assert r.returncode == 0 and instance in r.stdout
    r = cli("run", "pricing", "--event", '{"items": [[2, 3.5], [1, 10]]}', "--wait",
            key=key, url=url)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout[r.stdout.index("{") :])["output"]["subtotal"] == 17.0
    # Events: start order-approval, wait for it to wait, approve from the CLI.
    assert (
        cli("deploy", "examples/order_approval.py", "--name", "orders", key=key, url=url).returncode
        == 0
    )
    r = cli("run", "orders", "--event", '{"order": 1, "amount": 5}', key=key, url=url)
    order = r.stdout.strip()
    async with AsyncClient(url, key) as tf:
        await tf.wait(order, timeout=60, until=lambda d: d.status.value == "waiting")
    r = cli("events", order, "approved", '{"by": "cli"}', key=key, url=url)
    assert r.returncode == 0, r.stderr
    r = cli("status", order, "--wait", key=key, url=url)
    assert r.returncode == 0, r.stderr


async def test_cli_errors_and_exit_codes(shared_server: Running, http: httpx.AsyncClient) -> None:
    url = shared_server.url
    _tid, key = await new_tenant(http, shared_server)
    r = cli("instances", key="tf_nope_nope", url=url)
    assert r.returncode == 3 and "unknown or revoked API key" in r.stderr
    r = cli("instances", url=url)
    assert r.returncode == 2 and "no API key" in r.stderr
    r = cli("run", "hello", "--event", "{not json", key=key, url=url)
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = cli("status", "nosuchinstance", key=key, url=url)
    assert r.returncode == 3 and "404 not-found" in r.stderr
    r = cli("instances", key=key, url="http://127.0.0.1:9")
    assert r.returncode == 4 and "cannot reach the server" in r.stderr
    r = cli("deploy", "examples/does-not-exist.py", key=key, url=url)
    assert r.returncode == 2
    bad = ROOT / "tests" / "api" / "_bad_workflow.py"
    bad.write_text("def run(event, step)\n    pass\n")
    try:
        r = cli("deploy", str(bad), "--name", "bad", key=key, url=url)
    finally:
        bad.unlink()
    assert r.returncode == 3 and "SyntaxError" in r.stderr
