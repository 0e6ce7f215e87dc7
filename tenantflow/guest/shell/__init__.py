"""The in-sandbox shell: bash semantics over ``/workspace`` for agent sessions.

Usage inside the guest::

    from tenantflow.guest.shell import run_shell
    run_shell("ls | wc -l")   # {"stdout": "3\\n", "stderr": "", "exit_code": 0}

One :class:`Shell` per interpreter keeps its state (``cd``, variables,
functions) between calls. The bash interpreter (just-bash) is imported on the
first call, not by ``import tenantflow.guest`` (it costs 0.3-0.5 s).

The shell sees ``/workspace`` (real files, shared with ``python``), ``/code``
read-only when mounted, and an in-memory ``/tmp``; nothing else exists.
There are no processes: ``python`` runs in this interpreter, other programs
(git, pip, curl, ...) are "command not found" (exit 127). Known differences
from bash are listed in ``tests/sessions/test_shell_conformance.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenantflow.guest.shell._shell import Shell, ShellResult

__all__ = ["Shell", "ShellResult", "get_shell", "reset_shell", "run_shell"]

_instance: Shell | None = None


def get_shell() -> Shell:
    """The interpreter-wide shell, created on first use in ``/workspace``."""
    global _instance
    if _instance is None:
        from tenantflow.guest.shell._shell import Shell

        _instance = Shell()
    return _instance


def reset_shell() -> None:
    """Forget the shell's state (cwd, variables); the next call starts fresh."""
    global _instance
    _instance = None


def run_shell(command: str, cwd: str | None = None, *, stream: bool = False) -> ShellResult:
    """Run a bash command in the persistent shell.

    Returns ``{"stdout", "stderr", "exit_code"}``. ``cwd`` (default: where the
    previous call left off, initially ``/workspace``) changes directory first.
    With ``stream=True`` output is also printed as each top-level statement
    finishes, so the host sees it while a long command runs.
    """
    return get_shell().run(command, cwd=cwd, stream=stream)


def __getattr__(name: str) -> Any:
    if name in ("Shell", "ShellResult"):
        from tenantflow.guest.shell import _shell as module

        return getattr(module, name)
    raise AttributeError(name)
