"""Snapshot files: a gzip tar of a workspace, written atomically, verified before restore.

The archive is written to a temporary name, flushed to disk, then renamed,
so a crash never leaves a half snapshot under its real name. Its SHA-256 is
computed while writing and stored with the snapshot's row; a restore
re-hashes the file first and refuses it if a single byte changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from tenantflow.sessions import archives
from tenantflow.sessions.errors import InvalidArchive, SnapshotCorrupt, WorkspaceQuotaExceeded


class _HashingWriter:
    """A write-only file that hashes and counts what passes through."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        written: int = self._handle.write(data)
        return written

    def flush(self) -> None:
        self._handle.flush()


def write_snapshot(workspace: Path, path: Path) -> tuple[str, int, int]:
    """Archive ``workspace`` to ``path`` atomically; returns (sha256, size, files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temp, "wb") as handle:
            writer = _HashingWriter(handle)
            files = archives.pack(workspace, writer, symlinks=False)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return writer.digest.hexdigest(), writer.size, files


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def unpack_verified(path: Path, sha256: str, dest: Path, quota: int) -> None:
    """Re-hash ``path``, then unpack it into the new directory ``dest``.

    Raises :class:`SnapshotCorrupt` (and writes nothing) if the file is
    missing, altered or not a valid archive.
    """
    if not path.is_file():
        raise SnapshotCorrupt("the snapshot file is missing")
    actual = file_sha256(path)
    if actual != sha256:
        raise SnapshotCorrupt(
            f"the snapshot's content hash is {actual[:16]}..., expected {sha256[:16]}...; "
            "it was not restored"
        )
    dest.mkdir(parents=True)
    try:
        with open(path, "rb") as handle:
            archives.unpack(handle, dest, quota)
    except InvalidArchive as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise SnapshotCorrupt(f"the snapshot archive is unreadable: {exc}") from None
    except (WorkspaceQuotaExceeded, OSError):
        shutil.rmtree(dest, ignore_errors=True)
        raise


def swap_in(new: Path, workspace: Path) -> None:
    """Replace ``workspace`` with ``new`` (both on one file system) by renames."""
    trash = workspace.with_name(f".trash-{uuid.uuid4().hex[:8]}")
    if workspace.exists():
        os.rename(workspace, trash)
    os.rename(new, workspace)
    shutil.rmtree(trash, ignore_errors=True)
