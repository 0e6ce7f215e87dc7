"""Fixes to just-bash's interpreter, installed per instance (no site-packages edits).

* ``cmd > file 2>&1``: just-bash applied ``2>&1`` after writing ``> file``,
  so stderr escaped to the terminal. The pair is folded into ``&> file``
  (``&>> file`` for ``>>``), which is what bash effectively does.
* ``break``/``continue`` return status 0 in bash, so a loop that ends with
  one exits 0; just-bash kept the status of the command before them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

_LOOPS = ("For", "CStyleFor", "While", "Until")


def _literal(word: Any) -> str | None:
    parts = getattr(word, "parts", None)
    if not parts or len(parts) != 1:
        return None
    value = getattr(parts[0], "value", None)
    return value if isinstance(value, str) else None


def _is_stdout_file(redir: Any) -> bool:
    return getattr(redir, "operator", None) in (">", ">>", ">|") and getattr(redir, "fd", None) in (
        None,
        1,
    )


def _is_stderr_to_stdout(redir: Any) -> bool:
    return (
        getattr(redir, "operator", None) == ">&"
        and getattr(redir, "fd", None) == 2
        and _literal(redir.target) == "1"
    )


def fold_stderr_into_file(redirections: Any) -> Any:
    """Give bash's left-to-right meaning to ``2>&1`` next to ``> file``.

    ``> f 2>&1`` becomes ``&> f`` (``&>> f`` for ``>>``). ``2>&1 > f`` sends
    stderr where stdout pointed before (the pipe) and stdout to the file:
    just-bash gets that when the ``2>&1`` is applied after the file write.
    """
    items: list[Any] = list(redirections)
    stdout_file: int | None = None
    deferred: list[Any] = []
    changed = False
    for index, redir in enumerate(items):
        if _is_stdout_file(redir):
            stdout_file = index
        elif _is_stderr_to_stdout(redir):
            changed = True
            if stdout_file is None:
                if any(_is_stdout_file(later) for later in items[index + 1 :]):
                    deferred.append(redir)
                    items[index] = None
                continue
            first = items[stdout_file]
            both = "&>>" if first.operator == ">>" else "&>"
            items[stdout_file] = replace(first, operator=both, fd=None)
            items[index] = None
    if not changed:
        return redirections
    folded = [item for item in items if item is not None] + deferred
    return type(redirections)(folded) if isinstance(redirections, tuple) else folded


class LoopStatus:
    """Tracks whether the last thing a loop ran was ``break``/``continue``."""

    def __init__(self) -> None:
        self.jumped = False

    def statement_raised(self, exc: BaseException) -> None:
        """Called when a statement ends by exception."""
        self.jumped = type(exc).__name__ in ("BreakError", "ContinueError")

    def statement_done(self) -> None:
        """Called when a statement completes normally."""
        self.jumped = False


def install(interpreter: Any, loops: LoopStatus) -> None:
    """Wrap the interpreter's redirection and command steps with the fixes above."""
    process = interpreter._process_output_redirections
    execute_command = interpreter.execute_command

    async def process_output_redirections(redirections: Any, result: Any) -> Any:
        return await process(fold_stderr_into_file(redirections), result)

    async def command(node: Any, stdin: str) -> Any:
        loops.jumped = False
        result = await execute_command(node, stdin)
        if getattr(node, "type", None) in _LOOPS and loops.jumped:
            result.exit_code = 0
        loops.jumped = False
        return result

    interpreter._process_output_redirections = process_output_redirections
    interpreter.execute_command = command


_patched = False


def patch_modules() -> None:
    """Module-level fixes, applied once per interpreter.

    * A glob ending in ``/`` (``*/``) keeps the slash on each match, as in bash
      (``for d in */`` gives ``src/``); just-bash dropped it.
    * ``which``, ``type`` and ``command -v`` know the commands this package adds
      (``python``), so an agent checking for them finds them.
    """
    global _patched
    if _patched:
        return
    from just_bash.commands import registry
    from just_bash.interpreter import expansion

    from tenantflow.guest.shell._commands import extra_commands

    for name in extra_commands():
        if name not in registry.COMMAND_NAMES:
            registry.COMMAND_NAMES.append(name)

    glob_expand = expansion.glob_expand

    async def glob_keeping_slash(ctx: Any, pattern: str) -> list[str]:
        matches: list[str] = await glob_expand(ctx, pattern)
        if pattern.endswith("/"):
            return [m if m.endswith("/") else m + "/" for m in matches]
        return matches

    expansion.glob_expand = glob_keeping_slash
    _patched = True
