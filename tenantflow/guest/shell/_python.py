"""``python`` and ``python3`` for the guest shell: run in this same interpreter.

The guest cannot start processes, so a script runs via ``exec`` in a fresh
``__main__`` namespace with ``sys.argv``, ``sys.stdin/stdout/stderr``, the
working directory and ``os.environ`` swapped in for the call and restored
after. Modules a script imports from the workspace are forgotten after the
run (so an edited module is re-read); stdlib imports stay cached.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from typing import Any, NamedTuple

from just_bash.types import CommandContext, ExecResult

from tenantflow.guest.shell._env import exported
from tenantflow.guest.shell._shellfs import ShellFs


class _Capture(io.StringIO):
    """A captured stream that survives ``close()`` (``json.tool`` closes stdout)."""

    def close(self) -> None:
        pass


_USAGE = "usage: python [-c cmd | -m mod | file | -] [arg] ...\n"


class PythonCommand:
    """Runs ``python file.py args``, ``python -c CODE``, ``python -m MOD`` or stdin."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Run the script and return its output and exit status."""
        fs = ctx.fs
        if not isinstance(fs, ShellFs):
            return ExecResult(
                stdout="", stderr=f"{self.name}: needs the workspace file system\n", exit_code=1
            )
        args = [a for a in args if a not in ("-u", "-B", "-I", "-S", "-E")]
        module: str | None = None
        if args[:1] == ["--version"] or args[:1] == ["-V"]:
            return ExecResult(stdout=f"Python {sys.version.split()[0]}\n", stderr="", exit_code=0)
        if args[:1] == ["-c"]:
            if len(args) < 2:
                return ExecResult(
                    stdout="", stderr="Argument expected for the -c option\n" + _USAGE, exit_code=2
                )
            source, filename, argv = args[1], "<string>", ["-c", *args[2:]]
        elif args[:1] == ["-m"]:
            if len(args) < 2:
                return ExecResult(
                    stdout="", stderr="Argument expected for the -m option\n" + _USAGE, exit_code=2
                )
            module, source, filename, argv = args[1], "", "", [args[1], *args[2:]]
        elif not args or args[0] == "-":
            source, filename, argv = ctx.stdin, "<stdin>", ["-", *args[1:]]
        elif args[0].startswith("-"):
            return ExecResult(
                stdout="", stderr=f"Unknown option: {args[0]}\n" + _USAGE, exit_code=2
            )
        else:
            path = fs.resolve_path(ctx.cwd, args[0])
            try:
                source = await fs.read_file(path)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                return ExecResult(
                    stdout="",
                    stderr=f"{self.name}: can't open file '{path}': "
                    "[Errno 2] No such file or directory\n",
                    exit_code=2,
                )
            filename, argv = fs.real_path(path) or path, [args[0], *args[1:]]
        stdin = "" if filename == "<stdin>" else ctx.stdin
        script = _Script(source, filename, module, argv)
        return _run(script, stdin, fs.real_path(ctx.cwd), ctx.env, fs.real_roots())


class _Script(NamedTuple):
    source: str
    filename: str
    module: str | None
    argv: list[str]


def _run(
    script: _Script, stdin: str, cwd: str | None, env: Any, roots: tuple[str, ...]
) -> ExecResult:
    source, filename, module, argv = script
    modules_before = set(sys.modules)
    out, err = _Capture(), _Capture()
    saved = (sys.argv, sys.stdin, sys.stdout, sys.stderr, list(sys.path), dict(os.environ))
    saved_cwd = os.getcwd()
    saved_bytecode = sys.dont_write_bytecode
    exit_code = 0
    try:
        # Agents rewrite a module and rerun within the same second: a cached .pyc (keyed
        # by mtime and size) or a stale directory listing would run the old code.
        sys.dont_write_bytecode = True
        _refresh_workspace_finders(roots)
        sys.argv = argv
        sys.stdin, sys.stdout, sys.stderr = _Capture(stdin), out, err
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in exported(env).items()})
        if cwd:
            os.chdir(cwd)
        if filename and not filename.startswith("<"):
            sys.path.insert(0, os.path.dirname(filename))
        else:
            sys.path.insert(0, cwd or "")
        if module is not None:
            import runpy

            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
            if not hasattr(builtins, "exit"):  # the guest runs without site.py
                namespace["exit"] = namespace["quit"] = sys.exit
            if not filename.startswith("<"):
                namespace["__file__"] = filename
            exec(compile(source, filename, "exec"), namespace)
    except SystemExit as exc:
        if exc.code is None:
            exit_code = 0
        elif isinstance(exc.code, int):
            exit_code = exc.code & 0xFF
        else:
            print(exc.code, file=err)
            exit_code = 1
    except (Exception, KeyboardInterrupt) as exc:  # the script's failure, as CPython shows it
        _print_exception(exc, err)
        exit_code = 1
    finally:
        _forget_workspace_modules(modules_before, roots)
        sys.dont_write_bytecode = saved_bytecode
        sys.argv, sys.stdin, sys.stdout, sys.stderr, path, env_before = saved
        sys.path[:] = path
        os.environ.clear()
        os.environ.update(env_before)
        try:
            os.chdir(saved_cwd)
        except OSError:
            pass
    return ExecResult(stdout=out.getvalue(), stderr=err.getvalue(), exit_code=exit_code)


def _refresh_workspace_finders(roots: tuple[str, ...]) -> None:
    """Forget cached directory listings under the workspace (new files are found).

    Cheaper than ``importlib.invalidate_caches()``, which also resets the
    stdlib's finders and imports ``importlib.metadata`` (about 0.2 s here).
    """
    prefixes = tuple(root.rstrip("/") for root in roots)
    for path, finder in list(sys.path_importer_cache.items()):
        invalidate = getattr(finder, "invalidate_caches", None)
        if invalidate is not None and path.startswith(prefixes):
            invalidate()


def _forget_workspace_modules(before: set[str], roots: tuple[str, ...]) -> None:
    """Drop modules the script imported from the workspace, so edits show next run
    (stdlib modules stay cached: they are what makes a warm interpreter fast)."""
    prefixes = tuple(root.rstrip("/") + "/" for root in roots)
    for name in set(sys.modules) - before:
        path = getattr(sys.modules[name], "__file__", None) or ""
        if path.startswith(prefixes):
            del sys.modules[name]


def _print_exception(exc: BaseException, err: io.StringIO) -> None:
    import traceback

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop this module's own frame so the traceback starts in the script.
    if len(lines) > 2 and "_python.py" in lines[1]:
        lines = [lines[0], *lines[2:]]
    err.write("".join(lines))
