"""GNU ``ls`` for the guest shell (non-terminal output: one name per line).

just-bash's ls ignores ``-R``, prints a fixed date and no ``total`` in ``-l``,
omits ``.``/``..`` and prints a blank line for an empty directory. Owners
are shown as ``user``; permission bits come from the file system (the guest's
WASI stat has none, so they are synthesized, see :mod:`._fs`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from just_bash.types import CommandContext, ExecResult

_LONG = {"--all": "a", "--almost-all": "A", "--directory": "d", "--human-readable": "h",
         "--recursive": "R", "--reverse": "r", "--classify": "F", "--inode": "i"}  # fmt: skip
_KNOWN = set("aAdlhRrtSF1pUfgGonci")


@dataclass
class _Entry:
    name: str  # as shown
    path: str  # virtual path
    info: Any  # FsStat
    link: str = ""  # symlink target, for -l


def _mode_string(info: Any) -> str:
    mode = info.mode
    kind = "l" if info.is_symbolic_link else "d" if info.is_directory else "-"
    bits = "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    return kind + bits


def _human(size: int) -> str:
    """GNU ``-h``: one decimal below 10, rounded up (4096 -> 4.0K, 12345 -> 13K)."""
    value = float(size)
    if value < 1024:
        return str(size)
    for unit in "KMGTPE":
        value /= 1024
        if value < 10 and math.ceil(value * 10 - 1e-9) < 100:
            tenths = math.ceil(value * 10 - 1e-9)
            return f"{tenths // 10}.{tenths % 10}{unit}"
        if math.ceil(value - 1e-9) < 1024:
            return f"{math.ceil(value - 1e-9)}{unit}"
    return f"{math.ceil(value)}E"


def _date(mtime: float, now: float) -> str:
    moment = time.localtime(mtime)
    recent = now - 182.5 * 86400 < mtime <= now + 3600
    day = time.strftime("%b", moment) + f" {moment.tm_mday:2d}"
    return f"{day} {time.strftime('%H:%M', moment)}" if recent else f"{day}  {moment.tm_year}"


def _suffix(info: Any, flags: set[str]) -> str:
    if info.is_directory and flags & {"F", "p"}:
        return "/"
    if "F" in flags:
        if info.is_symbolic_link:
            return "@"
        if info.mode & 0o111:
            return "*"
    return ""


class LsCommand:
    """List directory contents."""

    name = "ls"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """List each operand (files first, then directories)."""
        flags: set[str] = set()
        operands: list[str] = []
        for arg in args:
            if arg.startswith("--"):
                if arg in _LONG:
                    flags.add(_LONG[arg])
                elif not arg.startswith(("--color", "--group-directories")):
                    return ExecResult("", f"ls: unrecognized option '{arg}'\n", 2)
            elif arg.startswith("-") and arg != "-":
                for flag in arg[1:]:
                    if flag not in _KNOWN:
                        return ExecResult("", f"ls: invalid option -- '{flag}'\n", 2)
                    flags.add(flag)
            else:
                operands.append(arg)
        if flags & {"g", "o", "n"}:
            flags.add("l")
        errors: list[str] = []
        files: list[_Entry] = []
        dirs: list[_Entry] = []
        for operand in operands or ["."]:
            path = ctx.fs.resolve_path(ctx.cwd, operand)
            try:
                info = await ctx.fs.stat(path)
                link = ""
                if flags & {"l", "d", "F"}:  # GNU: a symlink operand is shown, not followed
                    own = await ctx.fs.lstat(path)  # type: ignore[attr-defined]
                    if own.is_symbolic_link:
                        info, link = own, await ctx.fs.readlink(path)
            except (FileNotFoundError, OSError):
                errors.append(f"ls: cannot access '{operand}': No such file or directory\n")
                continue
            entry = _Entry(operand, path, info, link)
            (dirs if info.is_directory and "d" not in flags else files).append(entry)
        out: list[str] = []
        if files:
            out.extend(self._block(self._sorted(files, flags), flags, total=False))
        show_header = len(operands) > 1 or "R" in flags
        for index, entry in enumerate(self._sorted(dirs, flags)):
            await self._directory(ctx, entry, flags, show_header, out, errors, bool(index or files))
        code = 2 if errors else 0
        return ExecResult("".join(out), "".join(errors), code)

    async def _directory(
        self,
        ctx: CommandContext,
        entry: _Entry,
        flags: set[str],
        header: bool,
        out: list[str],
        errors: list[str],
        gap: bool,
    ) -> None:
        if gap:
            out.append("\n")
        if header:
            out.append(f"{entry.name}:\n")
        try:
            names = await ctx.fs.readdir(entry.path)
        except OSError:
            errors.append(f"ls: cannot open directory '{entry.name}': Permission denied\n")
            return
        if "a" not in flags and "A" not in flags:
            names = [n for n in names if not n.startswith(".")]
        children = []
        for name in names:
            path = f"{entry.path.rstrip('/')}/{name}"
            try:
                info = await ctx.fs.lstat(path)  # type: ignore[attr-defined]
                link = await ctx.fs.readlink(path) if info.is_symbolic_link else ""
            except OSError:
                continue
            children.append(_Entry(name, path, info, link))
        if "a" in flags:
            for dot, path in ((".", entry.path), ("..", entry.path.rsplit("/", 1)[0] or "/")):
                try:
                    children.append(_Entry(dot, path, await ctx.fs.stat(path)))
                except OSError:
                    children.append(_Entry(dot, path, entry.info))
        ordered = self._sorted(children, flags)
        out.extend(self._block(ordered, flags, total=True))
        if "R" in flags:
            for child in ordered:
                if child.info.is_directory and child.name not in (".", ".."):
                    shown = f"{entry.name.rstrip('/')}/{child.name}"
                    sub = _Entry(shown, child.path, child.info)
                    await self._directory(ctx, sub, flags, True, out, errors, True)

    @staticmethod
    def _sorted(entries: list[_Entry], flags: set[str]) -> list[_Entry]:
        if flags & {"U", "f"}:
            return entries
        ordered = sorted(entries, key=lambda e: e.name)
        if "t" in flags:
            ordered.sort(key=lambda e: -e.info.mtime)
        elif "S" in flags:
            ordered.sort(key=lambda e: -e.info.size)
        return ordered[::-1] if "r" in flags else ordered

    @staticmethod
    def _block(entries: list[_Entry], flags: set[str], total: bool) -> list[str]:
        if "l" not in flags:
            return [e.name + _suffix(e.info, flags) + "\n" for e in entries]
        now = time.time()
        rows = []
        for e in entries:
            size = _human(e.info.size) if "h" in flags else str(e.info.size)
            owner = [] if "g" in flags else ["0" if "n" in flags else "user"]
            group = [] if "o" in flags else ["0" if "n" in flags else "user"]
            rows.append(
                (_mode_string(e.info), str(e.info.nlink), *owner, *group, size,
                 _date(e.info.mtime, now),
                 e.name + _suffix(e.info, flags) + (f" -> {e.link}" if e.link else ""))
            )  # fmt: skip
        lines = []
        if total:
            # 4 KiB allocation units, as on ext4; a fast symlink takes none.
            blocks = sum(
                -(-e.info.size // 4096) * 4 for e in entries if not e.info.is_symbolic_link
            )
            lines.append(f"total {_human(blocks * 1024) if 'h' in flags else blocks}\n")
        if rows:
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                cells = []
                for i, cell in enumerate(row[:-1]):
                    numeric = i == 1 or i == len(row) - 3
                    cells.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
                lines.append(" ".join(cells) + " " + row[-1] + "\n")
        return lines
