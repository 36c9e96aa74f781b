"""Property-based tests of the constraint parser and checker.

Random rules are built here as plain tuples, written out as text by this file's own renderer (every part in
brackets, with the language's alternative spellings drawn at random), parsed and bound by the library,
and evaluated on random rows. The expected outcome comes from a straightforward evaluation written here,
in exact fractions, following the documented semantics: Kleene's three-valued logic with a missing value
making a comparison unknown; ``==``/``!=`` on numbers within half a step of every float column involved
(1 decimal here: 0.05 per unit of coefficient); ordering exact; dates in days.
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mallm_gan.table.column import Column
from mallm_gan.table.constraint_parser import parse_rule
from mallm_gan.table.constraint_syntax import render
from mallm_gan.table.constraints import ConstraintSet, bind
from mallm_gan.table.schema import TableSchema

INTS = ("x", "y", "w t")
FLOATS = ("f", "g")
CATS = ("a", "b", "c")
START = date(2020, 1, 1)
SCHEMA = TableSchema((
    Column("x", "numerical", dtype="int", min=-50, max=50, missing_rate=0.1),
    Column("y", "numerical", dtype="int", min=-50, max=50),
    Column("w t", "numerical", dtype="int", min=0, max=9, missing_rate=0.1),
    Column("f", "numerical", dtype="float", min=-10.0, max=10.0, decimals=1),
    Column("g", "numerical", dtype="float", min=-10.0, max=10.0, decimals=1, missing_rate=0.1),
    Column("c", "categorical", categories=CATS, missing_rate=0.1),
    Column("flag", "boolean"),
    Column("d1", "datetime", min="2020-01-01T00:00:00", max="2020-03-31T00:00:00"),
    Column("d2", "datetime", min="2020-01-01T00:00:00", max="2020-03-31T00:00:00", missing_rate=0.1),
))
NULLABLE = {c.name for c in SCHEMA.columns if c.nullable}
OPS = ("==", "!=", "<", "<=", ">", ">=")


# -- random rules -----------------------------------------------------------------------------------
numbers = st.integers(-5, 5).map(lambda k: ("num", k))
columns = st.sampled_from(INTS + FLOATS).map(lambda n: ("col", n))
exprs = st.recursive(
    numbers | columns,
    lambda inner: st.one_of(
        st.tuples(st.just("add"), inner, inner),
        st.tuples(st.just("sub"), inner, inner),
        st.tuples(st.just("mul"), st.integers(-3, 3), inner),
        st.tuples(st.just("neg"), inner),
    ),
    max_leaves=4,
)
day = st.integers(0, 90).map(lambda n: (START + timedelta(days=n)).isoformat())
atoms = st.one_of(
    st.tuples(st.just("cmp"), st.sampled_from(OPS), exprs, exprs),
    st.tuples(st.just("cat"), st.sampled_from(("==", "!=")), st.sampled_from(CATS), st.booleans()),
    st.tuples(st.just("flag"), st.sampled_from(("==", "!=")), st.booleans()),
    st.tuples(st.just("in"), st.sets(st.sampled_from(CATS), min_size=1).map(sorted), st.booleans()),
    st.tuples(st.just("pairs"), st.sets(st.tuples(st.sampled_from(CATS), st.booleans()), min_size=1).map(sorted),
              st.booleans()),
    st.tuples(st.just("null"), st.sampled_from(("x", "g", "c", "d2")), st.booleans()),
    st.tuples(st.just("dates"), st.sampled_from(OPS), st.integers(-20, 20), st.booleans()),
    st.tuples(st.just("date_literal"), st.sampled_from(OPS), day),
)
rules = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(st.just("not"), inner),
        st.tuples(st.sampled_from(("and", "or")), inner, inner),
        st.tuples(st.just("implies"), inner, inner, st.booleans()),
    ),
    max_leaves=5,
)


def _has_column(expr: tuple[Any, ...]) -> bool:
    if expr[0] == "col":
        return True
    return any(isinstance(part, tuple) and _has_column(part) for part in expr[1:])


def _valid(rule: tuple[Any, ...]) -> bool:
    """Comparisons must name a column (two constants are refused by design)."""
    if rule[0] == "cmp":
        return _has_column(rule[2]) or _has_column(rule[3])
    return all(_valid(part) for part in rule[1:] if isinstance(part, tuple) and part and part[0] in _RULE_KINDS)


_RULE_KINDS = {"cmp", "cat", "flag", "in", "pairs", "null", "dates", "date_literal", "not", "and", "or", "implies"}


# -- this file's own renderer -----------------------------------------------------------------------
def _name(name: str) -> str:
    return f"`{name}`" if " " in name or name == "y" else name  # backticks also around a plain name


def _op(op: str) -> str:
    return "=" if op == "==" else op


def text_of_expr(expr: tuple[Any, ...]) -> str:
    kind = expr[0]
    if kind == "num":
        return str(expr[1])
    if kind == "col":
        return _name(expr[1])
    if kind == "neg":
        return f"-({text_of_expr(expr[1])})"
    if kind == "mul":
        return f"{expr[1]} * ({text_of_expr(expr[2])})"
    sign = "+" if kind == "add" else "-"
    return f"({text_of_expr(expr[1])}) {sign} ({text_of_expr(expr[2])})"


def text_of(rule: tuple[Any, ...]) -> str:
    kind = rule[0]
    if kind == "cmp":
        return f"{text_of_expr(rule[2])} {_op(rule[1])} {text_of_expr(rule[3])}"
    if kind == "cat":
        return f'"{rule[2]}" {rule[1]} c' if rule[3] else f"c {rule[1]} '{rule[2]}'"
    if kind == "flag":
        return f"flag {rule[1]} {'TRUE' if rule[2] else 'false'}"
    if kind == "in":
        return f"c {'not in' if rule[2] else 'in'} {{{', '.join(repr(v) for v in rule[1])}}}"
    if kind == "pairs":
        pairs = ", ".join(f'("{c}", {str(b).lower()})' for c, b in rule[1])
        return f"(c, flag) {'not in' if rule[2] else 'in'} {{{pairs}}}"
    if kind == "null":
        return f"{rule[1]} is {'not ' if rule[2] else ''}null"
    if kind == "dates":
        return f"d1 - d2 {_op(rule[1])} {rule[2]}" if rule[3] else f"d1 {_op(rule[1])} d2 + {rule[2]}"
    if kind == "date_literal":
        return f'd1 {_op(rule[1])} "{rule[2]}"'
    if kind == "not":
        return f"not ({text_of(rule[1])})"
    if kind in ("and", "or"):
        return f"({text_of(rule[1])}) {kind.upper() if len(rule[1]) % 2 else kind} ({text_of(rule[2])})"
    premise, conclusion = text_of(rule[1]), text_of(rule[2])
    return f"({premise}) -> ({conclusion})" if rule[3] else f"if ({premise}) then ({conclusion})"


# -- this file's own evaluation ---------------------------------------------------------------------
def linear(expr: tuple[Any, ...]) -> tuple[dict[str, Fraction], Fraction]:
    kind = expr[0]
    if kind == "num":
        return {}, Fraction(expr[1])
    if kind == "col":
        return {expr[1]: Fraction(1)}, Fraction(0)
    if kind in ("neg", "mul"):
        k = Fraction(-1) if kind == "neg" else Fraction(expr[1])
        coefs, const = linear(expr[-1])
        return {n: k * c for n, c in coefs.items()}, k * const
    (a, ca), (b, cb) = linear(expr[1]), linear(expr[2])
    sign = 1 if kind == "add" else -1
    out = dict(a)
    for name, coef in b.items():
        out[name] = out.get(name, Fraction(0)) + sign * coef
    return out, ca + sign * cb


def compare(op: str, diff: Fraction, tolerance: Fraction) -> bool:
    if op in ("==", "!="):
        equal = abs(diff) < tolerance if tolerance else diff == 0
        return equal if op == "==" else not equal
    return {"<": diff < 0, "<=": diff <= 0, ">": diff > 0, ">=": diff >= 0}[op]


def days(iso: str) -> int:
    return (date.fromisoformat(iso[:10]) - START).days


def kleene(op: str, a: bool | None, b: bool | None) -> bool | None:
    if op == "and":
        return False if False in (a, b) else None if None in (a, b) else True
    return True if True in (a, b) else None if None in (a, b) else False


def evaluate(rule: tuple[Any, ...], row: dict[str, Any]) -> bool | None:
    kind = rule[0]
    if kind == "cmp":
        left, lconst = linear(rule[2])
        right, rconst = linear(rule[3])
        coefs = dict(left)
        for name, coef in right.items():
            coefs[name] = coefs.get(name, Fraction(0)) - coef
        if any(row[name] is None for name in coefs):
            return None
        diff = sum((c * Fraction(repr(row[n])) for n, c in coefs.items()), Fraction(0)) + lconst - rconst
        tolerance = sum((abs(c) * Fraction(1, 20) for n, c in coefs.items() if n in FLOATS), Fraction(0))
        return compare(rule[1], diff, tolerance)
    if kind == "cat":
        return None if row["c"] is None else (row["c"] == rule[2]) == (rule[1] == "==")
    if kind == "flag":
        return (row["flag"] == rule[2]) == (rule[1] == "==")
    if kind == "in":
        return None if row["c"] is None else (row["c"] in rule[1]) != rule[2]
    if kind == "pairs":
        return None if row["c"] is None else ((row["c"], row["flag"]) in set(rule[1])) != rule[2]
    if kind == "null":
        return (row[rule[1]] is None) != rule[2]
    if kind == "dates":
        if row["d2"] is None:
            return None
        return compare(rule[1], Fraction(days(row["d1"]) - days(row["d2"]) - rule[2]), Fraction(0))
    if kind == "date_literal":
        return compare(rule[1], Fraction(days(row["d1"]) - days(rule[2])), Fraction(0))
    if kind == "not":
        inner = evaluate(rule[1], row)
        return None if inner is None else not inner
    if kind in ("and", "or"):
        return kleene(kind, evaluate(rule[1], row), evaluate(rule[2], row))
    premise = evaluate(rule[1], row)
    return kleene("or", None if premise is None else not premise, evaluate(rule[2], row))


def _maybe(values: st.SearchStrategy[Any], name: str) -> st.SearchStrategy[Any]:
    return st.none() | values if name in NULLABLE else values


# mostly small values, so that sums meet constants and each other exactly, or a step apart (the edges of
# the tolerance and of the ordering)
small_ints = st.integers(-3, 3) | st.integers(-50, 50)
tenths = (st.integers(-3, 3) | st.integers(-100, 100)).map(lambda k: round(k / 10, 1))
rows = st.fixed_dictionaries({
    "x": _maybe(small_ints, "x"),
    "y": small_ints,
    "w t": _maybe(st.integers(0, 9), "w t"),
    "f": tenths,
    "g": _maybe(tenths, "g"),
    "c": _maybe(st.sampled_from(CATS), "c"),
    "flag": st.booleans(),
    "d1": day.map(lambda d: d + "T00:00:00"),
    "d2": _maybe(day.map(lambda d: d + "T00:00:00"), "d2"),
})


# -- properties ---------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(rules.filter(_valid), st.lists(rows, min_size=1, max_size=8))
def test_the_checker_agrees_with_a_straightforward_evaluation(rule, sample):
    constraint = bind(text_of(rule), SCHEMA)
    for row in sample:
        expected = evaluate(rule, row)
        assert constraint.node.eval(row) == expected, (text_of(rule), row)
        assert constraint.holds(row) == (expected is not False)
    assert ConstraintSet((constraint,)).violations(sample).get(constraint.name, []) == [
        i for i, row in enumerate(sample) if evaluate(rule, row) is False]


@settings(max_examples=200, deadline=None)
@given(rules.filter(_valid))
def test_canonical_text_parses_back_to_the_same_rule(rule):
    parsed = parse_rule(text_of(rule))
    canonical = render(parsed)
    assert parse_rule(canonical) == parsed
    assert bind(canonical, SCHEMA).text == canonical


@settings(max_examples=200, deadline=None)
@given(rules.filter(_valid), rows)
def test_a_rule_that_some_row_meets_is_never_called_unsatisfiable(rule, row):
    constraint = bind(text_of(rule), SCHEMA)
    if constraint.holds(row):  # every generated row lies within the schema's ranges and categories
        ConstraintSet((constraint,)).check_feasible(SCHEMA)


@settings(max_examples=200, deadline=None)
@given(st.integers(-3, 3), st.integers(-3, 3), tenths, tenths, st.integers(-2, 2), st.integers(-5, 5),
       st.sampled_from(("==", "!=")))
def test_equality_at_the_edge_of_the_tolerance(c1, c2, f, g, shift, k, op):
    """``c1*f + c2*g == x + k`` with ``x`` a step or two from the value that makes both sides equal, so the
    difference often lands on the tolerance itself (which must not count as equal)."""
    exact = c1 * Fraction(repr(f)) + c2 * Fraction(repr(g)) - k
    x = int(exact // 1) + shift
    rule = ("cmp", op, ("add", ("mul", c1, ("col", "f")), ("mul", c2, ("col", "g"))), ("add", ("col", "x"), ("num", k)))
    row = {"x": x, "y": 0, "w t": 0, "f": f, "g": g, "c": "a", "flag": True, "d1": "2020-01-01T00:00:00",
           "d2": None}
    assert bind(text_of(rule), SCHEMA).node.eval(row) == evaluate(rule, row)
