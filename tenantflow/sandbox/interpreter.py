"""One booted CPython guest on its own thread.

Lifecycle: :meth:`Interpreter.start` instantiates the module in a fresh
``Store`` and runs ``_start`` on a dedicated thread; the guest boots and blocks
reading its first message (this is what the warm pool keeps). :meth:`submit`
sends a job; frames from the guest arrive on the wasm thread through WASI's
stdout callback, where host calls are dispatched inline (a sync handler runs
on the sandbox's own thread, no hop). :meth:`close` closes the channel, and
the guest exits at its next read.

Why the guest is stopped the way it is: wasm checks the epoch only while it
executes, so a guest in a busy loop is trapped by the epoch callback, a guest
blocked reading the channel is woken by closing it, and a guest inside a
blocking WASI sleep is abandoned (its result is final; the thread ends when
the sleep returns).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import inspect
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import wasmtime
from wasmtime import _ffi as ffi

from tenantflow.sandbox import hostcall
from tenantflow.sandbox.engine import WasmEngine
from tenantflow.sandbox.errors import HandlerError
from tenantflow.sandbox.limits import LimitHit, Limits
from tenantflow.sandbox.result import GuestError, RunResult

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])
OutputSink = Callable[[str, str], None]

BOOT = "import sys;sys.path[:0]=['/lib','/code'];from tenantflow.guest import _boot;_boot.main()"
MAX_FRAME_BYTES = 8 * 1024 * 1024
# Instructions a fuel-metered interpreter may spend booting (CPython needs ~1e9).
BOOT_FUEL = 50_000_000_000
_PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ = 1031

_EpochCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ctypes.c_uint8),
)
_Finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@_Finalizer  # type: ignore[untyped-decorator]
def _no_finalizer(_data: int | None) -> None:
    return None


_CALLS = ThreadPoolExecutor(max_workers=256, thread_name_prefix="tenantflow-hostcall")
"""Where guests' calls run: a handler may wait (a commit, an HTTP request) for as long as
the run's limits allow, so it runs here, not on the wasmtime thread that read its frame (there
are as many of those as cores, and they carry every guest's output). A guest has at most one
call in flight, so this is never the bottleneck below 256 running sandboxes per process."""

NONBLOCKING = "__tenantflow_nonblocking__"


def nonblocking(handler: F) -> F:
    """Mark a handler that never blocks: it runs on the thread that read the guest's frame
    (no hop to the call pool) and may return a :class:`Deferred` reply."""
    setattr(handler, NONBLOCKING, True)
    return handler


class Deferred:
    """A reply that comes later: a handler returns one instead of waiting on its thread.

    When ``future`` settles, ``then(future)`` runs on the thread that settled it (often the
    event loop, so it must not block) and gives the reply's value, raises a
    :class:`HandlerError`, or returns another :class:`Deferred` to wait for next. Until the
    reply is written the guest waits in its read of the channel, and no thread waits with it.
    """

    __slots__ = ("future", "then")

    def __init__(self, future: Future[Any], then: Callable[[Future[Any]], Any]) -> None:
        self.future = future
        self.then = then


# Every interpreter whose thread may still run wasm, for the process-exit guard below.
_LIVE: weakref.WeakSet[Interpreter] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def stop_all(timeout: float) -> None:
    """Stop every guest of this process and wait (bounded) for its thread to end.

    Called at process exit: wasmtime calls back into Python (guest output) from
    its own threads, and a callback that lands while CPython finalizes aborts
    the process (exit code 134). Stopping guests first makes exit clean.
    """
    with _LIVE_LOCK:
        live = list(_LIVE)
    for interpreter in live:
        interpreter.kill(LimitHit.DEADLINE)
        interpreter.close()
    deadline = time.monotonic() + timeout
    for interpreter in live:
        interpreter.wait_exited(max(0.0, deadline - time.monotonic()))


class _Job:
    """State of the job an interpreter is running; touched by several threads."""

    def __init__(
        self,
        limits: Limits,
        handlers: Mapping[str, Handler],
        loop: asyncio.AbstractEventLoop | None,
        on_output: OutputSink | None,
        workspace: Path | None,
    ) -> None:
        self.limits = limits
        self.handlers = handlers
        self.loop = loop
        self.on_output = on_output
        self.workspace = workspace
        self.started = time.monotonic()
        self.deadline = self.started + limits.wall_seconds
        self.stdout: list[str] = []
        self.stdout_bytes = 0
        self.stderr = bytearray()
        self.calls = 0
        self.kill: LimitHit | None = None
        self.protocol_error: str | None = None
        self.future: Future[RunResult] = Future()
        self.fuel_at_start: int | None = None
        self.in_call = False

    def stopped(self) -> str | None:
        """Why this job ended early (a limit), or None while it may still run."""
        if self.kill is None and time.monotonic() >= self.deadline:
            return LimitHit.DEADLINE.value
        return None if self.kill is None else self.kill.value


class Interpreter:
    """A CPython guest in its own Store, booted on its own thread."""

    def __init__(
        self,
        wasm: WasmEngine,
        *,
        lib_dir: Path,
        code_dir: Path | None,
        workspace_dir: Path | None,
        memory_bytes: int,
        fuel: int | None,
        argv: list[str] | None = None,
        lib_writable: bool = False,
    ) -> None:
        self.wasm = wasm
        self.lib_dir = lib_dir
        self.code_dir = code_dir
        self.workspace_dir = workspace_dir
        self.memory_bytes = memory_bytes
        self.fuel = fuel
        self._argv = argv or ["python", "-I", "-S", "-c", BOOT]
        self._lib_writable = lib_writable
        self._job: _Job | None = None
        self._frame = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self._exited = threading.Event()
        self.ready = threading.Event()
        self.exit_code: int | None = None
        self.trap: str | None = None
        self.jobs_run = 0
        self._fifo_dir = Path(tempfile.mkdtemp(prefix="tf-chan-"))
        fifo = self._fifo_dir / "in"
        os.mkfifo(fifo, 0o600)
        # O_RDWR: opening does not wait for a reader (Linux), so WASI's open below cannot block.
        self._wfd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(self._wfd, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass
        self._store = wasmtime.Store(wasm.engine)
        self._store.set_limits(memory_size=memory_bytes)
        if fuel is not None:
            # Booting CPython is not the job's work: the job's budget is armed when the
            # guest acknowledges the job (its "start" frame), on the wasm thread.
            self._store.set_fuel(BOOT_FUEL)
        self._epoch_cb = _EpochCallback(self._on_epoch)
        ffi.wasmtime_store_epoch_deadline_callback(
            self._store.ptr(), self._epoch_cb, None, _no_finalizer
        )
        self._store.set_epoch_deadline(1)
        wasi = wasmtime.WasiConfig()
        wasi.argv = self._argv
        wasi.env = []
        wasi.stdin_file = str(fifo)
        wasi.stdout_custom = self._on_stdout
        wasi.stderr_custom = self._on_stderr
        wasi.preopen_dir(str(lib_dir), "/lib", lib_writable)
        if code_dir is not None:
            wasi.preopen_dir(str(code_dir), "/code", False)
        if workspace_dir is not None:
            wasi.preopen_dir(str(workspace_dir), "/workspace", True)
        self._store.set_wasi(wasi)
        self._thread = threading.Thread(target=self._main, name="tenantflow-sandbox", daemon=True)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Interpreter:
        """Boot the guest on its thread; it blocks waiting for a job."""
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the guest can still take a job."""
        return not self._exited.is_set() and not self._closed

    def close(self) -> None:
        """Close the channel; the guest exits at its next read. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                os.close(self._wfd)
            except OSError:
                pass

    def wait_exited(self, timeout: float | None = None) -> bool:
        """Block until the guest's thread has finished."""
        return self._exited.wait(timeout)

    def _main(self) -> None:
        try:
            instance = self.wasm.pre.instantiate(self._store)
            start = instance.exports(self._store)["_start"]
            assert isinstance(start, wasmtime.Func)
            start(self._store)
            self.exit_code = 0
        except wasmtime.ExitTrap as exc:
            self.exit_code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            self.trap = str(exc)
        except Exception as exc:  # the host must survive anything the guest does
            log.exception("sandbox thread failed")
            self.trap = f"host error: {exc}"
        finally:
            self.close()
            self._exited.set()
            job = self._job
            if job is not None and not job.future.done():
                self._finish(job, None)
            self._release()

    def _release(self) -> None:
        shutil.rmtree(self._fifo_dir, ignore_errors=True)
        # The Store owns the guest's memory; drop it as soon as the thread ends.
        self._store.close()

    # -- jobs ----------------------------------------------------------------

    def submit(
        self,
        job_message: dict[str, Any],
        limits: Limits,
        handlers: Mapping[str, Handler],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        on_output: OutputSink | None = None,
    ) -> Future[RunResult]:
        """Send a job; the future completes when the guest reports ``done`` or dies."""
        job = _Job(limits, handlers, loop, on_output, self.workspace_dir)
        self._job = job
        self.jobs_run += 1
        if not self.alive:
            self._finish(job, None)
            return job.future
        if self.fuel is not None:
            job_message = {**job_message, "ack": True}
        self._write(_encode({"t": "job", **job_message}))
        return job.future

    def kill(self, reason: LimitHit) -> None:
        """End the running job because a limit was hit."""
        job = self._job
        if job is None or job.future.done():
            return
        if job.kill is None:
            job.kill = reason
        # A guest blocked reading the channel wakes with EOF; a busy one traps at the next tick.
        self.close()

    def check(self, now: float) -> None:
        """Periodic watchdog: deadline for a guest that is not executing wasm."""
        job = self._job
        if job is None or job.future.done():
            return
        if now >= job.deadline + 0.05:
            self.kill(LimitHit.DEADLINE)
        if now >= job.deadline + 1.0:
            # Stuck in a blocking host call (a WASI sleep): the result is final now.
            self._finish(job, None)

    @property
    def job(self) -> _Job | None:
        """The current job, if any."""
        return self._job

    # -- callbacks on the wasm thread ---------------------------------------

    def _on_epoch(self, _ctx: Any, _data: Any, delta: Any, kind: Any) -> int:
        job = self._job
        if job is not None and not job.future.done():
            if job.kill is None and time.monotonic() >= job.deadline:
                job.kill = LimitHit.DEADLINE
            if job.kill is not None:
                return _error_pointer(f"sandbox stopped: {job.kill.value} limit")
        elif self._closed:
            return _error_pointer("sandbox closed")
        delta[0] = 1
        kind[0] = 0
        return 0

    def _on_stderr(self, data: bytes) -> int:
        job = self._job
        if job is None:
            return len(data)
        room = job.limits.stderr_bytes - len(job.stderr)
        if len(data) > room:
            job.stderr += data[: max(room, 0)]
            self.kill(LimitHit.OUTPUT)
            return -errno.EIO
        job.stderr += data
        if job.on_output is not None:
            job.on_output("stderr", data.decode("utf-8", "replace"))
        return len(data)

    def _on_stdout(self, data: bytes) -> int:
        job = self._job
        if job is None or job.future.done():
            # Between jobs only the boot's "ready" frame is expected; the rest is dropped.
            if not self.ready.is_set() and b'"ready"' in data:
                self.ready.set()
            return len(data)
        self._frame += data
        while True:
            newline = self._frame.find(b"\n")
            if newline < 0:
                if len(self._frame) > MAX_FRAME_BYTES:
                    return self._violation(job, f"message over {MAX_FRAME_BYTES} bytes")
                return len(data)
            line = bytes(self._frame[:newline])
            del self._frame[: newline + 1]
            if len(line) > MAX_FRAME_BYTES:
                return self._violation(job, f"message over {MAX_FRAME_BYTES} bytes")
            try:
                message = json.loads(line)
            except ValueError:
                return self._violation(job, f"not a JSON message: {line[:80]!r}")
            if not isinstance(message, dict):
                return self._violation(job, "message is not a JSON object")
            status = self._handle(job, message)
            if status is not None:
                return status

    def _handle(self, job: _Job, message: dict[str, Any]) -> int | None:
        if job.in_call:
            # The guest waits for each reply before it writes again; anything else is a
            # protocol violation (and would run its handlers concurrently).
            return self._violation(job, "a message while a call was in flight")
        kind = message.get("t")
        if kind == "ready":
            # A cold start: the job was queued on the channel before the boot finished.
            self.ready.set()
            return None
        if kind == "start" and self.fuel is not None and job.fuel_at_start is None:
            self._store.set_fuel(self.fuel)
            job.fuel_at_start = self.fuel
            return None
        if kind == "out":
            text = message.get("d")
            if not isinstance(text, str):
                return self._violation(job, "output frame without text")
            job.stdout_bytes += len(text.encode("utf-8", "surrogatepass"))
            if job.stdout_bytes > job.limits.stdout_bytes:
                keep = job.limits.stdout_bytes - (job.stdout_bytes - len(text))
                job.stdout.append(text[: max(keep, 0)])
                self.kill(LimitHit.OUTPUT)
                return -errno.EIO
            job.stdout.append(text)
            if job.on_output is not None:
                job.on_output("stdout", text)
            return None
        if kind == "call":
            # Off wasmtime's thread: a handler that waits (a durable commit, an HTTP call)
            # must not hold one of the few threads that carry every sandbox's output. The
            # guest waits for the reply in its read of the channel.
            job.in_call = True
            name = message.get("name")
            handler = job.handlers.get(name) if isinstance(name, str) else None
            if getattr(handler, NONBLOCKING, False):
                self._call(job, message)
                return None
            try:
                _CALLS.submit(self._call, job, message)
            except RuntimeError:  # the executor is shut down (process exit)
                self._call(job, message)
            return None
        if kind == "post":  # a one-way call: the guest does not wait for a reply
            self._dispatch(job, message)
            return None
        if kind == "done":
            if job.fuel_at_start is not None:
                try:
                    job.fuel_at_start -= self._store.get_fuel()
                except wasmtime.WasmtimeError:
                    job.fuel_at_start = None
            self._finish(job, message)
            return None
        return self._violation(job, f"unknown message type {kind!r}")

    def _violation(self, job: _Job, reason: str) -> int:
        job.protocol_error = reason
        self.close()
        self._finish(job, None)
        return -errno.EIO

    def _call(self, job: _Job, message: dict[str, Any]) -> None:
        try:
            data = self._dispatch(job, message, reply=True)
        except BaseException:
            job.in_call = False
            raise
        if isinstance(data, Deferred):
            self._when_settled(job, message.get("id"), message.get("name"), data)
            return
        job.in_call = False  # before the reply: the guest may write again at once
        if data is not None:
            self._write(data)

    def _when_settled(self, job: _Job, call_id: object, name: object, deferred: Deferred) -> None:
        def settled(future: Future[Any]) -> None:
            value: Any = None
            try:
                value = deferred.then(future)
            except HandlerError as exc:
                error: dict[str, str] | None = {"type": exc.type, "message": str(exc)}
            except Exception:
                error = _host_failure(name)
            else:
                if isinstance(value, Deferred):
                    self._when_settled(job, call_id, name, value)
                    return
                error = None
            data = _reply(call_id, name, value, error)
            job.in_call = False
            if self._job is job and not job.future.done():
                self._write(data)

        deferred.future.add_done_callback(settled)

    def _dispatch(
        self, job: _Job, message: dict[str, Any], *, reply: bool = False
    ) -> bytes | Deferred | None:
        """Run the handler a message names; returns the reply to write (or that will come)."""
        call_id = message.get("id")
        name = message.get("name")
        args = message.get("args")
        job.calls += 1
        error: dict[str, str] | None
        handler = job.handlers.get(name) if isinstance(name, str) else None
        if handler is None or not isinstance(args, dict):
            available = ", ".join(sorted(job.handlers)) or "none"
            error = {
                "type": "UnknownHandler",
                "message": f"no host handler named {name!r} (this run has: {available})",
            }
            if not reply:
                return None
            return _encode({"t": "reply", "id": call_id, "ok": False, "error": error})
        try:
            with hostcall.serving(job.stopped):
                if inspect.iscoroutinefunction(handler):
                    if job.loop is None:
                        raise RuntimeError("async handler without an event loop")
                    value = hostcall.run(handler(**args), job.loop)
                else:
                    value = handler(**args)
        except HandlerError as exc:
            value, error = None, {"type": exc.type, "message": str(exc)}
        except TypeError as exc:
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                # Raised by binding the guest's arguments at the call above: the guest's fault.
                value, error = None, {"type": "BadArguments", "message": f"{name}: {exc}"}
            else:  # raised inside the handler: a host bug, its text stays on the host
                value, error = None, _host_failure(name)
        except Exception:
            value, error = None, _host_failure(name)
        else:
            error = None
        if not reply:
            if error is not None:
                log.debug("one-way call %s failed: %s", name, error["message"])
            return None
        if isinstance(value, Deferred):
            return value
        return _reply(call_id, name, value, error)

    # -- results -------------------------------------------------------------

    def _finish(self, job: _Job, done: dict[str, Any] | None) -> None:
        with self._lock:
            if job.future.done():
                return
            result = self._result(job, done)
        job.future.set_result(result)

    def _result(self, job: _Job, done: dict[str, Any] | None) -> RunResult:
        duration = time.monotonic() - job.started
        stdout = "".join(job.stdout)
        stderr = job.stderr.decode("utf-8", "replace")
        common: dict[str, Any] = {
            "stdout": stdout,
            "stderr": stderr,
            "duration_s": duration,
            "fuel_used": job.fuel_at_start,
            "handler_calls": job.calls,
        }
        limit = job.kill
        if limit is None and self.trap is not None and "fuel" in self.trap:
            limit = LimitHit.FUEL
        if limit is not None:
            error = GuestError("LimitExceeded", f"{limit.value} limit exceeded")
            return RunResult(ok=False, error=error, limit=limit, exit_code=None, **common)
        if job.protocol_error is not None:
            reason = f"guest broke the bridge protocol: {job.protocol_error}"
            error = GuestError("ProtocolError", reason)
            return RunResult(ok=False, error=error, **common)
        if done is None:
            reason = self.trap or f"guest exited with code {self.exit_code} without a result"
            error = GuestError("GuestExited", reason)
            return RunResult(ok=False, error=error, exit_code=self.exit_code, **common)
        exit_code = done.get("exit")
        if done.get("ok"):
            return RunResult(ok=True, value=done.get("value"), exit_code=exit_code or 0, **common)
        raw = done.get("error") if isinstance(done.get("error"), dict) else {}
        assert isinstance(raw, dict)
        error = GuestError(
            str(raw.get("type", "Error")),
            str(raw.get("message", "")),
            str(raw.get("traceback", "")),
        )
        if error.type == "MemoryError":
            limit = LimitHit.MEMORY
        return RunResult(
            ok=False, error=error, limit=limit, exit_code=exit_code if exit_code else 1, **common
        )

    # -- channel writes --------------------------------------------------------

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = self._write_some(view)
            except BlockingIOError:
                # Pipe full: the guest reads only after this callback returns, so finish elsewhere.
                rest = bytes(view)
                threading.Thread(target=self._write_blocking, args=(rest,), daemon=True).start()
                return
            if written is None:
                return  # channel closed: the guest is being stopped
            view = view[written:]

    def _write_blocking(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = self._write_some(view)
            except BlockingIOError:
                time.sleep(0.0005)
                continue
            if written is None:
                return
            view = view[written:]

    def _write_some(self, view: memoryview) -> int | None:
        """One non-blocking write to the guest's channel; None once it is closed.

        Under the lock that :meth:`close` takes: a reply that arrives after the channel
        closed must never reach whatever file reuses the descriptor number.
        """
        with self._lock:
            if self._closed:
                return None
            try:
                return os.write(self._wfd, view)
            except BlockingIOError:
                raise
            except OSError:
                return None


def _host_failure(name: object) -> dict[str, str]:
    log.exception("host handler %s failed", name)
    return {"type": "HostError", "message": f"host handler {name!r} failed"}


def _reply(call_id: object, name: object, value: Any, error: dict[str, str] | None) -> bytes:
    if error is None:
        try:
            return _encode({"t": "reply", "id": call_id, "ok": True, "value": value})
        except (TypeError, ValueError):
            log.exception("host handler %s returned a value that is not JSON", name)
            error = {"type": "HostError", "message": f"host handler {name!r} failed"}
    return _encode({"t": "reply", "id": call_id, "ok": False, "error": error})


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _error_pointer(message: str) -> int:
    pointer = ffi.wasmtime_error_new(message.encode())
    return ctypes.cast(pointer, ctypes.c_void_p).value or 0
