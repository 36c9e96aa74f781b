"""Why the rows were caught: a short, ranked feedback block for the optimizer's meta-prompt.

The paper's optimizer reads (θ, score) pairs only: a number says *that* the discriminator told the rows
apart, not *why*. Everything needed to say why is already at hand after an iteration: the discriminator's
weights on its encoded features, the real and synthetic rows, the causal structure θ claims and the
validator's rejection counts. This module turns them into a few lines of words and aggregate numbers.

Pure functions: no network, no files. The block holds shares, means, standard deviations and dependence
measures only, never a value of a real row as such (numbers are written to three significant digits).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..table.column import Column
from ..table.schema import TableSchema
from .discriminator import MISSING_FEATURE, Discriminator

Edge = tuple[str, str]

#: Dependence below this (Cramér's V, |correlation| or correlation ratio) reads as "little or none".
WEAK = 0.1
#: Real dependencies between unconnected columns are mentioned from this strength up.
STRONG = 0.3
#: Default size of the block, in characters (about 300 tokens).
MAX_CHARS = 1200


# -- numbers --------------------------------------------------------------------------------------------
def fmt(value: float) -> str:
    """``value`` to three significant digits, thousands separated (never a full-precision data value)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    digits = 2 - int(math.floor(math.log10(abs(value))))
    rounded = round(value, digits)
    return f"{rounded:,.{digits}f}" if digits > 0 else f"{rounded:,.0f}"


def _numbers(values: pd.Series, column: Column) -> np.ndarray:
    if column.kind == "datetime":
        stamps = pd.to_datetime(values, errors="coerce")
        return (stamps.astype("int64").where(stamps.notna()) / 86400e9).to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _is_number(column: Column) -> bool:
    return column.kind in ("numerical", "datetime")


def _labels(values: pd.Series) -> np.ndarray:
    return np.array([str(v) if not pd.isna(v) else "" for v in values], dtype=object)


