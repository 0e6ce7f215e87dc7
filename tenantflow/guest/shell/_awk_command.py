"""``awk`` for the guest shell: option parsing, input files, output files."""

from __future__ import annotations

from typing import Any

from just_bash.types import CommandContext, ExecResult

from tenantflow.guest.shell._awk import AwkRun, split_records
from tenantflow.guest.shell._awk_lex import AwkSyntaxError, unescape
from tenantflow.guest.shell._awk_parse import Parser
from tenantflow.guest.shell._awk_values import StrNum, _Exit, _Next, to_str

_USAGE = "usage: awk [-F fs][-v var=value][prog | -f progfile][file ...]\n"


def _assignment(text: str) -> tuple[str, StrNum] | None:
    name, eq, value = text.partition("=")
    if eq and name.isidentifier():
        return name, StrNum(unescape(value))
    return None


class AwkCommand:
    """POSIX awk (the common one-liner subset, see module :mod:`._awk`)."""

    name = "awk"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run an awk program over files or stdin."""
        variables: dict[str, Any] = {}
        source: str | None = None
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] != "-":
            arg = args[i]
            if arg == "--":
                i += 1
                break
            if arg.startswith("-F"):
                fs = arg[2:] if len(arg) > 2 else args[i + 1] if i + 1 < len(args) else ""
                i += 1 if len(arg) > 2 else 2
                variables["FS"] = "\t" if fs == "t" else unescape(fs)
            elif arg.startswith("-v"):
                spec = arg[2:] if len(arg) > 2 else args[i + 1] if i + 1 < len(args) else ""
                i += 1 if len(arg) > 2 else 2
                pair = _assignment(spec)
                if pair is None:
                    return ExecResult("", f"awk: invalid -v argument: {spec}\n", 2)
                variables[pair[0]] = pair[1]
            elif arg == "-f" and i + 1 < len(args):
                try:
                    source = await ctx.fs.read_file(ctx.fs.resolve_path(ctx.cwd, args[i + 1]))
                except OSError:
                    return ExecResult("", f"awk: can't open file {args[i + 1]}\n", 2)
                i += 2
            else:
                return ExecResult("", f"awk: unknown option {arg}\n" + _USAGE, 2)
        if source is None:
            if i >= len(args):
                return ExecResult("", _USAGE, 2)
            source = args[i]
            i += 1
        try:
            prog = Parser(source).program()
        except AwkSyntaxError as exc:
            return ExecResult("", f"awk: {exc}\n", 2)
        environ = {k: StrNum(v) for k, v in dict(ctx.env).items() if k != "?"}
        run = AwkRun(prog, {**variables, "ENVIRON": environ})
        run.vars["ARGC"] = float(len(args) - i + 1)
        return await self._run(run, prog, args[i:], ctx)

    async def _run(
        self, run: AwkRun, prog: dict[str, Any], operands: list[str], ctx: CommandContext
    ) -> ExecResult:
        errors: list[str] = []
        code = 0
        try:
            try:
                for action in prog["begin"]:
                    run.execute(action)
                if prog["rules"] or prog["end"]:
                    await self._main(run, operands, ctx, errors)
            except _Exit as stop:
                code = stop.code
            try:
                for action in prog["end"]:
                    run.execute(action)
            except _Exit as stop:
                code = stop.code
        except AwkSyntaxError as exc:
            errors.append(f"awk: {exc}\n")
            code = 2
        except RecursionError:
            errors.append("awk: function call nesting too deep\n")
            code = 2
        for name, chunks in run.files.items():
            if name == "/dev/stderr":
                errors.extend(chunks)
                continue
            path = ctx.fs.resolve_path(ctx.cwd, name)
            text = "".join(chunks[1:])
            if chunks[0] == ">>":
                await ctx.fs.append_file(path, text)
            else:
                await ctx.fs.write_file(path, text)
        if errors and code == 0:
            code = 2
        return ExecResult("".join(run.out), "".join(errors), code)

    async def _main(
        self, run: AwkRun, operands: list[str], ctx: CommandContext, errors: list[str]
    ) -> None:
        inputs = [op for op in operands if _assignment(op) is None] or ["-"]
        for operand in (
            operands if any(_assignment(o) is None for o in operands) else [*operands, "-"]
        ):
            pair = _assignment(operand)
            if pair is not None:
                run.vars[pair[0]] = pair[1]
                continue
            if operand == "-":
                text, name = ctx.stdin, ""
            else:
                try:
                    text = await ctx.fs.read_file(ctx.fs.resolve_path(ctx.cwd, operand))
                except (FileNotFoundError, IsADirectoryError, PermissionError):
                    errors.append(f'awk: cannot open "{operand}" (No such file or directory)\n')
                    continue
                name = operand
            run.vars["FILENAME"], run.vars["FNR"] = name, 0.0
            run.records = split_records(text, to_str(run.vars["RS"]))
            run.record_pos = 0
            while run.record_pos < len(run.records):
                record = run.records[run.record_pos]
                run.record_pos += 1
                run.vars["NR"] += 1
                run.vars["FNR"] += 1
                try:
                    run.run_rules(record)
                except _Next:
                    continue
        del inputs
