"""``sleep`` and ``timeout`` without an event loop.

just-bash awaits ``asyncio.sleep`` and ``asyncio.wait_for``, which need a
running loop (none exists in the guest). ``sleep`` blocks the interpreter
(the sandbox's wall deadline still applies). ``timeout`` runs its command
without a limit of its own: synchronous guest code cannot be interrupted
from inside, so only the sandbox call's deadline stops a runaway command.
"""

# ruff: noqa: ASYNC109, ASYNC251
# (No event loop exists in the guest: blocking here is the only way to wait.)

from __future__ import annotations

import re
import time
from collections.abc import Awaitable
from typing import Any

from just_bash.types import CommandContext, ExecResult

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """Seconds in a GNU duration (``1.5``, ``2s``, ``1m``), or None."""
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


class SleepCommand:
    """Pause for the sum of the given durations."""

    name = "sleep"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Block for the requested time."""
        if not args:
            return ExecResult("", "sleep: missing operand\n", 1)
        total = 0.0
        for arg in args:
            seconds = parse_duration(arg)
            if seconds is None:
                return ExecResult("", f"sleep: invalid time interval '{arg}'\n", 1)
            total += seconds
        time.sleep(total)
        return ExecResult("", "", 0)


class _NoLoopAsyncio:
    """What just-bash's ``timeout`` module needs from asyncio, loop-free."""

    TimeoutError = TimeoutError

    @staticmethod
    async def wait_for(awaitable: Awaitable[Any], timeout: float | None = None) -> Any:
        return await awaitable


def timeout_command() -> Any:
    """just-bash's ``timeout`` with its asyncio use replaced (see module docstring)."""
    from just_bash.commands.timeout import timeout as module

    setattr(module, "asyncio", _NoLoopAsyncio)  # noqa: B010 (a module global, not an attribute mypy knows)
    return module.TimeoutCommand()
