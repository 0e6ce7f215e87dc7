"""The search half of the guest shell's grep: walking files and formatting matches."""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

from just_bash.types import CommandContext, ExecResult

if TYPE_CHECKING:
    from tenantflow.guest.shell._grep import GrepOptions


async def _walk(ctx: CommandContext, shown: str, opts: GrepOptions, out: list[str]) -> None:
    """Files under directory ``shown`` (as the user will see them), sorted."""
    path = ctx.fs.resolve_path(ctx.cwd, shown)
    entries = await ctx.fs.readdir_with_file_types(path)  # type: ignore[attr-defined]
    for entry in entries:
        child = entry.name if shown == "" else f"{shown.rstrip('/')}/{entry.name}"
        if entry.is_directory:
            if not any(fnmatch.fnmatch(entry.name, g) for g in opts.exclude_dir):
                await _walk(ctx, child if shown else entry.name, opts, out)
        elif entry.is_file and _wanted(entry.name, opts):
            out.append(child)


def _wanted(name: str, opts: GrepOptions) -> bool:
    if opts.include and not any(fnmatch.fnmatch(name, g) for g in opts.include):
        return False
    return not any(fnmatch.fnmatch(name, g) for g in opts.exclude)


async def _inputs(ctx: CommandContext, opts: GrepOptions, errors: list[str]) -> list[str]:
    recursive = bool(opts.flags & {"r", "R"})
    operands = opts.files or (["."] if recursive else ["-"])
    files: list[str] = []
    for name in operands:
        if name == "-" or not recursive:
            files.append(name)
            continue
        path = ctx.fs.resolve_path(ctx.cwd, name)
        if await ctx.fs.is_directory(path):
            # GNU names files under an implicit "." without the "./" prefix.
            await _walk(ctx, "" if not opts.files else name, opts, files)
        elif await ctx.fs.exists(path) and not _wanted(name.rsplit("/", 1)[-1], opts):
            continue
        else:
            files.append(name)
    return files


async def search(ctx: CommandContext, opts: GrepOptions, regex: re.Pattern[str]) -> ExecResult:
    """Run the search described by ``opts`` and format GNU grep's output."""
    flags = opts.flags
    errors: list[str] = []
    files = await _inputs(ctx, opts, errors)
    with_name = "H" in flags or ("h" not in flags and (len(files) > 1 or bool(flags & {"r", "R"})))
    out: list[str] = []
    notes: list[str] = []  # GNU reports binary matches on stderr, even with -s
    matched_any = False
    for name in files:
        if name == "-":
            text, label = ctx.stdin, "(standard input)"
        else:
            try:
                text = await ctx.fs.read_file(ctx.fs.resolve_path(ctx.cwd, name))
            except IsADirectoryError:
                errors.append(f"grep: {name}: Is a directory\n")
                continue
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                errors.append(f"grep: {name}: No such file or directory\n")
                continue
            label = name
        count = _search_text(text, label, with_name, opts, regex, out, notes)
        matched_any = matched_any or count > 0
        if "q" in flags and matched_any:
            return ExecResult("", "", 0)
    code = 0 if matched_any else 1
    if errors:
        code = 2
    messages = "".join(notes) + ("" if "s" in flags else "".join(errors))
    return ExecResult("".join(out), messages, code)


def _search_text(
    text: str,
    label: str,
    with_name: bool,
    opts: GrepOptions,
    regex: re.Pattern[str],
    out: list[str],
    binary: list[str],
) -> int:
    flags = opts.flags
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    invert, count_only = "v" in flags, "c" in flags
    prefix = f"{label}:" if with_name else ""
    if "\0" in text and "a" not in flags and not (flags & {"c", "l", "L", "q"}):
        hits = sum(1 for line in lines if bool(regex.search(line)) != invert)
        if hits:
            binary.append(f"grep: {label}: binary file matches\n")
        return hits
    hits = 0
    last_printed = -1
    pending_after = 0
    for number, line in enumerate(lines):
        if opts.max_count is not None and hits >= opts.max_count:
            break
        found = regex.search(line)
        if bool(found) == invert:
            if pending_after and not (flags & {"c", "l", "L", "o"}):
                out.append(_format(prefix, number, line, "-", flags))
                last_printed = number
                pending_after -= 1
            continue
        hits += 1
        if flags & {"c", "l", "L", "q"}:
            continue
        if opts.before or opts.after:
            first = max(number - opts.before, last_printed + 1)
            if last_printed >= 0 and first > last_printed + 1:
                out.append("--\n")
            for context in range(first, number):
                out.append(_format(prefix, context, lines[context], "-", flags))
        if "o" in flags:
            if not invert:
                for m in regex.finditer(line):
                    if m.group():
                        out.append(_format(prefix, number, m.group(), ":", flags))
        else:
            out.append(_format(prefix, number, line, ":", flags))
        last_printed = number
        pending_after = opts.after
    if count_only:
        out.append(f"{prefix}{hits}\n")
    elif ("l" in flags and hits) or ("L" in flags and not hits):
        out.append(f"{label}\n")
    return hits


def _format(prefix: str, number: int, text: str, sep: str, flags: set[str]) -> str:
    name = prefix[:-1] + sep if prefix else ""
    line_no = f"{number + 1}{sep}" if "n" in flags else ""
    return f"{name}{line_no}{text}\n"
