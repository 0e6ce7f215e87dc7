"""``wc`` with GNU column widths (just-bash always pads to 7)."""

from __future__ import annotations

from just_bash.types import CommandContext, ExecResult

_FLAGS = {"l": "lines", "w": "words", "m": "chars", "c": "bytes", "L": "longest"}
_LONG = {"--lines": "l", "--words": "w", "--chars": "m", "--bytes": "c", "--max-line-length": "L"}
_ORDER = ("lines", "words", "chars", "bytes", "longest")


def _counts(text: str) -> dict[str, int]:
    return {
        "lines": text.count("\n"),
        "words": len(text.split()),
        "chars": len(text),
        "bytes": len(text.encode("utf-8", "surrogateescape")),
        "longest": max((len(line) for line in text.split("\n")), default=0),
    }


class WcCommand:
    """Count lines, words, characters and bytes."""

    name = "wc"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run wc over files or stdin."""
        wanted: set[str] = set()
        operands: list[str] = []
        for arg in args:
            if arg in _LONG:
                wanted.add(_FLAGS[_LONG[arg]])
            elif arg.startswith("-") and arg != "-" and not operands:
                for flag in arg[1:]:
                    if flag not in _FLAGS:
                        return ExecResult("", f"wc: invalid option -- '{flag}'\n", 1)
                    wanted.add(_FLAGS[flag])
            else:
                operands.append(arg)
        columns = [c for c in _ORDER if c in (wanted or {"lines", "words", "bytes"})]
        rows: list[tuple[dict[str, int], str | None]] = []
        errors, regular_size, piped = [], 0, False
        for operand in operands or ["-"]:
            if operand == "-":
                text, piped = ctx.stdin, True
            else:
                try:
                    text = await ctx.fs.read_file(ctx.fs.resolve_path(ctx.cwd, operand))
                except IsADirectoryError:
                    errors.append(f"wc: {operand}: Is a directory\n")
                    rows.append((_counts(""), operand))
                    continue
                except (FileNotFoundError, PermissionError):
                    errors.append(f"wc: {operand}: No such file or directory\n")
                    continue
            counts = _counts(text)
            regular_size += 0 if operand == "-" else counts["bytes"]
            rows.append((counts, operand if operands else None))
        if len(rows) > 1:
            total = {c: sum(r[0][c] for r in rows) for c in _ORDER}
            total["longest"] = max(r[0]["longest"] for r in rows)
            rows.append((total, "total"))
        if len(columns) == 1 and len(operands or ["-"]) == 1:
            width = 1
        else:
            width = max(len(str(regular_size)), 7 if piped else 1)
        out = []
        for counts, name in rows:
            line = " ".join(str(counts[c]).rjust(width) for c in columns)
            out.append(line + (f" {name}" if name is not None else "") + "\n")
        return ExecResult("".join(out), "".join(errors), 1 if errors else 0)
