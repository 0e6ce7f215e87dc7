"""The Postgres group commit: every caller gets an answer, whatever its neighbours do."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from tenantflow.db import migrate
from tenantflow.engine import Engine, LocalBackend
from tenantflow.engine.backend import Lease
from tenantflow.engine.errors import LeaseLost
from tenantflow.engine.local import pg_batch
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
            batcher._submit(pg_batch._COMMITS, lease, (0, "s", 1, 0.0, '"v"'))
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
    item = batcher._submit(pg_batch._COMMITS, Lease("i1", "w1", 1), (0, "s", 1, 0.0, "1"))
    await batcher.aclose()  # before the flusher got to run
    with pytest.raises(RuntimeError, match="closed"):
        item.future.result(timeout=5)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit_commit(Lease("i2", "w1", 1), 0, "s", 1, 0.0, "1")


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter can: races show up in a few hundred calls."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("frequent_thread_switches")
async def test_every_command_submitted_while_a_flush_runs_is_answered(
    fresh_postgres_url: str,
) -> None:
    # Commands from many threads while the flusher keeps swapping its queues: each one is sent
    # and answered (here LeaseLost: no such instances), none is left on a list nobody reads.
    await migrate(fresh_postgres_url)
    batcher = PgBatcher(fresh_postgres_url, asyncio.get_running_loop())

    def submit(thread: int) -> list[Future[None]]:
        return [
            batcher.submit_commit(Lease(f"i{thread}-{n}", "w1", 1), 0, "s", 1, 0.0, "1")
            if n % 2
            else batcher._submit(
                pg_batch._FINISHES, Lease(f"f{thread}-{n}", "w1", 1), ("complete", "1", None)
            ).future
            for n in range(300)
        ]

    try:
        batches = await asyncio.gather(*(asyncio.to_thread(submit, t) for t in range(8)))
        futures = [f for batch in batches for f in batch]
        done, pending = await asyncio.wait([asyncio.wrap_future(f) for f in futures], timeout=60)
        assert not pending, f"{len(pending)} of {len(futures)} commands were never answered"
        assert all(isinstance(f.exception(), LeaseLost) for f in done)
    finally:
        await batcher.aclose()
