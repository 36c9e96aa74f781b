"""The loader for the benchmark data layout, on a small directory built here and on the shipped tests/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mallm_gan.benchmark.datasets import (
    dataset_info,
    draw_split,
    list_datasets,
    load_paper_split,
    load_pool,
    load_split,
    paper_sizes,
    read_catalog,
)
from mallm_gan.errors import ConfigError

TEST_DATA = Path(__file__).resolve().parents[1] / "data"  # the shipped splits, in the benchmark layout
TARGET = "kind (a), or (b)"  # commas and parentheses, like magic's target column


def make_data_dir(root: Path, rows: int = 120) -> Path:
    rng = np.random.default_rng(0)
    pool = pd.DataFrame(
        {
            "x": rng.permutation(rows) + 0.5,  # unique: a shared value means a shared row
            "dropped": rng.integers(0, 100, rows),
            "c": rng.choice(["u", "v"], rows).astype(object),
            TARGET: rng.choice(["a", "b"], rows),
        }
    )
    pool.loc[3, "c"] = None  # a row with a missing value, left out of the pool
    folder = root / "toy"
    (folder / "splits" / "n10").mkdir(parents=True)
    pool.to_csv(folder / "full.csv.gz", index=False)
    kept = pool.drop(columns=["dropped"]).dropna()
    kept.iloc[:10].to_csv(folder / "splits" / "n10" / "train.csv", index=False)
    kept.iloc[10:30].to_csv(folder / "splits" / "n10" / "test.csv", index=False)
    (root / "nopool").mkdir()
    catalog = {
        "toy": {"context": "A toy table.", "target": TARGET, "task": "classification"},
        "nopool": {"target": "y"},
    }
    (root / "datasets.json").write_text(json.dumps(catalog), encoding="utf-8")
    return root


def test_catalog_and_listing(tmp_path):
    root = make_data_dir(tmp_path)
    assert list_datasets(root) == ["toy"]  # "nopool" has no full.csv.gz
    info = dataset_info("toy", root)
    assert info.target == TARGET and info.task == "classification" and info.context == "A toy table."
    assert read_catalog(root)["nopool"].task == "classification"
    assert paper_sizes("toy", root) == [10]
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        dataset_info("nope", root)


def test_pool_has_the_split_columns_and_no_missing_rows(tmp_path):
    root = make_data_dir(tmp_path)
    pool = load_pool("toy", root)
    assert list(pool.columns) == ["x", "c", TARGET]
    assert len(pool) == 119 and pool.notna().all().all()


def test_paper_split(tmp_path):
    root = make_data_dir(tmp_path)
    train, test = load_paper_split("toy", 10, root)
    assert len(train) == 10 and len(test) == 20
    with pytest.raises(ConfigError, match=r"no paper split for N=25 .*\[10\]"):
        load_paper_split("toy", 25, root)
    assert load_split("toy", 10, 99, root, paper_split=True)[0].equals(train)


def test_draw_is_seeded_disjoint_and_sized(tmp_path):
    root = make_data_dir(tmp_path)
    train, test = draw_split("toy", 20, 3, root, n_test=50)
    again, _ = draw_split("toy", 20, 3, root, n_test=50)
    other, _ = draw_split("toy", 20, 4, root, n_test=50)
    assert len(train) == 20 and len(test) == 50
    assert train.equals(again) and not train.equals(other)
    assert not set(train["x"]) & set(test["x"])
    assert train[TARGET].nunique() == 2


def test_draw_larger_than_pool_is_refused(tmp_path):
    root = make_data_dir(tmp_path)
    with pytest.raises(ConfigError, match=r"119 complete rows, fewer than N \+ test = 100 \+ 200"):
        draw_split("toy", 100, 0, root)


def test_broken_directories(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        list_datasets(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"datasets\.json"):
        list_datasets(tmp_path)
    (tmp_path / "datasets.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_catalog(tmp_path)
    (tmp_path / "datasets.json").write_text(json.dumps({"a": {"task": "classification"}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'target'"):
        read_catalog(tmp_path)


def test_shipped_test_data_layout():
    assert list_datasets(TEST_DATA) == ["asia", "insurance"]  # the two whose pool is shipped
    assert set(read_catalog(TEST_DATA)) == {"adult", "magic", "insurance", "asia"}
    assert paper_sizes("asia", TEST_DATA) == [25, 50]
    train, test = load_paper_split("magic", 25, TEST_DATA)
    assert dataset_info("magic", TEST_DATA).target in train.columns and len(train) == 25 and len(test) == 200
    pool = load_pool("asia", TEST_DATA)
    assert len(pool) == 10_000 and list(pool.columns) == list(train_columns("asia")) and pool.notna().all().all()


def train_columns(name: str) -> list[str]:
    return list(pd.read_csv(TEST_DATA / name / "splits" / "n25" / "train.csv", nrows=0).columns)


def test_the_data_directory_is_explicit_or_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MALLM_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # nothing is guessed from the working directory
    with pytest.raises(ConfigError, match="MALLM_DATA_DIR"):
        list_datasets()
    monkeypatch.setenv("MALLM_DATA_DIR", str(TEST_DATA))
    assert list_datasets() == ["asia", "insurance"]
    monkeypatch.setenv("MALLM_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="absent does not exist"):
        list_datasets()
