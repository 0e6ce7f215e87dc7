"""The shell's whole file system: the real mounts plus an in-memory ``/tmp``.

``/tmp`` lives only in this interpreter (just-bash's ``InMemoryFs``): scratch
files, ``mktemp`` and process substitution (``diff <(a) <(b)``) work, but
``python`` scripts cannot open ``/tmp`` paths (the guest has no such
directory) and nothing there survives the interpreter.
"""

from __future__ import annotations

from typing import Any

from tenantflow.guest.shell._fs import WorkspaceFs, normalize
from tenantflow.guest.shell._loader import import_with_stubs

SCRATCH = "/tmp"
DEVNULL = "/dev/null"


class ShellFs:
    """Routes each path to the workspace file system or the in-memory scratch."""

    def __init__(self, workspace: WorkspaceFs) -> None:
        self.workspace = workspace
        self._scratch: Any = None

    def _in_scratch(self, path: str) -> bool:
        path = normalize(path)
        return path == SCRATCH or path.startswith(SCRATCH + "/")

    def _for(self, path: str) -> Any:
        if not self._in_scratch(path):
            return self.workspace
        if self._scratch is None:
            import_with_stubs("just_bash.fs.in_memory_fs")
            from just_bash.fs.in_memory_fs import InMemoryFs

            self._scratch = InMemoryFs()
        return self._scratch

    # -- pass-through to the workspace ------------------------------------------------
    def resolve_path(self, base: str, path: str) -> str:
        """Resolve ``path`` against the directory ``base``."""
        return self.workspace.resolve_path(base, path)

    def real_path(self, path: str) -> str | None:
        """The real path behind a virtual path (None in ``/tmp`` or outside mounts)."""
        return None if self._in_scratch(path) else self.workspace.real_path(path)

    def real_roots(self) -> tuple[str, ...]:
        """The real directories behind the mount points."""
        return self.workspace.real_roots()

    # -- one backend per path ------------------------------------------------------------
    async def read_file(self, path: str, encoding: str = "utf-8") -> str:
        """File contents as text."""
        if normalize(path) == DEVNULL:
            return ""
        value: str = await self._for(path).read_file(path, encoding)
        return value

    async def read_file_bytes(self, path: str) -> bytes:
        """File contents as bytes."""
        if normalize(path) == DEVNULL:
            return b""
        value: bytes = await self._for(path).read_file_bytes(path)
        return value

    async def write_file(self, path: str, content: str | bytes, encoding: str = "utf-8") -> None:
        """Create or truncate a file (``/dev/null`` swallows everything)."""
        if normalize(path) != DEVNULL:
            await self._for(path).write_file(path, content, encoding)

    async def append_file(self, path: str, content: str | bytes, encoding: str = "utf-8") -> None:
        """Append to a file."""
        if normalize(path) != DEVNULL:
            await self._for(path).append_file(path, content)

    async def exists(self, path: str) -> bool:
        """Whether the path exists."""
        if normalize(path) == DEVNULL:
            return True
        return bool(await self._for(path).exists(path))

    async def is_file(self, path: str) -> bool:
        """Whether the path is a regular file."""
        return bool(await self._for(path).is_file(path))

    async def is_directory(self, path: str) -> bool:
        """Whether the path is a directory."""
        return bool(await self._for(path).is_directory(path))

    async def stat(self, path: str) -> Any:
        """Stat, following symlinks."""
        return await self._for(path).stat(path)

    async def lstat(self, path: str) -> Any:
        """Stat, not following a final symlink."""
        return await self._for(path).lstat(path)

    async def readdir(self, path: str) -> list[str]:
        """Sorted names in a directory."""
        return [entry.name for entry in await self.readdir_with_file_types(path)]

    async def readdir_with_file_types(self, path: str) -> list[Any]:
        """Sorted entries of a directory, with their types."""
        entries: list[Any] = await self._for(path).readdir_with_file_types(path)
        return entries

    async def readlink(self, path: str) -> str:
        """Target of a symbolic link."""
        value: str = await self._for(path).readlink(path)
        return value

    async def realpath(self, path: str) -> str:
        """Canonical path."""
        value: str = await self._for(path).realpath(path)
        return value

    async def mkdir(self, path: str, recursive: bool = False) -> None:
        """Create a directory."""
        await self._for(path).mkdir(path, recursive=recursive)

    async def rm(self, path: str, recursive: bool = False, force: bool = False) -> None:
        """Remove a file or directory."""
        if normalize(path) == SCRATCH:
            raise PermissionError(f"EBUSY: resource busy or locked, rm '{path}'")
        await self._for(path).rm(path, recursive=recursive, force=force)

    async def chmod(self, path: str, mode: int) -> None:
        """Change permission bits."""
        await self._for(path).chmod(path, mode)

    async def utimes(self, path: str, atime: float, mtime: float) -> None:
        """Set access and modification times."""
        await self._for(path).utimes(path, atime, mtime)

    async def symlink(self, target: str, link_path: str) -> None:
        """Create a symbolic link."""
        await self._for(link_path).symlink(target, link_path)

    async def link(self, existing_path: str, new_path: str) -> None:
        """Create a hard link (same backend only)."""
        backend = self._for(new_path)
        if backend is not self._for(existing_path):
            raise OSError(f"EXDEV: cross-device link, link '{existing_path}'")
        await backend.link(existing_path, new_path)

    # -- across backends ---------------------------------------------------------------
    async def cp(self, src: str, dest: str, recursive: bool = False) -> None:
        """Copy a file or (``recursive``) a tree, also between ``/tmp`` and the workspace."""
        if normalize(dest) == DEVNULL:
            return
        source, target = self._for(src), self._for(dest)
        if source is target:
            await source.cp(src, dest, recursive=recursive)
            return
        if await source.is_directory(src):
            if not recursive:
                raise IsADirectoryError(f"EISDIR: is a directory, cp '{src}'")
            await target.mkdir(dest, recursive=True)
            for name in await source.readdir(src):
                await self.cp(f"{src.rstrip('/')}/{name}", f"{dest.rstrip('/')}/{name}", True)
            return
        await target.write_file(dest, await source.read_file_bytes(src))

    async def mv(self, src: str, dest: str) -> None:
        """Move or rename, also between ``/tmp`` and the workspace."""
        source, target = self._for(src), self._for(dest)
        if source is target:
            await source.mv(src, dest)
            return
        await self.cp(src, dest, recursive=True)
        await source.rm(src, recursive=True, force=True)


