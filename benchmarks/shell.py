"""Guest shell figures: import cost, first call, warm per-call latency.

Run: ``.venv/bin/python benchmarks/shell.py`` (prints JSON). Timings are taken
inside the guest with ``time.perf_counter``, so they are the floor for the
sessions API's warm ``shell`` call (which adds one host round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, percentiles

from tenantflow.config import Settings
from tenantflow.sandbox import Mounts, Sandbox

IMPORT = """
import time
t0 = time.perf_counter()
from tenantflow.guest.shell import get_shell, run_shell
shell = get_shell()
t1 = time.perf_counter()
first = run_shell("ls | wc -l")
t2 = time.perf_counter()
__result__ = {"import_s": t1 - t0, "first_call_s": t2 - t1, "out": first["stdout"]}
"""

WARM = """
import time
from tenantflow.guest.shell import run_shell
for command in COMMANDS:
    run_shell(command)  # load each command's module once
samples = {}
for command in COMMANDS:
    times = []
    for _ in range(N):
        t = time.perf_counter()
        result = run_shell(command)
        times.append(time.perf_counter() - t)
    assert result["exit_code"] == 0, result
    samples[command] = times
__result__ = samples
"""

COMMANDS = [
    "ls | wc -l",
    "echo hello",
    "cat words.txt | sort | uniq -c | sort -rn | head -3",
    "grep -rn needle .",
    "awk '{s += length($0)} END {print s}' words.txt",
    "jq '.items | length' data.json",
    "for i in 1 2 3; do echo $i; done > /dev/null",
    "python -c 'print(1)'",
]


def fill(workspace: Path) -> None:
    """A small project: 20 files, one text file, one JSON file."""
    for i in range(20):
        (workspace / f"file{i:02d}.txt").write_text(f"line {i}\nneedle {i}\n")
    (workspace / "words.txt").write_text("\n".join(["b", "a", "c", "a", "b", "a"] * 50) + "\n")
    (workspace / "data.json").write_text('{"items": [1, 2, 3, 4]}\n')


async def main(samples: int, cold_runs: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        cache = os.environ.get("TENANTFLOW_MODULE_CACHE_DIR")
        settings = Settings(
            data_dir=Path(data),
            warm_pool_size=0,
            module_cache_dir=Path(cache) if cache else Path(data) / "modules",
        )
        workspace = Path(data) / "workspace"
        workspace.mkdir()
        fill(workspace)
        mounts = Mounts(workspace=workspace)
        async with Sandbox(settings) as sb:
            await sb.run("pass")  # compile or load the module and /lib once
            limits = sb.default_limits.with_(wall_seconds=300)
            imports: list[float] = []
            firsts: list[float] = []
            for _ in range(cold_runs):
                result = await sb.run(IMPORT, mounts=mounts, limits=limits)
                assert result.ok, result.error
                imports.append(result.value["import_s"])
                firsts.append(result.value["first_call_s"])
            code = f"COMMANDS = {COMMANDS!r}\nN = {samples}\n{WARM}"
            result = await sb.run(code, mounts=mounts, limits=limits)
            assert result.ok, result.error
            warm: dict[str, Any] = {
                command: percentiles(times) for command, times in result.value.items()
            }
    emit(
        {
            "import_shell": percentiles(imports),
            "first_call_ls_wc": percentiles(firsts),
            "warm_ls_wc": warm["ls | wc -l"],
            "warm_ls_wc_floor_p50_ms": 20,
            "warm_other": {k: v for k, v in warm.items() if k != "ls | wc -l"},
            # Other work on the machine slows the guest: read the figures against this.
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200, help="warm calls per command")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh interpreters for import")
    options = parser.parse_args()
    asyncio.run(main(options.samples, options.cold_runs))
