"""Cross-process wake-ups on Postgres: ``NOTIFY`` when work becomes runnable.

Writes that make an instance runnable now (create, an event a waiting
instance wants, resume, restart) send ``NOTIFY tenantflow_runnable`` in their
own transaction, so the notification is delivered at commit and never for a
write that rolled back. Every worker holds one extra connection that listens
and wakes its claim loop. Notifications are only a hint: a worker still polls
every ``worker_poll_seconds`` and sleeps until the earliest timer, so a lost
connection (or a notification dropped while reconnecting) delays work by at
most one poll, and the listener reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

CHANNEL = "tenantflow_runnable"
NOTIFY = f"NOTIFY {CHANNEL}"
"""The statement that announces runnable work (run inside the writing transaction)."""


class Listener:
    """Keeps a ``LISTEN`` connection open and calls ``wake`` for each notification."""

    def __init__(
        self,
        dsn: str,
        wake: Callable[[], None],
        *,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._wake = wake
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin listening in a background task."""
        self._task = asyncio.create_task(self._run(), name="postgres listener")

    async def aclose(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, *_: Any) -> None:
        self._wake()

    async def _run(self) -> None:
        delay = self._retry
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._notified)
                delay = self._retry
                # Work announced while this connection was not listening is found now.
                self._wake()
                await lost.wait()
                log.warning("postgres listener connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("postgres listener cannot connect (%s); retrying in %.0f s", exc, delay)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry)