# -- dependence -----------------------------------------------------------------------------------------
def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two label arrays (0 = independent, 1 = one determines the other), bias-corrected.

    On a few dozen rows the plain V of two independent columns is about 0.15; the correction (Bergsma
    2013) takes off what chance alone gives, so "little dependence" means little.
    """
    table = pd.crosstab(a, b).to_numpy(dtype=float)
    n = table.sum()
    if n < 2 or min(table.shape) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    phi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum()) / n
    r, k = table.shape
    phi2 = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r, k = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    return math.sqrt(min(1.0, phi2 / min(k - 1, r - 1))) if min(k, r) > 1 else 0.0


def correlation_ratio(labels: np.ndarray, numbers: np.ndarray) -> float:
    """η: the share of the numbers' spread explained by the labels, as a square root (0 to 1), with the
    share chance alone explains (groups - 1 degrees of freedom) taken off."""
    total = float(((numbers - numbers.mean()) ** 2).sum())
    groups = np.unique(labels)
    if total == 0 or len(groups) < 2 or len(numbers) <= len(groups):
        return 0.0
    between = sum(
        (labels == g).sum() * (numbers[labels == g].mean() - numbers.mean()) ** 2 for g in groups
    )
    within = (total - between) / (len(numbers) - len(groups))
    return math.sqrt(min(1.0, max(0.0, between - (len(groups) - 1) * within) / total))


def dependence(frame: pd.DataFrame, schema: TableSchema, a: str, b: str) -> tuple[float, str]:
    """How strongly columns ``a`` and ``b`` of ``frame`` depend on each other, and the measure's name.

    Correlation (signed) for two numbers, the correlation ratio for a category and a number, Cramér's V
    for two categories (booleans count as categories). Rows missing either value are left out; NaN when
    fewer than three rows remain or a column is constant.
    """
    ca, cb = schema[a], schema[b]
    pair = frame[[a, b]].dropna()
    if len(pair) < 3:
        return float("nan"), _measure(ca, cb)
    if _is_number(ca) and _is_number(cb):
        x, y = _numbers(pair[a], ca), _numbers(pair[b], cb)
        if np.nanstd(x) == 0 or np.nanstd(y) == 0:
            return float("nan"), "correlation"
        return float(np.corrcoef(x, y)[0, 1]), "correlation"
    if _is_number(ca) != _is_number(cb):
        num, cat = (ca, cb) if _is_number(ca) else (cb, ca)
        return correlation_ratio(_labels(pair[cat.name]), _numbers(pair[num.name], num)), "correlation ratio"
    return cramers_v(_labels(pair[a]), _labels(pair[b])), "Cramér's V"


def _measure(ca: Column, cb: Column) -> str:
    if _is_number(ca) and _is_number(cb):
        return "correlation"
    return "correlation ratio" if _is_number(ca) != _is_number(cb) else "Cramér's V"


@dataclass(frozen=True)
class EdgeCheck:
    """The dependence an edge of θ promises, measured in real and in synthetic rows."""

    parent: str
    child: str
    measure: str
    real: float
    synthetic: float

    @property
    def gap(self) -> float:
        if math.isnan(self.real) or math.isnan(self.synthetic):
            return 0.0
        return abs(self.real) - abs(self.synthetic)

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 3)

        return {"edge": [self.parent, self.child], "measure": self.measure, "real": clean(self.real),
                "synthetic": clean(self.synthetic)}


def edge_checks(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, edges: Iterable[Edge]
) -> list[EdgeCheck]:
    """For each edge (in the given order), its dependence in the real and in the synthetic rows."""
    out = []
    for parent, child in edges:
        r, measure = dependence(real, schema, parent, child)
        s, _ = dependence(synthetic, schema, parent, child) if len(synthetic) else (float("nan"), measure)
        out.append(EdgeCheck(parent, child, measure, r, s))
    return out


def unconnected_dependencies(
    real: pd.DataFrame, schema: TableSchema, edges: Iterable[Edge], *, top: int = 3, at_least: float = STRONG
) -> list[tuple[str, str, float, str]]:
    """The strongest dependencies in ``real`` between column pairs no edge joins (either direction)."""
    joined = {frozenset(e) for e in edges}
    found = []
    names = schema.names
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if frozenset((a, b)) in joined:
                continue
            value, measure = dependence(real, schema, a, b)
            if not math.isnan(value) and abs(value) >= at_least:
                found.append((a, b, value, measure))
    found.sort(key=lambda item: -abs(item[2]))
    return found[:top]


# -- per-column shape gaps and the discriminator's view -----------------------------------------------
@dataclass(frozen=True)
class ColumnGap:
    """How one column of the synthetic rows differs from the real rows, in words and as a size."""

    column: str
    size: float
    """Comparable across kinds: a share difference, or a shift / spread change in real standard deviations."""
    text: str


def _share(values: np.ndarray, level: str) -> float:
    return float(np.mean(values == level)) if len(values) else 0.0


def _categorical_gap(column: Column, real: pd.Series, synthetic: pd.Series) -> ColumnGap:
    r, s = _labels(real.dropna()), _labels(synthetic.dropna())
    levels = list(dict.fromkeys([*np.unique(r), *np.unique(s)]))
    diffs = [(_share(s, lv) - _share(r, lv), lv) for lv in levels] or [(0.0, "")]
    diff, level = max(diffs, key=lambda d: abs(d[0]))
    few = "too many" if diff > 0 else "too few"
    text = (f"`{column.name} = {level}`: synthetic rows have {few} ({fmt(100 * _share(s, level))}% vs "
            f"{fmt(100 * _share(r, level))}% of real rows)")
    return ColumnGap(column.name, abs(diff), text)


def _numerical_gap(column: Column, real: pd.Series, synthetic: pd.Series) -> ColumnGap:
    r, s = _numbers(real, column), _numbers(synthetic, column)
    r, s = r[~np.isnan(r)], s[~np.isnan(s)]
    if len(r) < 2 or len(s) < 2:
        return ColumnGap(column.name, 0.0, f"`{column.name}`: too few values to compare")
    mr, ms, sr, ss = r.mean(), s.mean(), r.std(ddof=1), s.std(ddof=1)
    scale = sr if sr > 0 else max(abs(mr), 1.0)
    shift = abs(ms - mr) / scale
    spread = abs(math.log((ss + 1e-9 * scale) / (sr + 1e-9 * scale)))
    means = f"mean {fmt(ms)} vs {fmt(mr)}"
    sds = f"sd {fmt(ss)} vs {fmt(sr)}"
    if spread > shift:
        word = "narrower" if ss < sr else "wider"
        text = f"`{column.name}` of synthetic rows is {word} than real: {sds}; {means}"
    else:
        word = "higher" if ms > mr else "lower"
        text = f"`{column.name}` of synthetic rows is {word} than real: {means}; {sds}"
    # a share difference of 0.1 and a shift of 0.25 sd read as about equally telling
    return ColumnGap(column.name, 0.4 * max(shift, spread), text)


def column_gaps(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> dict[str, ColumnGap]:
    """The gap of every column between real and synthetic rows (synthetic rows must not be empty)."""
    out = {}
    for column in schema.columns:
        r, s = real[column.name], synthetic[column.name]
        gap = (_numerical_gap if _is_number(column) else _categorical_gap)(column, r, s)
        miss_r, miss_s = float(r.isna().mean()), float(s.isna().mean())
        if abs(miss_s - miss_r) > gap.size:
            gap = ColumnGap(column.name, abs(miss_s - miss_r),
                            f"`{column.name}` is missing in {fmt(100 * miss_s)}% of synthetic rows vs "
                            f"{fmt(100 * miss_r)}% of real rows")
        out[column.name] = gap
    return out


def separation_by_column(
    discriminator: Discriminator, real: pd.DataFrame, synthetic: pd.DataFrame
) -> dict[str, float]:
    """How much each column helps the current discriminator tell the rows apart (larger: more).

    Logistic regression: |coefficient x (real mean - synthetic mean)| of each encoded feature, the
    feature's share of the mean logit gap between the two sets; XGBoost: the features' total gain.
    Summed over a column's encoded features. Empty before the discriminator's first update.
    """
    weights = discriminator.feature_weights()
    if weights is None:
        return {}
    encoder = discriminator.encoder_
    if discriminator.kind == "logistic":
        gap = encoder.transform(real).mean(0) - encoder.transform(synthetic).mean(0)
        weights = np.abs(weights * gap)
    out: dict[str, float] = {}
    for (column, level), weight in zip(encoder.feature_names(), weights, strict=True):
        if level != MISSING_FEATURE or weight > 0:
            out[column] = out.get(column, 0.0) + float(weight)
    return out


def ranked_gaps(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, discriminator: Discriminator | None = None,
    *, top: int = 4, at_least: float = 0.05,
) -> list[ColumnGap]:
    """The most telling column gaps first: by the discriminator's reliance on the column, then by size.

    Columns whose gap is below ``at_least`` are left out whatever the discriminator says (it may lean on
    noise); without a discriminator the order is by gap size alone.
    """
    if not len(synthetic):
        return []
    gaps = column_gaps(real, synthetic, schema)
    lean = separation_by_column(discriminator, real, synthetic) if discriminator is not None else {}
    total = sum(lean.values()) or 1.0
    kept = [g for g in gaps.values() if g.size >= at_least]
    kept.sort(key=lambda g: -(lean.get(g.column, 0.0) / total + g.size))
    return kept[:top]


# -- lines ----------------------------------------------------------------------------------------------
def edge_lines(checks: Sequence[EdgeCheck], *, top: int = 5) -> list[str]:
    """Edges whose promised dependence the synthetic rows miss, or the real rows do not show, worst first."""
    lines = []
    for check in sorted(checks, key=lambda c: -abs(c.gap)):
        if math.isnan(check.real):
            continue
        head = f"- {check.parent} -> {check.child}: {check.measure} {fmt(check.real)} in real rows"
        if abs(check.real) < WEAK:
            lines.append(f"{head}, so real rows show little dependence: consider removing this edge")
        elif not math.isnan(check.synthetic) and abs(check.gap) >= WEAK:
            word = "weaker" if check.gap > 0 else "stronger"
            lines.append(f"{head}, {fmt(check.synthetic)} in synthetic rows ({word} than real)")
    return lines[:top]


def unconnected_lines(found: Sequence[tuple[str, str, float, str]]) -> list[str]:
    return [f"- {a} and {b}: {measure} {fmt(value)} in real rows, but no edge joins them"
            for a, b, value, measure in found]


def rejection_line(report: Mapping[str, Any] | None, *, top: int = 3) -> str | None:
    """The validator's rejections by reason and column (a :class:`RejectionReport` ``to_dict``), or None."""
    if not report or not report.get("reasons"):
        return None
    by_column = report.get("by_column") or {}
    parts = []
    for reason, count in sorted(report["reasons"].items(), key=lambda kv: -kv[1])[:top]:
        columns = sorted((by_column.get(reason) or {}).items(), key=lambda kv: -kv[1])[:top]
        where = f" ({', '.join(f'{c} {n}' for c, n in columns)})" if columns else ""
        parts.append(f"{reason} {count}{where}")
    generated = report.get("generated", 0)
    return f"Rejected {sum(report['reasons'].values())} of {generated} generated rows: {'; '.join(parts)}."


