"""Sandbox figures: cold start, warm-pool start, host-call round trip, parallel speed-up.

Run: ``.venv/bin/python benchmarks/sandbox.py`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, percentiles

from tenantflow.config import Settings
from tenantflow.sandbox import Sandbox

CPU_LOOP = "n = 0\nfor i in range(3_000_000):\n    n += i\nprint(n)"
HOST_CALLS = (
    "import time\nfrom tenantflow.guest import call\n"
    "samples = []\n"
    "for i in range({n}):\n"
    "    t = time.perf_counter(); call('echo', x=i); samples.append(time.perf_counter() - t)\n"
    "__result__ = samples"
)


async def first_output(sb: Sandbox, pool_key: str | None) -> float:
    """Seconds from asking for a run to the guest's first printed byte."""
    loop = asyncio.get_running_loop()
    seen = loop.create_future()

    def on_output(_stream: str, _text: str) -> None:
        if not seen.done():
            loop.call_soon_threadsafe(lambda: seen.done() or seen.set_result(time.perf_counter()))

    started = time.perf_counter()
    task = asyncio.create_task(sb.run("print(1)", pool_key=pool_key, on_output=on_output))
    at = await seen
    result = await task
    assert result.ok, result.error
    return at - started


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        cache = os.environ.get("TENANTFLOW_MODULE_CACHE_DIR")
        settings = Settings(
            data_dir=Path(data),
            warm_pool_size=2,
            module_cache_dir=Path(cache) if cache else Path(data) / "modules",
        )
        async with Sandbox(settings) as sb:
            await sb.run("pass")  # compile or load the module once
            cold = [await first_output(sb, None) for _ in range(samples)]
            sb.prewarm("bench")
            warm: list[float] = []
            for _ in range(samples):
                # Steady state: the pool is full and no refill boots on the other core.
                spec = next(iter(sb.pool._pools))
                while sb.pool.warm_count(spec) < sb.pool.size:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.05)
                warm.append(await first_output(sb, "bench"))
            result = await sb.run(
                HOST_CALLS.format(n=max(samples * 10, 200)), handlers={"echo": lambda x: x}
            )
            assert result.ok, result.error
            calls = result.value[10:]  # first calls warm the path

            async def timed(n: int) -> float:
                started = time.perf_counter()
                runs = await asyncio.gather(*(sb.run(CPU_LOOP) for _ in range(n)))
                assert all(r.ok for r in runs)
                return time.perf_counter() - started

            await timed(1)
            one = min([await timed(1) for _ in range(3)])
            two = min([await timed(2) for _ in range(3)])
    emit(
        {
            "cold_start_to_first_output": percentiles(cold),
            "warm_pool_start_to_first_output": percentiles(warm),
            "host_call_round_trip": percentiles(calls),
            "parallel": {
                "one_cpu_loop_s": round(one, 3),
                "two_cpu_loops_s": round(two, 3),
                "speedup_2_over_1": round(2 * one / two, 2),
                "cores": os.cpu_count(),
            },
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=40)
    asyncio.run(main(parser.parse_args().samples))
