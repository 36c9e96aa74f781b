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
"1" vs 1, 2.50 vs 2.5 and "Female" vs "female" are the same row. Exact copies follow the k-rule; the release
gate (:mod:`mallm_gan.gan.gate`) rejects near copies of rare records by the one project distance.
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
from ..table.column import fold
from ..table.constraints import schema_constraints
from ..table.schema import TableSchema
from .gate import GateSetting, ReleaseGate
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
        release_gate: ``"auto"`` rejects as "near_copy" a row (not itself a training record) that lies closer
            to a training record occurring fewer than ``copy_k`` times than the threshold calibrated on the
            training rows (see :class:`~mallm_gan.gan.gate.ReleaseGate`); a number is that threshold given
            directly; ``"off"`` (default here; :class:`~mallm_gan.MallmGan` defaults to ``"auto"``) or None
            disables it.
        dcr_threshold: The older spelling of a numeric ``release_gate``.
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
        release_gate: GateSetting = "off",
        dcr_threshold: float | None = None,
        check_constraints: bool = True,
    ) -> None:
        if copy_policy not in COPY_POLICIES:
            raise ConfigError(f"copy_policy must be one of {list(COPY_POLICIES)}, got {copy_policy!r}")
        if isinstance(copy_k, bool) or not isinstance(copy_k, (int, np.integer)) or copy_k < 1:
            raise ConfigError(f"copy_k must be a whole number >= 1, got {copy_k!r}")
        if dcr_threshold is not None and not (isinstance(dcr_threshold, (int, float)) and dcr_threshold >= 0):
            raise ConfigError(f"dcr_threshold must be a number >= 0 or None, got {dcr_threshold!r}")
        if dcr_threshold is not None:
            release_gate = float(dcr_threshold)
        self.schema = schema
        self.copy_policy = copy_policy
        self.copy_k = int(copy_k)
        self.conditions = conditions if conditions else None
        self.release_gate = release_gate
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
        self.gate_ = ReleaseGate(release_gate, copy_k=self.copy_k).fit(schema, tuples, self._train_counts)

    @property
    def copyable_share(self) -> float:
        """Share of the training records a synthetic row may equal under the copy policy: those whose row
        is shared by at least ``copy_k`` records (policy ``k``), all (``allow``) or none (``never``)."""
        total = sum(self._train_counts.values())
        if not total or self.copy_policy == "never":
            return 0.0
        if self.copy_policy == "allow":
            return 1.0
        return sum(c for c in self._train_counts.values() if c >= self.copy_k) / total

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
        if self.gate_.active and kept:
            # an exact training record is the k-rule's to judge; the gate judges everything else
            near = self.gate_.rejects([key for key, _ in kept]) & np.array([counts.get(k, 0) == 0 for k, _ in kept])
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
