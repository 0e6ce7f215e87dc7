"""What the SQL audit trail costs a proxied request, on SQLite and (if given) Postgres.

Run: ``.venv/bin/python benchmarks/egress_audit.py [--postgres URL]`` (prints JSON).
The same ``EgressProxy.fetch`` to a loopback upstream, sequentially, with the
audit entry going to: memory (the floor), the SQL sink committing before the
request returns (the default), and the SQL sink in write-behind mode
(``egress_audit_write_behind``). Also: 8 concurrent fetchers, where group
commit lets requests share transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit, percentiles
from sqlalchemy.engine import make_url

from tenantflow.db import create_engine, session_factory
from tenantflow.db.session import migrate
from tenantflow.egress import (
    AuditSink,
    EgressContext,
    EgressPolicy,
    EgressProxy,
    FetchRequest,
    MemoryAuditSink,
    MemorySecretSource,
)
from tenantflow.egress.store import SqlAuditLog
from tests.egress.upstream import Upstream


async def _timed(proxy: EgressProxy, ctx: EgressContext, url: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await proxy.fetch(ctx, FetchRequest(url))
        samples.append(time.perf_counter() - started)
    return samples


async def _concurrent(proxy: EgressProxy, ctx: EgressContext, url: str, n: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(_timed(proxy, ctx, url, n) for _ in range(8)))
    return round(8 * n / (time.perf_counter() - started), 1)


async def measure(url: str, n: int) -> dict[str, Any]:
    """Figures for the database at ``url``."""
    await migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    upstream = Upstream("127.0.0.1")
    policy = EgressPolicy(
        allowed_hosts=("127.0.0.1",),
        schemes=("http",),
        ports=(upstream.port,),
        allowed_addresses=("127.0.0.1",),
    )
    sinks: dict[str, AuditSink] = {
        "memory": MemoryAuditSink(),
        "sql_commit": SqlAuditLog(sessions),
        "sql_write_behind": SqlAuditLog(sessions, write_behind=True),
    }
    out: dict[str, Any] = {}
    try:
        async with EgressProxy() as proxy:
            for name, sink in sinks.items():
                ctx = EgressContext(
                    tenant="bench", policy=policy, secrets=MemorySecretSource(), audit=sink
                )
                await _timed(proxy, ctx, upstream.url(), 50)  # warm pools and caches
                out[name] = percentiles(await _timed(proxy, ctx, upstream.url(), n))
                out[name]["requests_per_s_8_concurrent"] = await _concurrent(
                    proxy, ctx, upstream.url(), n // 8
                )
                if isinstance(sink, SqlAuditLog):
                    await sink.aclose()
    finally:
        upstream.close()
        await engine.dispose()
    out["added_p50_ms"] = {
        k: round(out[k]["p50_ms"] - out["memory"]["p50_ms"], 3)
        for k in ("sql_commit", "sql_write_behind")
    }
    return out


async def main() -> None:
    """Measure on SQLite and optionally on a throwaway Postgres database."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL; a scratch database is made there")
    parser.add_argument("-n", type=int, default=400)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures["sqlite"] = await measure(f"sqlite+aiosqlite:///{tmp}/bench.db", args.n)
    if args.postgres:
        import asyncpg

        name = f"tf_bench_{uuid.uuid4().hex[:10]}"
        admin = make_url(args.postgres).set(drivername="postgresql", database="postgres")
        dsn = admin.render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            figures["postgres"] = await measure(url, args.n)
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    emit(figures)


if __name__ == "__main__":
    asyncio.run(main())
