"""Egress proxy figures: latency the proxy adds over a direct request, and proxied throughput.

Run: ``.venv/bin/python benchmarks/egress.py`` (prints JSON). The upstream is a
minimal keep-alive HTTP server in a subprocess on 127.0.0.1 (its own core
budget, no GIL shared with the proxy). Measured:

- ``direct_client``: ``httpx.AsyncClient.get`` from the host (the floor a user compares to).
- ``direct_transport``: the same request through a bare ``httpx.AsyncHTTPTransport``
  (the layer the proxy sends on; the stricter baseline).
- ``proxy_fetch``: ``EgressProxy.fetch`` on the host with a token rule (policy, address
  guard, injection, redaction, audit into memory).
- ``guest_fetch``: ``tenantflow.guest.fetch`` inside a warm sandbox, timed by the guest
  (bridge + proxy + upstream); ``guest_call_noop_async`` a no-op async host call (the
  bridge alone); ``guest_call_direct_httpx_no_proxy`` a host call whose handler does a
  plain ``httpx`` GET (bridge + request, no proxy): the proxy's share in the sandbox is
  the difference to ``guest_fetch``.
- ``throughput``: 8 sandboxes at once, each fetching in a loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from tenantflow.egress import (
    CredentialRule,
    EgressContext,
    EgressPolicy,
    EgressProxy,
    FetchRequest,
    MemoryAuditSink,
    MemorySecretSource,
)
from tenantflow.sandbox import Sandbox

UPSTREAM = r"""
import asyncio, sys
BODY = b'{"ok": true, "items": [1, 2, 3]}'
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(BODY))
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(HEAD + BODY)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

GUEST_FETCH = """
import time
from tenantflow.guest import fetch
url = {url!r}
samples = []
for i in range({n}):
    t = time.perf_counter()
    r = fetch(url)
    samples.append(time.perf_counter() - t)
    assert r.status == 200
__result__ = samples
"""
GUEST_CALL = """
import time
from tenantflow.guest import call
samples = []
for i in range({n}):
    t = time.perf_counter(); call("noop"); samples.append(time.perf_counter() - t)
__result__ = samples
"""
GUEST_LOOP = """
from tenantflow.guest import fetch
for i in range({n}):
    assert fetch({url!r}).status == 200
"""


async def _timed(n: int, once: Any) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await once()
        samples.append(time.perf_counter() - started)
    return samples


async def _noop() -> None:
    return None


