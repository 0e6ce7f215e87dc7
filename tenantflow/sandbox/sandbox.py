"""The sandbox service: ``await sandbox.run(...)`` runs guest code under limits.

One :class:`Sandbox` per process owns the wasm engines, the epoch ticker, the
``/lib`` directory and the warm pool. Each run gets its own interpreter on its
own thread (wasm runs with the GIL released, so N runs use N cores).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import resource
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tenantflow.config import Settings, get_settings
from tenantflow.sandbox.engine import Ticker, WasmEngine
from tenantflow.sandbox.errors import SandboxClosedError, SandboxError
from tenantflow.sandbox.guestlib import COMPILE_LIB, build_lib_dir, mark_compiled
from tenantflow.sandbox.interpreter import Handler, Interpreter, OutputSink, stop_all
from tenantflow.sandbox.jobs import job_message
from tenantflow.sandbox.limits import LimitHit, Limits
from tenantflow.sandbox.monitor import open_files_by_prefix, tree_size
from tenantflow.sandbox.mounts import Mounts
from tenantflow.sandbox.pool import PoolSpec, WarmPool, adopt_workspace
from tenantflow.sandbox.result import GuestError, RunResult
from tenantflow.sandbox.runtime import load_runtime
from tenantflow.sandbox.session import SandboxSession

log = logging.getLogger(__name__)


class RunControl:
    """Handle on a running job, for tightening its deadline from a handler
    (a step timeout) or stopping it from outside (terminate)."""

    def __init__(self) -> None:
        self._interpreter: Interpreter | None = None
        self._base_deadline: float | None = None
        self.deadline_reason: str | None = None

    def _attach(self, interpreter: Interpreter) -> None:
        self._interpreter = interpreter
        job = interpreter.job
        self._base_deadline = job.deadline if job else None

    def limit_for(self, seconds: float, reason: str) -> None:
        """End the job if it still runs ``seconds`` from now (never extends the run's limit)."""
        interpreter = self._interpreter
        job = interpreter.job if interpreter else None
        if job is None or self._base_deadline is None:
            return
        job.deadline = min(self._base_deadline, time.monotonic() + seconds)
        self.deadline_reason = reason

    def clear_limit(self) -> None:
        """Restore the run's own deadline."""
        interpreter = self._interpreter
        job = interpreter.job if interpreter else None
        if job is not None and self._base_deadline is not None:
            job.deadline = self._base_deadline
        self.deadline_reason = None

    def stop(self) -> None:
        """Stop the job now (it ends with the deadline limit)."""
        if self._interpreter is not None:
            self._interpreter.kill(LimitHit.DEADLINE)


class Sandbox:
    """Runs guest code in WebAssembly. Start with ``await sandbox.start()``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.default_limits = Limits.from_settings(self.settings)
        self._engines: dict[bool, WasmEngine] = {}
        self._engine_lock = threading.Lock()
        self._ticker = Ticker(self.settings.epoch_tick_ms)
        self._running: set[Interpreter] = set()
        self._running_lock = threading.Lock()
        self._slots = asyncio.Semaphore(self.settings.sandbox_max_threads)
        self._lib_dir: Path | None = None
        self._pool: WarmPool | None = None
        self._closed = False
        self._sandbox_root = (self.settings.data_dir / "sandbox").resolve()
        self.runs = 0
        _SANDBOXES.add(self)

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> Sandbox:
        """Verify and load the runtime, build ``/lib``; idempotent."""
        if self._pool is not None:
            return self
        await asyncio.to_thread(self._start_sync)
        return self

    def _start_sync(self) -> None:
        _raise_open_file_limit()
        self._sandbox_root.mkdir(parents=True, exist_ok=True)
        self.engine(fuel=False)
        lib_dir, needs_compile = build_lib_dir(self.settings.resolved_module_cache_dir.parent)
        self._lib_dir = lib_dir.resolve()
        if needs_compile:
            self._compile_lib()
        self._ticker.add_check(self._check_running)
        self._pool = WarmPool(
            self._pooled_interpreter,
            self.settings.warm_pool_size,
            self.settings.warm_pool_keys,
            self._sandbox_root / "staging",
        )

    def _compile_lib(self) -> None:
        assert self._lib_dir is not None
        interpreter = Interpreter(
            self.engine(fuel=False),
            lib_dir=self._lib_dir,
            code_dir=None,
            workspace_dir=None,
            memory_bytes=self.default_limits.memory_bytes,
            fuel=None,
            argv=["python", "-I", "-S", "-c", COMPILE_LIB],
            lib_writable=True,
        ).start()
        if not interpreter.wait_exited(120) or interpreter.exit_code != 0:
            raise SandboxError(f"could not byte-compile the guest library: {interpreter.trap}")
        mark_compiled(self._lib_dir)

    def engine(self, *, fuel: bool) -> WasmEngine:
        """The process-wide engine for this config, created (and cached) on first use."""
        with self._engine_lock:
            engine = self._engines.get(fuel)
            if engine is None:
                runtime = load_runtime(self.settings.runtime_wasm, self.settings.runtime_sha256)
                engine = WasmEngine(runtime, self.settings.resolved_module_cache_dir, fuel=fuel)
                self._engines[fuel] = engine
                self._ticker.add_engine(engine.engine)
            return engine

    async def close(self) -> None:
        """Stop pooled and running guests and the ticker. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close, 5.0)
        with self._running_lock:
            running = list(self._running)
        for interpreter in running:
            interpreter.kill(LimitHit.DEADLINE)
        # Keep ticking until the stopped guests have left wasm (a busy guest traps at a tick).
        await asyncio.to_thread(_wait_all_exited, running, 5.0)
        self._ticker.stop()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pool(self) -> WarmPool:
        """The warm pool (after :meth:`start`)."""
        if self._pool is None:
            raise SandboxError("sandbox not started")
        return self._pool

    # -- running -----------------------------------------------------------------

    async def run(
        self,
        code: str | None = None,
        *,
        entry: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        mounts: Mounts | None = None,
        limits: Limits | None = None,
        handlers: Mapping[str, Handler] | None = None,
        env: Mapping[str, str] | None = None,
        pool_key: str | None = None,
        filename: str = "<sandbox>",
        on_output: OutputSink | None = None,
        control: RunControl | None = None,
    ) -> RunResult:
        """Run ``code`` (source text) or ``entry`` (``"module:function"`` under ``/code``).

        ``pool_key`` (one tenant and one code version) lets the run take a warm
        interpreter; without it the run cold-starts. A guest failure or a limit
        hit comes back as a :class:`RunResult` with ``ok=False``; only host
        problems raise.
        """
        if self._closed:
            raise SandboxClosedError("sandbox is closed")
        await self.start()
        limits = limits or self.default_limits
        mounts = (mounts or Mounts()).resolved()
        job = job_message(
            code,
            entry=entry,
            args=args,
            kwargs=kwargs,
            env=env,
            filename=filename,
            workspace=mounts.workspace is not None,
        )
        refused = self._check_quota_before(mounts, limits)
        if refused is not None:
            return refused
        async with self._slots:
            interpreter, warm = self._acquire(mounts, limits, pool_key)
            try:
                result = await self.execute(
                    interpreter, job, limits, handlers, on_output=on_output, control=control
                )
            finally:
                interpreter.close()
        result.warm = warm
        return result

    async def open_session(
        self,
        *,
        mounts: Mounts | None = None,
        limits: Limits | None = None,
        pool_key: str | None = None,
    ) -> SandboxSession:
        """An interpreter kept alive across runs, so globals persist between them.

        For agent sessions: each :meth:`SandboxSession.run` is one job in the same
        guest. A limit hit ends the interpreter (``alive`` turns false); the
        caller opens a new session, with fresh state, over the same workspace.
        """
        if self._closed:
            raise SandboxClosedError("sandbox is closed")
        await self.start()
        limits = limits or self.default_limits
        mounts = (mounts or Mounts()).resolved()
        if mounts.workspace is not None:
            mounts.workspace.mkdir(parents=True, exist_ok=True)
        interpreter, warm = self._acquire(mounts, limits, pool_key)
        return SandboxSession(self, interpreter, mounts, limits, warm)

    def _check_quota_before(self, mounts: Mounts, limits: Limits) -> RunResult | None:
        if mounts.workspace is None:
            return None
        mounts.workspace.mkdir(parents=True, exist_ok=True)
        over = self._quota_exceeded(mounts.workspace, limits)
        if over is None:
            return None
        return RunResult(ok=False, error=GuestError("LimitExceeded", over), limit=LimitHit.QUOTA)

    async def execute(
        self,
        interpreter: Interpreter,
        job: dict[str, Any],
        limits: Limits,
        handlers: Mapping[str, Handler] | None,
        *,
        on_output: OutputSink | None = None,
        control: RunControl | None = None,
    ) -> RunResult:
        """Run one job on ``interpreter`` under ``limits`` (watchdog, quota, output caps)."""
        with self._running_lock:
            self._running.add(interpreter)
        try:
            future = interpreter.submit(
                job,
                limits,
                handlers or {},
                loop=asyncio.get_running_loop(),
                on_output=on_output,
            )
            if control is not None:
                control._attach(interpreter)
            result = await asyncio.wrap_future(future)
        finally:
            with self._running_lock:
                self._running.discard(interpreter)
        self.runs += 1
        workspace = interpreter.workspace_dir
        if workspace is not None and result.limit is None:
            over = self._quota_exceeded(workspace, limits)
            if over:
                result.ok = False
                result.limit = LimitHit.QUOTA
                result.error = GuestError("LimitExceeded", over)
        return result

    def _acquire(
        self, mounts: Mounts, limits: Limits, pool_key: str | None
    ) -> tuple[Interpreter, bool]:
        if pool_key is not None and limits.fuel is None:
            spec = PoolSpec(
                key=pool_key,
                code_dir=mounts.code,
                memory_bytes=limits.memory_bytes,
                workspace=mounts.workspace is not None,
            )
            interpreter = self.pool.take(spec)
            if interpreter is not None:
                try:
                    if mounts.workspace is not None:
                        assert interpreter.workspace_dir is not None
                        adopt_workspace(interpreter.workspace_dir, mounts.workspace)
                        interpreter.workspace_dir = mounts.workspace
                    return interpreter, True
                except OSError:
                    log.warning("could not adopt workspace %s; cold start", mounts.workspace)
                    interpreter.close()
        interpreter = Interpreter(
            self.engine(fuel=limits.fuel is not None),
            lib_dir=self._lib(),
            code_dir=mounts.code,
            workspace_dir=mounts.workspace,
            memory_bytes=limits.memory_bytes,
            fuel=limits.fuel,
        )
        return interpreter.start(), False

    def _pooled_interpreter(self, spec: PoolSpec, staging: Path | None) -> Interpreter:
        return Interpreter(
            self.engine(fuel=False),
            lib_dir=self._lib(),
            code_dir=spec.code_dir,
            workspace_dir=staging,
            memory_bytes=spec.memory_bytes,
            fuel=None,
        )

    def prewarm(
        self, pool_key: str, mounts: Mounts | None = None, limits: Limits | None = None
    ) -> None:
        """Boot interpreters for ``pool_key`` ahead of its first run."""
        mounts = (mounts or Mounts()).resolved()
        limits = limits or self.default_limits
        spec = PoolSpec(pool_key, mounts.code, limits.memory_bytes, mounts.workspace is not None)
        self.pool.ensure(spec)

    def _lib(self) -> Path:
        if self._lib_dir is None:
            raise SandboxError("sandbox not started")
        return self._lib_dir

    # -- limits enforced from outside the guest ----------------------------------

    @staticmethod
    def _quota_exceeded(workspace: Path, limits: Limits) -> str | None:
        if limits.workspace_bytes is None:
            return None
        used = tree_size(workspace)
        if used > limits.workspace_bytes:
            return f"workspace uses {used} bytes, quota is {limits.workspace_bytes}"
        return None

    def _check_running(self) -> None:
        with self._running_lock:
            running = list(self._running)
        if not running:
            return
        now = time.monotonic()
        for interpreter in running:
            interpreter.check(now)
            job = interpreter.job
            if job is None or job.future.done():
                continue
            quota = job.limits.workspace_bytes
            workspace = interpreter.workspace_dir
            if quota is not None and workspace is not None and tree_size(workspace) > quota:
                interpreter.kill(LimitHit.QUOTA)
        prefixes = {
            interpreter: [
                p for p in (interpreter.workspace_dir, interpreter.code_dir) if p is not None
            ]
            for interpreter in running
        }
        counts = open_files_by_prefix(prefixes)
        for interpreter, count in counts.items():
            job = interpreter.job
            if job is not None and count > job.limits.open_files:
                interpreter.kill(LimitHit.OPEN_FILES)


def _wait_all_exited(interpreters: list[Interpreter], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for interpreter in interpreters:
        interpreter.wait_exited(max(0.0, deadline - time.monotonic()))


_SANDBOXES: weakref.WeakSet[Sandbox] = weakref.WeakSet()


@atexit.register
def stop_guests() -> None:
    """Stop the pools' refills and every guest of this process (bounded wait).

    Runs at exit: a process may end without closing its sandbox (a script, a crashed
    test), and wasmtime's threads calling back into a finalizing interpreter abort it.
    """
    for sandbox in list(_SANDBOXES):
        if sandbox._pool is not None:
            sandbox._pool.close(2.0)
    stop_all(5.0)


def _raise_open_file_limit() -> None:
    # Guests' files are host descriptors: give the host the full hard limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
