"""Parser for the guest shell's ``awk`` (POSIX awk, one-liner sized).

just-bash's own awk mishandles string literals and array subscripts, so the
shell ships this one. The AST is plain tuples ``(kind, ...)`` evaluated by
:mod:`tenantflow.guest.shell._awk`.
"""

from __future__ import annotations

from typing import Any

from tenantflow.guest.shell._awk_lex import AwkSyntaxError, tokenize

Node = tuple[Any, ...]

_CONCAT_START = {
    "NUMBER",
    "STRING",
    "ERE",
    "NAME",
    "FUNC",
    "BUILTIN",
    "$",
    "!",
    "(",
    "-",
    "+",
    "++",
    "--",
}


class Parser:
    """Recursive descent over the token list; :meth:`program` is the entry point."""

    def __init__(self, src: str) -> None:
        self.toks = tokenize(src)
        self.pos = 0
        self.no_gt = 0  # inside print arguments, ">" redirects
        self.no_in = 0  # inside for (... in ...) headers

    # -- helpers ---------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        return self.toks[self.pos + offset][0]

    def take(self, kind: str | None = None) -> Any:
        tok = self.toks[self.pos]
        if kind is not None and tok[0] != kind:
            raise AwkSyntaxError(f"syntax error near {tok[1] or tok[0]!r}, expected {kind!r}")
        self.pos += 1
        return tok[1]

    def accept(self, kind: str) -> bool:
        if self.peek() == kind:
            self.pos += 1
            return True
        return False

    def newlines(self) -> None:
        while self.peek() == "NEWLINE":
            self.pos += 1

    def terminators(self) -> None:
        while self.peek() in ("NEWLINE", ";"):
            self.pos += 1

    # -- program structure -------------------------------------------------------
    def program(self) -> dict[str, Any]:
        prog: dict[str, Any] = {"begin": [], "end": [], "rules": [], "funcs": {}}
        self.terminators()
        while self.peek() != "EOF":
            if self.accept("BEGIN"):
                prog["begin"].append(self.block())
            elif self.accept("END"):
                prog["end"].append(self.block())
            elif self.peek() in ("function", "func"):
                self.take()
                name = self.take("FUNC") if self.peek() == "FUNC" else self.take("NAME")
                self.take("(")
                params = []
                while not self.accept(")"):
                    params.append(self.take("NAME"))
                    self.accept(",")
                    self.newlines()
                self.newlines()
                prog["funcs"][name] = (params, self.block())
            else:
                pattern: Any = None
                if self.peek() != "{":
                    pattern = self.expr()
                    if self.accept(","):
                        self.newlines()
                        pattern = ("range", pattern, self.expr(), [False])
                action = self.block() if self.peek() == "{" else None
                prog["rules"].append((pattern, action))
            self.terminators()
        return prog

    def block(self) -> Node:
        self.take("{")
        stmts = []
        self.terminators()
        while not self.accept("}"):
            stmts.append(self.statement())
            self.terminators()
        return ("block", stmts)

    def simple_or_block(self) -> Node:
        self.newlines()
        if self.peek() == ";":
            self.take()
            return ("block", [])
        return self.statement()

    def statement(self) -> Node:
        kind = self.peek()
        if kind == "{":
            return self.block()
        if kind == "if":
            self.take()
            self.take("(")
            cond = self.expr()
            self.take(")")
            then = self.simple_or_block()
            save = self.pos
            self.terminators()
            if self.accept("else"):
                return ("if", cond, then, self.simple_or_block())
            self.pos = save
            return ("if", cond, then, None)
        if kind == "while":
            self.take()
            self.take("(")
            cond = self.expr()
            self.take(")")
            if self.peek() == ";":
                self.take()
                return ("while", cond, ("block", []))
            return ("while", cond, self.simple_or_block())
        if kind == "do":
            self.take()
            body = self.simple_or_block()
            self.terminators()
            self.take("while")
            self.take("(")
            cond = self.expr()
            self.take(")")
            return ("do", body, cond)
        if kind == "for":
            return self.for_statement()
        stmt = self.simple_statement()
        if self.peek() not in (";", "NEWLINE", "}", "EOF"):
            raise AwkSyntaxError(f"syntax error near {self.toks[self.pos][1]!r}")
        return stmt

    def for_statement(self) -> Node:
        self.take("for")
        self.take("(")
        if self.peek() == "NAME" and self.peek(1) == "in":
            save = self.pos
            var = self.take()
            self.take("in")
            array = self.take("NAME")
            if self.accept(")"):
                return ("forin", var, array, self.simple_or_block())
            self.pos = save
        init = None if self.peek() == ";" else self.simple_statement()
        self.take(";")
        self.newlines()
        cond = None if self.peek() == ";" else self.expr()
        self.take(";")
        self.newlines()
        step = None if self.peek() == ")" else self.simple_statement()
        self.take(")")
        if self.peek() == ";":
            self.take()
            return ("for", init, cond, step, ("block", []))
        return ("for", init, cond, step, self.simple_or_block())

    def simple_statement(self) -> Node:
        kind = self.peek()
        if kind in ("print", "printf"):
            self.take()
            args: list[Node] = []
            self.no_gt += 1
            try:
                if self.peek() == "(":
                    # "print (a, b)" or "print (a) b": try a parenthesized list first.
                    save = self.pos
                    self.take()
                    args = self.expr_list(")")
                    self.take(")")
                    if self.peek() not in (";", "NEWLINE", "}", ">", ">>", "|", "EOF"):
                        self.pos, args = save, self.expr_list(None)
                elif self.peek() not in (";", "NEWLINE", "}", ">", ">>", "|", "EOF"):
                    args = self.expr_list(None)
            finally:
                self.no_gt -= 1
            dest = None
            if self.peek() in (">", ">>", "|"):
                mode = self.take()
                dest = (mode, self.concat())
            return (kind, args, dest)
        if kind in ("next", "nextfile", "break", "continue"):
            self.take()
            return (kind,)
        if kind in ("exit", "return"):
            self.take()
            value = None if self.peek() in (";", "NEWLINE", "}", "EOF") else self.expr()
            return (kind, value)
        if kind == "delete":
            self.take()
            name = self.take("NAME")
            if self.accept("["):
                subs = self.expr_list("]")
                self.take("]")
                return ("delete", name, subs)
            return ("delete", name, None)
        return ("expr", self.expr())

    def expr_list(self, closer: str | None) -> list[Node]:
        items = [self.expr()]
        while self.accept(","):
            self.newlines()
            items.append(self.expr())
        return items

    # -- expressions -------------------------------------------------------------
    def expr(self) -> Node:
        left = self.ternary()
        if self.peek() in ("=", "+=", "-=", "*=", "/=", "%=", "^=") and left[0] in (
            "var",
            "field",
            "index",
        ):
            op = self.take()
            self.newlines()
            return ("assign", op, left, self.expr())
        return left

    def ternary(self) -> Node:
        cond = self.or_()
        if self.accept("?"):
            self.newlines()
            yes = self.expr()
            self.newlines()
            self.take(":")
            self.newlines()
            return ("cond", cond, yes, self.expr())
        return cond

    def or_(self) -> Node:
        left = self.and_()
        while self.accept("||"):
            self.newlines()
            left = ("or", left, self.and_())
        return left

    def and_(self) -> Node:
        left = self.in_()
        while self.accept("&&"):
            self.newlines()
            left = ("and", left, self.in_())
        return left

    def in_(self) -> Node:
        left = self.match()
        while not self.no_in and self.peek() == "in":
            self.take()
            left = ("in", [left], self.take("NAME"))
        return left

    def match(self) -> Node:
        left = self.compare()
        while self.peek() in ("~", "!~"):
            op = self.take()
            left = ("match", op == "!~", left, self.compare())
        return left

    def compare(self) -> Node:
        left = self.concat()
        ops = ("<", "<=", "!=", "==", ">=") if self.no_gt else ("<", "<=", "!=", "==", ">", ">=")
        if self.peek() in ops:
            op = self.take()
            return ("cmp", op, left, self.concat())
        return left

    def concat(self) -> Node:
        left = self.additive()
        while self.peek() in _CONCAT_START and self.peek() not in ("-", "+", "!"):
            if self.peek() == "in":
                break
            left = ("concat", left, self.additive())
        return left

    def additive(self) -> Node:
        left = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()
            left = ("binop", op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Node:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            left = ("binop", op, left, self.unary())
        return left

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            return ("not", self.unary())
        if self.peek() in ("-", "+"):
            op = self.take()
            return ("neg" if op == "-" else "pos", self.unary())
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.accept("^"):
            return ("binop", "^", base, self.unary())
        return base

    def postfix(self) -> Node:
        if self.peek() in ("++", "--"):
            op = self.take()
            return ("preinc", 1 if op == "++" else -1, self.postfix())
        node = self.primary()
        if node[0] in ("var", "field", "index") and self.peek() in ("++", "--"):
            op = self.take()
            return ("postinc", 1 if op == "++" else -1, node)
        return node

    def primary(self) -> Node:
        kind = self.peek()
        if kind == "NUMBER":
            return ("num", self.take())
        if kind == "STRING":
            return ("str", self.take())
        if kind == "ERE":
            return ("regex", self.take())
        if kind == "$":
            self.take()
            return ("field", self.postfix_operand())
        if kind == "(":
            self.take()
            first = self.expr()
            if self.accept(","):
                items = [first, *self.expr_list(")")]
                self.take(")")
                self.take("in")
                return ("in", items, self.take("NAME"))
            self.take(")")
            return ("group", first)
        if kind == "NAME":
            name = self.take()
            if self.accept("["):
                subs = self.expr_list("]")
                self.take("]")
                return ("index", name, subs)
            return ("var", name)
        if kind == "FUNC":
            name = self.take()
            self.take("(")
            call_args = [] if self.peek() == ")" else self.expr_list(")")
            self.take(")")
            return ("call", name, call_args)
        if kind == "BUILTIN":
            name = self.take()
            args: list[Node] = []
            if self.accept("("):
                args = [] if self.peek() == ")" else self.expr_list(")")
                self.take(")")
            return ("builtin", name, args)
        if kind == "getline":
            self.take()
            target = self.primary() if self.peek() in ("NAME", "$") else None
            source = None
            if self.accept("<"):
                source = self.primary()
            return ("getline", target, source)
        raise AwkSyntaxError(f"syntax error near {self.toks[self.pos][1] or kind!r}")

    def postfix_operand(self) -> Node:
        if self.peek() in ("++", "--"):
            return self.postfix()
        if self.peek() == "-":
            self.take()
            return ("neg", self.primary())
        return self.primary()
