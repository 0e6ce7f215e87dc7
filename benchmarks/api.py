"""Create-instance throughput and latency of `tenantflow serve`, printed as JSON.

Starts a real `tenantflow serve --no-worker` subprocess (SQLite in a temp
directory unless --database-url is given), creates a tenant and uploads a
one-step workflow, then 32 concurrent clients POST
/v1/workflows/bench/instances as fast as they can over keep-alive
connections. Execution is excluded: no worker runs, so instances stay
queued (the tenant's max_running_instances quota is raised accordingly).

Two phases: "closed loop" (each client sends its next request when the last
answer arrives: maximum throughput) and "paced" (the 32 clients together
offer --rate requests/s: latency at a given load). The load generator is a
minimal HTTP/1.1 client on asyncio streams, so the client's own CPU cost
stays small next to the server's on this 2-core machine.

    .venv/bin/python benchmarks/api.py [--seconds 10] [--clients 32] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = b"def run(event, step):\n    return step.do('echo', lambda: event)\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    data_dir: Path, port: int, admin_key: str, database_url: str | None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        TENANTFLOW_ADMIN_API_KEY=admin_key,
        TENANTFLOW_MODULE_CACHE_DIR=str(ROOT / ".cache" / "modules"),
    )
    command = [
        sys.executable, "-m", "tenantflow.cli", "serve", "--no-worker", "--port", str(port),
        "--data-dir", str(data_dir),
    ]  # fmt: skip
    if database_url:
        command += ["--database-url", database_url]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server exited: {err[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


class Connection:
    """One keep-alive HTTP/1.1 connection sending the same POST again and again."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port = port
        self.request = request
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self) -> int:
        self.writer.write(self.request)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def closed_loop(conns: list[Connection], seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(conn: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            start = time.perf_counter()
            status = await conn.send()
            latencies.append(time.perf_counter() - start)
            if status != 201:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    return latencies, errors, time.perf_counter() - start


async def paced(
    conns: list[Connection], seconds: float, rate: float
) -> tuple[list[float], int, float]:
    """Open loop: request i is due at i/rate; latency counts from when it was due."""
    latencies: list[float] = []
    errors = 0
    total = int(seconds * rate)
    begin = time.perf_counter() + 0.05
    counter = iter(range(total))

    async def client(conn: Connection) -> None:
        nonlocal errors
        for i in counter:
            due = begin + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await conn.send()
            latencies.append(time.perf_counter() - due)
            if os.environ.get("BENCH_TRACE") and latencies[-1] > 0.04:
                print(f"slow {due - begin:.3f} {latencies[-1] * 1000:.0f}", file=sys.stderr)
            if status != 201:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    return latencies, errors, time.perf_counter() - start


def summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, float | int]:
    ordered = sorted(latencies)
    q = statistics.quantiles(ordered, n=100)
    return {
        "requests": len(ordered),
        "errors": errors,
        "requests_per_s": round(len(ordered) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(port: int, key: str, args: argparse.Namespace, pid: int) -> dict[str, object]:
    body = json.dumps({"event": {"order": 1, "items": [1, 2, 3]}}).encode()
    request = (
        f"POST /v1/workflows/bench/instances HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    conns = [Connection(port, request) for _ in range(args.clients)]
    await asyncio.gather(*(c.open() for c in conns))
    await closed_loop(conns, 2.0)  # warm-up: caches, connection pools, JIT-free but still
    cpu = cpu_seconds(pid)
    closed = summary(*await closed_loop(conns, args.seconds))
    closed["server_cpu_ms_per_request"] = round(
        (cpu_seconds(pid) - cpu) * 1000 / max(int(closed["requests"]), 1), 3
    )
    at_rate = summary(*await paced(conns, args.seconds, args.rate))
    for c in conns:
        c.close()
    return {"closed_loop": closed, f"paced_{int(args.rate)}_per_s": at_rate}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--port", type=int, default=None, help="fixed port (default: a free one)")
    parser.add_argument(
        "--profile", default=None, help="record the server with py-spy into this SVG file"
    )
    args = parser.parse_args()
    admin_key = "adm_" + secrets.token_hex(16)
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(Path(tmp) / "data", port, admin_key, args.database_url)
        spy = None
        try:
            wait_ready(url, proc)
            if args.profile:
                spy = subprocess.Popen(
                    ["py-spy", "record", "-o", args.profile, "-p", str(proc.pid), "-r", "50",
                     "--format", "raw"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            admin = {"Authorization": f"Bearer {admin_key}"}
            made = httpx.post(
                f"{url}/v1/admin/tenants",
                json={"name": "bench", "quotas": {"max_running_instances": 1_000_000}},
                headers=admin,
            ).json()
            key = made["api_key"]["key"]
            r = httpx.put(f"{url}/v1/workflows/bench", content=WORKFLOW,
                          headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
            r.raise_for_status()
            results = asyncio.run(bench(port, key, args, proc.pid))
        finally:
            if spy is not None:
                spy.send_signal(2)
                spy.wait(60)
            proc.terminate()
            proc.wait(30)
    report = {
        "benchmark": "create-instance (POST /v1/workflows/{name}/instances)",
        "server": "tenantflow serve --no-worker (execution excluded: instances stay queued)",
        "database": "postgres" if args.database_url else "sqlite",
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        **results,
        "floors": {"requests_per_s": 500, "p99_ms": 50},
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
