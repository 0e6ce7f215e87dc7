"""The awk evaluator: one :class:`AwkRun` per invocation of the ``awk`` command.

``print > "file"`` output is collected per file and written by the command
through the shell's file system; ``| cmd`` and ``cmd | getline`` are not
supported.
"""

from __future__ import annotations

import math
import operator
import re
from typing import Any

from tenantflow.guest.shell._awk_lex import AwkSyntaxError
from tenantflow.guest.shell._awk_parse import Node
from tenantflow.guest.shell._awk_values import (
    UNINIT,
    StrNum,
    _Break,
    _Continue,
    _Exit,
    _Next,
    _Return,
    awk_sprintf,
    is_numeric,
    to_num,
    to_str,
    translate_regex,
)

_COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
}


class AwkRun:
    """One awk invocation: variables, fields, output."""

    def __init__(self, prog: dict[str, Any], variables: dict[str, Any]) -> None:
        self.prog = prog
        self.vars: dict[str, Any] = {
            "FS": " ",
            "OFS": " ",
            "ORS": "\n",
            "RS": "\n",
            "NR": 0.0,
            "NF": 0.0,
            "FNR": 0.0,
            "SUBSEP": "\x1c",
            "OFMT": "%.6g",
            "CONVFMT": "%.6g",
            "RSTART": 0.0,
            "RLENGTH": -1.0,
            "FILENAME": "",
            "ENVIRON": {},
        }
        self.vars.update(variables)
        self.frames: list[dict[str, Any]] = []
        self.fields: list[str] = [""]
        self.out: list[str] = []
        self.files: dict[str, list[str]] = {}
        self.regex_cache: dict[str, re.Pattern[str]] = {}
        self.records: list[str] = []
        self.record_pos = 0

    # -- records and fields ---------------------------------------------------------
    def set_record(self, text: str) -> None:
        self.fields = [text, *self.split(text, self.vars["FS"])]
        self.vars["NF"] = float(len(self.fields) - 1)

    def split(self, text: str, fs: Any) -> list[str]:
        fs = to_str(fs)
        if fs == " ":
            return text.split()
        if text == "":
            return []
        if len(fs) == 1 and fs != "\\":
            return text.split(fs)
        return self.regex(fs).split(text)

    def get_field(self, index: int) -> Any:
        if index < 0:
            raise AwkSyntaxError(f"trying to access out of range field {index}")
        return StrNum(self.fields[index]) if index < len(self.fields) else UNINIT

    def set_field(self, index: int, value: str) -> None:
        if index == 0:
            self.set_record(value)
            return
        while len(self.fields) <= index:
            self.fields.append("")
        self.fields[index] = value
        self.vars["NF"] = float(len(self.fields) - 1)
        self.rebuild()

    def rebuild(self) -> None:
        self.fields[0] = to_str(self.vars["OFS"]).join(self.fields[1:])

    def regex(self, pattern: str) -> re.Pattern[str]:
        compiled = self.regex_cache.get(pattern)
        if compiled is None:
            compiled = re.compile(translate_regex(pattern))
            self.regex_cache[pattern] = compiled
        return compiled

    # -- variables --------------------------------------------------------------------
    def scope(self, name: str) -> dict[str, Any]:
        if self.frames and name in self.frames[-1]:
            return self.frames[-1]
        return self.vars

    def array(self, name: str) -> dict[str, Any]:
        scope = self.scope(name)
        value = scope.get(name)
        if not isinstance(value, dict):
            value = {}
            scope[name] = value
        return value

    def key(self, subs: list[Node]) -> str:
        return to_str(self.vars["SUBSEP"]).join(self.text(self.eval(s)) for s in subs)

    def text(self, value: Any) -> str:
        return to_str(value, to_str(self.vars["CONVFMT"]))

    def assign(self, target: Node, value: Any) -> Any:
        kind = target[0]
        if kind == "var":
            name = target[1]
            self.scope(name)[name] = value
            if name == "NF":
                count = int(to_num(value))
                self.fields = (self.fields + [""] * count)[: count + 1]
                self.rebuild()
        elif kind == "field":
            self.set_field(int(to_num(self.eval(target[1]))), self.text(value))
        elif kind == "index":
            self.array(target[1])[self.key(target[2])] = value
        elif kind == "group":
            return self.assign(target[1], value)
        else:
            raise AwkSyntaxError("assignment to a non-variable")
        return value

    # -- statements ---------------------------------------------------------------------
    def execute(self, node: Node | None) -> None:
        if node is None:
            return
        kind = node[0]
        if kind == "block":
            for stmt in node[1]:
                self.execute(stmt)
        elif kind == "expr":
            self.eval(node[1])
        elif kind in ("print", "printf"):
            self.print(node)
        elif kind == "if":
            self.execute(node[2] if self.truth(self.eval(node[1])) else node[3])
        elif kind == "while":
            while self.truth(self.eval(node[1])):
                if self.loop_body(node[2]):
                    break
        elif kind == "do":
            while True:
                if self.loop_body(node[1]) or not self.truth(self.eval(node[2])):
                    break
        elif kind == "for":
            self.execute(node[1])
            while node[2] is None or self.truth(self.eval(node[2])):
                if self.loop_body(node[4]):
                    break
                self.execute(node[3])
        elif kind == "forin":
            for key in list(self.array(node[2])):
                self.assign(("var", node[1]), StrNum(key))
                if self.loop_body(node[3]):
                    break
        elif kind == "next":
            raise _Next
        elif kind == "exit":
            raise _Exit(int(to_num(self.eval(node[1]))) if node[1] is not None else 0)
        elif kind == "return":
            raise _Return(self.eval(node[1]) if node[1] is not None else UNINIT)
        elif kind == "break":
            raise _Break
        elif kind == "continue":
            raise _Continue
        elif kind == "delete":
            if node[2] is None:
                self.array(node[1]).clear()
            else:
                self.array(node[1]).pop(self.key(node[2]), None)
        else:
            raise AwkSyntaxError(f"unsupported statement {kind}")

    def loop_body(self, body: Node) -> bool:
        """Run a loop body; True when it breaks."""
        try:
            self.execute(body)
        except _Break:
            return True
        except _Continue:
            pass
        return False

    def print(self, node: Node) -> None:
        kind, args, dest = node
        if kind == "print":
            values = [self.eval(a) for a in args] if args else [StrNum(self.fields[0])]
            ofmt = to_str(self.vars["OFMT"])
            text = to_str(self.vars["OFS"]).join(to_str(v, ofmt) for v in values)
            text += to_str(self.vars["ORS"])
        else:
            if not args:
                raise AwkSyntaxError("printf: no format")
            values = [self.eval(a) for a in args]
            text = awk_sprintf(self.text(values[0]), values[1:])
        if dest is None:
            self.out.append(text)
            return
        mode, target = dest
        if mode == "|":
            raise AwkSyntaxError("print to a pipe is not supported in the sandbox")
        name = self.text(self.eval(target))
        if name in ("/dev/stdout", "-"):
            self.out.append(text)
        elif name == "/dev/stderr":
            self.files.setdefault("/dev/stderr", []).append(text)
        else:
            buffer = self.files.get(name)
            if buffer is None:
                buffer = self.files[name] = [">>" if mode == ">>" else ">"]
            buffer.append(text)

    # -- expressions --------------------------------------------------------------------
    @staticmethod
    def truth(value: Any) -> bool:
        if isinstance(value, float):
            return value != 0
        if isinstance(value, StrNum) and value is not UNINIT and is_numeric(value):
            return to_num(value) != 0
        return bool(value != "")

    def eval(self, node: Node) -> Any:
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "str":
            return node[1]
        if kind == "group":
            return self.eval(node[1])
        if kind == "regex":
            return 1.0 if self.regex(node[1]).search(self.fields[0]) else 0.0
        if kind == "var":
            value = self.scope(node[1]).get(node[1], UNINIT)
            return value
        if kind == "field":
            return self.get_field(int(to_num(self.eval(node[1]))))
        if kind == "index":
            return self.array(node[1]).setdefault(self.key(node[2]), UNINIT)
        if kind == "assign":
            op, target, rhs = node[1], node[2], node[3]
            value = self.eval(rhs)
            if op != "=":
                value = self.arith(op[0], self.eval(target), value)
            return self.assign(target, value)
        if kind == "cond":
            return self.eval(node[2] if self.truth(self.eval(node[1])) else node[3])
        if kind == "or":
            return 1.0 if self.truth(self.eval(node[1])) or self.truth(self.eval(node[2])) else 0.0
        if kind == "and":
            return 1.0 if self.truth(self.eval(node[1])) and self.truth(self.eval(node[2])) else 0.0
        if kind == "not":
            return 0.0 if self.truth(self.eval(node[1])) else 1.0
        if kind == "neg":
            return -to_num(self.eval(node[1]))
        if kind == "pos":
            return to_num(self.eval(node[1]))
        if kind == "in":
            return 1.0 if self.key(node[1]) in self.array(node[2]) else 0.0
        if kind == "match":
            negate, left, right = node[1], node[2], node[3]
            pattern = right[1] if right[0] == "regex" else self.text(self.eval(right))
            found = bool(self.regex(pattern).search(self.text(self.eval(left))))
            return 1.0 if found != negate else 0.0
        if kind == "cmp":
            return 1.0 if self.compare(node[1], self.eval(node[2]), self.eval(node[3])) else 0.0
        if kind == "concat":
            return self.text(self.eval(node[1])) + self.text(self.eval(node[2]))
        if kind == "binop":
            return self.arith(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind in ("preinc", "postinc"):
            old = to_num(self.eval(node[2]))
            self.assign(node[2], old + node[1])
            return old + node[1] if kind == "preinc" else old
        if kind == "builtin":
            from tenantflow.guest.shell._awk_builtins import call_builtin

            return call_builtin(self, node[1], node[2])
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "getline":
            return self.getline(node[1])
        raise AwkSyntaxError(f"unsupported expression {kind}")

    def compare(self, op: str, left: Any, right: Any) -> bool:
        a: Any
        b: Any
        if is_numeric(left) and is_numeric(right):
            a, b = to_num(left), to_num(right)
        else:
            a, b = self.text(left), self.text(right)
        return bool(_COMPARE[op](a, b))

    @staticmethod
    def arith(op: str, left: Any, right: Any) -> float:
        a, b = to_num(left), to_num(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op in "/%":
            if b == 0:
                raise AwkSyntaxError("division by zero")
            return a / b if op == "/" else math.fmod(a, b)
        return float(a**b)

    def call(self, name: str, args: list[Node]) -> Any:
        if name not in self.prog["funcs"]:
            raise AwkSyntaxError(f"function {name} never defined")
        params, body = self.prog["funcs"][name]
        frame: dict[str, Any] = {}
        for i, param in enumerate(params):
            if i < len(args):
                arg = args[i]
                if arg[0] == "var" and isinstance(self.scope(arg[1]).get(arg[1]), dict):
                    frame[param] = self.scope(arg[1])[arg[1]]
                else:
                    frame[param] = self.eval(arg)
            else:
                frame[param] = UNINIT
        self.frames.append(frame)
        try:
            self.execute(body)
        except _Return as ret:
            return ret.value
        finally:
            self.frames.pop()
        return UNINIT

    def getline(self, target: Node | None) -> float:
        if self.record_pos >= len(self.records):
            return 0.0
        text = self.records[self.record_pos]
        self.record_pos += 1
        self.vars["NR"] += 1
        self.vars["FNR"] += 1
        if target is None:
            self.set_record(text)
        else:
            self.assign(target, StrNum(text))
        return 1.0

    # -- main loop ------------------------------------------------------------------------
    def run_rules(self, text: str) -> None:
        self.set_record(text)
        for pattern, action in self.prog["rules"]:
            if pattern is not None and not self.matches(pattern):
                continue
            if action is None:
                self.out.append(self.fields[0] + to_str(self.vars["ORS"]))
            else:
                self.execute(action)

    def matches(self, pattern: Node) -> bool:
        if pattern[0] != "range":
            return self.truth(self.eval(pattern))
        state = pattern[3]
        if not state[0]:
            if not self.truth(self.eval(pattern[1])):
                return False
            state[0] = True
        if self.truth(self.eval(pattern[2])):
            state[0] = False
        return True


def split_records(text: str, rs: str) -> list[str]:
    """Input text -> records (``RS`` newline, one character, or "" for paragraphs)."""
    if rs == "":
        return [p for p in re.split(r"\n\n+", text.strip("\n")) if p] if text.strip() else []
    sep = rs if len(rs) == 1 else "\n"
    records = text.split(sep)
    if records and records[-1] == "":
        records.pop()
    return records
