"""``cat``, ``head`` and ``tail`` that keep bytes exact.

just-bash's versions end every line with a newline, so ``cat f > g`` grew a
newline on files that had none (and broke binary copies).
"""

from __future__ import annotations

from just_bash.types import CommandContext, ExecResult


async def _read(ctx: CommandContext, name: str, command: str) -> tuple[str | None, str]:
    """(content or None, error message) for a file operand or ``-``."""
    if name in ("-", "/dev/stdin"):
        return ctx.stdin, ""
    try:
        return await ctx.fs.read_file(ctx.fs.resolve_path(ctx.cwd, name)), ""
    except IsADirectoryError:
        return None, f"{command}: {name}: Is a directory\n"
    except PermissionError:
        return None, f"{command}: {name}: Permission denied\n"
    except (FileNotFoundError, NotADirectoryError):
        if command not in ("cat", "paste"):
            return None, f"{command}: cannot open '{name}' for reading: No such file or directory\n"
        return None, f"{command}: {name}: No such file or directory\n"


class CatCommand:
    """Concatenate files (``-n``, ``-b``, ``-s``, ``-E``, ``-T``, ``-A``)."""

    name = "cat"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Write each operand's bytes to stdout."""
        flags: set[str] = set()
        files: list[str] = []
        for arg in args:
            if arg.startswith("-") and len(arg) > 1 and not files:
                flags.update({"E", "T", "v"} if arg == "-A" else set(arg[1:]))
            else:
                files.append(arg)
        out, errors, number, blank_run = [], [], 0, False
        for name in files or ["-"]:
            content, error = await _read(ctx, name, "cat")
            if content is None:
                errors.append(error)
                continue
            if not flags & {"n", "b", "s", "E", "T"}:
                out.append(content)
                continue
            for line in content.splitlines(keepends=True):
                body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
                if "s" in flags and body == "" and blank_run:
                    continue
                blank_run = body == ""
                if "T" in flags:
                    body = body.replace("\t", "^I")
                if "E" in flags and end:
                    body += "$"
                if "b" in flags and body in ("", "$"):
                    out.append(body + end)
                    continue
                if "n" in flags or "b" in flags:
                    number += 1
                    body = f"{number:6}\t{body}"
                out.append(body + end)
        return ExecResult("".join(out), "".join(errors), 1 if errors else 0)


def _count(args: list[str], default: int) -> tuple[str, str, list[str], bool] | str:
    """(unit "n"/"c", count text, files, quiet) from head/tail arguments, or an error."""
    unit, count, files, quiet = "n", str(default), [], False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-n", "-c") and i + 1 < len(args):
            unit, count = arg[1], args[i + 1]
            i += 1
        elif arg.startswith(("--lines=", "--bytes=")):
            unit, count = ("n" if arg.startswith("--lines") else "c"), arg.split("=", 1)[1]
        elif arg.startswith(("-n", "-c")) and len(arg) > 2:
            unit, count = arg[1], arg[2:]
        elif arg in ("-q", "--quiet", "--silent"):
            quiet = True
        elif len(arg) > 1 and arg[0] == "-" and arg[1:].isdigit():
            unit, count = "n", arg[1:]
        elif arg.startswith("-") and arg != "-":
            return f"invalid option -- '{arg.lstrip('-')}'"
        else:
            files.append(arg)
        i += 1
    digits = count.lstrip("+-")
    if not digits.isdigit():
        return f"invalid number of {'lines' if unit == 'n' else 'bytes'}: '{count}'"
    return unit, count, files, quiet


class _HeadTail:
    name = "head"

    def select(self, text: str, unit: str, count: str) -> str:
        raise NotImplementedError

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        parsed = _count(args, 10)
        if isinstance(parsed, str):
            return ExecResult("", f"{self.name}: {parsed}\n", 1)
        unit, count, files, quiet = parsed
        out, errors = [], []
        names = files or ["-"]
        for index, name in enumerate(names):
            content, error = await _read(ctx, name, self.name)
            if content is None:
                errors.append(error)
                continue
            if len(names) > 1 and not quiet:
                shown = "standard input" if name == "-" else name
                out.append(("\n" if index else "") + f"==> {shown} <==\n")
            out.append(self.select(content, unit, count))
        return ExecResult("".join(out), "".join(errors), 1 if errors else 0)


