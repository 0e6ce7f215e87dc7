"""Format guest tracebacks without the ``traceback`` module (55 ms to import
in CPython for WASI). Frames of the guest runtime itself are hidden."""

from __future__ import annotations

# Guest modules never import typing at run time: it costs ~50 ms to import in
# CPython for WASI. Annotations stay strings (``from __future__ import annotations``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

_INTERNAL = "/lib/tenantflow/guest/"
_sources: dict[str, list[str]] = {}


def remember_source(filename: str, source: str) -> None:
    """Keep the text of code compiled from a string, for traceback lines."""
    _sources[filename] = source.splitlines()


def _line(filename: str, lineno: int) -> str:
    lines = _sources.get(filename)
    if lines is None:
        try:
            with open(filename, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            lines = []
        _sources[filename] = lines
    if 0 < lineno <= len(lines):
        return lines[lineno - 1].strip()
    return ""


def _frames(tb: TracebackType | None) -> list[str]:
    out: list[str] = []
    previous = None
    repeats = 0
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(_INTERNAL):
            key = (code.co_filename, tb.tb_lineno, code.co_name)
            if key == previous:
                repeats += 1
            else:
                if repeats > 3:
                    out.append(f"  [Previous line repeated {repeats - 3} more times]")
                repeats = 1
                previous = key
            if repeats <= 3:
                out.append(f'  File "{key[0]}", line {key[1]}, in {key[2]}')
                text = _line(key[0], key[1])
                if text:
                    out.append(f"    {text}")
        tb = tb.tb_next
    if repeats > 3:
        out.append(f"  [Previous line repeated {repeats - 3} more times]")
    return out


def _summary(exc: BaseException) -> str:
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    message = str(exc)
    return f"{name}: {message}" if message else name


def format_exception(exc: BaseException, _depth: int = 0) -> str:
    """Return CPython-style traceback text for ``exc`` and its causes."""
    parts: list[str] = []
    if _depth < 5:
        if exc.__cause__ is not None:
            parts.append(format_exception(exc.__cause__, _depth + 1))
            parts.append("\nThe above exception was the direct cause of the following exception:\n")
        elif exc.__context__ is not None and not exc.__suppress_context__:
            parts.append(format_exception(exc.__context__, _depth + 1))
            parts.append("\nDuring handling of the above exception, another exception occurred:\n")
    frames = _frames(exc.__traceback__)
    if frames:
        parts.append("Traceback (most recent call last):")
        parts.extend(frames)
    parts.append(_summary(exc))
    return "\n".join(parts)
