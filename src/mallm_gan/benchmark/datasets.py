"""Benchmark datasets in the shared data layout.

A data directory holds one folder per dataset plus a ``datasets.json`` describing them::

    DATA_DIR/datasets.json                   {"adult": {"context": ..., "target": ..., "task": ...}, ...}
    DATA_DIR/NAME/full.csv.gz                the pool every seeded draw comes from
    DATA_DIR/NAME/splits/nN/train.csv        the paper's fixed draw of N training rows
    DATA_DIR/NAME/splits/nN/test.csv         ... and its 200 held-out rows

The pool is read with the columns of the paper's splits when they exist (adult's splits drop ``fnlwgt``) and
without rows that have a missing value (the paper's splits have none), so a seeded draw and a paper split
describe the same table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..runstate import read_json

DATA_DIR_ENV = "MALLM_DATA_DIR"
DEFAULT_TEST_SIZE = 200
_SPLIT_DIR = re.compile(r"^n(\d+)$")


@dataclass(frozen=True)
class DatasetInfo:
    """What ``datasets.json`` says about one dataset.

    Attributes:
        name: Folder name of the dataset.
        target: Target column for machine-learning efficacy.
        task: ``classification`` or ``regression``.
        context: One-sentence description used as the context of prompts.
        path: Folder holding ``full.csv.gz`` and ``splits/``.
    """

    name: str
    target: str
    task: str
    context: str
    path: Path


def _data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir``, else ``$MALLM_DATA_DIR``; never a path guessed from the working directory."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
        if data_dir is None:
            raise ConfigError(
                f"no data directory given: pass data_dir (--data-dir) or set {DATA_DIR_ENV} to a directory "
                "holding datasets.json and one folder per dataset"
            )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data directory {path} does not exist (expected datasets.json and one folder per dataset)")
    return path


def read_catalog(data_dir: str | Path | None = None) -> dict[str, DatasetInfo]:
    """Read ``datasets.json`` of ``data_dir``.

    Raises:
        ConfigError: the file is missing, is not valid JSON, or an entry lacks ``target``.
    """
    root = _data_dir(data_dir)
    path = root / "datasets.json"
    raw = read_json(path, missing_hint="; every data directory needs a datasets.json")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must map dataset names to {{target, task, context}} objects")
    catalog = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not entry.get("target"):
            raise ConfigError(f"{path}: dataset {name!r} has no 'target'")
        task = entry.get("task", "classification")
        if task not in ("classification", "regression"):
            raise ConfigError(f"{path}: dataset {name!r} has task {task!r}; use classification or regression")
        catalog[name] = DatasetInfo(
            name=name, target=entry["target"], task=task, context=entry.get("context", ""), path=root / name
        )
    return catalog


def list_datasets(data_dir: str | Path | None = None) -> list[str]:
    """Names of the datasets described in ``datasets.json`` whose pool file exists, sorted."""
    return sorted(name for name, info in read_catalog(data_dir).items() if (info.path / "full.csv.gz").exists())


def dataset_info(name: str, data_dir: str | Path | None = None) -> DatasetInfo:
    """The ``datasets.json`` entry of ``name``; a clear error lists the known names."""
    catalog = read_catalog(data_dir)
    if name not in catalog:
        raise ConfigError(f"unknown dataset {name!r}; {_data_dir(data_dir)} has {sorted(catalog)}")
    return catalog[name]


def paper_sizes(name: str, data_dir: str | Path | None = None) -> list[int]:
    """Training sizes N for which the paper's fixed split ``splits/nN`` exists, ascending."""
    splits = dataset_info(name, data_dir).path / "splits"
    if not splits.is_dir():
        return []
    sizes = []
    for child in splits.iterdir():
        match = _SPLIT_DIR.match(child.name)
        if match and (child / "train.csv").exists() and (child / "test.csv").exists():
            sizes.append(int(match.group(1)))
    return sorted(sizes)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} could not be read as CSV: {exc}") from exc


def load_paper_split(name: str, n: int, data_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's fixed (train, test) pair for ``n`` training rows.

    Raises:
        ConfigError: there is no ``splits/n{n}`` for this dataset; the message lists the sizes that exist.
    """
    folder = dataset_info(name, data_dir).path / "splits" / f"n{n}"
    if not (folder / "train.csv").exists():
        raise ConfigError(
            f"{name} has no paper split for N={n} (splits exist for N in {paper_sizes(name, data_dir)}); "
            "draw one from the pool instead (benchmark without --paper-splits)"
        )
    return _read_csv(folder / "train.csv"), _read_csv(folder / "test.csv")


@lru_cache(maxsize=8)
def _pool_cached(path: str, columns: tuple[str, ...] | None, complete_rows: bool) -> pd.DataFrame:
    frame = _read_csv(Path(path))
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigError(f"{path} lacks column(s) {missing} that the paper splits have")
        frame = frame[list(columns)]
    if complete_rows:
        frame = frame.dropna()
    return frame.reset_index(drop=True)


def load_pool(name: str, data_dir: str | Path | None = None, *, complete_rows: bool = True) -> pd.DataFrame:
    """The dataset's pool (``full.csv.gz``) with the paper splits' columns.

    Args:
        name: Dataset name.
        data_dir: Data directory.
        complete_rows: Drop rows with a missing value, as the paper's splits have none.
    """
    info = dataset_info(name, data_dir)
    columns = None
    sizes = paper_sizes(name, data_dir)
    if sizes:
        header = pd.read_csv(info.path / "splits" / f"n{sizes[0]}" / "train.csv", nrows=0)
        columns = tuple(header.columns)
    return _pool_cached(str((info.path / "full.csv.gz").resolve()), columns, complete_rows).copy()


def draw_split(
    name: str,
    n: int,
    seed: int,
    data_dir: str | Path | None = None,
    *,
    n_test: int = DEFAULT_TEST_SIZE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw ``n`` training and ``n_test`` test rows from the pool, disjoint by row, seeded.

    Classification draws resample until the training rows hold at least two classes (a one-class
    training set cannot be learned from); the draw stays a function of ``seed``.

    Raises:
        ConfigError: the pool has fewer than ``n + n_test`` rows.
    """
    if n < 2 or n_test < 1:
        raise ConfigError(f"need at least 2 training rows and 1 test row, got N={n}, test={n_test}")
    pool = load_pool(name, data_dir)
    if len(pool) < n + n_test:
        raise ConfigError(f"{name}'s pool has {len(pool)} complete rows, fewer than N + test = {n} + {n_test}")
    info = dataset_info(name, data_dir)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        order = rng.permutation(len(pool))
        train = pool.iloc[order[:n]].reset_index(drop=True)
        if info.task != "classification" or train[info.target].nunique() > 1:
            break
    test = pool.iloc[order[n : n + n_test]].reset_index(drop=True)
    return train, test


def load_split(
    name: str,
    n: int,
    seed: int,
    data_dir: str | Path | None = None,
    *,
    paper_split: bool = False,
    n_test: int = DEFAULT_TEST_SIZE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's split for ``n`` (``paper_split=True``; ``seed`` unused) or a seeded draw from the pool."""
    if paper_split:
        return load_paper_split(name, n, data_dir)
    return draw_split(name, n, seed, data_dir, n_test=n_test)


__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_TEST_SIZE",
    "DatasetInfo",
    "dataset_info",
    "draw_split",
    "list_datasets",
    "load_paper_split",
    "load_pool",
    "load_split",
    "paper_sizes",
    "read_catalog",
]
