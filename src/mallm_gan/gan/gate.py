"""The release gate: no accepted row lies closer to a rare training record than real people lie to each other.

An LLM that memorises does worse than copy: it echoes an example with a digit changed, which the exact-copy
guard cannot see. The gate rejects such rows by the one project distance
(:class:`~mallm_gan.table.distance.MixedDistance`, the distance every privacy measure reports).

The threshold comes from the training rows themselves (``"auto"``): for every training record that occurs
fewer than ``copy_k`` times, its leave-one-out distance to the closest other training row; the threshold is
the ``quantile`` (5% by default) of those distances. A generated row closer than that to a rare record is
nearer to it than 95% of the real people in the table are to anyone else, so it says more about that one
person than the population does. Records that occur ``copy_k`` times or more are not protected (the k-rule:
a row shared by several people identifies none of them), and a row that *is* a training record is left to
the k-rule. A number sets the threshold directly; ``"off"`` disables the gate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..settings import GateSetting, parse_gate
from ..table.distance import MixedDistance
from ..table.schema import TableSchema

GATE_QUANTILE = 0.05
GATE_MODES = ("auto", "off")


class ReleaseGate:
    """Rejects rows too close to a rare training record.

    Args:
        setting: ``"auto"`` (calibrated on the training rows), ``"off"``/None, or a threshold.
        copy_k: Records occurring at least this often are not protected (the copy guard's k).
        quantile: The share of rare records' leave-one-out distances below the ``auto`` threshold.

    Attributes (after :meth:`fit`):
        mode_: ``"auto"``, ``"value"`` or ``"off"``.
        threshold_: The distance below which a row is rejected (None when the gate is off or has nothing
            to protect).
        source_: How the threshold was obtained, in words.
        reference_: The number of rare training records the gate protects.
    """

    def __init__(self, setting: GateSetting = "auto", *, copy_k: int = 2, quantile: float = GATE_QUANTILE) -> None:
        self.setting = setting
        self.copy_k = copy_k
        self.quantile = quantile

    def fit(self, schema: TableSchema, tuples: Sequence[tuple[Any, ...]], counts: Counter) -> ReleaseGate:
        """Calibrate on the normalised training rows (tuples in schema order) and their counts."""
        self.mode_, self.threshold_ = parse_gate(self.setting)
        self.reference_ = 0
        self.training_rows_ = len(tuples)
        if self.mode_ == "off":
            self.source_ = "off"
            return self
        self.distance_ = MixedDistance(schema).fit(tuples)
        rare = [t for t in dict.fromkeys(tuples) if counts[t] < self.copy_k]
        self.reference_ = len(rare)
        self._reference = self.distance_.encode(rare)
        if self.mode_ == "value":
            self.source_ = "given"
        elif not rare:
            self.source_ = f"auto: no training record occurs fewer than {self.copy_k} times, nothing to protect"
        elif len(tuples) < 2:
            self.source_ = "auto: a single training row has no neighbour to calibrate on"
        else:
            loo = self.distance_.leave_one_out(self.distance_.encode(list(tuples)))
            protected = np.array([counts[t] < self.copy_k for t in tuples], dtype=bool)
            values = loo[protected & np.isfinite(loo)]
            self.threshold_ = float(np.quantile(values, self.quantile))
            self.source_ = (
                f"auto: {self.quantile:.0%} quantile of the leave-one-out nearest-neighbour distances of the "
                f"{len(values)} training rows that occur fewer than {self.copy_k} times"
            )
        return self

    @property
    def active(self) -> bool:
        return bool(self.threshold_) and self.reference_ > 0

    def rejects(self, keys: Sequence[tuple[Any, ...]]) -> np.ndarray:
        """Boolean mask: normalised rows closer than the threshold to a rare training record."""
        if not self.active or not len(keys):
            return np.zeros(len(keys), dtype=bool)
        return self.distance_.closest(self.distance_.encode(list(keys)), self._reference) < self.threshold_

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode_,
            "threshold": self.threshold_,
            "source": self.source_,
            "quantile": self.quantile if self.mode_ == "auto" else None,
            "protected_records": self.reference_,
            "training_rows": self.training_rows_,
        }


__all__ = ["GATE_MODES", "GATE_QUANTILE", "GateSetting", "ReleaseGate", "parse_gate"]
