"""POSIX regular expressions (BRE and ERE) translated to Python's ``re``."""

from __future__ import annotations

import re

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
    "word": r"\w",
}
# In a BRE these are literal unless escaped; in Python (and an ERE) the reverse.
_BRE_SWAPPED = set("|+?(){}")


def _classes(pattern: str) -> str:
    return re.sub(r"\[:([a-z]+):\]", lambda m: _CLASSES.get(m.group(1), m.group()), pattern)


def ere_to_python(pattern: str) -> str:
    """An ERE in Python syntax (POSIX classes, ``\\<``/``\\>``)."""
    return _classes(pattern).replace(r"\<", r"\b").replace(r"\>", r"\b")


def bre_to_python(pattern: str) -> str:
    """A BRE in Python syntax: ``\\(``, ``\\+``, ``\\|``... become operators, bare ones literals."""
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if in_class:
            end = pattern.find(":]", i + 2) if pattern.startswith("[:", i) else -1
            if end != -1:
                out.append(pattern[i : end + 2])
                i = end + 2
                continue
            out.append("\\\\" if ch == "\\" else ch)  # a backslash is literal in a bracket
            in_class = ch != "]"
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append(r"\]")
                i += 1
            i += 1
            continue
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _BRE_SWAPPED:
                out.append(nxt)
            elif nxt in "<>":
                out.append(r"\b")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if ch in _BRE_SWAPPED:
            out.append("\\" + ch)
        elif ch == "*" and (not out or out[-1] in ("^", "(", "|")):
            out.append(r"\*")  # a leading * is literal in a BRE
        else:
            out.append(ch)
        i += 1
    return _classes("".join(out))


def compile_posix(
    patterns: list[str], *, extended: bool, fixed: bool, ignore_case: bool, word: bool, line: bool
) -> re.Pattern[str]:
    """One Python regex matching any of ``patterns`` with grep's options."""
    parts = []
    for pattern in patterns:
        if fixed:
            part = re.escape(pattern)
        else:
            part = ere_to_python(pattern) if extended else bre_to_python(pattern)
        if word:
            part = rf"(?<!\w)(?:{part})(?!\w)"
        if line:
            part = rf"^(?:{part})$"
        parts.append(f"(?:{part})")
    return re.compile("|".join(parts) or "(?:)", re.IGNORECASE if ignore_case else 0)
