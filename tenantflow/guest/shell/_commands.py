"""Commands the guest shell adds to just-bash or replaces in it.

Each is imported on first use, like just-bash's own registry, so importing
the shell stays cheap (jq's query engine alone costs more than the shell).
"""

from __future__ import annotations

import importlib
from typing import Any

_PACKAGE = "tenantflow.guest.shell"

# name -> (module under this package, class name)
_TABLE: dict[str, tuple[str, str]] = {
    "awk": ("_awk_command", "AwkCommand"),
    "cat": ("_textcmds", "CatCommand"),
    "date": ("_fixes", "FixedDate"),
    "diff": ("_diff", "DiffCommand"),
    "echo": ("_fixes", "FixedEcho"),
    "egrep": ("_grep", "EgrepCommand"),
    "env": ("_env", "ExportedEnv"),
    "fgrep": ("_grep", "FgrepCommand"),
    "find": ("_find", "FixedFind"),
    "grep": ("_grep", "GrepCommand"),
    "head": ("_textcmds", "HeadCommand"),
    "jq": ("_jq", "FixedJq"),
    "ls": ("_ls", "LsCommand"),
    "mktemp": ("_shellfs", "MktempCommand"),
    "paste": ("_textcmds", "PasteCommand"),
    "printenv": ("_env", "ExportedPrintenv"),
    "printf": ("_fixes", "FixedPrintf"),
    "realpath": ("_shellfs", "RealpathCommand"),
    "sed": ("_fixes", "FixedSed"),
    "sleep": ("_time", "SleepCommand"),
    "sort": ("_sort", "SortCommand"),
    "tail": ("_textcmds", "TailCommand"),
    "tar": ("_tar", "FixedTar"),
    "wc": ("_wc", "WcCommand"),
    "xargs": ("_fixes", "FixedXargs"),
}


_CHECKSUMS = {
    "md5sum": "md5",
    "sha1sum": "sha1",
    "sha224sum": "sha224",
    "sha256sum": "sha256",
    "sha384sum": "sha384",
    "sha512sum": "sha512",
}


class _Lazy:
    """Imports and builds a command on its first use."""

    def __init__(self, name: str, module: str, factory: str, *args: Any) -> None:
        self.name = name
        self._where = (module, factory, args)
        self._command: Any = None

    async def execute(self, args: list[str], ctx: Any) -> Any:
        """Run the command, importing it first if needed."""
        if self._command is None:
            module, factory, extra = self._where
            from tenantflow.guest.shell._loader import import_with_stubs

            qualified = f"{_PACKAGE}.{module}"
            import_with_stubs(qualified)  # it may import more of just-bash
            built = getattr(importlib.import_module(qualified), factory)
            self._command = built(*extra)
        return await self._command.execute(args, ctx)


def extra_commands() -> dict[str, Any]:
    """Name -> command object, overriding just-bash's registry."""
    commands: dict[str, Any] = {
        name: _Lazy(name, module, factory) for name, (module, factory) in _TABLE.items()
    }
    commands["python"] = _Lazy("python", "_python", "PythonCommand", "python")
    commands["python3"] = _Lazy("python3", "_python", "PythonCommand", "python3")
    commands["timeout"] = _Lazy("timeout", "_time", "timeout_command")
    commands["base64"] = _Lazy("base64", "_binary", "Base64Command")
    for name, algorithm in _CHECKSUMS.items():
        commands[name] = _Lazy(name, "_binary", "ChecksumCommand", name, algorithm)
    return commands