class HeadCommand(_HeadTail):
    """The first lines (``-n N``, ``-n -N``) or bytes (``-c N``) of each input."""

    name = "head"

    def select(self, text: str, unit: str, count: str) -> str:
        if unit == "c":
            data = text.encode("utf-8", "surrogateescape")
            n = int(count.lstrip("+-"))
            part = data[: len(data) - n] if count.startswith("-") else data[:n]
            return part.decode("utf-8", "surrogateescape")
        lines = text.splitlines(keepends=True)
        n = int(count.lstrip("+-"))
        return "".join(lines[: max(len(lines) - n, 0)] if count.startswith("-") else lines[:n])


class TailCommand(_HeadTail):
    """The last lines (``-n N``, ``-n +N``) or bytes (``-c N``) of each input."""

    name = "tail"

    def select(self, text: str, unit: str, count: str) -> str:
        n = int(count.lstrip("+-"))
        if unit == "c":
            data = text.encode("utf-8", "surrogateescape")
            part = (
                data[max(n - 1, 0) :]
                if count.startswith("+")
                else data[len(data) - n :]
                if n
                else b""
            )
            return part.decode("utf-8", "surrogateescape")
        lines = text.splitlines(keepends=True)
        if count.startswith("+"):
            return "".join(lines[max(n - 1, 0) :])
        return "".join(lines[len(lines) - n :]) if n else ""


class PasteCommand:
    """Merge lines of files side by side (``-d LIST``), or serially with ``-s``."""

    name = "paste"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Join the inputs' lines with the delimiters."""
        serial, delimiters, files = False, "\t", []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "-s" or arg == "--serial":
                serial = True
            elif arg == "-d" and i + 1 < len(args):
                delimiters = args[i + 1]
                i += 1
            elif arg.startswith("-d") and len(arg) > 2:
                delimiters = arg[2:]
            elif arg.startswith("-s") and len(arg) > 2 and arg[2] == "d":
                serial, delimiters = True, arg[3:] or (args[i + 1] if i + 1 < len(args) else "")
                if not arg[3:]:
                    i += 1
            elif arg.startswith("-") and arg != "-":
                return ExecResult("", f"paste: invalid option -- '{arg[1:]}'\n", 1)
            else:
                files.append(arg)
            i += 1
        delimiters = delimiters.replace("\\t", "\t").replace("\\n", "\n").replace("\\0", "")
        columns: list[list[str]] = []
        names = files or ["-"]
        stdin_lines, readers = ctx.stdin.splitlines(), names.count("-")
        seen_stdin = 0
        for name in names:
            if name == "-":
                # Several "-" operands take turns reading the one standard input.
                if serial:
                    columns.append(stdin_lines if not seen_stdin else [])
                else:
                    columns.append(stdin_lines[seen_stdin::readers])
                seen_stdin += 1
                continue
            content, error = await _read(ctx, name, "paste")
            if content is None:
                return ExecResult("", error, 1)
            columns.append(content.splitlines())
        out = []
        if serial:
            for lines in columns:
                out.append(_join(lines, delimiters) + "\n")
        else:
            for row in range(max((len(c) for c in columns), default=0)):
                out.append(_join([c[row] if row < len(c) else "" for c in columns], delimiters))
                out.append("\n")
        return ExecResult("".join(out), "", 0)


def _join(items: list[str], delimiters: str) -> str:
    if not delimiters:
        return "".join(items)
    parts = []
    for index, item in enumerate(items):
        if index:
            parts.append(delimiters[(index - 1) % len(delimiters)])
        parts.append(item)
    return "".join(parts)
