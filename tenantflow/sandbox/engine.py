"""The process-wide wasmtime Engine, its compiled CPython module and the epoch ticker.

One :class:`WasmEngine` exists per engine configuration (fuel metering on or
off: fuel costs 30-50 % of guest speed, so it is only on for runs that ask for
it). The ticker thread advances every engine's epoch each ``tick_ms`` and runs
the sandbox's periodic checks (workspace quota, open files, watchdog).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import wasmtime

from tenantflow.sandbox.cache import cache_key, load_module
from tenantflow.sandbox.runtime import GuestRuntime

log = logging.getLogger(__name__)


class WasmEngine:
    """A wasmtime Engine with the guest runtime compiled and pre-linked against WASI."""

    def __init__(self, runtime: GuestRuntime, cache_dir: Path, *, fuel: bool) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.consume_fuel = fuel
        self.fuel = fuel
        self.engine = wasmtime.Engine(config)
        key = cache_key(runtime.sha256, f"epoch=1;fuel={int(fuel)}")
        self.module, self.from_cache = load_module(self.engine, runtime.wasm, key, cache_dir)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        self.pre = linker.instantiate_pre(self.module)


class Ticker:
    """Advances engine epochs and runs periodic checks on one daemon thread."""

    def __init__(self, tick_ms: int, checks_every: int = 5) -> None:
        self.tick_s = tick_ms / 1000.0
        self._checks_every = checks_every
        self._engines: list[wasmtime.Engine] = []
        self._checks: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tenantflow-epoch", daemon=True)
        self._lock = threading.Lock()

    def add_engine(self, engine: wasmtime.Engine) -> None:
        """Tick ``engine`` from now on."""
        with self._lock:
            self._engines.append(engine)
        if not self._thread.is_alive():
            self._thread.start()

    def add_check(self, check: Callable[[], None]) -> None:
        """Run ``check`` every few ticks (it must be quick and never raise)."""
        with self._lock:
            self._checks.append(check)

    def stop(self) -> None:
        """Stop ticking (idempotent)."""
        self._stop.set()

    def _loop(self) -> None:
        count = 0
        while not self._stop.wait(self.tick_s):
            with self._lock:
                engines = list(self._engines)
                checks = list(self._checks) if count % self._checks_every == 0 else []
            for engine in engines:
                engine.increment_epoch()
            for check in checks:
                try:
                    check()
                except Exception:
                    log.exception("sandbox periodic check failed")
            count += 1
