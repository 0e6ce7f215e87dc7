"""Corrections to just-bash commands whose behaviour differs from GNU/bash.

Each class wraps or subclasses the just-bash command and fixes one measured
difference (see the conformance table in tests/sessions/shell_cases.py).
"""

from __future__ import annotations

import re
import time
from typing import Any

from just_bash.commands.date.date import DateCommand
from just_bash.commands.echo.echo import EchoCommand
from just_bash.commands.printf.printf import PrintfCommand
from just_bash.commands.sed.sed import SedCommand
from just_bash.commands.xargs.xargs import XargsCommand
from just_bash.types import CommandContext, ExecResult


class FixedSed(SedCommand):
    """just-bash compiles every ``sed -E`` regex case-insensitively (GNU does not),
    ignores the backup suffix of ``-i.bak`` and always ends the output with a newline
    (GNU keeps a missing final newline)."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        suffix = next((a[2:] for a in args if a.startswith("-i") and len(a) > 2), None)
        in_place = suffix is not None or "-i" in args or "--in-place" in args
        args = ["-i" if a.startswith("-i") and len(a) > 2 else a for a in args]
        inputs: dict[str, str] = {}
        for path in _sed_files(args):
            real = ctx.fs.resolve_path(ctx.cwd, path)
            if await ctx.fs.is_file(real):
                inputs[real] = await ctx.fs.read_file(real)
                if suffix:
                    await ctx.fs.write_file(real + suffix, await ctx.fs.read_file_bytes(real))
        result: ExecResult = await super().execute(args, ctx)
        if in_place:
            for real, before in inputs.items():
                after = await ctx.fs.read_file(real)
                if _lost_final_newline(before, after):
                    await ctx.fs.write_file(real, after[:-1])
        else:
            last = list(inputs.values())[-1] if inputs else ctx.stdin
            if _lost_final_newline(last, result.stdout, whole=not inputs or len(inputs) == 1):
                result.stdout = result.stdout[:-1]
        return result

    def _parse_command(self, cmd_str: str, extended_regex: bool) -> Any:
        parsed = super()._parse_command(cmd_str, extended_regex)
        if parsed is None or not extended_regex:
            return parsed
        if getattr(parsed, "cmd", None) == "s" and "i" not in (parsed.flags or "").lower():
            parsed.pattern = _case_sensitive(parsed.pattern)
        address = getattr(parsed, "address", None)
        for holder in (address, getattr(parsed, "end_address", None)):
            if holder is not None:
                holder.regex = _case_sensitive(holder.regex)
                holder.end_regex = _case_sensitive(holder.end_regex)
        return parsed


def _lost_final_newline(before: str, after: str, whole: bool = True) -> bool:
    """Whether sed added a newline the input's last line did not have.

    Only when the line counts match (a line-for-line edit such as ``s///``), so
    scripts that delete, print or append lines are left alone.
    """
    if not before or before.endswith("\n") or not after.endswith("\n"):
        return False
    return not whole or after.count("\n") == before.count("\n") + 1


def _sed_files(args: list[str]) -> list[str]:
    """The file operands of a sed command line."""
    files: list[str] = []
    script_given = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-e", "-f", "--expression", "--file"):
            script_given = True
            i += 2
            continue
        if arg.startswith(("-e", "--expression=")):
            script_given = True
        elif arg.startswith("-") and arg != "-":
            pass
        elif not script_given:
            script_given = True
        else:
            files.append(arg)
        i += 1
    return files


def _case_sensitive(pattern: Any) -> Any:
    if isinstance(pattern, re.Pattern) and pattern.flags & re.IGNORECASE:
        return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE & ~re.UNICODE)
    return pattern


class FixedDate(DateCommand):
    """Adds ``date -d @SECONDS`` (epoch input) and ``-I``, which just-bash rejects."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Print the date (ISO 8601 with ``-I``)."""
        iso = {"-I": "+%Y-%m-%d", "--iso-8601": "+%Y-%m-%d", "-Idate": "+%Y-%m-%d",
               "-Iseconds": "+%Y-%m-%dT%H:%M:%S%z", "-Iminutes": "+%Y-%m-%dT%H:%M%z"}  # fmt: skip
        colon_zone = any(a in ("-Iseconds", "-Iminutes") for a in args)
        args = [iso.get(a, a) for a in args]
        if colon_zone:  # ISO 8601 writes the offset as +00:00
            result = await self._date(args, ctx)
            result.stdout = (
                re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", result.stdout.rstrip("\n")) + "\n"
            )
            return result
        return await self._date(args, ctx)

    async def _date(self, args: list[str], ctx: CommandContext) -> ExecResult:
        epoch = None
        rest = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-d", "--date") and i + 1 < len(args) and args[i + 1].startswith("@"):
                epoch = args[i + 1][1:]
                i += 2
                continue
            if arg.startswith("--date=@"):
                epoch = arg[len("--date=@") :]
            else:
                rest.append(arg)
            i += 1
        if epoch is None:
            result: ExecResult = await super().execute(args, ctx)
            return result
        try:
            seconds = float(epoch)
        except ValueError:
            return ExecResult("", f"date: invalid date '@{epoch}'\n", 1)
        utc = any(a in ("-u", "--utc", "--universal") for a in rest)
        fmt = next((a[1:] for a in rest if a.startswith("+")), "%a %b %e %H:%M:%S %Z %Y")
        moment = time.gmtime(seconds) if utc else time.localtime(seconds)
        return ExecResult(time.strftime(fmt, moment) + "\n", "", 0)


class FixedXargs(XargsCommand):
    """``-I{}``/``-n1`` written attached, ``-I`` reads whole lines, exit 123 on failure."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        normalized: list[str] = []
        has_delimiter = False
        i = 0
        while i < len(args):
            arg = args[i]
            if not arg.startswith("-") or arg == "--":
                normalized.extend(args[i:])
                break
            if len(arg) > 2 and arg[1] in "InPdL" and not arg.startswith("--"):
                normalized.extend([arg[:2], arg[2:]])
            elif arg in ("-I", "-n", "-P", "-d", "-L") and i + 1 < len(args):
                normalized.extend([arg, args[i + 1]])
                i += 1
            else:
                normalized.append(arg)
            has_delimiter = has_delimiter or arg.startswith(("-d", "-0"))
            i += 1
        if not ctx.stdin.strip():
            # GNU runs the command once without arguments (none at all with -r).
            if "-r" in normalized or "--no-run-if-empty" in normalized:
                return ExecResult("", "", 0)
            command = normalized[_first_operand(normalized) :] or ["echo"]
            empty: ExecResult = await self._run_command(command, ctx, False)
            return empty
        if "-I" in normalized[:-1] and not has_delimiter:
            ctx.stdin = "\n".join(line.strip() for line in ctx.stdin.split("\n"))
            index = normalized.index("-I")
            normalized[index + 2 : index + 2] = ["-d", "\n"]
        result: ExecResult = await super().execute(normalized, ctx)
        if 0 < result.exit_code <= 125:
            result.exit_code = 123
        return result


def _first_operand(args: list[str]) -> int:
    """Index of the command in normalized xargs arguments."""
    i = 0
    while i < len(args):
        if args[i] in ("-I", "-n", "-P", "-d", "-L"):
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            return i
    return len(args)


def _raw_escapes(text: str, octal_needs_zero: bool) -> str:
    """Turn ``\\NNN``/``\\xHH`` escapes of bytes >= 0x80 into the raw byte.

    just-bash turns ``\\377`` into the character U+00FF (two bytes in UTF-8);
    bash's printf and ``echo -e`` write the single byte 0xFF. A raw byte travels
    through the shell as a ``surrogateescape`` character.
    """
    octal = r"0[0-7]{1,3}" if octal_needs_zero else r"[0-7]{1,3}"
    pattern = re.compile(rf"\\\\|\\({octal})|\\x([0-9a-fA-F]{{1,2}})")

    def replace(match: re.Match[str]) -> str:
        if match.group() == "\\\\":
            return match.group()
        value = int(match.group(1), 8) if match.group(1) else int(match.group(2), 16)
        return chr(0xDC00 + value) if 0x80 <= value <= 0xFF else match.group()

    return pattern.sub(replace, text)


class FixedPrintf(PrintfCommand):
    """printf with byte escapes (``\\377``) written as bytes."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Rewrite high byte escapes in the format, then run just-bash's printf."""
        index = 2 if args[:1] == ["-v"] else 0
        if len(args) > index:
            args = [*args[:index], _raw_escapes(args[index], False), *args[index + 1 :]]
        result: ExecResult = await super().execute(args, ctx)
        return result


class FixedEcho(EchoCommand):
    """``echo -e`` with byte escapes (``\\xff``, ``\\0377``) written as bytes."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Rewrite high byte escapes when -e is given, then run just-bash's echo."""
        flags = []
        for arg in args:
            if not re.fullmatch(r"-[neE]+", arg):
                break
            flags.append(arg)
        if any("e" in flag for flag in flags):
            rest = [_raw_escapes(a, True) for a in args[len(flags) :]]
            args = [*flags, *rest]
        result: ExecResult = await super().execute(args, ctx)
        return result
