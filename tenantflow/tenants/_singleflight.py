"""One lookup at a time per key: concurrent callers share the first caller's answer.

When a cached entry expires under load, every request in flight misses at
once; without this, 32 concurrent requests make 32 identical queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """``await flight.do(key, fetch)``: ``fetch`` runs once per key at a time."""

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    async def do(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        """The result of ``fetch()``, shared with concurrent callers of the same key."""
        running = self._calls.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        # Nobody else may be waiting: mark the outcome as seen either way.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._calls[key] = future
        try:
            value = await fetch()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._calls[key]
