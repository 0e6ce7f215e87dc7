"""Values and formatting for the guest shell's awk (POSIX number and string rules).

Values follow POSIX: numbers are floats; input fields are "strnums" that
compare numerically when they look like numbers; uninitialized values are
both ``""`` and ``0``. Output to files (``print > "f"``) goes through the
shell's file system; pipes to commands and ``system()`` are not supported.
"""

from __future__ import annotations

import math
import re
from typing import Any


class StrNum(str):
    """A string from input: numeric in comparisons when it looks like a number."""


class _Uninit(StrNum):
    pass


UNINIT = _Uninit("")
_NUMERIC = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_LEADING = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r" -~",
    "graph": r"!-~",
}
_FORMAT = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([a-zA-Z%])")


class _Next(Exception):
    pass


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def to_num(value: Any) -> float:
    """Awk's string-to-number: the leading numeric prefix, else 0."""
    if isinstance(value, float):
        return value
    m = _LEADING.match(value)
    return float(m.group()) if m else 0.0


def is_numeric(value: Any) -> bool:
    return isinstance(value, float) or (
        isinstance(value, StrNum) and (value is UNINIT or bool(_NUMERIC.match(value)))
    )


def format_number(num: float, fmt: str = "%.6g") -> str:
    if num == int(num) and abs(num) < 1e16:
        return str(int(num))
    if math.isnan(num):
        return "nan"
    if math.isinf(num):
        return "inf" if num > 0 else "-inf"
    return fmt % num


def to_str(value: Any, fmt: str = "%.6g") -> str:
    return format_number(value, fmt) if isinstance(value, float) else str(value)


def translate_regex(ere: str) -> str:
    """POSIX ERE -> Python ``re`` (bracket classes, literal braces)."""
    ere = re.sub(r"\[:([a-z]+):\]", lambda m: _CLASSES.get(m.group(1), m.group()), ere)
    return ere


def awk_sprintf(fmt: str, args: list[Any]) -> str:
    out, pos, argi = [], 0, 0

    def next_arg() -> Any:
        nonlocal argi
        value = args[argi] if argi < len(args) else UNINIT
        argi += 1
        return value

    for m in _FORMAT.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, conv = m.groups()
        if conv == "%":
            out.append("%")
            continue
        if width == "*":
            width = str(int(to_num(next_arg())))
        if prec == "*":
            prec = str(int(to_num(next_arg())))
        spec = "%" + flags + (width or "") + ("." + prec if prec is not None else "")
        value = next_arg()
        if conv in "di":
            out.append((spec + "d") % int(to_num(value)))
        elif conv in "oxXu":
            out.append((spec + ("d" if conv == "u" else conv)) % int(to_num(value)))
        elif conv in "eEfFgG":
            out.append((spec + conv) % to_num(value))
        elif conv == "c":
            char = chr(int(value)) if isinstance(value, float) else str(value)[:1]
            out.append((spec + "s") % char)
        elif conv == "s":
            out.append((spec + "s") % to_str(value))
        else:
            out.append(m.group())
    out.append(fmt[pos:])
    return "".join(out)
