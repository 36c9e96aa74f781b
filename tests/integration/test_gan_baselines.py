"""CTGAN and TVAE through the [gan] extra (its own environment: ctgan needs pandas < 3).

Run with ``/work/venv-gan/bin/python -m pytest -m gan tests/integration/test_gan_baselines.py``.
Tiny epochs: these check the plumbing and the schema, not the quality of the generators.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mallm_gan.baselines import make_baseline
from mallm_gan.errors import ConfigError
from mallm_gan.table.schema import TableSchema

pytestmark = pytest.mark.gan
pytest.importorskip("ctgan", reason="needs the [gan] extra: pip install 'mallm-gan[gan]' (pandas < 3)")

TARGET = "kind (a), or (b)"


def table(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 70, n),
            "bmi": rng.normal(27, 4, n).round(2),
            "region": rng.choice(["north", "south", "east"], n),
            "flag": rng.choice([0, 1], n),
            TARGET: np.where(x > 0, "a", "b"),
        }
    )


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_gan_baseline_respects_the_schema(name):
    train = table()
    schema = TableSchema.from_dataframe(train, target=TARGET)
    model = make_baseline(name, random_state=0, epochs=2, batch_size=20, threads=1).fit(train, schema)
    rows = model.sample(30)
    assert len(rows) == 30 and list(rows.columns) == schema.names
    assert rows.equals(schema.cast(rows))
    for column in schema.columns:
        values = rows[column.name]
        assert values.notna().all(), column.name
        if column.kind == "numerical":
            assert values.between(column.min, column.max).all(), column.name
        else:
            assert set(values) <= set(column.categories), column.name
    assert rows["bmi"].map(lambda v: round(v, 2) == v).all()


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_gan_baseline_is_seeded(name):
    train = table()
    first = make_baseline(name, random_state=3, epochs=2, batch_size=20).fit(train).sample(15)
    second = make_baseline(name, random_state=3, epochs=2, batch_size=20).fit(train).sample(15)
    pd.testing.assert_frame_equal(first, second)


def test_ctgan_batch_size_must_fit_pac():
    with pytest.raises(ConfigError, match="multiple of 10"):
        make_baseline("ctgan", epochs=1, batch_size=25).fit(table())
