"""Concurrent cache refreshes share one lookup."""

from __future__ import annotations

import asyncio

import pytest

from tenantflow.tenants._singleflight import SingleFlight


async def test_concurrent_callers_share_one_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 7

    results = await asyncio.gather(*(flight.do("k", fetch) for _ in range(20)))
    assert results == [7] * 20 and calls == 1
    assert await flight.do("k", fetch) == 7 and calls == 2  # done calls are not cached


async def test_errors_reach_every_waiter_and_do_not_stick() -> None:
    flight: SingleFlight[str, int] = SingleFlight()

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("db down")

    outcomes = await asyncio.gather(
        *(flight.do("k", boom) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, LookupError) for o in outcomes)

    async def fine() -> int:
        return 1

    assert await flight.do("k", fine) == 1
    with pytest.raises(LookupError):
        await flight.do("other", boom)
