"""``env``/``printenv`` and ``python`` see exported variables only, as in bash.

just-bash hands every command the whole variable store, so ``x=1; env``
listed ``x`` (and ``?``) although ``x`` was never exported.
"""

from __future__ import annotations

from typing import Any

from just_bash.commands.env.env import EnvCommand, PrintenvCommand
from just_bash.types import CommandContext, ExecResult


def exported(variables: Any) -> dict[str, str]:
    """The exported variables of a just-bash variable store (all, for a plain dict)."""
    attributes = getattr(variables, "get_attributes", None)
    if attributes is None:
        return {k: v for k, v in dict(variables).items() if k != "?"}
    return {k: v for k, v in variables.items() if "x" in attributes(k)}


class ExportedEnv(EnvCommand):
    """``env`` listing exported variables only."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run just-bash's env over the exported variables."""
        ctx.env = exported(ctx.env)
        result: ExecResult = await super().execute(args, ctx)
        return result


class ExportedPrintenv(PrintenvCommand):
    """``printenv`` over exported variables only."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run just-bash's printenv over the exported variables."""
        ctx.env = exported(ctx.env)
        result: ExecResult = await super().execute(args, ctx)
        return result
