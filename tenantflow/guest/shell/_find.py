"""``find`` fixes: ``-exec CMD {} ;`` / ``{} +``, ``-delete`` and ``-print0``.

just-bash substitutes absolute paths and joins the command unquoted (a path
with a space breaks). This runs ``find`` with ``-print`` in place of the
``-exec`` action, then runs the command per path (or once for ``+``) with
each argument shell-quoted.
"""

from __future__ import annotations

import shlex

from just_bash.commands.find.find import FindCommand
from just_bash.types import CommandContext, ExecResult


class FixedFind(FindCommand):
    """GNU-like ``-exec``; everything else is just-bash's find."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run find, then the ``-exec`` command, ``-delete`` or ``-print0`` over its matches."""
        for action in ("-delete", "-print0"):
            if args.count(action) == 1 and "-exec" not in args:
                return await self._post_action(action, [a for a in args if a != action], ctx)
        if args.count("-exec") != 1 or ctx.exec is None:
            result: ExecResult = await super().execute(args, ctx)
            return result
        start = args.index("-exec")
        end = next((i for i in range(start + 1, len(args)) if args[i] in (";", "+")), None)
        if end is None:
            return ExecResult("", "find: missing argument to `-exec'\n", 1)
        template, batch = args[start + 1 : end], args[end] == "+"
        listing: ExecResult = await super().execute(
            [*args[:start], "-print", *args[end + 1 :]], ctx
        )
        paths = [p for p in listing.stdout.split("\n") if p]
        out, err, code = [], [listing.stderr], listing.exit_code
        groups = [paths] if batch else [[p] for p in paths]
        for group in groups if paths else []:
            words: list[str] = []
            for part in template:
                if part == "{}" and batch:
                    words.extend(group)
                else:
                    words.append(part.replace("{}", group[0]) if not batch else part)
            run = await ctx.exec(" ".join(shlex.quote(w) for w in words), {"cwd": ctx.cwd})
            out.append(run.stdout)
            err.append(run.stderr)
            if run.exit_code != 0 and batch:
                code = 1
        return ExecResult("".join(out), "".join(err), code)

    async def _post_action(self, action: str, args: list[str], ctx: CommandContext) -> ExecResult:
        """just-bash mis-parses a trailing ``-delete``/``-print0``: list, then act."""
        listing: ExecResult = await super().execute(args, ctx)
        paths = [p for p in listing.stdout.split("\n") if p]
        if action == "-print0":
            return ExecResult("".join(p + "\0" for p in paths), listing.stderr, listing.exit_code)
        errors, code = [listing.stderr], listing.exit_code
        for path in sorted(paths, key=lambda p: p.count("/"), reverse=True):
            real = ctx.fs.resolve_path(ctx.cwd, path)
            try:
                is_dir = await ctx.fs.is_directory(real)
                await ctx.fs.rm(real, recursive=False)
            except OSError as exc:
                reason = "Directory not empty" if is_dir else str(exc)
                errors.append(f"find: cannot delete '{path}': {reason}\n")
                code = 1
        return ExecResult("", "".join(errors), code)
