"""The constraint language's tokenizer and recursive-descent parser (grammar: :mod:`.constraint_syntax`).

A rule is read token by token into the syntax tree; nothing is evaluated. A syntax error is a
:class:`~mallm_gan.errors.ConfigError` that quotes the rule with a caret under the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .constraint_syntax import (
    COMPARE_OPS,
    KEYWORDS,
    And,
    Arith,
    Bool,
    Col,
    Compare,
    Implies,
    IsNull,
    Member,
    Neg,
    Not,
    Num,
    Or,
    Rule,
    Str,
)

_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>->|==|!=|<=|>=|<|>|=|[-+*/(){},:])"
)


# -- tokens -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, quoted, op, keyword, end
    text: str  # normalised: keywords in lower case, "=" as "=="
    value: Any
    pos: int
    raw: str = ""  # as written


def syntax_error(text: str, pos: int, problem: str) -> ConfigError:
    """A ConfigError quoting ``text`` with a caret under position ``pos``."""
    caret = " " * (pos + 2) + "^"
    return ConfigError(
        f"cannot read constraint: {problem} at position {pos + 1}\n  {text}\n{caret}", position=pos
    )


def tokenize(text: str) -> list[Token]:
    """Split a rule into tokens; quoted strings and backticked names are read here."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            end, value = _quoted(text, i)
            kind = "quoted" if char == "`" else "string"
            tokens.append(Token(kind, text[i:end], value, i, text[i:end]))
            i = end
            continue
        match = _TOKEN.match(text, i)
        if match is None:
            raise syntax_error(text, i, f"unexpected character {char!r}")
        group = match.lastgroup
        raw = match.group()
        if group == "number":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("number", raw, value, i, raw))
        elif group == "name":
            low = raw.lower()
            tokens.append(Token("keyword", low, low, i, raw) if low in KEYWORDS else Token("name", raw, raw, i, raw))
        elif group == "op":
            tokens.append(Token("op", "==" if raw == "=" else raw, raw, i, raw))
        i = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return tokens


def _quoted(text: str, start: int) -> tuple[int, str]:
    """End position and content of the quoted token at ``start``; a doubled quote stands for itself."""
    quote = text[start]
    i, out = start + 1, []
    while i < len(text):
        char = text[i]
        if char == "\\" and quote == '"' and i + 1 < len(text):
            escaped = text[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(escaped, escaped))
            i += 2
            continue
        if char == quote:
            if text[i + 1 : i + 2] == quote:
                out.append(quote)
                i += 2
                continue
            return i + 1, "".join(out)
        out.append(char)
        i += 1
    what = "name" if quote == "`" else "string"
    raise syntax_error(text, start, f"this {what} is never closed (missing {quote})")


