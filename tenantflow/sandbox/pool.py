"""Warm pool: interpreters booted ahead of demand, one list per pool key.

A pool key names one tenant and one code version (plus the store settings
that are fixed at boot: memory cap and mounts), so an interpreter never serves
another tenant or another code hash. Each pooled interpreter boots with an
empty staging directory as ``/workspace``; when it is taken for a run, the
run's workspace is *adopted* into that directory by renames (the preopened
directory handle follows the inode), so no file is copied. A drained pool
falls back to cold starts; refills happen on a background thread.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tenantflow.sandbox.interpreter import Interpreter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What a pooled interpreter is booted with."""

    key: str
    code_dir: Path | None
    memory_bytes: int
    workspace: bool


InterpreterFactory = Callable[[PoolSpec, Path | None], Interpreter]


class WarmPool:
    """Pre-booted interpreters per key, refilled in the background."""

    def __init__(
        self, factory: InterpreterFactory, size: int, max_keys: int, staging_root: Path
    ) -> None:
        self._factory = factory
        self._size = size
        self._max_keys = max_keys
        self._staging_root = staging_root
        self._pools: OrderedDict[PoolSpec, deque[Interpreter]] = OrderedDict()
        self._refilling: set[PoolSpec] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """Interpreters kept warm per key."""
        return self._size

    def take(self, spec: PoolSpec) -> Interpreter | None:
        """A booted interpreter for ``spec``, or ``None`` (the caller cold-starts)."""
        if self._size == 0:
            return None
        found: Interpreter | None = None
        with self._lock:
            queue = self._pools.get(spec)
            if queue is None:
                queue = self._pools[spec] = deque()
                self._evict_locked()
            self._pools.move_to_end(spec)
            while queue:
                candidate = queue.popleft()
                if candidate.alive:
                    found = candidate
                    break
                _discard(candidate)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        self.refill(spec)
        return found

    def ensure(self, spec: PoolSpec) -> None:
        """Register ``spec`` and boot its interpreters in the background."""
        if self._size == 0:
            return
        with self._lock:
            if spec not in self._pools:
                self._pools[spec] = deque()
                self._evict_locked()
        self.refill(spec)

    def refill(self, spec: PoolSpec) -> None:
        """Top the pool for ``spec`` up to its size, on a background thread."""
        with self._lock:
            if self._closed or spec in self._refilling:
                return
            self._refilling.add(spec)
        thread = threading.Thread(target=self._refill, args=(spec,), daemon=True)
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()} | {thread}
        thread.start()

    def _refill(self, spec: PoolSpec) -> None:
        try:
            while True:
                with self._lock:
                    queue = self._pools.get(spec)
                    if self._closed or queue is None or len(queue) >= self._size:
                        return
                staging = None
                if spec.workspace:
                    staging = self._staging_root / uuid.uuid4().hex
                    staging.mkdir(parents=True)
                interpreter = self._factory(spec, staging).start()
                interpreter.ready.wait(5.0)
                with self._lock:
                    queue = self._pools.get(spec)
                    if self._closed or queue is None:
                        _discard(interpreter)
                        return
                    queue.append(interpreter)
        except Exception:
            log.exception("warm pool refill failed for %s", spec.key)
        finally:
            with self._lock:
                self._refilling.discard(spec)

    def _evict_locked(self) -> None:
        while len(self._pools) > self._max_keys:
            _, queue = self._pools.popitem(last=False)
            for interpreter in queue:
                _discard(interpreter)

    def warm_count(self, spec: PoolSpec) -> int:
        """Interpreters waiting for ``spec``."""
        with self._lock:
            queue = self._pools.get(spec)
            return sum(1 for i in queue if i.alive) if queue else 0

    def close(self, wait: float = 0.0) -> None:
        """Stop every pooled interpreter.

        With ``wait`` (seconds), also wait for refills in progress and for every
        stopped guest to finish exiting: a process that exits while a guest thread
        is still unwinding can abort inside wasmtime.
        """
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
            threads = list(self._threads)
        stopped = [interpreter for queue in pools for interpreter in queue]
        for interpreter in stopped:
            _discard(interpreter)
        if wait > 0:
            for thread in threads:
                thread.join(wait)  # a refill finishing now discards its interpreter itself
            for interpreter in stopped:
                interpreter.wait_exited(wait)


def _discard(interpreter: Interpreter) -> None:
    interpreter.close()
    if interpreter.workspace_dir is not None and interpreter.jobs_run == 0:
        shutil.rmtree(interpreter.workspace_dir, ignore_errors=True)


def adopt_workspace(staging: Path, target: Path) -> None:
    """Make ``staging`` (held open by a pooled guest) become ``target``.

    The entries of an existing ``target`` move into ``staging`` one rename
    each, then ``staging`` is renamed over the emptied ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        for entry in os.scandir(target):
            os.rename(entry.path, staging / entry.name)
        target.rmdir()
    os.rename(staging, target)
