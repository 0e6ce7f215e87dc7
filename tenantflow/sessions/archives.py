"""Workspace archives: gzip tar out (download, snapshots) and checked unpacking in.

Unpacking refuses the whole archive if any member is unsafe: an absolute
name, a ``..`` component, a symlink, a hard link, a device or FIFO, or more
bytes than the quota allows. Nothing is written before every member has
been checked; members are then written through :class:`Workspace` rules
(no path through a symlink).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tenantflow.sessions.errors import InvalidArchive, WorkspaceQuotaExceeded

MAX_MEMBERS = 100_000


def pack(root: Path, out: BinaryIO, *, symlinks: bool = True) -> int:
    """Write ``root`` as a gzip tar to ``out`` (names relative, links not followed).

    Returns the number of regular files. With ``symlinks=False`` links are left
    out (snapshots hold only files and directories).
    """
    files = 0
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
        for directory, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            base = Path(directory)
            for name in [*sorted(dirnames), *sorted(filenames)]:
                path = base / name
                info = path.lstat()
                arcname = str(path.relative_to(root))
                if stat.S_ISLNK(info.st_mode) and not symlinks:
                    continue
                if not (
                    stat.S_ISREG(info.st_mode)
                    or stat.S_ISDIR(info.st_mode)
                    or stat.S_ISLNK(info.st_mode)
                ):
                    continue
                member = tar.gettarinfo(str(path), arcname)
                member.uid = member.gid = 0
                member.uname = member.gname = ""
                if member.isreg():
                    with open(path, "rb") as handle:
                        tar.addfile(member, handle)
                    files += 1
                else:
                    tar.addfile(member)
    return files


def _member_path(name: str) -> PurePosixPath:
    if name.startswith("/") or "\x00" in name or "\\" in name:
        raise InvalidArchive(f"unsafe member {name!r}: absolute or malformed name")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidArchive(f"unsafe member {name!r}: '..' leaves the workspace")
    return PurePosixPath(*parts)


def check_members(tar: tarfile.TarFile, quota_left: int) -> list[tarfile.TarInfo]:
    """The archive's members if every one is safe; raises :class:`InvalidArchive` otherwise."""
    members: list[tarfile.TarInfo] = []
    total = 0
    for count, member in enumerate(tar, 1):
        if count > MAX_MEMBERS:
            raise InvalidArchive(f"more than {MAX_MEMBERS} members")
        if member.issym() or member.islnk():
            raise InvalidArchive(f"unsafe member {member.name!r}: links are not accepted")
        if not (member.isreg() or member.isdir()):
            raise InvalidArchive(f"unsafe member {member.name!r}: only files and directories")
        _member_path(member.name)
        total += member.size if member.isreg() else 0
        if total > quota_left:
            raise WorkspaceQuotaExceeded(
                f"archive holds more than the {quota_left} bytes left in the workspace quota",
                limit=quota_left,
            )
        members.append(member)
    return members


def unpack(data: BinaryIO, dest: Path, quota_left: int) -> int:
    """Check, then extract a (optionally gzip) tar into ``dest``; returns files written.

    Nothing is written if a member is unsafe; a member that clashes with an existing
    entry (a file where a directory is) stops the unpacking with :class:`InvalidArchive`.
    """
    try:
        tar = tarfile.open(fileobj=data, mode="r:*")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidArchive(f"not a tar archive: {exc}") from None
    with tar:
        try:
            members = check_members(tar, quota_left)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidArchive(f"corrupt tar archive: {exc}") from None
        try:
            return _extract(tar, members, dest)
        except OSError as exc:
            # A member clashing with what is there (a file where a directory is, ...).
            raise InvalidArchive(f"cannot unpack the archive here: {exc.strerror}") from None


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path) -> int:
    files = 0
    for member in members:
        rel = _member_path(member.name)
        if not rel.parts:
            continue
        target = _safe_target(dest, rel)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        _safe_target(dest, rel)  # a directory made above is not a link either
        source = tar.extractfile(member)
        if source is None:
            raise InvalidArchive(f"cannot read member {member.name!r}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o644)
        with source, os.fdopen(fd, "wb") as handle:
            while chunk := source.read(1 << 20):
                handle.write(chunk)
        files += 1
    return files


def _safe_target(dest: Path, rel: PurePosixPath) -> Path:
    current = dest
    for part in rel.parts:
        current = current / part
        if current.is_symlink():
            raise InvalidArchive(f"member {str(rel)!r} would be written through a symbolic link")
    return current


def pack_bytes(root: Path) -> bytes:
    """``root`` as gzip tar bytes."""
    buffer = io.BytesIO()
    pack(root, buffer)
    return buffer.getvalue()
