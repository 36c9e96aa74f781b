"""The constraint language: its grammar, syntax tree and canonical rendering (the parser is
:mod:`.constraint_parser`; binding names and types to a schema is :mod:`.constraint_bind`).

Grammar (keywords are case-insensitive)::

    rule        := [NAME ":"] implication
    implication := "if" implication "then" implication | disjunction ["->" implication]
    disjunction := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation    := "not" negation | "(" implication ")" | predicate
    predicate   := expr ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") expr
                 | column ["not"] "in" set | "(" column ("," column)+ ")" ["not"] "in" set
                 | column "is" ["not"] "null"
    set         := "{" value ("," value)* "}" | "{" tuple ("," tuple)* "}" | "training"
    expr        := term (("+" | "-") term)*
    term        := unary (("*" | "/") unary)*
    unary       := "-" unary | NUMBER | STRING | "true" | "false" | column | "(" expr ")"
    column      := NAME | `any name, spaces allowed`
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "if", "then", "training"})
COMPARE_OPS = ("==", "!=", "<=", ">=", "<", ">")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# -- syntax tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: int | float


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Any
    right: Any


@dataclass(frozen=True)
class Compare:
    op: str  # one of COMPARE_OPS
    left: Any
    right: Any


@dataclass(frozen=True)
class Member:
    """``columns`` take one of ``values`` (tuples, one value per column); ``values=None`` means "learn the
    combinations from the training rows" (``in training``)."""

    columns: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...] | None
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    column: str
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Implies:
    premise: Any
    conclusion: Any


@dataclass(frozen=True)
class Rule:
    name: str | None
    body: Any


def rule_texts(entries: Any) -> list[str]:
    """Rules as given to the API or in a metadata file's ``constraints`` list: strings, or
    ``{"name": ..., "rule": ...}`` objects (read as ``name: rule``). They are parsed when bound."""
    if entries is None:
        return []
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"constraints must be a list of rules, got {type(entries).__name__}")
    out = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("rule"), str) and set(entry) <= {"name", "rule"}:
            name = entry.get("name")
            out.append(f"{quote_name(str(name))}: {entry['rule']}" if name else entry["rule"])
        elif isinstance(entry, str) and entry.strip():
            out.append(entry)
        else:
            raise ConfigError(f'a constraint must be a rule string or {{"name": ..., "rule": ...}}, got {entry!r}')
    return out


# -- rendering --------------------------------------------------------------------------------------
def quote_name(name: str) -> str:
    """A column name as the parser reads it back: plain if it can be, else in backticks."""
    if _PLAIN.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


_LEVEL = {Implies: 1, Or: 2, And: 3, Not: 4}


def _level(node: Any) -> int:
    return _LEVEL.get(type(node), 5)


def _arith(node: Any, parent: int = 0, right: bool = False) -> str:
    if isinstance(node, Num):
        return render_value(node.value)
    if isinstance(node, (Str, Bool)):
        return render_value(node.value)
    if isinstance(node, Col):
        return quote_name(node.name)
    if isinstance(node, Neg):
        return "-" + _arith(node.operand, 3)
    mine = 1 if node.op in "+-" else 2
    text = f"{_arith(node.left, mine)} {node.op} {_arith(node.right, mine, right=True)}"
    return f"({text})" if mine < parent or (right and mine == parent) or parent == 3 else text


def render_expr(node: Any) -> str:
    """Canonical text of a value: a number, a string, a column or arithmetic on them."""
    return _arith(node)


def render(node: Any, parent: int = 0) -> str:
    """Canonical text of a rule or a part of one (``parse_rule(render(r)) == r``)."""
    if isinstance(node, Rule):
        body = render(node.body)
        return f"{quote_name(node.name)}: {body}" if node.name else body
    if isinstance(node, Compare):
        return f"{_arith(node.left)} {node.op} {_arith(node.right)}"
    if isinstance(node, IsNull):
        return f"{quote_name(node.column)} is {'not ' if node.negated else ''}null"
    if isinstance(node, Member):
        names = ", ".join(quote_name(c) for c in node.columns)
        head = names if len(node.columns) == 1 else f"({names})"
        if node.values is None:
            values = "training"
        elif len(node.columns) == 1:
            values = "{" + ", ".join(render_value(v[0]) for v in node.values) + "}"
        else:
            values = "{" + ", ".join("(" + ", ".join(map(render_value, v)) + ")" for v in node.values) + "}"
        return f"{head} {'not in' if node.negated else 'in'} {values}"
    mine = _level(node)
    if isinstance(node, Not):
        text = "not " + render(node.operand, mine)
    elif isinstance(node, (And, Or)):
        joiner = " and " if isinstance(node, And) else " or "
        text = joiner.join(render(item, mine + 1) for item in node.items)
    else:
        text = f"if {render(node.premise, 2)} then {render(node.conclusion, 1)}"
    return f"({text})" if mine < parent or (mine == parent and mine != 4) else text


__all__ = [
    "COMPARE_OPS",
    "KEYWORDS",
    "And",
    "Arith",
    "Bool",
    "Col",
    "Compare",
    "Implies",
    "IsNull",
    "Member",
    "Neg",
    "Not",
    "Num",
    "Or",
    "Rule",
    "Str",
    "quote_name",
    "render",
    "render_expr",
    "render_value",
    "rule_texts",
]
