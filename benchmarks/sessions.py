"""Agent session figures, measured through the Python ``SessionManager`` API and over HTTP.

* warm ``python`` call ``print(1)`` (interpreter already serving the session)
* warm ``shell`` call ``ls | wc -l`` (bash interpreter already imported)
* tool call overhead inside the sandbox (``tools.read_file`` on a tiny file, timed in the guest:
  guest stub + bridge round trip + JSON-schema check + the host handler)
* wake from hibernation to the first byte of output (``print(1)``), with the tenant's warm
  pool (the default) and without it (cold CPython boot)
* the same python and shell calls over HTTP (uvicorn on 127.0.0.1, httpx client)

Run: ``.venv/bin/python benchmarks/sessions.py`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _common import emit, percentiles

from tenantflow.config import Settings
from tenantflow.db import create_engine, session_factory
from tenantflow.db.session import migrate_sync
from tenantflow.sandbox import Sandbox
from tenantflow.sessions import (
    BuiltinTarget,
    SessionManager,
    SessionSettings,
    SessionSpec,
    ToolSpec,
)

REPO = Path(__file__).resolve().parent.parent
TOOL_LOOP = """
import time
from tenantflow.guest import tools
read = tools.read_file
samples = []
for _ in range({n}):
    t = time.perf_counter()
    read(path='tiny.txt')
    samples.append(time.perf_counter() - t)
__result__ = samples
"""


def settings_for(data: Path) -> Settings:
    cache = os.environ.get("TENANTFLOW_MODULE_CACHE_DIR") or str(REPO / ".cache" / "modules")
    return Settings(data_dir=data, warm_pool_size=2, module_cache_dir=Path(cache))


async def timed_calls(call: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        result = await call()
        out.append(time.perf_counter() - started)
        assert result.ok, result
    return out


async def wake_to_first_output(manager: SessionManager, tenant: str, sid: str) -> float:
    """Hibernate, then time a call from the request to its first printed byte."""
    await manager.hibernate(tenant, sid)
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[float] = loop.create_future()

    def on_output(_stream: str, _text: str) -> None:
        now = time.perf_counter()
        loop.call_soon_threadsafe(lambda: seen.done() or seen.set_result(now))

    started = time.perf_counter()
    result = await manager.python(tenant, sid, "print(1)", on_output=on_output)
    assert result.ok and result.woke, result
    return await seen - started


async def manager_figures(data: Path, samples: int) -> dict[str, Any]:
    settings = settings_for(data)
    await asyncio.to_thread(migrate_sync, settings.resolved_database_url)
    db = create_engine(settings.resolved_database_url)
    figures: dict[str, Any] = {}
    async with Sandbox(settings) as sandbox:
        await sandbox.run("pass")  # load the compiled runtime once
        for prewarm in (True, False):
            manager = await SessionManager(
                settings, session_factory(db), sandbox, config=SessionSettings(prewarm=prewarm)
            ).start()
            tenant = "bench_" + secrets.token_hex(4)
            tool = ToolSpec(name="read_file", target=BuiltinTarget(name="files.read"))
            sid = (await manager.create(tenant, SessionSpec(tools=(tool,)))).id
            await manager.files.write(tenant, sid, "tiny.txt", b"x")
            await asyncio.sleep(0.5)  # the tenant's pool boots in the background
            wakes = []
            for _ in range(max(10, samples // 4)):
                wakes.append(await wake_to_first_output(manager, tenant, sid))
                await asyncio.sleep(0.3)  # pool refill happens off the clock
            key = "wake_from_hibernation_to_first_output"
            figures[key if prewarm else key + "_without_warm_pool"] = percentiles(wakes)
            if prewarm:

                def python(m: SessionManager = manager, t: str = tenant, s: str = sid) -> Any:
                    return m.python(t, s, "print(1)")

                def shell(m: SessionManager = manager, t: str = tenant, s: str = sid) -> Any:
                    return m.shell(t, s, "ls | wc -l")

                await timed_calls(python, 20)
                await timed_calls(shell, 5)  # the first call imports the bash interpreter
                figures["warm_python_print_1"] = percentiles(await timed_calls(python, samples))
                figures["warm_shell_ls_wc"] = percentiles(await timed_calls(shell, samples))
                n = max(samples * 5, 500)
                run = await manager.python(tenant, sid, TOOL_LOOP.format(n=n) + "\nNone")
                assert run.ok, run.error
                guest = await manager.python(tenant, sid, "samples")
                values = [float(v) for v in (guest.result or "[]").strip("[]").split(",")]
                figures["tool_call_in_sandbox"] = percentiles(values[20:])
            await manager.close()
    await db.dispose()
    return figures


async def raw_posts(port: int, path: str, key: str, body: dict[str, Any], n: int) -> list[float]:
    """POST ``body`` n times over one keep-alive connection with a minimal HTTP/1.1 client
    (httpx's own overhead in this process was ~40 ms per request, hiding the server's time)."""
    data = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        for _ in range(n + 10):
            started = time.perf_counter()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            answer = json.loads(await reader.readexactly(length))
            out.append(time.perf_counter() - started)
            assert status == 200 and answer["ok"], answer
    finally:
        writer.close()
    return out[10:]


async def http_figures(data: Path, samples: int) -> dict[str, Any]:
    """Python and shell calls over HTTP to a real ``tenantflow serve`` subprocess."""
    admin_key = "adm_" + secrets.token_hex(8)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, TENANTFLOW_ADMIN_API_KEY=admin_key)
    env.setdefault("TENANTFLOW_MODULE_CACHE_DIR", str(REPO / ".cache" / "modules"))
    command = [
        sys.executable, "-m", "tenantflow.cli", "serve", "--no-worker", "--port", str(port),
        "--data-dir", str(data),
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError("server exited")
                try:
                    if (await http.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            admin = {"Authorization": f"Bearer {admin_key}"}
            r = await http.post(f"{base}/v1/admin/tenants", json={"name": "bench"}, headers=admin)
            key = r.json()["api_key"]["key"]
            h = {"Authorization": f"Bearer {key}"}
            sid = (await http.post(f"{base}/v1/sessions", json={}, headers=h)).json()["id"]
        path = f"/v1/sessions/{sid}"
        python = await raw_posts(port, f"{path}/python", key, {"code": "print(1)"}, samples)
        shell = await raw_posts(port, f"{path}/shell", key, {"command": "ls | wc -l"}, samples)
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "http_warm_python_print_1": percentiles(python),
        "http_warm_shell_ls_wc": percentiles(shell),
    }


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        figures: dict[str, Any] = {
            "measured_through": "tenantflow.sessions.SessionManager (Python API); "
            "http_*: a `tenantflow serve` subprocess over one keep-alive connection"
        }
        figures.update(await manager_figures(Path(data) / "manager", samples))
        figures.update(await http_figures(Path(data) / "http", samples))
        figures["floors_ms"] = {
            "warm_python_print_1_p50": 5,
            "warm_shell_ls_wc_p50": 20,
            "tool_call_in_sandbox_p50": 0.5,
            "wake_from_hibernation_to_first_output_p50": 100,
        }
        # Let warm-pool refills finish before the process exits.
        await asyncio.sleep(0.5)
    emit(figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    asyncio.run(main(parser.parse_args().samples))