# -- parser -----------------------------------------------------------------------------------------
class _Backtrack(Exception):
    def __init__(self, pos: int, problem: str) -> None:
        super().__init__(problem)
        self.pos = pos
        self.problem = problem


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.furthest: _Backtrack | None = None

    # token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "keyword") and self.tok.text in texts

    def take(self, text: str) -> Token:
        if not self.at(text):
            self.fail(f"expected {text!r}")
        token = self.tok
        self.i += 1
        return token

    def fail(self, problem: str) -> None:
        error = _Backtrack(self.tok.pos, f"{problem}, found {self.describe(self.tok)}")
        if self.furthest is None or error.pos >= self.furthest.pos:
            self.furthest = error
        raise error

    @staticmethod
    def describe(token: Token) -> str:
        return "the end of the rule" if token.kind == "end" else repr(token.raw)

    def attempt(self, method: Any) -> Any:
        """Run ``method``; on failure restore the position and return None."""
        start = self.i
        try:
            return method()
        except _Backtrack:
            self.i = start
            return None

    # grammar
    def rule(self) -> Rule:
        name = None
        if self.tok.kind in ("name", "quoted") and self.tokens[self.i + 1].text == ":":
            name = self.tok.value
            self.i += 2
        body = self.implication()
        if self.tok.kind != "end":
            self.fail("expected an operator or the end of the rule")
        return Rule(name, body)

    def implication(self) -> Any:
        if self.at("if"):
            self.i += 1
            premise = self.implication()
            self.take("then")
            return Implies(premise, self.implication())
        left = self.disjunction()
        if self.at("->"):
            self.i += 1
            return Implies(left, self.implication())
        return left

    def disjunction(self) -> Any:
        items = [self.conjunction()]
        while self.at("or"):
            self.i += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Any:
        items = [self.negation()]
        while self.at("and"):
            self.i += 1
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Any:
        if self.at("not"):
            self.i += 1
            return Not(self.negation())
        if self.at("("):
            for method in (self.tuple_member, self.grouped):
                found = self.attempt(method)
                if found is not None:
                    return found
        return self.predicate()

    def grouped(self) -> Any:
        self.take("(")
        inner = self.implication()
        self.take(")")
        if self.at(*COMPARE_OPS, "+", "-", "*", "/", "in", "is"):
            self.fail("a bracketed condition cannot be compared")  # it was an arithmetic bracket
        return inner

    def tuple_member(self) -> Member:
        self.take("(")
        columns = [self.column()]
        while self.at(","):
            self.i += 1
            columns.append(self.column())
        self.take(")")
        if len(columns) < 2:
            self.fail("expected ',' and another column")
        return self.member_rest(tuple(columns))

    def predicate(self) -> Any:
        start = self.i
        left = self.expr()
        if self.at("is", "in") or (self.at("not") and self.tokens[self.i + 1].text == "in"):
            if not isinstance(left, Col):
                self.i = start
                self.fail("expected a column before 'in' or 'is'")
            if self.at("is"):
                self.i += 1
                negated = self.at("not")
                self.i += negated
                self.take("null")
                return IsNull(left.name, negated)
            return self.member_rest((left.name,))
        if not self.at(*COMPARE_OPS):
            self.fail("expected a comparison (==, !=, <, <=, >, >=), 'in' or 'is null'")
        op = self.tok.text
        self.i += 1
        return Compare(op, left, self.expr())

    def member_rest(self, columns: tuple[str, ...]) -> Member:
        negated = self.at("not")
        self.i += negated
        self.take("in")
        if self.at("training"):
            self.i += 1
            return Member(columns, None, negated)
        self.take("{")
        values = [self.set_item(len(columns))]
        while self.at(","):
            self.i += 1
            values.append(self.set_item(len(columns)))
        self.take("}")
        return Member(columns, tuple(values), negated)

    def set_item(self, width: int) -> tuple[Any, ...]:
        if width == 1:
            return (self.literal(),)
        self.take("(")
        items = [self.literal()]
        while self.at(","):
            self.i += 1
            items.append(self.literal())
        if len(items) != width:
            self.fail(f"expected {width} values in this combination, one per column")
        self.take(")")
        return tuple(items)

    def literal(self) -> Any:
        sign = -1 if self.at("-") else 1
        self.i += sign == -1
        token = self.tok
        if token.kind == "number":
            self.i += 1
            return sign * token.value
        if sign == 1 and token.kind == "string":
            self.i += 1
            return token.value
        if sign == 1 and self.at("true", "false"):
            self.i += 1
            return token.text == "true"
        self.fail("expected a value (a number, a \"string\", true or false)")

    def column(self) -> str:
        token = self.tok
        if token.kind not in ("name", "quoted"):
            self.fail("expected a column name (quote names with spaces or symbols in `backticks`)")
        self.i += 1
        return str(token.value)

    def expr(self) -> Any:
        left = self.term()
        while self.at("+", "-"):
            op = self.tok.text
            self.i += 1
            left = Arith(op, left, self.term())
        return left

    def term(self) -> Any:
        left = self.unary()
        while self.at("*", "/"):
            op = self.tok.text
            self.i += 1
            left = Arith(op, left, self.unary())
        return left

    def unary(self) -> Any:
        token = self.tok
        if self.at("-"):
            self.i += 1
            operand = self.unary()
            return Num(-operand.value) if isinstance(operand, Num) else Neg(operand)
        if token.kind == "number":
            self.i += 1
            return Num(token.value)
        if token.kind == "string":
            self.i += 1
            return Str(token.value)
        if self.at("true", "false"):
            self.i += 1
            return Bool(token.text == "true")
        if self.at("null"):
            self.fail("null cannot be compared; write 'COLUMN is null' or 'COLUMN is not null'")
        if token.kind in ("name", "quoted"):
            self.i += 1
            return Col(str(token.value))
        if self.at("("):
            self.i += 1
            inner = self.expr()
            self.take(")")
            return inner
        self.fail("expected a column, a number or a \"string\"")
        raise AssertionError  # fail always raises


def parse_rule(text: str) -> Rule:
    """Parse one rule; a :class:`ConfigError` marks the position of a syntax error with a caret."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"a constraint must be a non-empty string, got {text!r}")
    parser = _Parser(text)
    try:
        return parser.rule()
    except _Backtrack as exc:
        worst = parser.furthest if parser.furthest is not None and parser.furthest.pos > exc.pos else exc
        raise syntax_error(text, worst.pos, worst.problem) from None



__all__ = ["Token", "parse_rule", "syntax_error", "tokenize"]
