"""The persistent guest shell: one just-bash interpreter over the real workspace.

State (working directory, variables, functions, aliases, ``set`` options)
lives as long as the Python interpreter, so a warm session keeps ``cd`` and
``export`` between calls, like a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TypedDict

from tenantflow.guest.shell._loader import drive, import_just_bash

import_just_bash()

from just_bash.commands import create_command_registry  # noqa: E402
from just_bash.interpreter import (  # noqa: E402
    ExitError,
    Interpreter,
    InterpreterState,
    ShellOptions,
)
from just_bash.interpreter.types import VariableStore  # noqa: E402
from just_bash.parser import parse  # noqa: E402
from just_bash.parser.parser import ParseException  # noqa: E402
from just_bash.types import ExecutionLimits  # noqa: E402

from tenantflow.guest.shell._commands import extra_commands  # noqa: E402
from tenantflow.guest.shell._fs import WorkspaceFs  # noqa: E402
from tenantflow.guest.shell._patches import LoopStatus, patch_modules  # noqa: E402
from tenantflow.guest.shell._patches import install as install_patches  # noqa: E402
from tenantflow.guest.shell._shellfs import SCRATCH, ShellFs  # noqa: E402

patch_modules()

WORKSPACE = "/workspace"
CODE = "/code"


class ShellResult(TypedDict):
    """What one shell call returns."""

    stdout: str
    stderr: str
    exit_code: int


def _clean(text: str) -> str:
    # Undo surrogateescape so non-UTF-8 bytes become U+FFFD, not unencodable text.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Shell:
    """A bash-like shell whose state persists between :meth:`run` calls."""

    def __init__(
        self,
        mounts: dict[str, str] | None = None,
        *,
        cwd: str = WORKSPACE,
        env: dict[str, str] | None = None,
        read_only: frozenset[str] = frozenset(),
    ) -> None:
        """Mounts default to the guest's own ``/workspace`` (and ``/code``, read-only,
        when the run has one); ``env`` defaults to the guest's ``os.environ``."""
        if mounts is None:
            mounts = {WORKSPACE: WORKSPACE}
            if os.path.isdir(CODE):
                mounts[CODE] = CODE
                read_only = read_only | {CODE}
        self.fs = ShellFs(WorkspaceFs(mounts, read_only, listed=(SCRATCH,)))
        environment = dict(os.environ) if env is None else dict(env)
        commands = create_command_registry()
        commands.update(extra_commands())
        variables = VariableStore(  # type: ignore[no-untyped-call]
            {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": WORKSPACE,
                "USER": "user",
                "SHELL": "/bin/bash",
                "?": "0",
                "SHLVL": "1",
                "BASH_VERSION": "5.2.0(1)-release",
                "OPTIND": "1",
                **environment,
                "PWD": cwd,
            }
        )
        for name in ("PATH", "HOME", "USER", "SHELL", "PWD", "SHLVL", *environment):
            variables.set_attribute(name, "x")
        self._interpreter = Interpreter(
            fs=self.fs,
            commands=commands,
            limits=ExecutionLimits(
                max_command_count=1_000_000,
                max_loop_iterations=1_000_000,
                max_awk_iterations=10_000_000,
                max_sed_iterations=10_000_000,
            ),
            state=InterpreterState(
                env=variables,
                cwd=cwd,
                previous_dir="",
                options=ShellOptions(),
                start_time=time.time(),
            ),
        )
        self._loops = LoopStatus()
        install_patches(self._interpreter, self._loops)
        self._depth = 0
        self._emit = False
        self._streamed_out: list[str] = []
        self._streamed_err: list[str] = []
        top_level = self._interpreter.execute_statement
        # An instance attribute wins over the method for every self.execute_statement call;
        # loop and function bodies call it through the context, which bound it at init.
        hooked = self._statement_hook(top_level)
        self._interpreter.execute_statement = hooked  # type: ignore[method-assign]
        self._interpreter._ctx.execute_statement = hooked

    @property
    def cwd(self) -> str:
        """The shell's current directory (a virtual path such as ``/workspace/src``)."""
        value: str = self._interpreter.state.cwd
        return value

    def _statement_hook(self, execute: Any) -> Any:
        """Wrap ``execute_statement`` to stream each top-level statement's output."""

        async def statement(node: Any) -> Any:
            self._depth += 1
            try:
                result = await execute(node)
            except BaseException as exc:
                self._loops.statement_raised(exc)
                raise
            finally:
                self._depth -= 1
            self._loops.statement_done()
            if self._depth == 0 and self._emit:
                self._write(result.stdout, result.stderr)
                result.stdout = result.stderr = ""
            return result

        return statement

    def _write(self, stdout: str, stderr: str) -> None:
        if stdout:
            self._streamed_out.append(stdout)
            sys.stdout.write(_clean(stdout))
            sys.stdout.flush()
        if stderr:
            self._streamed_err.append(stderr)
            sys.stderr.write(_clean(stderr))
            sys.stderr.flush()

    def run(self, command: str, *, cwd: str | None = None, stream: bool = False) -> ShellResult:
        """Run ``command`` (a bash script) and return its output and exit status.

        ``cwd`` changes directory first (kept for later calls, like ``cd``).
        With ``stream``, each top-level statement's output is written to
        ``sys.stdout``/``sys.stderr`` as soon as it finishes (the result still
        holds all of it).
        """
        state = self._interpreter.state
        if cwd is not None:
            target = self.fs.resolve_path(state.cwd, cwd)
            if not drive(self.fs.is_directory(target)):
                return {
                    "stdout": "",
                    "stderr": f"bash: cd: {cwd}: No such file or directory\n",
                    "exit_code": 1,
                }
            state.previous_dir, state.cwd = state.cwd, target
            state.env["PWD"] = target
        state.command_count = 0
        self._emit, self._streamed_out, self._streamed_err = stream, [], []
        try:
            ast = parse(command)
        except ParseException as exc:
            return self._finish("", f"bash: {exc}\n", 2)
        try:
            result = drive(self._interpreter.execute_script(ast))
            stdout, stderr, code = result.stdout, result.stderr, result.exit_code
        except ExitError as exc:
            stdout, stderr, code = exc.stdout, exc.stderr, exc.exit_code
        except RecursionError:
            stdout, stderr, code = "", "bash: maximum recursion depth exceeded\n", 2
        except Exception as exc:  # just-bash's own failures (limits, bugs) end this call only
            stdout, stderr, code = "", f"bash: {type(exc).__name__}: {exc}\n", 2
        state.last_exit_code = code
        state.env["?"] = str(code)
        return self._finish(stdout, stderr, code)

    def _finish(self, stdout: str, stderr: str, code: int) -> ShellResult:
        if self._emit:
            self._write(stdout, stderr)
        out = "".join(self._streamed_out) if self._emit else stdout
        err = "".join(self._streamed_err) if self._emit else stderr
        self._emit, self._streamed_out, self._streamed_err = False, [], []
        return {"stdout": _clean(out), "stderr": _clean(err), "exit_code": int(code) & 0xFF}
