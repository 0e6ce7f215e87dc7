"""The code loader: tenant + workflow + version -> an unpacked bundle directory for ``/code``.

Bundles live in the database (so any worker on any machine can load any
version); unpacked copies live in a bounded on-disk cache keyed by SHA-256.
An entry is checked against its manifest of file hashes the first time this
process uses it, and the bytes from the database are checked against their
address before they are unpacked. The sandbox mounts the directory read-only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.config import Settings
from tenantflow.db.models.tenants import Bundle, WorkflowVersion
from tenantflow.engine.errors import CodeNotFound
from tenantflow.tenants.bundles import BundleLimits, file_hashes, sha256_hex, unpack
from tenantflow.tenants.errors import NotFoundError, TenantError

MANIFEST = "manifest.json"
CODE = "code"


class BundleNotFoundError(NotFoundError, CodeNotFound):
    """No such version for that tenant: the engine's ``CodeNotFound`` and a tenant 404 at once."""


class BundleCorruptError(TenantError):
    """Bytes or files of a bundle do not match their SHA-256."""

    code = "bundle-corrupt"


class BundleCache:
    """Unpacked bundles on disk, trimmed to ``max_bytes`` least-recently-used first."""

    def __init__(self, root: Path, max_bytes: int, limits: BundleLimits) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.limits = limits
        self._verified: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    def entry(self, sha256: str) -> Path:
        """The cache directory of one bundle."""
        return self.root / sha256

    def is_verified(self, sha256: str) -> bool:
        """Whether this process already checked the entry against its manifest."""
        return sha256 in self._verified

    def get(self, sha256: str) -> Path | None:
        """The code directory of a cached, verified bundle, or None (a bad entry is dropped)."""
        entry = self.entry(sha256)
        if not (entry / MANIFEST).exists():
            return None
        if sha256 not in self._verified:
            try:
                expected = json.loads((entry / MANIFEST).read_text())["files"]
                good = file_hashes(entry / CODE) == expected
            except (OSError, ValueError, KeyError):
                good = False
            if not good:
                shutil.rmtree(entry, ignore_errors=True)
                return None
            self._verified.add(sha256)
        # The entry's mtime is its last use: the LRU order of trim().
        os.utime(entry)
        return entry / CODE

    def put(self, sha256: str, data: bytes, kind: str) -> Path:
        """Unpack ``data`` (checked against ``sha256``) into the cache; returns the code dir."""
        if sha256_hex(data) != sha256:
            raise BundleCorruptError(f"bundle bytes do not hash to {sha256}")
        cached = self.get(sha256)
        if cached is not None:
            return cached
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{os.getpid()}-{os.urandom(6).hex()}"
        try:
            unpack(data, kind, staging / CODE, self.limits)
            manifest = {"sha256": sha256, "kind": kind, "files": file_hashes(staging / CODE)}
            (staging / MANIFEST).write_text(json.dumps(manifest))
            try:
                staging.rename(self.entry(sha256))
            except OSError:
                # Another process unpacked it first; theirs is as good as ours.
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._verified.add(sha256)
        self.trim(keep=sha256)
        return self.entry(sha256) / CODE

    def lock(self, sha256: str) -> asyncio.Lock:
        """One unpack at a time per bundle in this process."""
        return self._locks.setdefault(sha256, asyncio.Lock())

    def trim(self, keep: str | None = None, min_age_s: float = 60.0) -> int:
        """Drop least-recently-used entries until the cache fits; returns bytes freed.

        Entries used in the last ``min_age_s`` seconds stay: a sandbox may have one mounted.
        """
        if not self.root.exists():
            return 0
        entries: list[tuple[float, int, Path]] = []
        total = 0
        for entry in self.root.iterdir():
            if entry.name.startswith("."):
                continue
            size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            total += size
            entries.append((entry.stat().st_mtime, size, entry))
        freed = 0
        now = time.time()
        for mtime, size, entry in sorted(entries):
            if total - freed <= self.max_bytes:
                break
            if entry.name == keep or now - mtime < min_age_s:
                continue
            shutil.rmtree(entry, ignore_errors=True)
            self._verified.discard(entry.name)
            freed += size
        return freed


class CodeLoader:
    """The engine's ``CodeResolver`` over content-addressed bundles (``await loader.resolve``)."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.cache = BundleCache(
            settings.resolved_bundle_cache_dir,
            settings.bundle_cache_bytes,
            bundle_limits(settings),
        )
        # (tenant, workflow, hash) triples known to exist: versions are immutable.
        self._owned: set[tuple[str, str, str]] = set()

    async def resolve(self, tenant_id: str, workflow: str, code_hash: str) -> Path:
        """The read-only code directory of that version (unpacked on first use)."""
        key = (tenant_id, workflow, code_hash)
        if key not in self._owned:
            async with self.sessions() as session:
                found = await session.scalar(
                    select(WorkflowVersion.id).where(
                        WorkflowVersion.tenant_id == tenant_id,
                        WorkflowVersion.workflow == workflow,
                        WorkflowVersion.sha256 == code_hash,
                    )
                )
            if found is None:
                raise BundleNotFoundError(
                    f"workflow {workflow!r} has no version {code_hash[:12]} for this tenant"
                )
            self._owned.add(key)
        cached = await self._cached(code_hash)
        if cached is not None:
            return cached
        async with self.cache.lock(code_hash):
            cached = await self._cached(code_hash)
            if cached is not None:
                return cached
            async with self.sessions() as session:
                bundle = await session.get(Bundle, code_hash)
            if bundle is None:
                raise BundleNotFoundError(f"bundle {code_hash[:12]} is missing")
            return await asyncio.to_thread(self.cache.put, code_hash, bundle.content, bundle.kind)

    async def _cached(self, code_hash: str) -> Path | None:
        # The first use in a process hashes every file: off the event loop.
        if self.cache.is_verified(code_hash):
            return self.cache.get(code_hash)
        return await asyncio.to_thread(self.cache.get, code_hash)


def bundle_limits(settings: Settings) -> BundleLimits:
    """The zip limits of ``settings``."""
    return BundleLimits(
        max_files=settings.bundle_max_files,
        max_unpacked_bytes=settings.bundle_max_unpacked_bytes,
        max_ratio=settings.bundle_max_ratio,
    )
