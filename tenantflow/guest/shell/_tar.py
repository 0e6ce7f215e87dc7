"""``tar`` with old-style bundled flags (``tar czf a.tgz dir``).

just-bash's tar needs the dash (``tar -czf``). Its module imports ``lzma``,
whose C part the guest's CPython lacks, so ``xz`` archives are unavailable
(the loader stubs ``lzma`` for the import); gzip and bzip2 work.
"""

from __future__ import annotations

import re

from just_bash.commands.tar.tar import TarCommand
from just_bash.types import CommandContext, ExecResult


class FixedTar(TarCommand):
    """Old-style bundled flags (``tar czf a.tgz dir``) as well as ``tar -czf``."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Add the dash to a leading flag bundle, then run just-bash's tar."""
        if args and re.fullmatch(r"[A-Za-z]*[cxtru][A-Za-z]*", args[0]):
            args = ["-" + args[0], *args[1:]]
        result: ExecResult = await super().execute(args, ctx)
        return result
