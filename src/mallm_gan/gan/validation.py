"""From LLM text to valid rows: validation against the schema, the copy guard, and the count of rejections.

Three steps, each counting what it drops so nothing disappears silently:

1. :func:`~mallm_gan.gan.parsing.parse_rows` recovers row records from whatever text the model wrote (fenced,
   prose-wrapped, Python-repr, trailing commas, JSON lines, truncated output) and counts the problems by
   reason.
2. :class:`RowValidator` coerces every value to its column's kind and precision (:mod:`mallm_gan.table.coerce`),
   rejects what cannot be repaired, checks structured conditions and the rules across columns
   (:mod:`mallm_gan.table.constraints`) and applies the copy guard.
3. :class:`RejectionReport` counts generated, accepted and rejected rows by reason and by column.

The copy guard compares *normalised* rows (training and generated rows go through the same coercion), so
"1" vs 1, 2.50 vs 2.5 and "Female" vs "female" are the same row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..table.coerce import checker, normalise_frame
from ..table.constraints import schema_constraints
from ..table.schema import TableSchema, fold
from .parsing import ParseResult

if TYPE_CHECKING:
    from ..table.conditions import Conditions

CopyPolicy = Literal["k", "never", "allow"]
COPY_POLICIES: tuple[str, ...] = ("k", "never", "allow")


# -- validation ------------------------------------------------------------------------------------------


@dataclass
class RejectionReport:
    """What happened to generated rows: accepted, rejected by reason (and column), copies, notes.

    Attributes:
        generated: Records handed to the validator.
        accepted: Records returned as valid rows.
        reasons: Rejections by their first reason ("out_of_range", "copy_of_unique_record", ...).
        by_column: Rejections by (reason, column) for reasons that concern one column.
        shared_copies: Accepted rows equal to a training record that occurs at least ``copy_k`` times.
        unique_copies: Accepted rows equal to a rarer training record (only under ``copy_policy="allow"``).
        notes: Repairs that kept the row ("extra_key", "renamed_key", "duplicate_key").
        parse_problems: Problems met while parsing the answers ("truncated", "no_json", ...).
    """

    generated: int = 0
    accepted: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    by_column: Counter[tuple[str, str]] = field(default_factory=Counter)
    shared_copies: int = 0
    unique_copies: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    parse_problems: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    def reject(self, reason: str, column: str | None = None) -> None:
        self.reasons[reason] += 1
        if column is not None:
            self.by_column[(reason, column)] += 1

    def add(self, other: RejectionReport) -> RejectionReport:
        """Merge ``other`` into this report (in place) and return it."""
        self.generated += other.generated
        self.accepted += other.accepted
        self.reasons.update(other.reasons)
        self.by_column.update(other.by_column)
        self.shared_copies += other.shared_copies
        self.unique_copies += other.unique_copies
        self.notes.update(other.notes)
        self.parse_problems.update(other.parse_problems)
        return self

    def add_parse(self, result: ParseResult) -> RejectionReport:
        """Count the problems of one parsed answer."""
        self.parse_problems.update(result.problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``by_column`` becomes ``{reason: {column: count}}``."""
        by_column: dict[str, dict[str, int]] = {}
        for (reason, column), count in sorted(self.by_column.items()):
            by_column.setdefault(reason, {})[column] = count
        return {
            "generated": self.generated,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "reasons": dict(self.reasons.most_common()),
            "by_column": by_column,
            "shared_copies": self.shared_copies,
            "unique_copies": self.unique_copies,
            "notes": dict(self.notes.most_common()),
            "parse_problems": dict(self.parse_problems.most_common()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RejectionReport:
        by_column = Counter(
            {(reason, col): n for reason, cols in data.get("by_column", {}).items() for col, n in cols.items()}
        )
        return cls(
            generated=int(data.get("generated", 0)),
            accepted=int(data.get("accepted", 0)),
            reasons=Counter(data.get("reasons", {})),
            by_column=by_column,
            shared_copies=int(data.get("shared_copies", 0)),
            unique_copies=int(data.get("unique_copies", 0)),
            notes=Counter(data.get("notes", {})),
            parse_problems=Counter(data.get("parse_problems", {})),
        )

    def summary(self) -> str:
        """One line, like ``accepted 45 of 60; rejected: copy 9, out_of_range 6 (age 4, bmi 2)``."""
        parts = []
        for reason, count in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            cols = sorted(((c, n) for (r, c), n in self.by_column.items() if r == reason), key=lambda x: -x[1])
            detail = f" ({', '.join(f'{c} {n}' for c, n in cols)})" if cols else ""
            parts.append(f"{reason} {count}{detail}")
        text = f"accepted {self.accepted} of {self.generated}; rejected: {', '.join(parts) or 'none'}"
        if self.shared_copies or self.unique_copies:
            text += f"; copies kept: shared {self.shared_copies}"
            text += f", unique {self.unique_copies}" if self.unique_copies else ""
        for label, counter in (("notes", self.notes), ("parse", self.parse_problems)):
            if counter:
                text += f"; {label}: " + ", ".join(f"{k} {n}" for k, n in counter.most_common())
        return text


@dataclass
class ValidationResult:
    """Valid rows (dicts in schema order, normalised values) and the report on all records."""

    rows: list[dict[str, Any]]
    report: RejectionReport


class RowValidator:
    """Coerce, check and filter generated records against a schema and the training data.

    Args:
        schema: The table schema every row must obey.
        training: The real training rows, for the copy guard and near-copy distances; None disables both.
        copy_policy: ``"k"`` (default) rejects a row equal to a training record that occurs fewer than
            ``copy_k`` times ("copy_of_unique_record") and keeps copies of commoner records, which identify
            no single person; ``"never"`` rejects every exact copy ("copy"); ``"allow"`` keeps all.
        copy_k: How often a combination must occur in the training data before a copy of it is allowed.
        conditions: Structured conditions every row must meet ("condition_not_met").
        dcr_threshold: If set, reject as "near_copy" a row whose distance to the nearest training record
            occurring fewer than ``copy_k`` times is below it (numbers in training standard deviations, L1;
            any other mismatch, and missing vs present, count 1).
        check_constraints: Reject a row that breaks one of the schema's rules across columns
            ("constraint_violated", counted by rule name in ``by_column``). A rule that no row can satisfy
            under the conditions is a ConfigError here, before any row is asked for.
    """

    def __init__(
        self,
        schema: TableSchema,
        training: pd.DataFrame | None = None,
        *,
        copy_policy: CopyPolicy = "k",
        copy_k: int = 2,
        conditions: Conditions | None = None,
        dcr_threshold: float | None = None,
        check_constraints: bool = True,
    ) -> None:
        if copy_policy not in COPY_POLICIES:
            raise ConfigError(f"copy_policy must be one of {list(COPY_POLICIES)}, got {copy_policy!r}")
        if isinstance(copy_k, bool) or not isinstance(copy_k, (int, np.integer)) or copy_k < 1:
            raise ConfigError(f"copy_k must be a whole number >= 1, got {copy_k!r}")
        if dcr_threshold is not None and not (isinstance(dcr_threshold, (int, float)) and dcr_threshold >= 0):
            raise ConfigError(f"dcr_threshold must be a number >= 0 or None, got {dcr_threshold!r}")
        self.schema = schema
        self.copy_policy = copy_policy
        self.copy_k = int(copy_k)
        self.conditions = conditions if conditions else None
        self.dcr_threshold = dcr_threshold
        self.constraints = schema_constraints(schema) if check_constraints and schema.constraints else None
        if self.constraints is not None:
            self.constraints.check_feasible(schema, self.conditions)
        self._names = schema.names
        self._name_set = set(self._names)
        self._plan = [(c.name, checker(c), c.nullable) for c in schema.columns]
        self._folded_names = {fold(n): n for n in reversed(self._names)}
        self._key_cache: dict[str, str | None] = {}
        tuples = normalise_frame(training, schema) if training is not None else []
        self._train_counts: Counter[tuple[Any, ...]] = Counter(tuples)
        self._dcr = _DistanceIndex(schema, tuples, self._train_counts, self.copy_k)

    def copy_count(self, row: Mapping[str, Any]) -> int:
        """How often a normalised row occurs in the training data."""
        return self._train_counts.get(tuple(row.get(n) for n in self._names), 0)

    def validate(self, records: Iterable[Any]) -> ValidationResult:
        """Validate ``records`` (dicts from :func:`parse_rows`); never raises on bad records."""
        report = RejectionReport()
        kept: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        names, conditions, counts, constraints = self._names, self.conditions, self._train_counts, self.constraints
        for record in records:
            report.generated += 1
            if not isinstance(record, Mapping):
                report.reject("not_a_row")
                continue
            if record.keys() != self._name_set:
                record = self._map_keys(record, report)
            values = []
            for name, check, nullable in self._plan:
                ok, value = check(record.get(name))
                if not ok:
                    report.reject(value, name)
                    break
                if value is None and not nullable:
                    report.reject("missing_value", name)
                    break
                values.append(value)
            else:
                key = tuple(values)
                row = dict(zip(names, values, strict=True))
                if conditions is not None and not conditions.matches(row):
                    report.reject("condition_not_met", conditions.first_failure(row))
                    continue
                broken = constraints.first_broken(row) if constraints is not None else None
                if broken is not None:
                    report.reject("constraint_violated", broken)
                    continue
                count = counts.get(key, 0)
                if count and self.copy_policy == "never":
                    report.reject("copy")
                    continue
                if count and count < self.copy_k and self.copy_policy == "k":
                    report.reject("copy_of_unique_record")
                    continue
                kept.append((key, row))
        if self.dcr_threshold is not None and kept:
            near = self._dcr.below(np.array([key for key, _ in kept], dtype=object), self.dcr_threshold)
            if near.any():
                report.reasons["near_copy"] += int(near.sum())
                kept = [item for item, bad in zip(kept, near, strict=True) if not bad]
        for key, _ in kept:
            count = counts.get(key, 0)
            if count >= self.copy_k:
                report.shared_copies += 1
            elif count:
                report.unique_copies += 1
        report.accepted = len(kept)
        return ValidationResult([row for _, row in kept], report)

    def _map_keys(self, record: Mapping[Any, Any], report: RejectionReport) -> dict[str, Any]:
        """Match keys to column names regardless of case and spacing; drop and count the rest."""
        mapped: dict[str, Any] = {}
        for key, value in record.items():
            text = key if isinstance(key, str) else str(key)
            try:
                name = self._key_cache[text]
            except KeyError:
                name = text if text in self._name_set else self._folded_names.get(fold(text))
                if len(self._key_cache) < 10_000:  # odd keys from a chatty model must not grow it forever
                    self._key_cache[text] = name
            if name is None:
                report.notes["extra_key"] += 1
            elif name in mapped:
                report.notes["duplicate_key"] += 1
            else:
                if name != key:
                    report.notes["renamed_key"] += 1
                mapped[name] = value
        return mapped


class _DistanceIndex:
    """Training records that occur fewer than ``k`` times, encoded for fast distance computations.

    Numbers are divided by the training standard deviation and compared by L1; every other column is
    one-hot encoded so that its mismatch count is one matrix product.
    """

    def __init__(self, schema: TableSchema, tuples: list[tuple[Any, ...]], counts: Counter, k: int) -> None:
        width = len(schema.columns)
        rare = [t for t in dict.fromkeys(tuples) if counts[t] < k]
        self._numeric = [i for i, c in enumerate(schema.columns) if c.kind == "numerical"]
        self._other = [i for i in range(width) if i not in set(self._numeric)]
        self._slots: list[dict[Any, int]] = []
        self._std = np.ones(len(self._numeric))
        self._num = np.zeros((0, len(self._numeric)))
        self._hot = np.zeros((0, 0), dtype=np.float32)
        if not rare:
            return
        everything = np.array(tuples, dtype=object).reshape(len(tuples), width)
        if len(tuples) > 1 and self._numeric:
            std = np.nanstd(_as_float(everything[:, self._numeric]), axis=0, ddof=1)
            self._std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        table = np.array(rare, dtype=object).reshape(len(rare), width)
        self._num = _as_float(table[:, self._numeric]) / self._std
        start = 0
        for j in self._other:
            slots = {v: start + i for i, v in enumerate(dict.fromkeys(table[:, j].tolist()))}
            self._slots.append(slots)
            start += len(slots)
        self._hot = self._one_hot(table, start)

    def _one_hot(self, table: np.ndarray, size: int | None = None) -> np.ndarray:
        size = self._hot.shape[1] if size is None else size
        hot = np.zeros((len(table), size), dtype=np.float32)
        for j, slots in zip(self._other, self._slots, strict=True):
            for r, value in enumerate(table[:, j].tolist()):
                slot = slots.get(value)
                if slot is not None:  # a value no rare record has matches none of them
                    hot[r, slot] = 1.0
        return hot

    def below(self, rows: np.ndarray, threshold: float) -> np.ndarray:
        """Boolean mask: rows whose distance to the nearest rare training record is below ``threshold``."""
        if not len(self._num) or not len(rows):
            return np.zeros(len(rows), dtype=bool)
        num = _as_float(rows[:, self._numeric]) / self._std
        mismatches = len(self._other) - self._one_hot(rows) @ self._hot.T
        if not (np.isnan(num).any() or np.isnan(self._num).any()):
            from scipy.spatial.distance import cdist  # scipy comes with scikit-learn

            nearest = (cdist(num, self._num, "cityblock") + mismatches).min(axis=1)
            return nearest < threshold
        result = np.empty(len(rows), dtype=bool)
        for start in range(0, len(rows), 256):
            a, b = num[start : start + 256, None, :], self._num[None, :, :]
            diff = np.abs(a - b)
            # both missing: 0; one missing: 1
            diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.where(np.isnan(diff), 1.0, diff))
            dist = diff.sum(axis=2) + mismatches[start : start + 256]
            result[start : start + 256] = dist.min(axis=1) < threshold
        return result


def _as_float(block: np.ndarray) -> np.ndarray:
    out = np.full(block.shape, np.nan)
    for idx, value in np.ndenumerate(block):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[idx] = value
    return out