class MktempCommand:
    """``mktemp [-d] [-p DIR] [TEMPLATE]``: a new file or directory, in ``/tmp`` by default."""

    name = "mktemp"

    async def execute(self, args: list[str], ctx: Any) -> Any:
        """Create the file (or directory) and print its path."""
        import random
        import string

        from just_bash.types import ExecResult

        directory, parent, template = False, SCRATCH, "tmp.XXXXXXXXXX"
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "-d":
                directory = True
            elif arg == "-p" and i + 1 < len(args):
                parent = args[i + 1]
                i += 1
            elif arg in ("-t", "-q", "-u"):
                pass
            elif arg.startswith("-"):
                return ExecResult("", f"mktemp: invalid option -- '{arg[1:]}'\n", 1)
            else:
                template = arg
                if "/" in arg:
                    parent = ""
            i += 1
        stem = template.rstrip("X")
        width = len(template) - len(stem)
        if width < 3:
            return ExecResult("", f"mktemp: too few X's in template '{template}'\n", 1)
        alphabet = string.ascii_letters + string.digits
        for _ in range(100):
            name = stem + "".join(random.choice(alphabet) for _ in range(width))
            path = ctx.fs.resolve_path(ctx.cwd, f"{parent}/{name}" if parent else name)
            if not await ctx.fs.exists(path):
                break
        if directory:
            await ctx.fs.mkdir(path)
        else:
            await ctx.fs.write_file(path, "")
        return ExecResult(path + "\n", "", 0)


class RealpathCommand:
    """``realpath [-e|-m] PATH...``: the canonical absolute path of each operand."""

    name = "realpath"

    async def execute(self, args: list[str], ctx: Any) -> Any:
        """Print each resolved path; fail for a missing one unless ``-m``."""
        from just_bash.types import ExecResult

        missing_ok = "-m" in args or "--canonicalize-missing" in args
        out, errors = [], []
        for operand in [a for a in args if not a.startswith("-")]:
            path = ctx.fs.resolve_path(ctx.cwd, operand)
            try:
                out.append(await ctx.fs.realpath(path) + "\n")
            except OSError:
                if missing_ok:
                    out.append(path + "\n")
                else:
                    errors.append(f"realpath: {operand}: No such file or directory\n")
                continue
            if not missing_ok and not await ctx.fs.exists(path):
                out.pop()
                errors.append(f"realpath: {operand}: No such file or directory\n")
        return ExecResult("".join(out), "".join(errors), 1 if errors else 0)
