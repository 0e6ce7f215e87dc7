"""A synchronous file system for just-bash over the sandbox's real directories.

The shell sees the guest's own paths: ``/workspace`` (and ``/code`` read-only
when mounted) are real directories, so ``python script.py`` and the files API
see the same bytes the shell wrote. ``/`` is a synthetic directory listing only
the mount points; every other path does not exist. Methods are ``async`` only
because just-bash awaits them; none of them ever suspends.

Text is read and written with ``surrogateescape``, so bytes that are not
UTF-8 survive ``cat a > b`` unchanged.
"""

# ruff: noqa: ASYNC230, ASYNC240
# (These coroutines run without an event loop, driven by hand: blocking I/O is the point.)

from __future__ import annotations

import os
import shutil
import stat as stat_module
from dataclasses import dataclass

from just_bash.types import FsStat

_TEXT = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}


@dataclass
class DirEntry:
    """One ``readdir_with_file_types`` entry (the shape just-bash expects)."""

    name: str
    is_file: bool = False
    is_directory: bool = False
    is_symbolic_link: bool = False


def normalize(path: str) -> str:
    """Absolute, without ``.``, ``..``, doubled or trailing slashes (``..`` stops at ``/``)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


class WorkspaceFs:
    """Maps virtual mount points (``/workspace``) onto real directories."""

    def __init__(
        self,
        mounts: dict[str, str],
        read_only: frozenset[str] = frozenset(),
        listed: tuple[str, ...] = (),
    ) -> None:
        """``listed``: mount points served elsewhere (``/tmp``) but shown in listings."""
        self._mounts = {normalize(k): os.path.abspath(v) for k, v in mounts.items()}
        self._read_only = frozenset(normalize(p) for p in read_only)
        self._synthetic: dict[str, set[str]] = {"/": set()}
        self._modes: dict[str, int] = {}
        for point in (*self._mounts, *listed):
            parts = point.strip("/").split("/")
            for depth in range(len(parts)):
                parent = normalize("/".join(parts[:depth]))
                self._synthetic.setdefault(parent, set()).add(parts[depth])

    # -- path mapping -----------------------------------------------------------

    def _locate(self, path: str) -> tuple[str, str] | None:
        """(mount point, real path) for a virtual path, or None outside every mount."""
        path = normalize(path)
        for point, real in self._mounts.items():
            if path == point:
                return point, real
            if path.startswith(point + "/"):
                return point, os.path.join(real, path[len(point) + 1 :])
        return None

    def real_roots(self) -> tuple[str, ...]:
        """The real directories behind the mount points."""
        return tuple(self._mounts.values())

    def real_path(self, path: str) -> str | None:
        """The real path behind a virtual path, or None when it has none."""
        found = self._locate(path)
        return found[1] if found else None

    def _real(self, path: str, op: str) -> str:
        found = self._locate(path)
        if found is None:
            if normalize(path) in self._synthetic:
                raise IsADirectoryError(f"EISDIR: illegal operation on a directory, {op} '{path}'")
            raise FileNotFoundError(f"ENOENT: no such file or directory, {op} '{path}'")
        return found[1]

    def _writable(self, path: str, op: str) -> str:
        found = self._locate(path)
        if found is None or found[0] in self._read_only:
            raise PermissionError(f"EACCES: permission denied, {op} '{path}'")
        if normalize(path) == found[0]:
            raise PermissionError(f"EBUSY: resource busy or locked, {op} '{path}'")
        return found[1]

    def resolve_path(self, base: str, path: str) -> str:
        """Resolve ``path`` against the directory ``base``."""
        return normalize(path if path.startswith("/") else f"{base}/{path}")

    # -- reading ----------------------------------------------------------------

    async def read_file(self, path: str, encoding: str = "utf-8") -> str:
        """File contents as text."""
        real = self._real(path, "open")
        with open(real, encoding=encoding, errors="surrogateescape", newline="") as f:
            return f.read()

    async def read_file_bytes(self, path: str) -> bytes:
        """File contents as bytes."""
        with open(self._real(path, "open"), "rb") as f:
            return f.read()

    async def exists(self, path: str) -> bool:
        """Whether the path exists (following symlinks)."""
        if normalize(path) in self._synthetic:
            return True
        real = self.real_path(path)
        return real is not None and os.path.exists(real)

    async def is_file(self, path: str) -> bool:
        """Whether the path is a regular file."""
        real = self.real_path(path)
        return real is not None and os.path.isfile(real)

    async def is_directory(self, path: str) -> bool:
        """Whether the path is a directory."""
        if normalize(path) in self._synthetic:
            return True
        real = self.real_path(path)
        return real is not None and os.path.isdir(real)

    def _stat(self, path: str, follow: bool) -> FsStat:
        if normalize(path) in self._synthetic:
            return FsStat(is_directory=True, mode=0o555, size=4096, mtime=0.0, nlink=2)
        real = self._real(path, "stat")
        try:
            st = os.stat(real) if follow else os.lstat(real)
        except FileNotFoundError:
            raise FileNotFoundError(f"ENOENT: no such file or directory, stat '{path}'") from None
        return FsStat(
            is_file=stat_module.S_ISREG(st.st_mode),
            is_directory=stat_module.S_ISDIR(st.st_mode),
            is_symbolic_link=stat_module.S_ISLNK(st.st_mode),
            mode=self._mode_bits(real, st.st_mode),
            size=st.st_size,
            mtime=st.st_mtime,
            nlink=st.st_nlink,
        )

    def _mode_bits(self, real: str, st_mode: int) -> int:
        # WASI's stat has no permission bits (and chmod is a no-op there): show the
        # usual defaults, and remember chmod for this interpreter's lifetime.
        if real in self._modes:
            return self._modes[real]
        bits = st_mode & 0o7777
        if bits:
            return bits
        if stat_module.S_ISDIR(st_mode):
            return 0o755
        return 0o777 if stat_module.S_ISLNK(st_mode) else 0o644

    async def stat(self, path: str) -> FsStat:
        """Stat, following symlinks."""
        return self._stat(path, follow=True)

    async def lstat(self, path: str) -> FsStat:
        """Stat, not following a final symlink."""
        return self._stat(path, follow=False)

    async def readdir(self, path: str) -> list[str]:
        """Sorted names in a directory."""
        return [entry.name for entry in await self.readdir_with_file_types(path)]

    async def readdir_with_file_types(self, path: str) -> list[DirEntry]:
        """Sorted entries of a directory, with their types."""
        synthetic = self._synthetic.get(normalize(path))
        if synthetic is not None:
            return [DirEntry(name, is_directory=True) for name in sorted(synthetic)]
        real = self._real(path, "scandir")
        if not os.path.exists(real):
            raise FileNotFoundError(f"ENOENT: no such file or directory, scandir '{path}'")
        if not os.path.isdir(real):
            raise NotADirectoryError(f"ENOTDIR: not a directory, scandir '{path}'")
        entries = [
            DirEntry(
                item.name,
                is_file=item.is_file(),
                is_directory=item.is_dir(),
                is_symbolic_link=item.is_symlink(),
            )
            for item in os.scandir(real)
        ]
        return sorted(entries, key=lambda e: e.name)

    async def readlink(self, path: str) -> str:
        """Target of a symbolic link."""
        real = self._real(path, "readlink")
        if not os.path.islink(real):
            if not os.path.exists(real):
                raise FileNotFoundError(f"ENOENT: no such file or directory, readlink '{path}'")
            raise OSError(f"EINVAL: invalid argument, readlink '{path}'")
        return os.readlink(real)

    async def realpath(self, path: str) -> str:
        """Canonical virtual path (symlinks inside a mount resolved)."""
        found = self._locate(path)
        if found is None:
            return normalize(path)
        point, real = found
        root = self._mounts[point]
        resolved = os.path.realpath(real)
        if resolved == root:
            return point
        if resolved.startswith(root + "/"):
            return normalize(point + "/" + resolved[len(root) + 1 :])
        raise FileNotFoundError(f"ENOENT: no such file or directory, realpath '{path}'")

    # -- writing ----------------------------------------------------------------

    async def write_file(self, path: str, content: str | bytes, encoding: str = "utf-8") -> None:
        """Create or truncate a file with ``content``."""
        self._put(path, content, "w", encoding)

    async def append_file(self, path: str, content: str | bytes, encoding: str = "utf-8") -> None:
        """Append ``content`` to a file, creating it."""
        self._put(path, content, "a", encoding)

    def _put(self, path: str, content: str | bytes, mode: str, encoding: str) -> None:
        real = self._writable(path, "open")
        if os.path.isdir(real):
            raise IsADirectoryError(f"EISDIR: illegal operation on a directory, open '{path}'")
        if isinstance(content, str):
            with open(real, mode, encoding=encoding, errors="surrogateescape", newline="") as f:
                f.write(content)
        else:
            with open(real, mode + "b") as f:
                f.write(content)

    async def mkdir(self, path: str, recursive: bool = False) -> None:
        """Create a directory (``recursive``: with parents, no error if it exists)."""
        if await self.is_directory(path) and recursive:
            return
        real = self._writable(path, "mkdir")
        if os.path.exists(real):
            raise FileExistsError(f"EEXIST: file already exists, mkdir '{path}'")
        if recursive:
            os.makedirs(real, exist_ok=True)
        elif not os.path.isdir(os.path.dirname(real)):
            raise FileNotFoundError(f"ENOENT: no such file or directory, mkdir '{path}'")
        else:
            os.mkdir(real)

    async def rm(self, path: str, recursive: bool = False, force: bool = False) -> None:
        """Remove a file, or a directory (``recursive`` for a non-empty one)."""
        real = self._writable(path, "rm")
        if not os.path.lexists(real):
            if force:
                return
            raise FileNotFoundError(f"ENOENT: no such file or directory, rm '{path}'")
        if os.path.isdir(real) and not os.path.islink(real):
            if recursive:
                shutil.rmtree(real)
            elif os.listdir(real):
                raise OSError(f"ENOTEMPTY: directory not empty, rm '{path}'")
            else:
                os.rmdir(real)
        else:
            os.unlink(real)

    async def cp(self, src: str, dest: str, recursive: bool = False) -> None:
        """Copy a file, or a directory tree with ``recursive``."""
        source = self._real(src, "cp")
        target = self._writable(dest, "cp")
        if not os.path.exists(source):
            raise FileNotFoundError(f"ENOENT: no such file or directory, cp '{src}'")
        if os.path.isdir(source):
            if not recursive:
                raise IsADirectoryError(f"EISDIR: is a directory, cp '{src}'")
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
            shutil.copymode(source, target)

    async def mv(self, src: str, dest: str) -> None:
        """Move or rename."""
        source = self._writable(src, "mv")
        target = self._writable(dest, "mv")
        if not os.path.lexists(source):
            raise FileNotFoundError(f"ENOENT: no such file or directory, mv '{src}'")
        try:
            os.replace(source, target)
        except OSError:
            # Onto a non-empty directory (bash moves into it) or across devices.
            shutil.move(source, target)

    async def chmod(self, path: str, mode: int) -> None:
        """Change permission bits."""
        real = self._writable(path, "chmod")
        os.chmod(real, mode)
        self._modes[real] = mode & 0o7777

    async def utimes(self, path: str, atime: float, mtime: float) -> None:
        """Set access and modification times."""
        os.utime(self._writable(path, "utimes"), (atime, mtime))

    async def symlink(self, target: str, link_path: str) -> None:
        """Create a symbolic link (an absolute target must lie inside a mount)."""
        link = self._writable(link_path, "symlink")
        if os.path.lexists(link):
            raise FileExistsError(f"EEXIST: file already exists, symlink '{link_path}'")
        if target.startswith("/"):
            target = self._real(target, "symlink")
        os.symlink(target, link)

    async def link(self, existing_path: str, new_path: str) -> None:
        """Create a hard link."""
        os.link(self._real(existing_path, "link"), self._writable(new_path, "link"))
