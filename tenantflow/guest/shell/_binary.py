"""``base64`` and the ``*sum`` checksums, byte-exact.

Pipes carry text in the shell; bytes that are not UTF-8 travel as
``surrogateescape`` characters. just-bash encoded them strictly and failed
on binary input (``cat img.png | base64``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from just_bash.types import CommandContext, ExecResult


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


async def _input(ctx: CommandContext, name: str) -> bytes:
    if name == "-":
        return _bytes(ctx.stdin)
    data: bytes = await ctx.fs.read_file_bytes(ctx.fs.resolve_path(ctx.cwd, name))
    return data


class Base64Command:
    """Encode (wrapped at 76 columns, ``-w N``) or decode (``-d``) base64."""

    name = "base64"

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Encode or decode one input."""
        decode, ignore, wrap, files = False, False, 76, []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-d", "--decode", "-D"):
                decode = True
            elif arg in ("-i", "--ignore-garbage"):
                ignore = True
            elif arg in ("-w", "--wrap") and i + 1 < len(args):
                wrap = int(args[i + 1]) if args[i + 1].isdigit() else -1
                i += 1
            elif arg.startswith("-w") and arg[2:].isdigit():
                wrap = int(arg[2:])
            elif arg.startswith("--wrap=") and arg[7:].isdigit():
                wrap = int(arg[7:])
            elif arg.startswith("-") and arg != "-":
                return ExecResult("", f"base64: invalid option -- '{arg.lstrip('-')}'\n", 1)
            else:
                files.append(arg)
            i += 1
        if wrap < 0:
            return ExecResult("", "base64: invalid wrap size\n", 1)
        if len(files) > 1:
            return ExecResult("", f"base64: extra operand '{files[1]}'\n", 1)
        try:
            data = await _input(ctx, files[0] if files else "-")
        except OSError:
            return ExecResult("", f"base64: {files[0]}: No such file or directory\n", 1)
        if decode:
            alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
            cleaned = bytes(b for b in data if b in alphabet) if ignore else b"".join(data.split())
            try:
                return ExecResult(_text(base64.b64decode(cleaned, validate=True)), "", 0)
            except (binascii.Error, ValueError):
                return ExecResult("", "base64: invalid input\n", 1)
        encoded = base64.b64encode(data).decode("ascii")
        if not wrap:  # -w 0: one line, and GNU adds no newline
            return ExecResult(encoded, "", 0)
        lines = "\n".join(encoded[i : i + wrap] for i in range(0, len(encoded), wrap))
        return ExecResult(lines + "\n" if lines else "", "", 0)


class ChecksumCommand:
    """``sha256sum`` and friends: print or ``-c`` check digests."""

    def __init__(self, name: str, algorithm: str) -> None:
        self.name = name
        self._algorithm = algorithm

    def _digest(self, data: bytes) -> str:
        return hashlib.new(self._algorithm, data).hexdigest()

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Digest each operand (``-`` or none: stdin)."""
        check = "-c" in args or "--check" in args
        quiet = "--quiet" in args
        files = [a for a in args if not a.startswith("-") or a == "-"]
        if check:
            return await self._check(ctx, files or ["-"], quiet)
        out, errors = [], []
        for name in files or ["-"]:
            try:
                out.append(f"{self._digest(await _input(ctx, name))}  {name}\n")
            except IsADirectoryError:
                errors.append(f"{self.name}: {name}: Is a directory\n")
            except OSError:
                errors.append(f"{self.name}: {name}: No such file or directory\n")
        return ExecResult("".join(out), "".join(errors), 1 if errors else 0)

    async def _check(self, ctx: CommandContext, lists: list[str], quiet: bool) -> ExecResult:
        out, errors, failed, missing = [], [], 0, 0
        for listing in lists:
            try:
                text = _text(await _input(ctx, listing))
            except OSError:
                errors.append(f"{self.name}: {listing}: No such file or directory\n")
                continue
            for line in text.splitlines():
                digest, _, name = line.partition("  ")
                if not name:
                    digest, _, name = line.partition(" *")
                try:
                    ok = self._digest(await _input(ctx, name)) == digest.strip().lower()
                except OSError:
                    errors.append(f"{self.name}: {name}: No such file or directory\n")
                    out.append(f"{name}: FAILED open or read\n")
                    missing += 1
                    continue
                if not ok:
                    failed += 1
                if not (ok and quiet):
                    out.append(f"{name}: {'OK' if ok else 'FAILED'}\n")
        if missing:
            plural = "s" if missing > 1 else ""
            errors.append(
                f"{self.name}: WARNING: {missing} listed file{plural} could not be read\n"
            )
        if failed:
            verb = "checksums did" if failed > 1 else "checksum did"
            errors.append(f"{self.name}: WARNING: {failed} computed {verb} NOT match\n")
        return ExecResult("".join(out), "".join(errors), 1 if failed or missing else 0)