def _fit(sections: list[tuple[str, list[str]]], max_chars: int) -> str:
    """Sections joined, dropping the lowest-ranked line of the longest section until the text fits."""
    sections = [(head, list(lines)) for head, lines in sections if lines]

    def text() -> str:
        body = "\n".join("\n".join([head, *lines]) if head else "\n".join(lines) for head, lines in sections)
        return f"<feedback>\n{body}\n</feedback>" if sections else ""

    while sections and len(text()) > max_chars:
        # the longest section loses its last line; on a tie the later (lower-ranked) section does
        longest = max(range(len(sections)), key=lambda i: (len(sections[i][1]), i))
        sections[longest][1].pop()
        sections = [(h, ls) for h, ls in sections if ls]
    return text()


def feedback_block(
    schema: TableSchema,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    edges: Sequence[Edge],
    *,
    discriminator: Discriminator | None = None,
    report: Mapping[str, Any] | None = None,
    max_chars: int = MAX_CHARS,
    top: int = 4,
) -> str:
    """The feedback block on one version's synthetic rows, within ``max_chars`` ("" when nothing fits).

    Args:
        schema: The table's schema.
        real: The real training rows (only aggregates of them are written).
        synthetic: The accepted synthetic rows of the version the feedback is about.
        edges: That version's causal structure.
        discriminator: The current discriminator, to rank the columns by how much it leans on them.
        report: That version's rejection report (``RejectionReport.to_dict()``).
        max_chars: Size limit; the lowest-ranked lines go first.
        top: Lines per section at most.
    """
    gaps = ranked_gaps(real, synthetic, schema, discriminator, top=top)
    sections = [
        (f"What tells the synthetic rows of the best version from real rows ({len(synthetic)} synthetic, "
         f"{len(real)} real rows; most telling first):", [f"{i}. {g.text}" for i, g in enumerate(gaps, 1)]),
        ("Causal structure check (dependence of each edge's columns):",
         edge_lines(edge_checks(real, synthetic, schema, edges), top=top)),
        ("Strong real dependencies the causal structure leaves out:",
         unconnected_lines(unconnected_dependencies(real, schema, edges, top=top))),
    ]
    line = rejection_line(report)
    if line:
        sections.append(("", [line]))
    return _fit(sections, max_chars)


def structure_record(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, edges: Iterable[Edge]
) -> list[dict[str, Any]]:
    """Each edge's dependence in real vs synthetic rows, JSON-ready, as a history entry saves it."""
    return [check.to_dict() for check in edge_checks(real, synthetic, schema, edges)]


__all__ = [
    "ColumnGap",
    "EdgeCheck",
    "column_gaps",
    "correlation_ratio",
    "cramers_v",
    "dependence",
    "edge_checks",
    "feedback_block",
    "fmt",
    "ranked_gaps",
    "rejection_line",
    "separation_by_column",
    "structure_record",
    "unconnected_dependencies",
]
