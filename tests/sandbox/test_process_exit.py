"""A process that exits without closing its sandbox must still exit cleanly.

wasmtime calls back into Python from its own threads; a callback that lands
while CPython finalizes aborts the process (exit code 134). Before the exit
guard, about half of these runs aborted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import MODULE_CACHE

SCRIPT = """
import asyncio, sys
from pathlib import Path
from tenantflow.config import Settings
from tenantflow.sandbox import Sandbox

async def main() -> None:
    settings = Settings(data_dir=Path(sys.argv[1]), warm_pool_size=2,
                        module_cache_dir=Path(sys.argv[2]))
    sb = Sandbox(settings)
    await sb.start()
    await asyncio.gather(*(sb.run("print(1)", pool_key="k") for _ in range(4)))
    await sb.run("import time\\ntime.sleep(0.05)\\nprint(2)", pool_key="k")
    # no close(): the process just ends while pool refills and guests are still exiting

asyncio.run(main())
print("done")
"""


def test_exit_without_close_is_clean(tmp_path: Path) -> None:
    for attempt in range(6):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), str(MODULE_CACHE)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"attempt {attempt}: rc={out.returncode}\n{out.stderr[-2000:]}"
        assert out.stdout.strip() == "done"
