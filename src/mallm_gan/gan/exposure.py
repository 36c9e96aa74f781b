"""Exposure records: how often each real training row was put in a prompt, and to which endpoint.

Every example row of a generator prompt is counted when the prompt is built, per training row and per
endpoint (its description with any credentials, query string and details removed). A call answered from
the run's cache after an interruption is counted again, so the counts are an upper bound on what left the
machine. ``max_exposure`` caps how many prompts one row may appear in: a row at the cap is left out of later
prompts, and when no row of a call is left, the call is not made; when no call of a round can be made, the
run stops with :class:`ExposureCapError` (a budget: the finished iterations are kept). The ledger lives in
the run's ``model.json``; no row or key is written anywhere else.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import BudgetExceededError, ConfigError

_USERINFO = re.compile(r"(\w+://)[^/@\s]*@")
_QUERY = re.compile(r"(\w+://[^\s?#]*)[?#]\S*")
_DETAILS = re.compile(r"\s*\([^)]*\)\s*$")


class ExposureCapError(BudgetExceededError):
    """Every candidate example row has reached ``max_exposure`` prompts."""


def redact_endpoint(description: str) -> str:
    """An endpoint's description without credentials in URLs, query strings or trailing details."""
    text = _USERINFO.sub(r"\1", description)
    text = _QUERY.sub(r"\1", text)
    return _DETAILS.sub("", text).strip()


def check_max_exposure(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"max_exposure must be a whole number >= 1 or None, got {value!r}")
    return int(value)


class ExposureLedger:
    """Counts of prompts per (endpoint, training row), with an optional cap per row.

    Args:
        max_exposure: Most prompts any one training row may appear in, over all endpoints (None: no cap).
    """

    def __init__(self, max_exposure: int | None = None) -> None:
        self.max_exposure = check_max_exposure(max_exposure)
        self.counts: dict[str, Counter[int]] = {}
        self.prompts: Counter[str] = Counter()

    def exposure(self, row: int) -> int:
        """Prompts row ``row`` has appeared in, over every endpoint."""
        return sum(counts.get(row, 0) for counts in self.counts.values())

    def admit(self, endpoint: str, examples: pd.DataFrame) -> pd.DataFrame:
        """The example rows that may still be sent (under the cap), recorded as sent to ``endpoint``."""
        rows = [int(i) for i in examples.index]
        if self.max_exposure is not None:
            keep = [self.exposure(i) < self.max_exposure for i in rows]
            examples = examples[keep]
            rows = [i for i, ok in zip(rows, keep, strict=True) if ok]
        if rows:
            name = redact_endpoint(endpoint)
            self.counts.setdefault(name, Counter()).update(rows)
            self.prompts[name] += 1
        return examples

    def merge(self, other: ExposureLedger) -> ExposureLedger:
        """Add ``other``'s counts to this ledger's (its own cap stays); returns self."""
        for name, counts in other.counts.items():
            self.counts.setdefault(name, Counter()).update(counts)
        self.prompts.update(other.prompts)
        return self

    def refuse(self) -> ExposureCapError:
        return ExposureCapError(
            f"max_exposure={self.max_exposure}: every example row for this request has already been in "
            f"{self.max_exposure} prompts, so no further prompt can be sent; raise --max-exposure, or accept "
            "the rows produced so far"
        )

    def summary(self) -> dict[str, Any]:
        totals: Counter[int] = Counter()
        for counts in self.counts.values():
            totals.update(counts)
        return {
            "max_exposure": self.max_exposure,
            "rows_sent": len(totals),
            "max_row_exposure": max(totals.values(), default=0),
            "endpoints": {
                name: {"prompts": self.prompts[name], "rows_sent": len(counts),
                       "row_appearances": sum(counts.values()), "max_row_exposure": max(counts.values(), default=0)}
                for name, counts in self.counts.items()
            },
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.summary()
        out["per_row"] = {name: {str(i): n for i, n in sorted(counts.items())} for name, counts in self.counts.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, max_exposure: int | None) -> ExposureLedger:
        ledger = cls(max_exposure)
        for name, rows in ((data or {}).get("per_row") or {}).items():
            ledger.counts[name] = Counter({int(i): int(n) for i, n in rows.items()})
        for name, info in ((data or {}).get("endpoints") or {}).items():
            ledger.prompts[name] = int(info.get("prompts", 0))
        return ledger


def near_copies_rejected(reports: list[Mapping[str, Any]]) -> int:
    return sum(int((r.get("reasons") or {}).get("near_copy", 0)) for r in reports)


def privacy_record(
    release_gate: Mapping[str, Any] | None, fit_reports: list[Mapping[str, Any]], exposure: ExposureLedger | None,
    *, sample_near_copies: int = 0,
) -> dict[str, Any]:
    """What ``model.json`` records about privacy: the release gate with its rejections (fit's, from the
    iterations' reports, and sampling's), and the exposure ledger."""
    gate = dict(release_gate or {})
    if gate:
        gate["rejected"] = {"fit": near_copies_rejected(fit_reports), "sample": int(sample_near_copies)}
    return {"release_gate": gate or None, "exposure": exposure.to_dict() if exposure is not None else None}


def read_privacy(state: Mapping[str, Any]) -> tuple[dict[str, Any] | None, ExposureLedger, int]:
    """The release gate description, the exposure ledger (uncapped: the settings in force cap it) and the
    sampling's near-copy rejections saved in a run file's privacy block."""
    saved = state.get("privacy") or {}
    gate = dict(saved.get("release_gate") or {})
    sample = int((gate.pop("rejected", None) or {}).get("sample", 0))
    return gate or None, ExposureLedger.from_dict(saved.get("exposure"), None), sample


def privacy_state(model: Any) -> dict[str, Any]:
    """The privacy block of a fitted model (read from its ``release_gate_``, ``history_``, ``exposure_`` and
    ``sample_near_copies_``)."""
    history = getattr(model, "history_", None)
    return privacy_record(
        getattr(model, "release_gate_", None), [e.report for e in history.entries] if history is not None else [],
        getattr(model, "exposure_", None), sample_near_copies=int(getattr(model, "sample_near_copies_", 0)),
    )


def record_sampling(model: Any, path: Any) -> None:
    """Add a sampling's exposure and gate rejections to the saved model file at ``path``, changing nothing
    else in it (a setting overridden for one sampling, like ``local_only``, stays as saved)."""
    from .. import runstate

    state = runstate.read_json(path)
    now = privacy_state(model)
    saved = state.setdefault("privacy", {}) or {}
    saved["exposure"] = now["exposure"]
    if saved.get("release_gate"):
        saved["release_gate"].setdefault("rejected", {})["sample"] = int(getattr(model, "sample_near_copies_", 0))
    elif now["release_gate"]:
        saved["release_gate"] = now["release_gate"]
    state["privacy"] = saved
    runstate.atomic_write_json(path, state)


__all__ = [
    "ExposureCapError",
    "ExposureLedger",
    "check_max_exposure",
    "privacy_record",
    "privacy_state",
    "read_privacy",
    "record_sampling",
    "redact_endpoint",
]
