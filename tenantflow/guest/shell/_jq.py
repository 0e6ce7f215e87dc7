"""``jq --arg NAME VALUE`` / ``--argjson NAME JSON``, which just-bash's jq rejects.

Each binding becomes a ``VALUE as $NAME |`` prefix of the filter.
"""

from __future__ import annotations

import json

from just_bash.commands.jq.jq import JqCommand
from just_bash.types import CommandContext, ExecResult


class FixedJq(JqCommand):
    """jq with ``--arg``/``--argjson`` (bound as ``$NAME`` in the filter)."""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Bind the arguments, then run just-bash's jq."""
        bindings: list[str] = []
        rest: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("--arg", "--argjson") and i + 2 < len(args):
                name, value = args[i + 1], args[i + 2]
                if arg == "--argjson":
                    try:
                        value = json.dumps(json.loads(value))
                    except ValueError:
                        return ExecResult("", "jq: invalid JSON text passed to --argjson\n", 2)
                else:
                    value = json.dumps(value)
                bindings.append(f"{value} as ${name} | ")
                i += 3
                continue
            rest.append(arg)
            i += 1
        if bindings:
            for index, arg in enumerate(rest):
                if not arg.startswith("-") or arg == "-":
                    rest[index] = "".join(bindings) + arg
                    break
        result: ExecResult = await super().execute(rest, ctx)
        return result