async def measure(port: int, samples: int, per_sandbox: int) -> dict[str, Any]:
    """Every figure, against the upstream on ``port``."""
    url = f"http://127.0.0.1:{port}/items"
    policy = EgressPolicy(
        allowed_hosts=("127.0.0.1",),
        schemes=("http",),
        ports=(port,),
        allowed_addresses=("127.0.0.1",),
    )
    rule = CredentialRule(name="tok", host="127.0.0.1", secret="TOKEN", schemes=("http",))
    audit = MemoryAuditSink(maxlen=1_000_000)

    def context() -> EgressContext:
        return EgressContext(
            tenant="bench",
            policy=policy,
            rules=(rule,),
            secrets=MemorySecretSource({"TOKEN": "tok_" + "x" * 40}),
            audit=audit,
        )

    figures: dict[str, Any] = {"samples": samples, "upstream": "asyncio keep-alive subprocess"}
    async with httpx.AsyncClient(trust_env=False) as client, EgressProxy() as proxy:
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        ctx = context()

        async def direct() -> None:
            (await client.get(url)).raise_for_status()

        async def bare() -> None:
            response = await transport.handle_async_request(httpx.Request("GET", url))
            await response.aread()
            await response.aclose()

        async def proxied() -> None:
            await proxy.fetch(ctx, FetchRequest(url))

        for once in (direct, bare, proxied):  # warm connections and code paths
            await _timed(200, once)
        # Interleave the three so drift (other load on the machine) hits all alike.
        runs: dict[str, list[float]] = {"direct": [], "bare": [], "proxy": []}
        for _ in range(samples // 100):
            runs["direct"] += await _timed(100, direct)
            runs["bare"] += await _timed(100, bare)
            runs["proxy"] += await _timed(100, proxied)
        await transport.aclose()
        direct_p = percentiles(runs["direct"])
        bare_p = percentiles(runs["bare"])
        proxy_p = percentiles(runs["proxy"])
        figures["direct_client"] = direct_p
        figures["direct_transport"] = bare_p
        figures["proxy_fetch"] = proxy_p
        figures["added_vs_client_ms"] = {
            "p50": round(proxy_p["p50_ms"] - direct_p["p50_ms"], 3),
            "p95": round(proxy_p["p95_ms"] - direct_p["p95_ms"], 3),
        }
        figures["added_vs_transport_ms"] = {
            "p50": round(proxy_p["p50_ms"] - bare_p["p50_ms"], 3),
            "p95": round(proxy_p["p95_ms"] - bare_p["p95_ms"], 3),
        }

        with tempfile.TemporaryDirectory() as data:
            cache = os.environ.get("TENANTFLOW_MODULE_CACHE_DIR")
            settings = Settings(
                data_dir=Path(data),
                warm_pool_size=8,
                module_cache_dir=Path(cache) if cache else Path(data) / "modules",
            )
            async with Sandbox(settings) as sb:

                async def direct_handler() -> dict[str, Any]:
                    response = await client.get(url)
                    return {"status": response.status_code, "body": response.text}

                handlers: dict[str, Any] = {
                    **proxy.handlers(context()),
                    "noop": _noop,
                    "direct": direct_handler,
                }
                await sb.run("pass", pool_key="bench")  # compile/load once, fill the pool
                n = max(100, samples // 4)
                fetch_run = await sb.run(
                    GUEST_FETCH.format(url=url, n=n), handlers=handlers, pool_key="bench"
                )
                call_run = await sb.run(GUEST_CALL.format(n=n), handlers=handlers, pool_key="bench")
                direct_run = await sb.run(
                    GUEST_CALL.format(n=n).replace('"noop"', '"direct"'),
                    handlers=handlers,
                    pool_key="bench",
                )
                assert fetch_run.ok and call_run.ok, (fetch_run.error, call_run.error)
                assert direct_run.ok, direct_run.error
                guest_direct = percentiles(direct_run.value[20:])
                figures["guest_call_direct_httpx_no_proxy"] = guest_direct
                guest_fetch = percentiles(fetch_run.value[20:])
                guest_call = percentiles(call_run.value[20:])
                figures["guest_fetch"] = guest_fetch
                figures["guest_call_noop_async"] = guest_call
                figures["guest_fetch_added_vs_client_ms"] = {
                    "p50": round(guest_fetch["p50_ms"] - direct_p["p50_ms"], 3),
                    "p95": round(guest_fetch["p95_ms"] - direct_p["p95_ms"], 3),
                }
                figures["guest_fetch_added_vs_guest_direct_ms"] = {
                    "p50": round(guest_fetch["p50_ms"] - guest_direct["p50_ms"], 3),
                    "p95": round(guest_fetch["p95_ms"] - guest_direct["p95_ms"], 3),
                }

                async def one(code: str) -> None:
                    result = await sb.run(
                        code, handlers=proxy.handlers(context()), pool_key="bench"
                    )
                    assert result.ok, result.error

                await asyncio.sleep(1.0)  # let the pool refill
                started = time.perf_counter()
                await asyncio.gather(*(one(GUEST_LOOP.format(n=0, url=url)) for _ in range(8)))
                boot_only = time.perf_counter() - started
                await asyncio.sleep(1.0)
                started = time.perf_counter()
                loop_code = GUEST_LOOP.format(n=per_sandbox, url=url)
                await asyncio.gather(*(one(loop_code) for _ in range(8)))
                wall = time.perf_counter() - started
                total = 8 * per_sandbox
                figures["throughput_8_sandboxes"] = {
                    "requests": total,
                    "wall_s": round(wall, 3),
                    "requests_per_s": round(total / wall, 1),
                    "same_8_runs_without_fetches_s": round(boot_only, 3),
                    "requests_per_s_excluding_run_start": round(
                        total / max(wall - boot_only, 1e-9), 1
                    ),
                }
    figures["audit_entries_recorded"] = len(audit.entries)
    return figures


def main(samples: int, per_sandbox: int) -> None:
    """Start the upstream subprocess, measure, print JSON."""
    server = subprocess.Popen([sys.executable, "-c", UPSTREAM], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        emit(asyncio.run(measure(port, samples, per_sandbox)))
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--per-sandbox", type=int, default=300)
    args = parser.parse_args()
    main(args.samples, args.per_sandbox)
