"""The discriminator's real holdout, its split, its balanced score, and the choice of the best θ."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import ConfigError
from mallm_gan.gan.discriminator import Discriminator, real_holdout
from mallm_gan.gan.optimizer import History, HistoryEntry, best_index
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n), "g": rng.choice(["a", "b"], n)})


@pytest.mark.parametrize(("n", "size"), [(1, 1), (2, 1), (3, 1), (10, 3), (25, 8), (600, 180)])
def test_real_holdout_size_and_determinism(n, size):
    first = real_holdout(n, 0.3, seed=7)
    assert len(first) == size and len(set(first)) == size
    assert first.min() >= 0 and first.max() < n
    assert list(first) == sorted(first)
    np.testing.assert_array_equal(first, real_holdout(n, 0.3, seed=7))
    assert len(real_holdout(0, 0.3, seed=7)) == 0


def test_split_trains_on_every_given_real_row_and_holds_out_synthetic_rows_only():
    real, synthetic = _frame(40, 0), _frame(30, 1)
    disc = Discriminator(TableSchema.from_dataframe(real), random_state=0)
    disc.fit_encoder(real.iloc[10:], holdout=real.iloc[:10])
    part = disc.split(real.iloc[10:], synthetic, seed=3)
    assert len(part.x_test) == 9  # 30% of the 30 synthetic rows
    assert part.y_train.sum() == 30 and (part.y_train == 0).sum() == 21
    assert len(disc.x_holdout_) == 10


def test_score_is_balanced_accuracy_over_the_real_holdout_and_synthetic_rows():
    real = _frame(400, 0)
    schema = TableSchema.from_dataframe(real)
    disc = Discriminator(schema, random_state=0).fit_encoder(real.iloc[100:], holdout=real.iloc[:100])
    far = _frame(300, 1, shift=6.0)  # trivially told apart
    part = disc.split(real.iloc[100:], far, seed=0)
    assert disc.update(part, seed=0) > 0.95
    # a classifier that tells them apart calls the real holdout real and held-out far rows synthetic
    assert disc.real_recall() > 0.95 and disc.synthetic_recall(part.x_test) > 0.95
    # rows like the real ones: the score is near chance, whatever the sizes of the two sides
    alike = disc.encoder_.transform(_frame(500, 2))
    assert disc.score(alike) < 0.6
    assert disc.score(alike[:5]) == pytest.approx(
        (disc.real_recall() + disc.synthetic_recall(alike[:5])) / 2)


def test_score_without_rows_is_uninformative():
    real = _frame(20, 0)
    disc = Discriminator(TableSchema.from_dataframe(real)).fit_encoder(real)
    assert disc.real_recall() is None
    assert disc.score(np.zeros((0, disc.x_holdout_.shape[1]))) == 0.5


def _entry(i: int, score: float, recall: float | None = None, held_out: int = 90) -> HistoryEntry:
    theta = DataGenerationProcess(context="", dag=(), instruction=f"version {i}")
    return HistoryEntry(iteration=i, epoch=0, batch=i, theta=theta, raw_score=score, score=score,
                        real_indices=[], synthetic=[], split_seed=i, held_out=held_out, recall=recall)


def test_significant_selection_needs_two_standard_errors():
    # recall 0.5 on 90 rows: the difference of two scores has a standard error of about 0.037
    history = History("significant")
    history.entries = [_entry(0, 0.60, 0.5), _entry(1, 0.54, 0.5), _entry(2, 0.53, 0.5)]
    assert history.best().iteration == 0  # 0.07 lower is within two standard errors
    history.entries.append(_entry(3, 0.50, 0.5))
    assert history.best().iteration == 3  # 0.10 lower is not noise
    history.selection = "lowest"
    assert history.best().iteration == 3
    history.entries[2].score = 0.50
    assert history.best().iteration == 3  # ties go to the later θ
    history.selection = "significant"
    assert history.best().iteration == 2  # the earliest θ that is clearly better stays the best


def test_fewer_held_out_rows_need_a_larger_difference():
    few = [(0.70, 0.9, 10), (0.55, 0.6, 10)]
    many = [(0.70, 0.9, 300), (0.55, 0.6, 300)]
    assert best_index(few) == 0 and best_index(many) == 1


def test_nan_scores_are_never_the_best_while_a_number_is_there():
    scored = [(math.nan, None, 0), (0.8, 0.9, 50), (math.nan, None, 0)]
    assert best_index(scored) == 1 and best_index(scored, "lowest") == 1


def test_unknown_selection_is_refused():
    with pytest.raises(ConfigError, match="selection must be one of"):
        History("smallest")
    with pytest.raises(IndexError):
        History().best()
