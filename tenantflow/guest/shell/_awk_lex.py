"""Lexer for the guest shell's ``awk``: program text to ``(kind, value)`` tokens.

A ``/`` starts a regex literal unless it follows an operand (then it divides).
"""

from __future__ import annotations

import re
from typing import Any

KEYWORDS = {
    "BEGIN",
    "END",
    "function",
    "func",
    "if",
    "else",
    "while",
    "for",
    "do",
    "break",
    "continue",
    "next",
    "nextfile",
    "exit",
    "return",
    "delete",
    "in",
    "getline",
    "print",
    "printf",
}
BUILTINS = {
    "length",
    "substr",
    "index",
    "split",
    "sub",
    "gsub",
    "match",
    "sprintf",
    "tolower",
    "toupper",
    "int",
    "sqrt",
    "exp",
    "log",
    "sin",
    "cos",
    "atan2",
    "rand",
    "srand",
    "system",
    "close",
    "fflush",
}
_PUNCT = sorted(
    [
        "+=",
        "-=",
        "*=",
        "/=",
        "%=",
        "^=",
        "==",
        "<=",
        ">=",
        "!=",
        "++",
        "--",
        "&&",
        "||",
        ">>",
        "!~",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ";",
        ",",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "!",
        ">",
        "<",
        "|",
        "?",
        ":",
        "~",
        "$",
        "=",
    ],
    key=len,
    reverse=True,
)
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "/": "/",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
# After these tokens a "/" divides; elsewhere it starts a regex literal.
_OPERAND_END = {"NUMBER", "STRING", "ERE", "NAME", "FUNC", "BUILTIN", ")", "]", "$", "++", "--"}


class AwkSyntaxError(Exception):
    """The program does not parse."""


def unescape(text: str) -> str:
    """Process awk string escapes (``\\n``, ``\\t``, octal)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            octal = re.match(r"[0-7]{1,3}", text[i + 1 :])
            if octal:
                out.append(chr(int(octal.group(), 8)))
                i += 1 + len(octal.group())
                continue
            out.append("\\" + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def tokenize(src: str) -> list[tuple[str, Any]]:
    """Split an awk program into ``(kind, value)`` tokens."""
    tokens: list[tuple[str, Any]] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch in " \t\r":
            i += 1
        elif ch == "\\" and src[i + 1 : i + 2] == "\n":
            i += 2
        elif ch == "#":
            while i < len(src) and src[i] != "\n":
                i += 1
        elif ch == "\n":
            tokens.append(("NEWLINE", None))
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while j < len(src) and src[j] != '"':
                buf.append(src[j : j + 2] if src[j] == "\\" else src[j])
                j += 2 if src[j] == "\\" else 1
            if j >= len(src):
                raise AwkSyntaxError("unterminated string")
            tokens.append(("STRING", unescape("".join(buf))))
            i = j + 1
        elif ch == "/" and (not tokens or tokens[-1][0] not in _OPERAND_END):
            j, buf, in_class = i + 1, [], False
            while j < len(src) and (src[j] != "/" or in_class):
                if src[j] == "\\" and j + 1 < len(src):
                    buf.append("/" if src[j + 1] == "/" else src[j : j + 2])
                    j += 2
                    continue
                if src[j] == "[":
                    in_class = True
                elif src[j] == "]":
                    in_class = False
                buf.append(src[j])
                j += 1
            tokens.append(("ERE", "".join(buf)))
            i = j + 1
        elif ch.isdigit() or (ch == "." and src[i + 1 : i + 2].isdigit()):
            m = _NUMBER.match(src, i)
            assert m is not None
            tokens.append(("NUMBER", float(m.group())))
            i = m.end()
        elif ch.isalpha() or ch == "_":
            m = _NAME.match(src, i)
            assert m is not None
            word = m.group()
            i = m.end()
            if word in KEYWORDS:
                tokens.append((word, word))
            elif word in BUILTINS:
                tokens.append(("BUILTIN", word))
            elif src[i : i + 1] == "(":
                tokens.append(("FUNC", word))
            else:
                tokens.append(("NAME", word))
        else:
            for punct in _PUNCT:
                if src.startswith(punct, i):
                    tokens.append((punct, punct))
                    i += len(punct)
                    break
            else:
                raise AwkSyntaxError(f"unexpected character {ch!r}")
    tokens.append(("EOF", None))
    return tokens
