"""The Postgres group commit: every caller gets an answer, whatever its neighbours do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tenantflow.db import migrate
from tenantflow.engine import Engine, LocalBackend
from tenantflow.engine.backend import Lease
from tenantflow.engine.errors import LeaseLost
from tenantflow.engine.local.journal import PostgresJournal
from tenantflow.engine.local.pg_batch import PgBatcher
from tests.conftest import make_settings


async def test_a_caller_that_gave_up_does_not_break_its_batch(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    await migrate(fresh_postgres_url)
    backend = await LocalBackend.open(fresh_postgres_url)
    engine = Engine(backend, make_settings(tmp_path))
    try:
        for n in range(3):
            await engine.create("acme", "wf", "c" * 64, n)
        claims = await backend.claim("w1", 3, 3, 30.0)
        assert len(claims) == 3
        journal = backend.journal
        assert isinstance(journal, PostgresJournal)
        batcher: PgBatcher = journal._batcher
        gone, kept, stolen = (c.lease for c in claims)
        # Three commits in one statement: one caller has given up (its future is cancelled),
        # one instance's lease is no longer this worker's.
        stolen = Lease(stolen.instance_id, "someone-else", stolen.run_gen)
        items = [
            batcher._submit(batcher._commits, lease, (0, "s", 1, 0.0, '"v"'))
            for lease in (gone, kept, stolen)
        ]
        assert items[0].future.cancel()
        assert await asyncio.wrap_future(items[1].future) is None
        with pytest.raises(LeaseLost):
            items[2].future.result(timeout=5)
        steps = (await engine.status(kept.instance_id)).steps
        assert [s.name for s in steps] == ["s"]
    finally:
        await engine.close()


async def test_closing_fails_what_was_never_sent(fresh_postgres_url: str) -> None:
    batcher = PgBatcher(fresh_postgres_url, asyncio.get_running_loop())
    item = batcher._submit(batcher._commits, Lease("i1", "w1", 1), (0, "s", 1, 0.0, "1"))
    await batcher.aclose()  # before the flusher got to run
    with pytest.raises(RuntimeError, match="closed"):
        item.future.result(timeout=5)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.commit_step(Lease("i2", "w1", 1), 0, "s", 1, 0.0, "1")
