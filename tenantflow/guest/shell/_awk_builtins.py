"""Awk's built-in functions (``length``, ``substr``, ``split``, ``sub``/``gsub``, ...)."""

from __future__ import annotations

import math
import random
import re
from typing import TYPE_CHECKING, Any

from tenantflow.guest.shell._awk_lex import AwkSyntaxError
from tenantflow.guest.shell._awk_parse import Node
from tenantflow.guest.shell._awk_values import UNINIT, StrNum, awk_sprintf, to_num

if TYPE_CHECKING:
    from tenantflow.guest.shell._awk import AwkRun


def _pattern(run: AwkRun, node: Node) -> re.Pattern[str]:
    return run.regex(node[1] if node[0] == "regex" else run.text(run.eval(node)))


def _substitute(run: AwkRun, args: list[Node], count: int) -> float:
    if len(args) < 2:
        raise AwkSyntaxError("sub/gsub: need a regex and a replacement")
    pattern = _pattern(run, args[0])
    replacement = run.text(run.eval(args[1]))
    target = args[2] if len(args) > 2 else ("field", ("num", 0.0))
    text = run.text(run.eval(target))

    def expand(match: re.Match[str]) -> str:
        out, i = [], 0
        while i < len(replacement):
            ch = replacement[i]
            if ch == "\\" and i + 1 < len(replacement) and replacement[i + 1] in "&\\":
                out.append(replacement[i + 1])
                i += 2
                continue
            out.append(match.group() if ch == "&" else ch)
            i += 1
        return "".join(out)

    result, made = pattern.subn(expand, text, count=count)
    if made:
        run.assign(target, result)
    return float(made)


def call_builtin(run: AwkRun, name: str, args: list[Node]) -> Any:
    """Evaluate the built-in ``name`` with argument nodes ``args``."""
    if name == "length":
        if not args:
            return float(len(run.fields[0]))
        if args[0][0] == "var" and isinstance(run.scope(args[0][1]).get(args[0][1]), dict):
            return float(len(run.scope(args[0][1])[args[0][1]]))
        return float(len(run.text(run.eval(args[0]))))
    if name in ("sub", "gsub"):
        return _substitute(run, args, 1 if name == "sub" else 0)
    if name == "split":
        text = run.text(run.eval(args[0]))
        array = run.array(args[1][1])
        array.clear()
        if len(args) > 2:
            sep = args[2][1] if args[2][0] == "regex" else run.text(run.eval(args[2]))
            parts = run.split(text, sep) if args[2][0] != "regex" else run.regex(sep).split(text)
        else:
            parts = run.split(text, run.vars["FS"])
        for i, part in enumerate(parts, 1):
            array[str(i)] = StrNum(part)
        return float(len(parts))
    if name == "match":
        m = _pattern(run, args[1]).search(run.text(run.eval(args[0])))
        run.vars["RSTART"] = float(m.start() + 1) if m else 0.0
        run.vars["RLENGTH"] = float(m.end() - m.start()) if m else -1.0
        return run.vars["RSTART"]
    values = [run.eval(a) for a in args]
    if name == "substr":
        text = run.text(values[0])
        start = round(to_num(values[1])) if len(values) > 1 else 1
        end = start + round(to_num(values[2])) if len(values) > 2 else len(text) + 1
        start, end = max(start, 1), min(end, len(text) + 1)
        return text[start - 1 : end - 1] if end > start else ""
    if name == "index":
        return float(run.text(values[0]).find(run.text(values[1])) + 1)
    if name == "sprintf":
        return awk_sprintf(run.text(values[0]), values[1:]) if values else ""
    if name == "tolower":
        return run.text(values[0]).lower()
    if name == "toupper":
        return run.text(values[0]).upper()
    if name == "int":
        return float(math.trunc(to_num(values[0])))
    math_fns = {
        "sqrt": math.sqrt,
        "exp": math.exp,
        "log": math.log,
        "sin": math.sin,
        "cos": math.cos,
    }
    if name in math_fns:
        return float(math_fns[name](to_num(values[0])))
    if name == "atan2":
        return math.atan2(to_num(values[0]), to_num(values[1]))
    if name == "rand":
        return random.random()
    if name == "srand":
        random.seed(to_num(values[0]) if values else None)
        return 0.0
    if name in ("close", "fflush"):
        return 0.0
    if name == "system":
        raise AwkSyntaxError("system() is not supported in the sandbox")
    return UNINIT
