"""Every random stream of a run, named in one place.

A run has one seed (``random_state``, or one drawn and saved when it is ``None``). Each use of randomness
draws from its own stream, ``derive_seed(seed, stream, *indices)``, so that changing one use never shifts
another and a resumed run draws exactly what the uninterrupted one drew. Two uses take the run seed itself:
the hill-climbing search of the initial DAG and the discriminator's own initialisation.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """The purpose a derived seed serves. The numbers are part of saved runs and cached requests: never
    renumber one."""

    EPOCH_ORDER = 1
    """Order of the real rows in an epoch (indexed by epoch)."""
    TOPUP_EXAMPLES = 2
    """Example rows of a top-up round in fitting (indexed by iteration and round)."""
    GENERATE = 3
    """Seeds of the generator's LLM requests in fitting (indexed by iteration)."""
    SPLIT = 4
    """Train/test split of the discriminator's rows (indexed by iteration)."""
    OPTIMIZE = 5
    """Seed of the optimizer's LLM request (indexed by the iteration it follows)."""
    HOLDOUT = 6
    """The fixed real holdout that scores every θ."""
    SAMPLE = 7_000_000
    """One sampling request after fitting (indexed by the model's count of sampling requests); within it,
    chunk and round index the example draws and the LLM requests' seeds."""


def derive_seed(*parts: int) -> int:
    """A stable 31-bit seed from integers (same inputs, same seed, on every platform)."""
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def stream_seed(seed: int, stream: Stream, *indices: int) -> int:
    """The seed of ``stream`` at ``indices`` for a run seeded with ``seed``."""
    return derive_seed(seed, int(stream), *indices)


__all__ = ["Stream", "derive_seed", "stream_seed"]
