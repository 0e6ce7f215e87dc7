"""GNU ``grep`` for the guest shell.

just-bash's grep prints one ``-o`` match per line, names ``-r`` results by
absolute path and exits 1 on unreadable files. This one follows GNU: ``-E -F
-G -P -e -f -i -v -w -x -c -l -L -o -q -s -n -h -H -r -m -A -B -C``,
``--include/--exclude/--exclude-dir``, ``--`` context separators, exit 2 on errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from just_bash.types import CommandContext, ExecResult

from tenantflow.guest.shell._grep_search import search
from tenantflow.guest.shell._regex import compile_posix

_LONG_FLAGS = {
    "--ignore-case": "i", "--invert-match": "v", "--word-regexp": "w", "--line-regexp": "x",
    "--count": "c", "--files-with-matches": "l", "--files-without-match": "L",
    "--only-matching": "o", "--quiet": "q", "--silent": "q", "--no-messages": "s",
    "--line-number": "n", "--no-filename": "h", "--with-filename": "H", "--recursive": "r",
    "--dereference-recursive": "R", "--extended-regexp": "E", "--fixed-strings": "F",
    "--basic-regexp": "G", "--perl-regexp": "P", "--text": "a",
}  # fmt: skip
_LONG_VALUES = {
    "--max-count": "m", "--after-context": "A", "--before-context": "B", "--context": "C",
    "--regexp": "e", "--file": "f",
}  # fmt: skip
_FLAGS = set("ivwxclLoqsnhHrREFGPaIUZz")


@dataclass
class GrepOptions:
    """A parsed grep command line."""

    flags: set[str] = field(default_factory=set)
    patterns: list[str] = field(default_factory=list)
    pattern_files: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    max_count: int | None = None
    after: int = 0
    before: int = 0
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    exclude_dir: list[str] = field(default_factory=list)

    def apply(self, letter: str, value: str) -> str | None:
        """Set the option ``-letter value``; an error message or None."""
        if letter == "e":
            self.patterns.append(value)
        elif letter == "f":
            self.pattern_files.append(value)
        elif not value.isdigit():
            return "invalid max count" if letter == "m" else "invalid context length argument"
        elif letter == "m":
            self.max_count = int(value)
        else:
            if letter in "AC":
                self.after = int(value)
            if letter in "BC":
                self.before = int(value)
        return None


def parse_args(args: list[str]) -> GrepOptions | str:
    """Parse grep's arguments (GNU style, options may follow operands)."""
    opts = GrepOptions()
    i = 0
    while i < len(args):
        arg = args[i]
        error: str | None = None
        if arg == "--":
            opts.files.extend(args[i + 1 :])
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in _LONG_FLAGS:
                opts.flags.add(_LONG_FLAGS[name])
            elif name in _LONG_VALUES:
                if not eq:
                    if i + 1 >= len(args):
                        return f"option '{name}' requires an argument"
                    i += 1
                    value = args[i]
                error = opts.apply(_LONG_VALUES[name], value)
            elif name in ("--include", "--exclude", "--exclude-dir") and eq:
                getattr(opts, name[2:].replace("-", "_")).append(value)
            elif not (name.startswith("--color") or name == "--line-buffered"):
                return f"unrecognized option '{arg}'"
        elif arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter.isdigit():
                    error = opts.apply("C", arg[j:])
                    break
                if letter in "efmABC":
                    value = arg[j + 1 :]
                    if not value:
                        if i + 1 >= len(args):
                            return f"option requires an argument -- '{letter}'"
                        i += 1
                        value = args[i]
                    error = opts.apply(letter, value)
                    break
                if letter not in _FLAGS:
                    return f"invalid option -- '{letter}'"
                opts.flags.add(letter)
                j += 1
        else:
            opts.files.append(arg)
        if error:
            return error
        i += 1
    if not opts.patterns and not opts.pattern_files:
        if not opts.files:
            return "usage"
        opts.patterns.append(opts.files.pop(0))
    return opts


class GrepCommand:
    """Print lines that match patterns."""

    name = "grep"
    default_flag = ""

    async def execute(self, args: list[str], ctx: CommandContext) -> ExecResult:
        """Search files (or stdin) for the patterns."""
        opts = parse_args(args)
        if isinstance(opts, str):
            usage = "Usage: grep [OPTION]... PATTERNS [FILE]...\n"
            if opts == "usage":
                return ExecResult("", usage, 2)
            return ExecResult("", f"grep: {opts}\n{usage}", 2)
        if self.default_flag and not opts.flags & {"E", "F", "G", "P"}:
            opts.flags.add(self.default_flag)
        for name in opts.pattern_files:
            try:
                text = await ctx.fs.read_file(ctx.fs.resolve_path(ctx.cwd, name))
            except OSError:
                return ExecResult("", f"grep: {name}: No such file or directory\n", 2)
            opts.patterns.extend(text.splitlines())
        flags = opts.flags
        try:
            regex = compile_posix(
                [p for pattern in opts.patterns for p in pattern.split("\n")],
                extended=bool(flags & {"E", "P"}),
                fixed="F" in flags,
                ignore_case="i" in flags,
                word="w" in flags,
                line="x" in flags,
            )
        except Exception as exc:  # re.error and friends: GNU reports and exits 2
            return ExecResult("", f"grep: invalid regular expression: {exc}\n", 2)
        return await search(ctx, opts, regex)


class EgrepCommand(GrepCommand):
    """``grep -E``."""

    name = "egrep"
    default_flag = "E"


class FgrepCommand(GrepCommand):
    """``grep -F``."""

    name = "fgrep"
    default_flag = "F"
