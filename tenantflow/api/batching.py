"""Group commit for instance creation: concurrent single creates share one transaction.

On SQLite every transaction takes the database's one write lock, so 32
clients each committing their own INSERT queue up behind it (and the busy
handler's back-off makes the tail far worse than the average). Here the
first create runs at once; creates that arrive while it commits wait and go
together as the next ``create_batch`` (one transaction, rows in request
order). A batch that fails for one item (an idempotency conflict, say) is
retried item by item, so one request's error never becomes another's.
"""

from __future__ import annotations

import asyncio
import logging

from tenantflow.engine import Engine, EngineError, Instance, NewInstance

log = logging.getLogger(__name__)


class CreateBatcher:
    """``await batcher.create(item)``: like ``engine.create``, committed in groups."""

    def __init__(self, engine: Engine, max_batch: int) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[tuple[NewInstance, asyncio.Future[Instance]]] = []
        self._flushing = False
        self.batches = 0

    async def create(self, item: NewInstance) -> Instance:
        """Create one instance (returns the existing one for a repeated idempotency key)."""
        future: asyncio.Future[Instance] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._flushing:
            self._flushing = True
            task = asyncio.get_running_loop().create_task(self._flush())
            task.add_done_callback(_log_crash)
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit(batch)
        finally:
            self._flushing = False

    async def _commit(self, batch: list[tuple[NewInstance, asyncio.Future[Instance]]]) -> None:
        self.batches += 1
        try:
            created = await self.engine.create_batch([item for item, _ in batch])
        except EngineError:
            if len(batch) == 1:
                raise_into(batch[0][1], await _outcome(self.engine, batch[0][0]))
                return
            for item, future in batch:
                raise_into(future, await _outcome(self.engine, item))
            return
        except Exception as exc:  # the database failed: every waiter gets the error
            for _, future in batch:
                raise_into(future, exc)
            return
        for (_, future), instance in zip(batch, created, strict=True):
            raise_into(future, instance)


async def _outcome(engine: Engine, item: NewInstance) -> Instance | BaseException:
    try:
        return (await engine.create_batch([item]))[0]
    except Exception as exc:  # handed to the request that asked
        return exc


def raise_into(future: asyncio.Future[Instance], outcome: Instance | BaseException) -> None:
    """Resolve a waiter (unless its request was cancelled meanwhile)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("create batcher crashed", exc_info=task.exception())
