"""A session's workspace on the host: every path confined to it, writes under its quota.

Paths are given as the guest sees them (``/workspace/a/b.txt``) or relative
(``a/b.txt``). ``..`` components, other absolute paths and NUL bytes are
refused, and no symlink is ever followed by the files API (an intermediate
symlink is refused; a final one is refused for reads and writes, and removed
itself, not its target, on delete), so a link planted by guest code cannot
reach outside the workspace.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import Literal

from tenantflow.sandbox.monitor import tree_size
from tenantflow.sessions.errors import (
    FileTooLarge,
    InvalidPath,
    SessionNotFound,
    WorkspaceQuotaExceeded,
)
from tenantflow.sessions.models import FileEntry

GUEST_ROOT = "/workspace"


def relative(path: str) -> PurePosixPath:
    """The workspace-relative form of ``path``; raises :class:`InvalidPath` if it leaves."""
    if "\x00" in path:
        raise InvalidPath("path contains a NUL byte")
    text = path.strip()
    if text == GUEST_ROOT or text.startswith(GUEST_ROOT + "/"):
        text = text[len(GUEST_ROOT) :]
        text = text.lstrip("/")
    elif text.startswith("/"):
        raise InvalidPath(f"{path!r} is outside /workspace")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidPath(f"{path!r}: '..' is not allowed in workspace paths")
    return PurePosixPath(*parts) if parts else PurePosixPath()


class Workspace:
    """File operations on one session's workspace directory (blocking; call from a thread)."""

    def __init__(self, root: Path, quota_bytes: int, max_file_bytes: int) -> None:
        self.root = root
        self.quota_bytes = quota_bytes
        self.max_file_bytes = max_file_bytes

    # -- confinement ------------------------------------------------------------

    def locate(self, path: str, *, final_link_ok: bool = False) -> Path:
        """The host path of ``path``, checked: no component of it may be a symlink."""
        rel = relative(path)
        if not self.root.is_dir():
            # Deleted (or being restored) while this request was in flight: never recreate it.
            raise SessionNotFound("the session's workspace no longer exists")
        current = self.root
        parts = rel.parts
        for index, part in enumerate(parts):
            current = current / part
            last = index == len(parts) - 1
            if current.is_symlink() and not (last and final_link_ok):
                raise InvalidPath(f"{path!r} goes through a symbolic link")
        return current

    def size(self) -> int:
        """Bytes of regular files in the workspace."""
        return tree_size(self.root)

    def _check_quota(self, adding: int, replacing: int = 0) -> None:
        used = self.size()
        if used - replacing + adding > self.quota_bytes:
            raise WorkspaceQuotaExceeded(
                f"workspace would use {used - replacing + adding} bytes; "
                f"quota is {self.quota_bytes}",
                limit=self.quota_bytes,
            )

    # -- files --------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        """The bytes of a regular file."""
        target = self.locate(path)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise SessionNotFound(f"no file {path!r} in the workspace") from None
        except OSError as exc:
            raise InvalidPath(f"cannot read {path!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InvalidPath(f"{path!r} is not a regular file")
            if info.st_size > self.max_file_bytes:
                raise FileTooLarge(
                    f"{path!r} has {info.st_size} bytes; the limit is {self.max_file_bytes}"
                )
            return handle.read(self.max_file_bytes + 1)

    def write(self, path: str, data: bytes, *, append: bool = False) -> int:
        """Write (or append to) a file, creating parent directories; returns its size."""
        if len(data) > self.max_file_bytes:
            raise FileTooLarge(f"{len(data)} bytes is more than the {self.max_file_bytes} allowed")
        target = self.locate(path)
        if target == self.root:
            raise InvalidPath("cannot write to the workspace root")
        existing = 0
        if target.exists() and not append:
            if not target.is_file():
                raise InvalidPath(f"{path!r} exists and is not a regular file")
            existing = target.stat().st_size
        self._check_quota(len(data), existing)
        self._make_parents(target, path)
        if append:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "ab") as handle:
                handle.write(data)
            return target.stat().st_size
        # Write beside and rename: a reader never sees half a file.
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return len(data)

    def _make_parents(self, target: Path, path: str) -> None:
        parent = target.parent
        if parent.exists():
            if not parent.is_dir() or parent.is_symlink():
                raise InvalidPath(f"the parent of {path!r} is not a directory")
            return
        parent.mkdir(parents=True, exist_ok=True)
        # Re-check after creating: a concurrent link between check and mkdir is refused.
        self.locate(str(parent.relative_to(self.root)))

    def mkdir(self, path: str) -> None:
        """Create a directory (and its parents)."""
        target = self.locate(path)
        self._make_parents(target / "x", path)

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file, a symlink (not its target) or, with ``recursive``, a directory."""
        target = self.locate(path, final_link_ok=True)
        if target == self.root:
            raise InvalidPath("cannot delete the workspace root")
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            if not recursive:
                try:
                    target.rmdir()
                except OSError:
                    raise InvalidPath(f"{path!r} is a directory that is not empty") from None
            else:
                shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            raise SessionNotFound(f"no file {path!r} in the workspace")

    def list(self, path: str = "", *, recursive: bool = True) -> list[FileEntry]:
        """Entries under ``path`` with sizes, sorted by path; symlinks are listed, not followed."""
        start = self.locate(path)
        if not start.is_dir():
            if start.exists():
                return [self._entry(start)]
            raise SessionNotFound(f"no directory {path!r} in the workspace")
        out: list[FileEntry] = []
        stack = [start]
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                item = self._entry(Path(entry.path))
                out.append(item)
                if recursive and item.type == "dir":
                    stack.append(Path(entry.path))
        out.sort(key=lambda e: e.path)
        return out

    def _entry(self, path: Path) -> FileEntry:
        info = path.lstat()
        mode = info.st_mode
        kind: Literal["file", "dir", "symlink", "other"] = (
            "symlink"
            if stat.S_ISLNK(mode)
            else "dir"
            if stat.S_ISDIR(mode)
            else "file"
            if stat.S_ISREG(mode)
            else "other"
        )
        size = info.st_size if kind == "file" else 0
        return FileEntry(str(path.relative_to(self.root)), kind, size, info.st_mtime)
