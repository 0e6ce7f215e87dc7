"""Files and snapshots of a session, on the host side (no sandbox needed).

File operations run on a worker thread (they block on disk). Snapshot,
restore and archive upload take the session's lock, so they never interleave
with a running call; a restore also hibernates the session first (the
interpreter holds the old workspace directory open).
"""

from __future__ import annotations

import asyncio
import io
import secrets
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tenantflow.db.models.sessions import SessionSnapshot
from tenantflow.sessions import archives
from tenantflow.sessions.errors import SessionLimitReached
from tenantflow.sessions.models import FileEntry, SessionInfo, SessionSpec, SnapshotInfo
from tenantflow.sessions.snapshots import swap_in, unpack_verified, write_snapshot

if TYPE_CHECKING:
    from tenantflow.sessions.manager import SessionManager


class SessionFiles:
    """Read, write, list and delete workspace files; tar download and upload."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager = manager

    async def read(self, tenant: str, session_id: str, path: str) -> bytes:
        """A file's bytes."""
        session = await self._manager.open(tenant, session_id)
        return await asyncio.to_thread(session.workspace.read, path)

    async def write(
        self, tenant: str, session_id: str, path: str, data: bytes, *, append: bool = False
    ) -> int:
        """Write or append; returns the file's size."""
        session = await self._manager.open(tenant, session_id)
        return await asyncio.to_thread(session.workspace.write, path, data, append=append)

    async def list(
        self, tenant: str, session_id: str, path: str = "", *, recursive: bool = True
    ) -> list[FileEntry]:
        """Entries with sizes (recursive by default)."""
        session = await self._manager.open(tenant, session_id)
        return await asyncio.to_thread(session.workspace.list, path, recursive=recursive)

    async def delete(
        self, tenant: str, session_id: str, path: str, *, recursive: bool = False
    ) -> None:
        """Delete a file, a link or (``recursive``) a directory."""
        session = await self._manager.open(tenant, session_id)
        await asyncio.to_thread(session.workspace.delete, path, recursive=recursive)

    async def mkdir(self, tenant: str, session_id: str, path: str) -> None:
        """Create a directory and its parents."""
        session = await self._manager.open(tenant, session_id)
        await asyncio.to_thread(session.workspace.mkdir, path)

    async def usage(self, tenant: str, session_id: str) -> tuple[int, int]:
        """(bytes used, quota) of the workspace."""
        session = await self._manager.open(tenant, session_id)
        used = await asyncio.to_thread(session.workspace.size)
        return used, session.workspace.quota_bytes

    async def download_tar(self, tenant: str, session_id: str) -> bytes:
        """The whole workspace as a gzip tar (symlinks as links, never followed)."""
        session = await self._manager.open(tenant, session_id)
        return await asyncio.to_thread(archives.pack_bytes, session.workspace_dir)

    async def upload_tar(self, tenant: str, session_id: str, data: bytes, path: str = "") -> int:
        """Unpack a (gzip) tar into ``path``; refused whole if any member is unsafe."""
        session = await self._manager.open(tenant, session_id)
        workspace = session.workspace
        async with self._manager.live.lock(session_id):
            target = workspace.locate(path)

            def unpack() -> int:
                target.mkdir(parents=True, exist_ok=True)
                workspace.locate(path)  # the directory just made is no link
                left = workspace.quota_bytes - workspace.size()
                return archives.unpack(io.BytesIO(data), target, left)

            return await asyncio.to_thread(unpack)


class SessionSnapshots:
    """Snapshot a workspace, list snapshots, restore one, fork a session from one."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager = manager

    async def create(self, tenant: str, session_id: str, label: str = "") -> SnapshotInfo:
        """Archive the workspace (atomically) and record its content hash."""
        manager = self._manager
        session = await manager.open(tenant, session_id)
        limit = manager.config.max_snapshots_per_session
        if len(await manager.store.snapshots(tenant, session_id)) >= limit:
            raise SessionLimitReached(f"the session already has {limit} snapshots", limit=limit)
        snapshot_id = "snap_" + secrets.token_hex(12)
        path = manager.snapshot_path(tenant, snapshot_id)
        async with manager.live.lock(session_id):
            sha256, size, files = await asyncio.to_thread(
                write_snapshot, session.workspace_dir, path
            )
        row = SessionSnapshot(
            id=snapshot_id,
            tenant_id=tenant,
            session_id=session_id,
            sha256=sha256,
            size=size,
            files=files,
            label=label[:200],
            created_at=datetime.now(UTC),
        )
        try:
            await manager.store.add_snapshot(row)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _info(row)

    async def list(self, tenant: str, session_id: str) -> list[SnapshotInfo]:
        """The session's snapshots, newest first."""
        await self._manager.open(tenant, session_id)
        return [_info(r) for r in await self._manager.store.snapshots(tenant, session_id)]

    async def get(self, tenant: str, snapshot_id: str) -> SnapshotInfo:
        """One of the tenant's snapshots."""
        return _info(await self._manager.store.snapshot(tenant, snapshot_id))

    async def delete(self, tenant: str, snapshot_id: str) -> None:
        """Delete a snapshot's row and file."""
        await self._manager.store.snapshot(tenant, snapshot_id)
        await self._manager.store.delete_snapshot(tenant, snapshot_id)
        self._manager.snapshot_path(tenant, snapshot_id).unlink(missing_ok=True)

    async def restore(self, tenant: str, session_id: str, snapshot_id: str) -> None:
        """Replace the session's workspace with a verified snapshot (hibernates the session).

        A snapshot whose bytes changed is refused and the workspace is untouched.
        """
        manager = self._manager
        session = await manager.open(tenant, session_id)
        row = await manager.store.snapshot(tenant, snapshot_id)
        path = manager.snapshot_path(tenant, snapshot_id)
        staging = session.root / f".restore-{uuid.uuid4().hex[:8]}"
        quota = session.workspace.quota_bytes
        await asyncio.to_thread(unpack_verified, path, row.sha256, staging, quota)
        async with manager.live.lock(session_id):
            await manager.live.hibernate(session_id)
            await asyncio.to_thread(swap_in, staging, session.workspace_dir)

    async def fork(
        self, tenant: str, snapshot_id: str, spec: SessionSpec | None = None
    ) -> SessionInfo:
        """A new session whose workspace starts as the snapshot (spec: the source's if None)."""
        manager = self._manager
        row = await manager.store.snapshot(tenant, snapshot_id)
        if spec is None:
            source = await manager.store.session(tenant, row.session_id)
            spec = SessionSpec.model_validate_json(source.spec)
        path = manager.snapshot_path(tenant, snapshot_id)
        info = await manager.create(tenant, spec, parent_snapshot=snapshot_id)
        session = await manager.open(tenant, info.id)
        staging = session.root / f".restore-{uuid.uuid4().hex[:8]}"
        try:
            await asyncio.to_thread(
                unpack_verified, path, row.sha256, staging, session.workspace.quota_bytes
            )
        except BaseException:
            await manager.delete(tenant, info.id)
            raise
        await asyncio.to_thread(swap_in, staging, session.workspace_dir)
        return info


def _info(row: SessionSnapshot) -> SnapshotInfo:
    return SnapshotInfo(
        id=row.id,
        session_id=row.session_id,
        sha256=row.sha256,
        size=row.size,
        files=row.files,
        created_at=row.created_at,
        label=row.label,
    )
