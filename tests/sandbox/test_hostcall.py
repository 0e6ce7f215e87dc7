"""Host handlers that wait on the event loop: a hung or orphaned wait never outlives its run."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future

import pytest

from tenantflow.sandbox import Deferred, HandlerError, LimitHit, Sandbox, hostcall, nonblocking


async def test_a_host_call_that_never_answers_ends_at_the_deadline(sandbox: Sandbox) -> None:
    released = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()  # never set
        finally:
            released.set()  # the handler's thread stopped waiting for this call

    code = "from tenantflow.guest import call\ncall('hang')\n"
    started = time.monotonic()
    result = await sandbox.run(
        code, handlers={"hang": hang}, limits=sandbox.default_limits.with_(wall_seconds=1.0)
    )
    assert result.limit is LimitHit.DEADLINE
    assert time.monotonic() - started < 30
    # The thread wasmtime lent the handler is given back, not parked forever.
    await asyncio.wait_for(released.wait(), 10)
    # The sandbox service is unharmed: the next run works.
    again = await sandbox.run("__result__ = 2")
    assert again.value == 2


async def test_a_wait_ends_when_its_loop_stops() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    never: Future[int] = Future()
    outcome: list[BaseException] = []

    def handler() -> None:
        try:
            hostcall.wait(never, loop)
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=handler)
    waiter.start()
    await asyncio.sleep(0.3)
    assert waiter.is_alive()  # waiting while the loop runs
    loop.call_soon_threadsafe(loop.stop)
    runner.join(5)
    waiter.join(5)
    loop.close()
    assert not waiter.is_alive()
    assert isinstance(outcome[0], hostcall.HostCallAbandoned)


async def test_a_wait_returns_the_answer_or_its_error() -> None:
    loop = asyncio.get_running_loop()

    async def answer() -> int:
        await asyncio.sleep(0.4)  # longer than one poll
        return 7

    async def fails() -> None:
        raise TimeoutError("upstream timed out")

    assert await asyncio.to_thread(hostcall.run, answer(), loop) == 7
    with pytest.raises(TimeoutError, match="upstream"):
        await asyncio.to_thread(hostcall.run, fails(), loop)


async def test_a_wait_ends_when_its_run_stops() -> None:
    loop = asyncio.get_running_loop()
    reason: list[str | None] = [None]

    def handler() -> None:
        with hostcall.serving(lambda: reason[0]):
            hostcall.run(asyncio.Event().wait(), loop)

    waiting = asyncio.create_task(asyncio.to_thread(handler))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    reason[0] = "killed"
    with pytest.raises(hostcall.HostCallAbandoned, match="killed"):
        await asyncio.wait_for(waiting, 5)


async def test_slow_host_calls_of_one_tenant_do_not_stall_another(sandbox: Sandbox) -> None:
    # Many guests wait on a slow host capability (an upstream that takes seconds); the
    # wasmtime threads that carry guest output must stay free for everyone else.
    release = threading.Event()

    def slow() -> str:
        release.wait(30)
        return "late"

    slow_code = "from tenantflow.guest import call\n__result__ = call('slow')\n"
    slow_runs = [
        asyncio.create_task(sandbox.run(slow_code, handlers={"slow": slow}, pool_key="noisy"))
        for _ in range(8)
    ]
    await asyncio.sleep(1.0)  # every slow guest is now waiting in its call
    quick_code = (
        "from tenantflow.guest import call\n"
        "print('hello')\n"
        "__result__ = [call('echo', x=i) for i in range(20)]\n"
    )
    try:
        quick = await asyncio.wait_for(
            sandbox.run(quick_code, handlers={"echo": lambda x: x}, pool_key="quiet"), 15
        )
        assert quick.value == list(range(20)) and quick.stdout == "hello\n"
        assert not any(run.done() for run in slow_runs)  # they were still waiting
    finally:
        release.set()
    assert [r.value for r in await asyncio.gather(*slow_runs)] == ["late"] * 8


async def test_a_guest_that_writes_during_its_own_call_is_stopped(sandbox: Sandbox) -> None:
    # A forged second call while the first is in flight would run two handlers at once.
    code = (
        "import sys\n"
        "from tenantflow.guest import _wire\n"
        "out = sys.__stdout__.buffer\n"
        "for i in (1, 2):\n"
        "    frame = {'t': 'call', 'id': i, 'name': 'slow', 'args': {}}\n"
        "    out.write(_wire.dumps(frame).encode() + b'\\n')\n"
        "    out.flush()\n"
        "sys.stdin.buffer.readline()\n"
    )
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        time.sleep(0.5)

    result = await sandbox.run(code, handlers={"slow": slow})
    assert not result.ok
    assert result.error is not None and "in flight" in result.error.message
    assert len(calls) <= 1


async def test_a_late_reply_never_reaches_another_guest(sandbox: Sandbox) -> None:
    # Guest A is stopped while its host call runs; the channel's descriptor number is then
    # free for the next guest's channel. A's reply, written when the handler finally
    # returns, must go nowhere, not into guest B's channel.
    def slow_a() -> str:
        time.sleep(1.5)
        return "reply meant for A"

    def slow_b() -> str:
        time.sleep(3.0)
        return "reply for B"

    code = "from tenantflow.guest import call\n__result__ = call('slow')\n"
    a = await sandbox.run(
        code, handlers={"slow": slow_a}, limits=sandbox.default_limits.with_(wall_seconds=0.3)
    )
    assert a.limit is LimitHit.DEADLINE
    b = await sandbox.run(code, handlers={"slow": slow_b})
    assert b.value == "reply for B", b


async def test_a_deferred_reply_reaches_the_guest_without_a_waiting_thread(
    sandbox: Sandbox,
) -> None:
    # A nonblocking handler runs on the thread that read the guest's frame and returns a
    # Deferred; the reply is written from whichever thread settles it. Chained deferrals and
    # errors raised by ``then`` reach the guest like any handler's.
    pending: list[Future[int]] = []
    ran_on: list[str] = []

    @nonblocking
    def later(x: int) -> Deferred:
        ran_on.append(threading.current_thread().name)
        first: Future[int] = Future()
        pending.append(first)

        def then(done: Future[int]) -> Deferred | int:
            if done.result() < 0:
                raise HandlerError("negative", type="Negative")
            second: Future[int] = Future()
            pending.append(second)
            return Deferred(second, lambda again: again.result() * x)

        return Deferred(first, then)

    def settle_all() -> None:
        settled, give_up = 0, time.monotonic() + 30  # bounded: a failed guest asks for fewer
        while settled < 3 and time.monotonic() < give_up:
            if len(pending) > settled:
                pending[settled].set_result(-1 if settled == 2 else 7)
                settled += 1
            time.sleep(0.01)

    settler = threading.Thread(target=settle_all, daemon=True)
    settler.start()
    code = (
        "from tenantflow.guest import call, HostError\n"
        "first = call('later', x=6)\n"
        "try:\n"
        "    call('later', x=1)\n"
        "except HostError as exc:\n"
        "    second = exc.type\n"
        "__result__ = [first, second]\n"
    )
    result = await sandbox.run(code, handlers={"later": later})
    settler.join(10)
    assert result.ok, result.error
    assert result.value == [42, "Negative"]
    assert all(not name.startswith("tenantflow-hostcall") for name in ran_on)


async def test_a_deferred_reply_after_the_run_stopped_reaches_nobody(sandbox: Sandbox) -> None:
    never_answered: Future[int] = Future()

    @nonblocking
    def hang() -> Deferred:
        return Deferred(never_answered, lambda done: done.result())

    code = "from tenantflow.guest import call\ncall('hang')\n"
    result = await sandbox.run(
        code, handlers={"hang": hang}, limits=sandbox.default_limits.with_(wall_seconds=0.5)
    )
    assert result.limit is LimitHit.DEADLINE
    never_answered.set_result(1)  # late: written nowhere, raises nowhere
    again = await sandbox.run("__result__ = 3")
    assert again.value == 3
