"""Blocking waits made by host handlers, bounded by the loop that answers and the run's limits.

A host handler runs on a thread wasmtime lends it (the guest is paused until it returns). When it
waits on the event loop (an async handler, a journal command), that wait must end when the answer
can no longer come (the loop stopped) or is no longer wanted (the run hit its deadline or was
killed). Otherwise the thread is lost for good, and with it one of the few threads that carry
every sandbox's output.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.25
"""How often a waiting handler checks that its loop is alive and its run still wanted."""

_serving = threading.local()


class HostCallAbandoned(RuntimeError):
    """A host call gave up waiting: its event loop stopped or its run was stopped."""


@contextmanager
def serving(stopped: Callable[[], str | None]) -> Iterator[None]:
    """Run a handler on this thread for a run; ``stopped()`` names why the run ended, if it did."""
    previous = getattr(_serving, "stopped", None)
    _serving.stopped = stopped
    try:
        yield
    finally:
        _serving.stopped = previous


def wait(future: Future[T], loop: asyncio.AbstractEventLoop, timeout: float | None = None) -> T:
    """Block until ``future`` (settled on ``loop``) is done; give up if it never can be.

    Raises :class:`HostCallAbandoned` when ``loop`` stops or closes first, or when the run this
    thread serves stops (deadline, kill), or after ``timeout`` seconds. The command may still
    complete later; callers treat the outcome as unknown (a replay finds whatever became durable).
    """
    stopped: Callable[[], str | None] | None = getattr(_serving, "stopped", None)
    give_up = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            return future.result(timeout=POLL_SECONDS)
        except TimeoutError:
            if future.done():
                raise  # the command itself failed with a timeout
        if loop.is_closed() or not loop.is_running():
            future.cancel()
            raise HostCallAbandoned("the event loop serving this call stopped before it answered")
        reason = stopped() if stopped is not None else None
        if reason is not None:
            future.cancel()
            raise HostCallAbandoned(f"the run stopped while this call waited: {reason}")
        if give_up is not None and time.monotonic() >= give_up:
            future.cancel()
            raise HostCallAbandoned(f"no answer within {timeout:g} s")


def run(coroutine: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> T:
    """Run ``coroutine`` on ``loop`` from a handler thread and wait for it (see :func:`wait`)."""
    if loop.is_closed():
        coroutine.close()
        raise HostCallAbandoned("the event loop serving this call is closed")
    return wait(asyncio.run_coroutine_threadsafe(coroutine, loop), loop)
