"""``diff`` for the guest shell: GNU's normal format by default, ``-u``/``-U N``, ``-q``.

just-bash prints unified output even without ``-u`` and rejects ``-u``.
Hunks come from :mod:`difflib`, which can choose a different (equally valid)
alignment than GNU diff on heavily edited files.
"""

from __future__ import annotations

import difflib
import time
from typing import Literal

from just_bash.types import CommandContext, ExecResult

_NO_NEWLINE = "\\ No newline at end of file\n"


def _range(start: int, stop: int) -> str:
    return str(start + 1) if stop - start == 1 else f"{start + 1},{stop}"


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _emit(prefix: str, line: str) -> str:
    return prefix + line if line.endswith("\n") else prefix + line + "\n" + _NO_NEWLINE


_Tag = Literal["replace", "delete", "insert", "equal"]


class _GnuMatcher(difflib.SequenceMatcher[str]):
    """difflib's alignment with pure insertions/deletions slid down as far as the
    text allows, as GNU diff does (``a a b`` -> ``a b`` deletes the second ``a``)."""

    def __init__(self, a: list[str], b: list[str]) -> None:
        super().__init__(None, a, b, autojunk=False)
        self._old, self._new = a, b

    def get_opcodes(self) -> list[tuple[_Tag, int, int, int, int]]:
        tags: list[_Tag] = []
        spans: list[list[int]] = []
        for tag, i1, i2, j1, j2 in super().get_opcodes():
            tags.append(tag)
            spans.append([i1, i2, j1, j2])
        k = 0
        while k < len(tags):
            if tags[k] in ("delete", "insert") and k + 1 < len(tags) and tags[k + 1] == "equal":
                seq, lo, hi = (self._old, 0, 1) if tags[k] == "delete" else (self._new, 2, 3)
                span, after = spans[k], spans[k + 1]
                while after[1] > after[0] and seq[span[lo]] == seq[span[hi]]:
                    if k > 0 and tags[k - 1] == "equal":
                        spans[k - 1][1] += 1
                        spans[k - 1][3] += 1
                    else:
                        tags.insert(k, "equal")
                        spans.insert(k, [span[0], span[0] + 1, span[2], span[2] + 1])
                        k += 1
                    for index in range(4):
                        span[index] += 1
                    after[0] += 1
                    after[2] += 1
            k += 1
        return [
            (tag, span[0], span[1], span[2], span[3])
            for tag, span in zip(tags, spans, strict=True)
            if tag != "equal" or span[1] > span[0]
        ]


def _matcher(a: list[str], b: list[str]) -> _GnuMatcher:
    return _GnuMatcher(a, b)


def normal_diff(a: list[str], b: list[str]) -> str:
    """GNU diff's default output."""
    out: list[str] = []
    for tag, i1, i2, j1, j2 in _matcher(a, b).get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace":
            out.append(f"{_range(i1, i2)}c{_range(j1, j2)}\n")
        elif tag == "delete":
            out.append(f"{_range(i1, i2)}d{j1}\n")
        else:
            out.append(f"{i1}a{_range(j1, j2)}\n")
        out.extend(_emit("< ", line) for line in a[i1:i2])
        if tag == "replace":
            out.append("---\n")
        out.extend(_emit("> ", line) for line in b[j1:j2])
    return "".join(out)


def unified_diff(
    a: list[str], b: list[str], names: tuple[str, str], stamps: tuple[str, str], context: int
) -> str:
    """GNU ``diff -u`` output."""
    out = [f"--- {names[0]}\t{stamps[0]}\n", f"+++ {names[1]}\t{stamps[1]}\n"]
    hunks = list(_matcher(a, b).get_grouped_opcodes(context))
    for group in hunks:
        first, last = group[0], group[-1]
        old = _unified_range(first[1], last[2])
        new = _unified_range(first[3], last[4])
        out.append(f"@@ -{old} +{new} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(_emit(" ", line) for line in a[i1:i2])
                continue
            out.extend(_emit("-", line) for line in a[i1:i2])
            out.extend(_emit("+", line) for line in b[j1:j2])
    return "".join(out) if hunks else ""


def _unified_range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _stamp(mtime: float) -> str:
    whole = int(mtime)
    local = time.localtime(whole)
    nanos = min(round((mtime - whole) * 1e9), 999_999_999)
    return time.strftime("%Y-%m-%d %H:%M:%S", local) + f".{nanos:09d} " + time.strftime("%z", local)


class DiffCommand:
    """Compare two files line by line."""

    name = "diff"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run diff on two operands (``-`` is stdin)."""
        unified: int | None = None
        brief = False
        operands: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-u", "--unified"):
                unified = 3
            elif arg == "-U" and i + 1 < len(args):
                unified = int(args[i + 1])
                i += 1
            elif arg.startswith("-U") and arg[2:].isdigit():
                unified = int(arg[2:])
            elif arg in ("-q", "--brief"):
                brief = True
            elif arg.startswith("-") and arg != "-":
                return ExecResult("", f"diff: unsupported option '{arg}' in the sandbox\n", 2)
            else:
                operands.append(arg)
            i += 1
        if len(operands) != 2:
            return ExecResult("", "diff: missing operand\n", 2)
        texts, stamps = [], []
        for operand in operands:
            if operand == "-":
                texts.append(ctx.stdin)
                stamps.append(_stamp(time.time()))
                continue
            path = ctx.fs.resolve_path(ctx.cwd, operand)
            try:
                texts.append(await ctx.fs.read_file(path))
                stamps.append(_stamp((await ctx.fs.stat(path)).mtime))
            except IsADirectoryError:
                return ExecResult("", f"diff: {operand}: Is a directory (not supported)\n", 2)
            except (FileNotFoundError, PermissionError):
                return ExecResult("", f"diff: {operand}: No such file or directory\n", 2)
        if texts[0] == texts[1]:
            return ExecResult("", "", 0)
        if brief:
            return ExecResult(f"Files {operands[0]} and {operands[1]} differ\n", "", 1)
        a, b = _lines(texts[0]), _lines(texts[1])
        if unified is not None:
            text = unified_diff(a, b, (operands[0], operands[1]), (stamps[0], stamps[1]), unified)
        else:
            text = normal_diff(a, b)
        return ExecResult(text, "", 1)
